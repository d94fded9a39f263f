package user

import (
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/emporium-shop/emporium"
	pb "github.com/emporium-shop/emporium/protos/userpb"
)

func decideUpdateProfile(s *pb.State, c *pb.UpdateProfileRequest, now time.Time) ([]proto.Message, error) {
	ev := &pb.ProfileUpdated{CommandId: c.CommandId, At: timestamppb.New(now)}
	var errs []emporium.FieldError
	if c.Name != nil {
		if v, fe := cleanText("name", c.Name.Value, false, MaxNameLength); fe != nil {
			errs = append(errs, *fe)
		} else if v != s.Name {
			ev.Name = wrapperspb.String(v)
		}
	}
	if c.Phone != nil {
		if v, fe := cleanPhone("phone", c.Phone.Value); fe != nil {
			errs = append(errs, *fe)
		} else if v != s.Phone {
			ev.Phone = wrapperspb.String(v)
		}
	}
	if len(errs) > 0 {
		return nil, emporium.InvalidFields(errs...)
	}
	if ev.Name == nil && ev.Phone == nil {
		return nil, nil
	}
	return []proto.Message{ev}, nil
}

func decideRequestEmailChange(s *pb.State, c *pb.RequestEmailChangeRequest, now time.Time) ([]proto.Message, error) {
	var errs []emporium.FieldError
	if fe, ok := emailError("new_email", c.NewEmail); !ok {
		errs = append(errs, fe)
	} else if EmailKey(c.NewEmail) == s.EmailKey {
		errs = append(errs, emporium.Field("new_email", emporium.FieldUnchanged, "new_email is the account's email already"))
	}
	errs = append(errs, tokenErrors("token_hash", "expires_at", c.TokenHash, c.ExpiresAt, now, MaxVerificationTTL)...)
	if len(errs) > 0 {
		return nil, emporium.InvalidFields(errs...)
	}
	return []proto.Message{&pb.EmailChangeRequested{
		CommandId:   c.CommandId,
		NewEmail:    c.NewEmail,
		NewEmailKey: EmailKey(c.NewEmail),
		TokenHash:   c.TokenHash,
		ExpiresAt:   c.ExpiresAt,
		At:          timestamppb.New(now),
	}}, nil
}

func decideGrantRole(s *pb.State, c *pb.GrantRoleRequest, now time.Time) ([]proto.Message, error) {
	switch c.Role {
	case RoleCustomer, RoleVendor, RoleAdmin:
	default:
		return nil, emporium.Invalidf("role", emporium.FieldInvalid, "role must be customer, vendor or admin")
	}
	if slices.Contains(s.Roles, c.Role) {
		return nil, nil
	}
	return []proto.Message{&pb.RoleGranted{CommandId: c.CommandId, Role: c.Role, At: timestamppb.New(now)}}, nil
}

// decideBecomeVendor opens the store, or replaces its name and description,
// and grants the vendor role the account lacks, all in one decision. The
// uniqueness of the name is the shell's: it claims the key of the event's
// store_name_key before persisting.
func decideBecomeVendor(s *pb.State, c *pb.BecomeVendorRequest, now time.Time) ([]proto.Message, error) {
	if !s.EmailVerified {
		// Buyers pay vendors: a store needs an owner who can be reached.
		return nil, emporium.Errorf(emporium.EUNVERIFIED, "verify your email address before opening a store")
	}
	var errs []emporium.FieldError
	name, fe := cleanStoreName(c.StoreName)
	if fe != nil {
		errs = append(errs, *fe)
	}
	description, fe := cleanDescription(c.Description)
	if fe != nil {
		errs = append(errs, *fe)
	}
	if len(errs) > 0 {
		return nil, emporium.InvalidFields(errs...)
	}
	at := timestamppb.New(now)
	var events []proto.Message
	switch {
	case s.Store == nil:
		events = append(events, &pb.StoreOpened{
			CommandId: c.CommandId, StoreName: name, StoreNameKey: StoreNameKey(name), Description: description, At: at,
		})
	case name != s.Store.StoreName || description != s.Store.Description || s.StoreNameKey != StoreNameKey(name):
		// A store named under an older key rule (LegacyStoreNameKey) is
		// re-keyed by the same values: the shell claims the new key and
		// gives the old one up.
		events = append(events, &pb.StoreUpdated{
			CommandId: c.CommandId, StoreName: name, StoreNameKey: StoreNameKey(name), Description: description, At: at,
		})
	}
	if !slices.Contains(s.Roles, RoleVendor) {
		id := c.CommandId
		if len(events) > 0 {
			id = "" // the store event remembers the command
		}
		events = append(events, &pb.RoleGranted{CommandId: id, Role: RoleVendor, At: at})
	}
	return events, nil
}

// storeKeyOf returns the store name key that events give the account, or ""
// when they do not name the store: what the shell must hold a claim on
// before persisting them.
func storeKeyOf(events []proto.Message) string {
	key := ""
	for _, ev := range events {
		switch e := ev.(type) {
		case *pb.StoreOpened:
			key = e.StoreNameKey
		case *pb.StoreUpdated:
			key = e.StoreNameKey
		}
	}
	return key
}
