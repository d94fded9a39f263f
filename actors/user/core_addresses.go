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

func decideAddAddress(s *pb.State, c *pb.AddAddressRequest, now time.Time) ([]proto.Message, error) {
	if !validAddressID(c.AddressId) {
		return nil, emporium.Invalidf("address_id", emporium.FieldInvalid,
			"address_id must be 1-%d letters, digits, '_' or '-'", maxAddressIDLen)
	}
	if findAddress(s, c.AddressId) >= 0 || slices.Contains(s.RemovedAddresses, c.AddressId) {
		e := emporium.Errorf(emporium.ECONFLICT, "address id %s is already used", c.AddressId)
		e.Fields = []emporium.FieldError{emporium.Field("address_id", emporium.FieldTaken, "%s", e.Message)}
		return nil, e
	}
	if len(s.Addresses) >= MaxAddresses {
		return nil, emporium.Invalidf("addresses", emporium.FieldTooMany,
			"an account keeps at most %d addresses; remove one first", MaxAddresses)
	}
	a, errs := cleanAddress(c.Address)
	if len(errs) > 0 {
		return nil, emporium.InvalidFields(errs...)
	}
	first := len(s.Addresses) == 0
	at := timestamppb.New(now)
	a.Id = c.AddressId
	a.IsDefaultShipping = first || c.Address.IsDefaultShipping.GetValue()
	a.IsDefaultBilling = first || c.Address.IsDefaultBilling.GetValue()
	a.CreatedAt, a.UpdatedAt = at, at
	return []proto.Message{&pb.AddressAdded{CommandId: c.CommandId, Address: a, At: at}}, nil
}

func decideUpdateAddress(s *pb.State, c *pb.UpdateAddressRequest, now time.Time) ([]proto.Message, error) {
	i := findAddress(s, c.AddressId)
	if i < 0 {
		return nil, addressNotFound(c.AddressId)
	}
	cur := s.Addresses[i]
	a, errs := cleanAddress(c.Address)
	if a == nil {
		return nil, emporium.InvalidFields(errs...)
	}
	var fe *emporium.FieldError
	a.IsDefaultShipping, fe = defaultFlag("is_default_shipping", "shipping", cur.IsDefaultShipping, c.Address.IsDefaultShipping)
	if fe != nil {
		errs = append(errs, *fe)
	}
	a.IsDefaultBilling, fe = defaultFlag("is_default_billing", "billing", cur.IsDefaultBilling, c.Address.IsDefaultBilling)
	if fe != nil {
		errs = append(errs, *fe)
	}
	if len(errs) > 0 {
		return nil, emporium.InvalidFields(errs...)
	}
	a.Id, a.CreatedAt, a.UpdatedAt = cur.Id, cur.CreatedAt, cur.UpdatedAt
	if proto.Equal(a, cur) {
		return nil, nil // PUT of what is stored: a retry, or nothing to change
	}
	at := timestamppb.New(now)
	a.UpdatedAt = at
	return []proto.Message{&pb.AddressUpdated{Address: a, At: at}}, nil
}

// defaultFlag returns an updated address's default flag: set moves the flag
// here, absent keeps it, and clearing it on the default is refused because
// some address must stay the default.
func defaultFlag(field, kind string, cur bool, in *wrapperspb.BoolValue) (bool, *emporium.FieldError) {
	switch {
	case in == nil:
		return cur, nil
	case in.Value:
		return true, nil
	case cur:
		fe := emporium.Field(field, emporium.FieldDefaultRequired,
			"this is the default %s address; make another address the default instead", kind)
		return true, &fe
	default:
		return false, nil
	}
}

func decideRemoveAddress(s *pb.State, c *pb.RemoveAddressRequest, now time.Time) ([]proto.Message, error) {
	i := findAddress(s, c.AddressId)
	if i < 0 {
		if c.AddressId != "" && slices.Contains(s.RemovedAddresses, c.AddressId) {
			return nil, nil // removed before: a retry
		}
		return nil, addressNotFound(c.AddressId)
	}
	cur := s.Addresses[i]
	ev := &pb.AddressRemoved{AddressId: cur.Id, At: timestamppb.New(now)}
	// The flags pass to the oldest remaining address.
	for _, a := range s.Addresses {
		if a.Id == cur.Id {
			continue
		}
		if cur.IsDefaultShipping && ev.DefaultShippingTo == "" {
			ev.DefaultShippingTo = a.Id
		}
		if cur.IsDefaultBilling && ev.DefaultBillingTo == "" {
			ev.DefaultBillingTo = a.Id
		}
	}
	return []proto.Message{ev}, nil
}

// takeDefaults moves the default flags a carries from the other addresses
// to a.
func takeDefaults(s *pb.State, a *pb.Address) {
	for _, o := range s.Addresses {
		if o.Id == a.Id {
			continue
		}
		if a.IsDefaultShipping {
			o.IsDefaultShipping = false
		}
		if a.IsDefaultBilling {
			o.IsDefaultBilling = false
		}
	}
}

func findAddress(s *pb.State, id string) int {
	if id == "" {
		return -1
	}
	return slices.IndexFunc(s.Addresses, func(a *pb.Address) bool { return a.Id == id })
}

func addressNotFound(id string) error {
	return emporium.Errorf(emporium.ENOTFOUND, "address %q not found", id)
}
