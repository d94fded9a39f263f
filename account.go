package emporium

import (
	"context"
	"time"
)

// Accounts is the account service: signup, verification, login with MFA,
// sessions, profile and addresses (DESIGN §9). The gateway serves it over
// HTTP; actors/user implements it over the UserGrain and SessionGrain.
//
// Every method that names no user is written so that its answer and its
// timing do not tell whether an email is registered: Signup, Resend,
// ForgotPassword answer nil for unknown and known addresses alike, and Login
// fails the same way for a wrong password and an unknown email.
type Accounts interface {
	// Signup registers an account and mails a verification link. A taken
	// email answers nil too (the owner is mailed instead); a taken username
	// is EINVALID with field "username", since usernames are public.
	Signup(ctx context.Context, in Signup) error
	// VerifyEmail consumes a verification (or email change) token.
	VerifyEmail(ctx context.Context, token string) error
	// ResendVerification mails a new verification link if the address
	// belongs to an unverified account.
	ResendVerification(ctx context.Context, email string, client Client) error
	// Login checks a password. It answers tokens, or an MFA challenge when
	// the account has MFA on. Unverified accounts get EFORBIDDEN with a
	// message saying to verify first (only after the password matched).
	Login(ctx context.Context, email, password string, client Client) (Login, error)
	// LoginMFA finishes a login with a TOTP code or a recovery code.
	LoginMFA(ctx context.Context, mfaToken, code string, client Client) (Tokens, error)
	// Refresh rotates a refresh token. Reuse of a rotated token revokes its
	// whole session (EUNAUTHENTICATED).
	Refresh(ctx context.Context, refreshToken string, client Client) (Tokens, error)
	// Logout ends the session of a refresh token.
	Logout(ctx context.Context, refreshToken string) error
	// ForgotPassword mails a reset link if the address is registered.
	ForgotPassword(ctx context.Context, email string, client Client) error
	// ResetPassword sets a new password with a reset token, ends every
	// session of the account and clears its failed-login windows (the
	// account's, and the account+address one of the client resetting).
	ResetPassword(ctx context.Context, token, password string, client Client) error
	// UnlockMFA lifts, with the mailed unlock token, the MFA login lock set
	// after too many wrong codes.
	UnlockMFA(ctx context.Context, token string) error

	// Authenticate verifies an access token.
	Authenticate(ctx context.Context, accessToken string) (Principal, error)
	// JWKS answers the public keys of access tokens as a JWK Set.
	JWKS() []byte

	// Account answers the caller's account.
	Account(ctx context.Context, p Principal) (Account, error)
	// UpdateAccount changes name and phone, or starts an email change
	// (verified by a mail to the new address; the old one stays until then,
	// and hears of it). Changing the email needs the current password, so a
	// stolen session alone cannot take the account over.
	UpdateAccount(ctx context.Context, p Principal, in AccountUpdate) (Account, error)
	// Sessions lists the caller's live sessions, the current one marked.
	Sessions(ctx context.Context, p Principal) ([]Session, error)
	// RevokeSession ends one of the caller's sessions (ENOTFOUND if it is
	// not theirs).
	RevokeSession(ctx context.Context, p Principal, sessionID string) error

	// BeginTOTP starts MFA enrolment: a secret and its otpauth:// URL. It
	// needs the password, so a stolen session cannot lock the owner out
	// behind the thief's authenticator.
	BeginTOTP(ctx context.Context, p Principal, password string) (TOTPEnrollment, error)
	// ConfirmTOTP turns MFA on with a first code; it answers the recovery
	// codes, shown once.
	ConfirmTOTP(ctx context.Context, p Principal, code string) ([]string, error)
	// DisableTOTP turns MFA off; it needs the password and a code.
	DisableTOTP(ctx context.Context, p Principal, password, code string) error

	// Addresses lists the caller's addresses.
	Addresses(ctx context.Context, p Principal) ([]Address, error)
	// Address answers one of the caller's addresses (ENOTFOUND otherwise).
	Address(ctx context.Context, p Principal, id string) (Address, error)
	// AddAddress adds an address; idempotencyKey, when set, makes a retry
	// answer the address it created.
	AddAddress(ctx context.Context, p Principal, a Address, idempotencyKey string) (Address, error)
	// ReplaceAddress replaces one of the caller's addresses.
	ReplaceAddress(ctx context.Context, p Principal, id string, a Address) (Address, error)
	// RemoveAddress removes one of the caller's addresses.
	RemoveAddress(ctx context.Context, p Principal, id string) error
}

// Signup is what a new account starts with.
type Signup struct {
	Username string
	Email    string
	Password string
	Client   Client
}

// Client describes the device a request came from, for the session list and
// for rate limits.
type Client struct {
	IP        string
	UserAgent string
}

// Login is the outcome of a password check: tokens, or an MFA challenge.
type Login struct {
	Tokens      *Tokens
	MFARequired bool
	MFAToken    string
}

// Tokens are what a login or a refresh answers.
type Tokens struct {
	AccessToken  string
	RefreshToken string
	ExpiresIn    time.Duration
}

// Principal is the authenticated caller of a request.
type Principal struct {
	UserID    string
	SessionID string
	Roles     []string
	// ExpiresAt is when the access token the principal came from expires;
	// zero when it is not known. A live connection closes then (DESIGN §9).
	ExpiresAt time.Time
}

// HasRole reports whether the principal has role.
func (p Principal) HasRole(role string) bool {
	for _, r := range p.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// Account is a user's own view of their account.
type Account struct {
	ID            string
	Username      string
	Email         string
	EmailVerified bool
	PendingEmail  string
	Name          string
	Phone         string
	Roles         []string
	MFAEnabled    bool
	CreatedAt     time.Time
}

// AccountUpdate changes the fields that are set.
type AccountUpdate struct {
	Name  *string
	Phone *string
	Email *string
	// CurrentPassword is required when Email is set.
	CurrentPassword string
}

// Session is one login of a user.
type Session struct {
	ID         string
	Device     string
	IP         string
	CreatedAt  time.Time
	LastUsedAt time.Time
	ExpiresAt  time.Time
	Current    bool
}

// TOTPEnrollment is a TOTP secret waiting for its first code.
type TOTPEnrollment struct {
	Secret     string
	OTPAuthURL string
}

// Address is a shipping or billing address.
type Address struct {
	ID                string
	FullName          string
	Line1             string
	Line2             string
	City              string
	Region            string
	PostalCode        string
	Country           string
	Phone             string
	IsDefaultShipping bool
	IsDefaultBilling  bool
}

// MaxEmailLength bounds an email address, in characters: RFC 5321's limit
// on a forward path, less the brackets. The account rules and the gateway
// (which refuses a longer one before any lookup) share it.
const MaxEmailLength = 254

// Roles a user can have.
const (
	RoleCustomer = "customer"
	RoleVendor   = "vendor"
	RoleAdmin    = "admin"
)
