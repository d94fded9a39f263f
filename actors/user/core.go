// Package user is the UserGrain: one virtual actor per user id, the single
// writer of that user's account (DESIGN §4, §9).
//
// This file and core_*.go (signup, password, profile, MFA, addresses,
// wishlists) are the pure core: decide turns a command into events (or refuses
// it) without changing anything, apply folds an event into the state without
// checking anything. Nothing here does I/O, reads the clock, draws random
// numbers or runs a slow hash: secrets arrive hashed, and the outcome of a
// password or TOTP check arrives in the command, computed by the caller with
// the auth package against this grain's credentials.
package user

import (
	"crypto/subtle"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

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
	// removedAddressesKept is how many removed address ids are kept.
	removedAddressesKept = 256
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
// do: the command asks for what already holds. A retry (a command id the
// state remembers) never gets here: the shell answers it from the state,
// and refuses a command without an id. A refusal returns no events.
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
	case *pb.VerificationIssued:
		s.Verification = &pb.OneTimeToken{TokenHash: e.TokenHash, ExpiresAt: e.ExpiresAt}
	case *pb.EmailVerified:
		s.EmailVerified = true
		s.Verification = nil
		s.UpdatedAt = e.At
	case *pb.EmailChangeRequested:
		s.EmailChange = &pb.PendingEmail{
			Email: e.NewEmail, EmailKey: e.NewEmailKey, TokenHash: e.TokenHash, ExpiresAt: e.ExpiresAt,
		}
		s.UpdatedAt = e.At
	case *pb.EmailChanged:
		s.Email, s.EmailKey = e.NewEmail, e.NewEmailKey
		s.EmailVerified = true
		s.EmailChange, s.Verification = nil, nil
		s.PasswordReset = nil // it went to the old address
		s.UpdatedAt = e.At
	case *pb.PasswordResetIssued:
		s.PasswordReset = &pb.OneTimeToken{TokenHash: e.TokenHash, ExpiresAt: e.ExpiresAt}
	case *pb.PasswordChanged:
		s.PasswordHash, s.PasswordChangedAt = e.PasswordHash, e.At
		s.PasswordReset = nil
		if e.ByReset {
			// Whoever asked for the change may be who the reset locks out.
			s.EmailChange = nil
		}
		s.UpdatedAt = e.At
	case *pb.ProfileUpdated:
		if e.Name != nil {
			s.Name = e.Name.Value
		}
		if e.Phone != nil {
			s.Phone = e.Phone.Value
		}
		s.UpdatedAt = e.At
	case *pb.TOTPEnrollmentStarted:
		s.PendingTotpSecret = e.Secret
	case *pb.TOTPEnabled:
		s.TotpSecret, s.PendingTotpSecret = s.PendingTotpSecret, ""
		s.MfaEnabled = true
		s.LastStep = e.LastStep
		s.RecoveryCodeHashes = slices.Clone(e.RecoveryCodeHashes)
		s.UpdatedAt = e.At
	case *pb.TOTPUsed:
		s.LastStep = e.Step
	case *pb.RecoveryCodeUsed:
		if e.Index >= 0 && int(e.Index) < len(s.RecoveryCodeHashes) {
			s.RecoveryCodeHashes[e.Index] = ""
		}
	case *pb.TOTPDisabled:
		s.MfaEnabled = false
		s.TotpSecret, s.PendingTotpSecret = "", ""
		s.LastStep = 0
		s.RecoveryCodeHashes = nil
		s.UpdatedAt = e.At
	case *pb.AddressAdded:
		a := proto.CloneOf(e.Address)
		takeDefaults(s, a)
		s.Addresses = append(s.Addresses, a)
		s.UpdatedAt = e.At
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
	case *pb.StoreOpened:
		joined := cloneTime(e.At)
		if s.Store != nil {
			joined = s.Store.JoinedAt // opened before: the first opening counts
		}
		s.Store = &pb.Store{StoreName: e.StoreName, Description: e.Description, JoinedAt: joined, UpdatedAt: cloneTime(e.At)}
		s.StoreNameKey = e.StoreNameKey
		s.UpdatedAt = e.At
	case *pb.StoreUpdated:
		if s.Store == nil {
			s.Store = &pb.Store{JoinedAt: cloneTime(e.At)}
		}
		s.Store.StoreName, s.Store.Description = e.StoreName, e.Description
		s.Store.UpdatedAt = cloneTime(e.At)
		s.StoreNameKey = e.StoreNameKey
		s.UpdatedAt = e.At
	case *pb.Fenced:
		// Only takes its seq.
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

// unauthenticated is the EUNAUTHENTICATED error naming the fields whose
// proof failed, worded as emporium.InvalidFields words a refusal.
func unauthenticated(fields ...emporium.FieldError) error {
	e := emporium.InvalidFields(fields...)
	e.Code = emporium.EUNAUTHENTICATED
	return e
}

func cloneTime(t *timestamppb.Timestamp) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return proto.CloneOf(t)
}

// tokenErrors checks a one-time token's hash and expiry: the expiry must be
// after now and at most max (plus clock skew) away.
func tokenErrors(hashField, expField, hash string, exp *timestamppb.Timestamp, now time.Time, max time.Duration) []emporium.FieldError {
	var errs []emporium.FieldError
	switch {
	case hash == "":
		errs = append(errs, emporium.Field(hashField, emporium.FieldRequired, "%s is required", hashField))
	case len(hash) > maxTokenHashLen:
		errs = append(errs, emporium.Field(hashField, emporium.FieldInvalid, "%s must have at most %d characters", hashField, maxTokenHashLen))
	}
	switch {
	case exp == nil:
		errs = append(errs, emporium.Field(expField, emporium.FieldRequired, "%s is required", expField))
	case exp.CheckValid() != nil || !exp.AsTime().After(now) || exp.AsTime().After(now.Add(max+clockSkew)):
		errs = append(errs, emporium.Field(expField, emporium.FieldOutOfRange, "%s must be in the future and at most %s away", expField, max))
	}
	return errs
}

func invalidToken() error {
	return emporium.Invalidf("token", emporium.FieldInvalidOrExpired, "the link is invalid or has expired")
}

func passwordHashErrors(h string) []emporium.FieldError {
	if !strings.HasPrefix(h, passwordHashPrefix) || len(h) > maxPasswordHashLen {
		return []emporium.FieldError{emporium.Field("password_hash", emporium.FieldInvalid,
			"password_hash must be an argon2id PHC string (auth.HashPassword)")}
	}
	return nil
}

func invalidCode() error {
	return unauthenticated(emporium.Field("code", emporium.FieldInvalid, "invalid code"))
}
