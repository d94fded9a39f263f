// Package user is the UserGrain: one virtual actor per user id, the single
// writer of that user's account (DESIGN §4, §9).
//
// This file is the pure core: decide turns a command into events (or refuses
// it) without changing anything, apply folds an event into the state without
// checking anything. Nothing here does I/O, reads the clock, draws random
// numbers or runs a slow hash: secrets arrive hashed, and the outcome of a
// password or TOTP check arrives in the command, computed by the caller with
// the auth package against this grain's credentials.
package user

import (
	"crypto/subtle"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/emporium-shop/emporium"
	pb "github.com/emporium-shop/emporium/protos/userpb"
)

// Roles an account can hold. Every account holds RoleCustomer.
const (
	RoleCustomer = "customer"
	RoleVendor   = "vendor"
	RoleAdmin    = "admin"
)

// Limits of the core.
const (
	// MaxAddresses is how many addresses one account may keep.
	MaxAddresses = 20
	// MaxVerificationTTL bounds how long an email verification or email
	// change token may live (DESIGN §9: 24 h).
	MaxVerificationTTL = 24 * time.Hour
	// MaxResetTTL bounds how long a password reset token may live (1 h).
	MaxResetTTL = time.Hour
	// clockSkew is how far ahead of this grain's clock an expiry computed on
	// another node may reach beyond the limits above.
	clockSkew = 5 * time.Minute
	// MaxRecoveryCodes bounds the recovery codes stored at once.
	MaxRecoveryCodes = 100
	// recentCommandsKept is how many command ids are kept. Retries arrive
	// within seconds of the first attempt; an account sees few commands.
	recentCommandsKept = 256
	// removedAddressesKept is how many removed address ids are kept.
	removedAddressesKept = 256
	maxCommandIDLen      = 128
	maxTokenHashLen      = 256
	maxPasswordHashLen   = 512
	minTOTPSecretLen     = 16  // base32 characters: 80 bits
	maxTOTPSecretLen     = 128 // base32 characters
	// passwordHashPrefix is what an auth.HashPassword string starts with. The
	// check keeps a plain password from ever being stored by mistake.
	passwordHashPrefix = "$argon2id$"
)

// newState returns the state of an account that was never registered.
func newState(id string) *pb.State {
	return &pb.State{Id: id}
}

// registered reports whether Register created the account.
func registered(s *pb.State) bool { return s.CreatedAt != nil }

// decide checks cmd against the state at time now and returns the events
// that carry it out. No events and no error means there is nothing left to
// do: the command was applied before (a retry, recognised by its command id)
// or asks for what already holds. A refusal returns no events.
func decide(s *pb.State, cmd proto.Message, now time.Time) ([]proto.Message, error) {
	if c, ok := cmd.(*pb.RegisterRequest); ok {
		return decideRegister(s, c, now)
	}
	if !registered(s) {
		return nil, emporium.Errorf(emporium.ENOTFOUND, "account not found")
	}
	switch c := cmd.(type) {
	case *pb.IssueVerificationRequest:
		return decideIssueVerification(s, c, now)
	case *pb.VerifyEmailRequest:
		return decideVerifyEmail(s, c, now)
	case *pb.StartPasswordResetRequest:
		return decideStartPasswordReset(s, c, now)
	case *pb.ResetPasswordRequest:
		return decideResetPassword(s, c, now)
	case *pb.ChangePasswordRequest:
		return decideChangePassword(s, c, now)
	case *pb.UpdateProfileRequest:
		return decideUpdateProfile(s, c, now)
	case *pb.RequestEmailChangeRequest:
		return decideRequestEmailChange(s, c, now)
	case *pb.BeginTOTPRequest:
		return decideBeginTOTP(s, c)
	case *pb.ConfirmTOTPRequest:
		return decideConfirmTOTP(s, c, now)
	case *pb.UseTOTPRequest:
		return decideUseTOTP(s, c)
	case *pb.UseRecoveryCodeRequest:
		return decideUseRecoveryCode(s, c)
	case *pb.DisableTOTPRequest:
		return decideDisableTOTP(s, c, now)
	case *pb.AddAddressRequest:
		return decideAddAddress(s, c, now)
	case *pb.UpdateAddressRequest:
		return decideUpdateAddress(s, c, now)
	case *pb.RemoveAddressRequest:
		return decideRemoveAddress(s, c, now)
	case *pb.GrantRoleRequest:
		return decideGrantRole(s, c, now)
	case *pb.BecomeVendorRequest:
		return decideBecomeVendor(s, c, now)
	case *pb.CreateWishlistRequest:
		return decideCreateWishlist(s, c, now)
	case *pb.RenameWishlistRequest:
		return decideRenameWishlist(s, c, now)
	case *pb.DeleteWishlistRequest:
		return decideDeleteWishlist(s, c, now)
	case *pb.AddWishlistItemRequest:
		return decideAddWishlistItem(s, c, now)
	case *pb.RemoveWishlistItemRequest:
		return decideRemoveWishlistItem(s, c, now)
	case *pb.GetWishlistsRequest:
		return decideGetWishlists(s, c)
	case *pb.GetRequest, *pb.GetCredentialsRequest:
		return nil, nil
	default:
		return nil, emporium.Errorf(emporium.EINTERNAL, "user: unknown command %T", cmd)
	}
}

func decideRegister(s *pb.State, c *pb.RegisterRequest, now time.Time) ([]proto.Message, error) {
	if err := needCommandID(c.CommandId); err != nil {
		return nil, err
	}
	if registered(s) {
		if c.CommandId == s.RegisteredBy || seenCommand(s, c.CommandId) {
			return nil, nil
		}
		return nil, emporium.Errorf(emporium.ECONFLICT, "the account already exists")
	}
	var errs []emporium.FieldError
	if fe, ok := usernameError(c.Username); !ok {
		errs = append(errs, fe)
	}
	if fe, ok := emailError("email", c.Email); !ok {
		errs = append(errs, fe)
	}
	errs = append(errs, passwordHashErrors(c.PasswordHash)...)
	errs = append(errs, tokenErrors("verify_token_hash", "verify_expires_at", c.VerifyTokenHash, c.VerifyExpiresAt, now, MaxVerificationTTL)...)
	if len(errs) > 0 {
		return nil, fieldsError(errs...)
	}
	return []proto.Message{&pb.Registered{
		CommandId:       c.CommandId,
		Username:        c.Username,
		UsernameKey:     UsernameKey(c.Username),
		Email:           c.Email,
		EmailKey:        EmailKey(c.Email),
		PasswordHash:    c.PasswordHash,
		VerifyTokenHash: c.VerifyTokenHash,
		VerifyExpiresAt: c.VerifyExpiresAt,
		At:              timestamppb.New(now),
	}}, nil
}

func decideIssueVerification(s *pb.State, c *pb.IssueVerificationRequest, now time.Time) ([]proto.Message, error) {
	if err := needCommandID(c.CommandId); err != nil {
		return nil, err
	}
	if seenCommand(s, c.CommandId) {
		return nil, nil
	}
	if errs := tokenErrors("token_hash", "expires_at", c.TokenHash, c.ExpiresAt, now, MaxVerificationTTL); len(errs) > 0 {
		return nil, fieldsError(errs...)
	}
	if s.EmailVerified {
		// Nothing to verify; the caller answers as if a mail went out, so
		// that resending tells no one whether the account is verified.
		return nil, nil
	}
	return []proto.Message{&pb.VerificationIssued{
		CommandId: c.CommandId, TokenHash: c.TokenHash, ExpiresAt: c.ExpiresAt,
	}}, nil
}

func decideVerifyEmail(s *pb.State, c *pb.VerifyEmailRequest, now time.Time) ([]proto.Message, error) {
	if err := needCommandID(c.CommandId); err != nil {
		return nil, err
	}
	if seenCommand(s, c.CommandId) {
		return nil, nil
	}
	// Both candidates are compared every time, so the time taken does not
	// tell which token was pending.
	change := s.EmailChange != nil && sameHash(s.EmailChange.TokenHash, c.TokenHash)
	change = change && live(s.EmailChange.ExpiresAt, now)
	signup := s.Verification != nil && sameHash(s.Verification.TokenHash, c.TokenHash)
	signup = signup && live(s.Verification.ExpiresAt, now)
	at := timestamppb.New(now)
	switch {
	case change:
		return []proto.Message{&pb.EmailChanged{
			CommandId: c.CommandId, NewEmail: s.EmailChange.Email, NewEmailKey: s.EmailChange.EmailKey, At: at,
		}}, nil
	case signup:
		return []proto.Message{&pb.EmailVerified{CommandId: c.CommandId, At: at}}, nil
	default:
		return nil, invalidToken()
	}
}

func decideStartPasswordReset(s *pb.State, c *pb.StartPasswordResetRequest, now time.Time) ([]proto.Message, error) {
	if err := needCommandID(c.CommandId); err != nil {
		return nil, err
	}
	if seenCommand(s, c.CommandId) {
		return nil, nil
	}
	if errs := tokenErrors("token_hash", "expires_at", c.TokenHash, c.ExpiresAt, now, MaxResetTTL); len(errs) > 0 {
		return nil, fieldsError(errs...)
	}
	return []proto.Message{&pb.PasswordResetIssued{
		CommandId: c.CommandId, TokenHash: c.TokenHash, ExpiresAt: c.ExpiresAt,
	}}, nil
}

func decideResetPassword(s *pb.State, c *pb.ResetPasswordRequest, now time.Time) ([]proto.Message, error) {
	if err := needCommandID(c.CommandId); err != nil {
		return nil, err
	}
	if seenCommand(s, c.CommandId) {
		return nil, nil
	}
	r := s.PasswordReset
	if r == nil || !sameHash(r.TokenHash, c.TokenHash) || !live(r.ExpiresAt, now) {
		return nil, invalidToken()
	}
	if errs := passwordHashErrors(c.PasswordHash); len(errs) > 0 {
		return nil, fieldsError(errs...)
	}
	at := timestamppb.New(now)
	events := []proto.Message{&pb.PasswordChanged{
		CommandId: c.CommandId, PasswordHash: c.PasswordHash, ByReset: true, At: at,
	}}
	if !s.EmailVerified {
		// The reset link reached the account's mailbox: that proves the
		// address as well as a verification link would.
		events = append(events, &pb.EmailVerified{At: at})
	}
	return events, nil
}

func decideChangePassword(s *pb.State, c *pb.ChangePasswordRequest, now time.Time) ([]proto.Message, error) {
	if err := needCommandID(c.CommandId); err != nil {
		return nil, err
	}
	if seenCommand(s, c.CommandId) {
		return nil, nil
	}
	if !c.CurrentPasswordOk {
		return nil, unauthenticated(fieldErr("current_password", CodeInvalid, "the current password is wrong"))
	}
	if errs := passwordHashErrors(c.PasswordHash); len(errs) > 0 {
		return nil, fieldsError(errs...)
	}
	return []proto.Message{&pb.PasswordChanged{
		CommandId: c.CommandId, PasswordHash: c.PasswordHash, At: timestamppb.New(now),
	}}, nil
}

func decideUpdateProfile(s *pb.State, c *pb.UpdateProfileRequest, now time.Time) ([]proto.Message, error) {
	if err := needCommandID(c.CommandId); err != nil {
		return nil, err
	}
	if seenCommand(s, c.CommandId) {
		return nil, nil
	}
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
		return nil, fieldsError(errs...)
	}
	if ev.Name == nil && ev.Phone == nil {
		return nil, nil
	}
	return []proto.Message{ev}, nil
}

func decideRequestEmailChange(s *pb.State, c *pb.RequestEmailChangeRequest, now time.Time) ([]proto.Message, error) {
	if err := needCommandID(c.CommandId); err != nil {
		return nil, err
	}
	if seenCommand(s, c.CommandId) {
		return nil, nil
	}
	var errs []emporium.FieldError
	if fe, ok := emailError("new_email", c.NewEmail); !ok {
		errs = append(errs, fe)
	} else if EmailKey(c.NewEmail) == s.EmailKey {
		errs = append(errs, fieldErr("new_email", CodeUnchanged, "new_email is the account's email already"))
	}
	errs = append(errs, tokenErrors("token_hash", "expires_at", c.TokenHash, c.ExpiresAt, now, MaxVerificationTTL)...)
	if len(errs) > 0 {
		return nil, fieldsError(errs...)
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

func decideBeginTOTP(s *pb.State, c *pb.BeginTOTPRequest) ([]proto.Message, error) {
	if err := needCommandID(c.CommandId); err != nil {
		return nil, err
	}
	if seenCommand(s, c.CommandId) {
		return nil, nil
	}
	if s.MfaEnabled {
		return nil, emporium.Errorf(emporium.ECONFLICT, "two-factor authentication is already enabled; disable it first")
	}
	if !validTOTPSecret(c.Secret) {
		return nil, fieldsError(fieldErr("secret", CodeInvalid,
			"secret must be %d-%d base32 characters", minTOTPSecretLen, maxTOTPSecretLen))
	}
	return []proto.Message{&pb.TOTPEnrollmentStarted{CommandId: c.CommandId, Secret: c.Secret}}, nil
}

func decideConfirmTOTP(s *pb.State, c *pb.ConfirmTOTPRequest, now time.Time) ([]proto.Message, error) {
	if err := needCommandID(c.CommandId); err != nil {
		return nil, err
	}
	if seenCommand(s, c.CommandId) {
		return nil, nil
	}
	switch {
	case s.MfaEnabled:
		return nil, emporium.Errorf(emporium.ECONFLICT, "two-factor authentication is already enabled")
	case s.PendingTotpSecret == "":
		return nil, emporium.Errorf(emporium.ECONFLICT, "no two-factor enrolment is pending; start one first")
	case !c.CodeOk || c.CodeStep <= 0:
		return nil, invalidCode()
	}
	if fe := recoveryHashesError(c.RecoveryCodeHashes); fe != nil {
		return nil, fieldsError(*fe)
	}
	return []proto.Message{&pb.TOTPEnabled{
		CommandId:          c.CommandId,
		LastStep:           c.CodeStep,
		RecoveryCodeHashes: slices.Clone(c.RecoveryCodeHashes),
		At:                 timestamppb.New(now),
	}}, nil
}

func decideUseTOTP(s *pb.State, c *pb.UseTOTPRequest) ([]proto.Message, error) {
	if err := needCommandID(c.CommandId); err != nil {
		return nil, err
	}
	if seenCommand(s, c.CommandId) {
		return nil, nil
	}
	// A step not after the last one is a replay (or an older code after a
	// newer one): refused with the same answer as a wrong code.
	if !s.MfaEnabled || c.Step <= s.LastStep {
		return nil, invalidCode()
	}
	return []proto.Message{&pb.TOTPUsed{CommandId: c.CommandId, Step: c.Step}}, nil
}

func decideUseRecoveryCode(s *pb.State, c *pb.UseRecoveryCodeRequest) ([]proto.Message, error) {
	if err := needCommandID(c.CommandId); err != nil {
		return nil, err
	}
	if seenCommand(s, c.CommandId) {
		return nil, nil
	}
	if !s.MfaEnabled || c.Index < 0 || int(c.Index) >= len(s.RecoveryCodeHashes) || s.RecoveryCodeHashes[c.Index] == "" {
		return nil, invalidCode()
	}
	return []proto.Message{&pb.RecoveryCodeUsed{CommandId: c.CommandId, Index: c.Index}}, nil
}

func decideDisableTOTP(s *pb.State, c *pb.DisableTOTPRequest, now time.Time) ([]proto.Message, error) {
	if err := needCommandID(c.CommandId); err != nil {
		return nil, err
	}
	if seenCommand(s, c.CommandId) {
		return nil, nil
	}
	if !s.MfaEnabled {
		return nil, emporium.Errorf(emporium.ECONFLICT, "two-factor authentication is not enabled")
	}
	var errs []emporium.FieldError
	if !c.PasswordOk {
		errs = append(errs, fieldErr("password", CodeInvalid, "the password is wrong"))
	}
	if !c.CodeOk || c.CodeStep <= s.LastStep {
		errs = append(errs, fieldErr("code", CodeInvalid, "invalid code"))
	}
	if len(errs) > 0 {
		return nil, unauthenticated(errs...)
	}
	return []proto.Message{&pb.TOTPDisabled{CommandId: c.CommandId, At: timestamppb.New(now)}}, nil
}

func decideAddAddress(s *pb.State, c *pb.AddAddressRequest, now time.Time) ([]proto.Message, error) {
	if err := needCommandID(c.CommandId); err != nil {
		return nil, err
	}
	if seenCommand(s, c.CommandId) {
		return nil, nil
	}
	if !validAddressID(c.AddressId) {
		return nil, fieldsError(fieldErr("address_id", CodeInvalid,
			"address_id must be 1-%d letters, digits, '_' or '-'", maxAddressIDLen))
	}
	if findAddress(s, c.AddressId) >= 0 || slices.Contains(s.RemovedAddresses, c.AddressId) {
		e := emporium.Errorf(emporium.ECONFLICT, "address id %s is already used", c.AddressId)
		e.Fields = []emporium.FieldError{fieldErr("address_id", CodeTaken, "%s", e.Message)}
		return nil, e
	}
	if len(s.Addresses) >= MaxAddresses {
		return nil, fieldsError(fieldErr("addresses", CodeTooMany,
			"an account keeps at most %d addresses; remove one first", MaxAddresses))
	}
	a, errs := cleanAddress(c.Address)
	if len(errs) > 0 {
		return nil, fieldsError(errs...)
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
		return nil, fieldsError(errs...)
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
		return nil, fieldsError(errs...)
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
		fe := fieldErr(field, CodeDefaultRequired,
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

func decideGrantRole(s *pb.State, c *pb.GrantRoleRequest, now time.Time) ([]proto.Message, error) {
	if err := needCommandID(c.CommandId); err != nil {
		return nil, err
	}
	if seenCommand(s, c.CommandId) {
		return nil, nil
	}
	switch c.Role {
	case RoleCustomer, RoleVendor, RoleAdmin:
	default:
		return nil, fieldsError(fieldErr("role", CodeInvalid, "role must be customer, vendor or admin"))
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
	if err := needCommandID(c.CommandId); err != nil {
		return nil, err
	}
	if seenCommand(s, c.CommandId) {
		return nil, nil
	}
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
		return nil, fieldsError(errs...)
	}
	at := timestamppb.New(now)
	var events []proto.Message
	switch {
	case s.Store == nil:
		events = append(events, &pb.StoreOpened{
			CommandId: c.CommandId, StoreName: name, StoreNameKey: StoreNameKey(name), Description: description, At: at,
		})
	case name != s.Store.StoreName || description != s.Store.Description:
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

// apply folds one event into the state. Events are facts: apply never
// refuses one, so replaying a journal always gives the same state. It copies
// what it keeps from an event, so the state never shares a message with the
// journal.
func apply(s *pb.State, ev proto.Message) {
	if applyWishlist(s, ev) {
		return
	}
	switch e := ev.(type) {
	case *pb.Registered:
		s.RegisteredBy = e.CommandId
		s.CreatedAt, s.UpdatedAt = e.At, e.At
		s.Username, s.UsernameKey = e.Username, e.UsernameKey
		s.Email, s.EmailKey = e.Email, e.EmailKey
		s.PasswordHash, s.PasswordChangedAt = e.PasswordHash, e.At
		s.Verification = &pb.OneTimeToken{TokenHash: e.VerifyTokenHash, ExpiresAt: e.VerifyExpiresAt}
		if !slices.Contains(s.Roles, RoleCustomer) {
			s.Roles = append(s.Roles, RoleCustomer)
		}
		rememberCommand(s, e.CommandId)
	case *pb.VerificationIssued:
		s.Verification = &pb.OneTimeToken{TokenHash: e.TokenHash, ExpiresAt: e.ExpiresAt}
		rememberCommand(s, e.CommandId)
	case *pb.EmailVerified:
		s.EmailVerified = true
		s.Verification = nil
		s.UpdatedAt = e.At
		rememberCommand(s, e.CommandId)
	case *pb.EmailChangeRequested:
		s.EmailChange = &pb.PendingEmail{
			Email: e.NewEmail, EmailKey: e.NewEmailKey, TokenHash: e.TokenHash, ExpiresAt: e.ExpiresAt,
		}
		s.UpdatedAt = e.At
		rememberCommand(s, e.CommandId)
	case *pb.EmailChanged:
		s.Email, s.EmailKey = e.NewEmail, e.NewEmailKey
		s.EmailVerified = true
		s.EmailChange, s.Verification = nil, nil
		s.PasswordReset = nil // it went to the old address
		s.UpdatedAt = e.At
		rememberCommand(s, e.CommandId)
	case *pb.PasswordResetIssued:
		s.PasswordReset = &pb.OneTimeToken{TokenHash: e.TokenHash, ExpiresAt: e.ExpiresAt}
		rememberCommand(s, e.CommandId)
	case *pb.PasswordChanged:
		s.PasswordHash, s.PasswordChangedAt = e.PasswordHash, e.At
		s.PasswordReset = nil
		if e.ByReset {
			// Whoever asked for the change may be who the reset locks out.
			s.EmailChange = nil
		}
		s.UpdatedAt = e.At
		rememberCommand(s, e.CommandId)
	case *pb.ProfileUpdated:
		if e.Name != nil {
			s.Name = e.Name.Value
		}
		if e.Phone != nil {
			s.Phone = e.Phone.Value
		}
		s.UpdatedAt = e.At
		rememberCommand(s, e.CommandId)
	case *pb.TOTPEnrollmentStarted:
		s.PendingTotpSecret = e.Secret
		rememberCommand(s, e.CommandId)
	case *pb.TOTPEnabled:
		s.TotpSecret, s.PendingTotpSecret = s.PendingTotpSecret, ""
		s.MfaEnabled = true
		s.LastStep = e.LastStep
		s.RecoveryCodeHashes = slices.Clone(e.RecoveryCodeHashes)
		s.UpdatedAt = e.At
		rememberCommand(s, e.CommandId)
	case *pb.TOTPUsed:
		s.LastStep = e.Step
		rememberCommand(s, e.CommandId)
	case *pb.RecoveryCodeUsed:
		if e.Index >= 0 && int(e.Index) < len(s.RecoveryCodeHashes) {
			s.RecoveryCodeHashes[e.Index] = ""
		}
		rememberCommand(s, e.CommandId)
	case *pb.TOTPDisabled:
		s.MfaEnabled = false
		s.TotpSecret, s.PendingTotpSecret = "", ""
		s.LastStep = 0
		s.RecoveryCodeHashes = nil
		s.UpdatedAt = e.At
		rememberCommand(s, e.CommandId)
	case *pb.AddressAdded:
		a := proto.CloneOf(e.Address)
		takeDefaults(s, a)
		s.Addresses = append(s.Addresses, a)
		s.UpdatedAt = e.At
		rememberCommand(s, e.CommandId)
	case *pb.AddressUpdated:
		if i := findAddress(s, e.Address.GetId()); i >= 0 {
			a := proto.CloneOf(e.Address)
			takeDefaults(s, a)
			s.Addresses[i] = a
			s.UpdatedAt = e.At
		}
	case *pb.AddressRemoved:
		if i := findAddress(s, e.AddressId); i >= 0 {
			s.Addresses = slices.Delete(s.Addresses, i, i+1)
			s.RemovedAddresses = append(s.RemovedAddresses, e.AddressId)
			if over := len(s.RemovedAddresses) - removedAddressesKept; over > 0 {
				s.RemovedAddresses = append(s.RemovedAddresses[:0:0], s.RemovedAddresses[over:]...)
			}
		}
		for _, a := range s.Addresses {
			if a.Id == e.DefaultShippingTo {
				a.IsDefaultShipping = true
			}
			if a.Id == e.DefaultBillingTo {
				a.IsDefaultBilling = true
			}
		}
		s.UpdatedAt = e.At
	case *pb.RoleGranted:
		if !slices.Contains(s.Roles, e.Role) {
			s.Roles = append(s.Roles, e.Role)
		}
		s.UpdatedAt = e.At
		rememberCommand(s, e.CommandId)
	case *pb.StoreOpened:
		joined := cloneTime(e.At)
		if s.Store != nil {
			joined = s.Store.JoinedAt // opened before: the first opening counts
		}
		s.Store = &pb.Store{StoreName: e.StoreName, Description: e.Description, JoinedAt: joined, UpdatedAt: cloneTime(e.At)}
		s.StoreNameKey = e.StoreNameKey
		s.UpdatedAt = e.At
		rememberCommand(s, e.CommandId)
	case *pb.StoreUpdated:
		if s.Store == nil {
			s.Store = &pb.Store{JoinedAt: cloneTime(e.At)}
		}
		s.Store.StoreName, s.Store.Description = e.StoreName, e.Description
		s.Store.UpdatedAt = cloneTime(e.At)
		s.StoreNameKey = e.StoreNameKey
		s.UpdatedAt = e.At
		rememberCommand(s, e.CommandId)
	case *pb.Fenced:
		// Only takes its seq.
	}
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

// account renders the state as its owner sees it at time now (an expired
// email change is not shown). It copies every message it returns and never
// carries a secret.
func account(s *pb.State, seq uint64, now time.Time) *pb.Account {
	out := &pb.Account{
		Id:            s.Id,
		Username:      s.Username,
		Email:         s.Email,
		EmailVerified: s.EmailVerified,
		Name:          s.Name,
		Phone:         s.Phone,
		Roles:         slices.Clone(s.Roles),
		MfaEnabled:    s.MfaEnabled,
		CreatedAt:     cloneTime(s.CreatedAt),
		UpdatedAt:     cloneTime(s.UpdatedAt),
		Seq:           seq,
	}
	if ch := s.EmailChange; ch != nil && live(ch.ExpiresAt, now) {
		out.PendingEmail = ch.Email
	}
	for _, h := range s.RecoveryCodeHashes {
		if h != "" {
			out.RecoveryCodesLeft++
		}
	}
	for _, a := range s.Addresses {
		out.Addresses = append(out.Addresses, proto.CloneOf(a))
	}
	if s.Store != nil {
		out.Store = proto.CloneOf(s.Store)
	}
	return out
}

// credentials renders the secrets a caller checks logins and sensitive
// changes against. Internal: never shown to a client.
func credentials(s *pb.State, seq uint64) *pb.Credentials {
	return &pb.Credentials{
		PasswordHash:       s.PasswordHash,
		EmailVerified:      s.EmailVerified,
		MfaEnabled:         s.MfaEnabled,
		TotpSecret:         s.TotpSecret,
		LastStep:           s.LastStep,
		Roles:              slices.Clone(s.Roles),
		PendingTotpSecret:  s.PendingTotpSecret,
		RecoveryCodeHashes: slices.Clone(s.RecoveryCodeHashes),
		PasswordChangedAt:  cloneTime(s.PasswordChangedAt),
		Seq:                seq,
	}
}

// sameHash compares a stored hash with a presented one in time that does not
// depend on where they differ. An empty stored hash matches nothing.
func sameHash(stored, presented string) bool {
	return stored != "" && subtle.ConstantTimeCompare([]byte(stored), []byte(presented)) == 1
}

// live reports whether a token expiring at exp is still valid at now: it
// expires at exp exactly.
func live(exp *timestamppb.Timestamp, now time.Time) bool {
	return exp != nil && exp.AsTime().After(now)
}

func findAddress(s *pb.State, id string) int {
	if id == "" {
		return -1
	}
	return slices.IndexFunc(s.Addresses, func(a *pb.Address) bool { return a.Id == id })
}

func rememberCommand(s *pb.State, id string) {
	if id == "" {
		return
	}
	s.RecentCommands = append(s.RecentCommands, id)
	if over := len(s.RecentCommands) - recentCommandsKept; over > 0 {
		s.RecentCommands = append(s.RecentCommands[:0:0], s.RecentCommands[over:]...)
	}
}

func seenCommand(s *pb.State, id string) bool {
	return slices.Contains(s.RecentCommands, id)
}

func needCommandID(id string) error {
	if id == "" || len(id) > maxCommandIDLen {
		return fieldsError(fieldErr("command_id", CodeRequired,
			"command_id is required (1-%d characters) so a retry is not applied twice", maxCommandIDLen))
	}
	return nil
}

// tokenErrors checks a one-time token's hash and expiry: the expiry must be
// after now and at most max (plus clock skew) away.
func tokenErrors(hashField, expField, hash string, exp *timestamppb.Timestamp, now time.Time, max time.Duration) []emporium.FieldError {
	var errs []emporium.FieldError
	switch {
	case hash == "":
		errs = append(errs, fieldErr(hashField, CodeRequired, "%s is required", hashField))
	case len(hash) > maxTokenHashLen:
		errs = append(errs, fieldErr(hashField, CodeInvalid, "%s must have at most %d characters", hashField, maxTokenHashLen))
	}
	switch {
	case exp == nil:
		errs = append(errs, fieldErr(expField, CodeRequired, "%s is required", expField))
	case exp.CheckValid() != nil || !exp.AsTime().After(now) || exp.AsTime().After(now.Add(max+clockSkew)):
		errs = append(errs, fieldErr(expField, CodeOutOfRange, "%s must be in the future and at most %s away", expField, max))
	}
	return errs
}

func passwordHashErrors(h string) []emporium.FieldError {
	if !strings.HasPrefix(h, passwordHashPrefix) || len(h) > maxPasswordHashLen {
		return []emporium.FieldError{fieldErr("password_hash", CodeInvalid,
			"password_hash must be an argon2id PHC string (auth.HashPassword)")}
	}
	return nil
}

func recoveryHashesError(hashes []string) *emporium.FieldError {
	const field = "recovery_code_hashes"
	if len(hashes) == 0 || len(hashes) > MaxRecoveryCodes {
		fe := fieldErr(field, CodeInvalid, "%s must hold 1-%d hashes", field, MaxRecoveryCodes)
		return &fe
	}
	seen := make(map[string]bool, len(hashes))
	for _, h := range hashes {
		if h == "" || len(h) > maxTokenHashLen || seen[h] {
			fe := fieldErr(field, CodeInvalid, "%s must be distinct, non-empty hashes", field)
			return &fe
		}
		seen[h] = true
	}
	return nil
}

// validTOTPSecret reports whether s is an unpadded base32 secret as
// auth.NewTOTP makes them.
func validTOTPSecret(s string) bool {
	if len(s) < minTOTPSecretLen || len(s) > maxTOTPSecretLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

func invalidToken() error {
	return fieldsError(fieldErr("token", CodeInvalidOrExpired, "the link is invalid or has expired"))
}

func invalidCode() error {
	return unauthenticated(fieldErr("code", CodeInvalid, "invalid code"))
}

func unauthenticated(fields ...emporium.FieldError) error {
	return &emporium.Error{Code: emporium.EUNAUTHENTICATED, Message: joinMessages(fields), Fields: fields}
}

func addressNotFound(id string) error {
	return emporium.Errorf(emporium.ENOTFOUND, "address %q not found", id)
}

func cloneTime(t *timestamppb.Timestamp) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return proto.CloneOf(t)
}

// joinMessages is the message of an error carrying fields: the field's own
// for one, a summary for several.
func joinMessages(fields []emporium.FieldError) string {
	if len(fields) == 1 {
		return fields[0].Message
	}
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.Field
	}
	return fmt.Sprintf("%d fields are invalid: %s", len(fields), strings.Join(names, ", "))
}
