package gateway

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/ratelimit"
)

// This file serves emporium.Accounts over HTTP (DESIGN §8, §9): signup,
// verification, login with MFA, sessions, profile and addresses. Handlers
// decode, call the service and present its answer; every rule (what a valid
// password is, whether a token is good, which address is the default) is
// the service's.

// mountAccounts registers the account routes.
func (s *Server) mountAccounts() {
	s.Handle("POST /v1/auth/signup", s.authRoute(s.signup))
	s.Handle("POST /v1/auth/verify-email", s.authRoute(s.verifyEmail))
	s.Handle("POST /v1/auth/resend-verification", s.authRoute(s.resendVerification))
	s.Handle("POST /v1/auth/login", s.authRoute(s.login))
	s.Handle("POST /v1/auth/login/mfa", s.authRoute(s.loginMFA))
	s.Handle("POST /v1/auth/refresh", s.authRoute(s.refresh))
	s.Handle("POST /v1/auth/logout", s.authRoute(s.logout))
	s.Handle("POST /v1/auth/password/forgot", s.authRoute(s.forgotPassword))
	s.Handle("POST /v1/auth/password/reset", s.authRoute(s.resetPassword))
	s.Handle("GET /.well-known/jwks.json", s.jwks)

	s.Handle("GET /v1/me", s.Authenticated(s.getMe))
	s.Handle("PATCH /v1/me", s.Authenticated(s.patchMe))
	s.Handle("GET /v1/me/sessions", s.Authenticated(s.listSessions))
	s.Handle("DELETE /v1/me/sessions/{id}", s.Authenticated(s.revokeSession))
	s.Handle("POST /v1/me/mfa/totp", s.Authenticated(s.beginTOTP))
	s.Handle("POST /v1/me/mfa/totp/confirm", s.Authenticated(s.confirmTOTP))
	s.Handle("DELETE /v1/me/mfa/totp", s.Authenticated(s.disableTOTP))
	s.Handle("GET /v1/me/addresses", s.Authenticated(s.listAddresses))
	s.Handle("POST /v1/me/addresses", s.Authenticated(s.addAddress))
	s.Handle("GET /v1/me/addresses/{id}", s.Authenticated(s.getAddress))
	s.Handle("PUT /v1/me/addresses/{id}", s.Authenticated(s.replaceAddress))
	s.Handle("DELETE /v1/me/addresses/{id}", s.Authenticated(s.removeAddress))
}

// authRoute wraps a /v1/auth/* handler. Its responses carry tokens or
// answer for credentials, so no cache may keep them (RFC 6749 §5.1), and,
// when the gateway has a Limiter, every request counts against the GCRA
// limit of its client address (RateLimits.Auth). That limit fails open, as
// every API limit does; the security counters behind it fail closed.
func (s *Server) authRoute(h HandlerFunc) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Cache-Control", "no-store")
		if s.limiter != nil {
			key := ratelimit.Key(ratelimit.PurposeAPI, "auth", ratelimit.IPBucket(s.clientIP(r)))
			d, err := s.limiter.Allow(r.Context(), key, s.limits.Auth)
			if err != nil {
				return err
			}
			ratelimit.Headers(w, d)
			if !d.Allowed {
				return ratelimit.Refused(d)
			}
		}
		return h(w, r)
	}
}

// Request bodies. Each type's Validate, which Decode calls, checks that the
// members the contract names required are present (422 validation_failed,
// code "required"); what a valid value is, is the service's to say.

type signupRequest struct {
	Username string `json:"username"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (b signupRequest) Validate() error {
	return required(field{"username", b.Username}, field{"email", b.Email}, field{"password", b.Password})
}

type tokenRequest struct {
	Token string `json:"token"`
}

func (b tokenRequest) Validate() error { return required(field{"token", b.Token}) }

type emailRequest struct {
	Email string `json:"email"`
}

func (b emailRequest) Validate() error { return required(field{"email", b.Email}) }

type resetPasswordRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

func (b resetPasswordRequest) Validate() error {
	return required(field{"token", b.Token}, field{"password", b.Password})
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (b loginRequest) Validate() error {
	return required(field{"email", b.Email}, field{"password", b.Password})
}

type loginMFARequest struct {
	MFAToken string `json:"mfa_token"`
	Code     string `json:"code"`
}

func (b loginMFARequest) Validate() error {
	return required(field{"mfa_token", b.MFAToken}, field{"code", b.Code})
}

type refreshTokenRequest struct {
	RefreshToken string `json:"refresh_token"`
}

func (b refreshTokenRequest) Validate() error {
	return required(field{"refresh_token", b.RefreshToken})
}

type codeRequest struct {
	Code string `json:"code"`
}

func (b codeRequest) Validate() error { return required(field{"code", b.Code}) }

// passwordRequest is the body of POST /v1/me/mfa/totp: enrolment needs the
// password.
type passwordRequest struct {
	Password string `json:"password"`
}

func (b passwordRequest) Validate() error { return required(field{"password", b.Password}) }

type disableTOTPRequest struct {
	Password string `json:"password"`
	Code     string `json:"code"`
}

func (b disableTOTPRequest) Validate() error {
	return required(field{"password", b.Password}, field{"code", b.Code})
}

// accountPatch is the body of PATCH /v1/me. The server-owned members of
// the account are declared too, only to be refused by name.
type accountPatch struct {
	Name  *string `json:"name"`
	Phone *string `json:"phone"`
	Email *string `json:"email"`
	// CurrentPassword is required with Email.
	CurrentPassword *string `json:"current_password"`

	ID            readOnly `json:"id"`
	Username      readOnly `json:"username"`
	EmailVerified readOnly `json:"email_verified"`
	PendingEmail  readOnly `json:"pending_email"`
	Roles         readOnly `json:"roles"`
	MFAEnabled    readOnly `json:"mfa_enabled"`
	CreatedAt     readOnly `json:"created_at"`
}

// Validate requires the current password with a new email.
func (b accountPatch) Validate() error {
	if b.Email != nil {
		return required(field{"current_password", deref(b.CurrentPassword)})
	}
	return nil
}

// addressRequest is the body of POST and PUT /v1/me/addresses; the id is
// the server's.
type addressRequest struct {
	FullName          string `json:"full_name"`
	Line1             string `json:"line1"`
	Line2             string `json:"line2"`
	City              string `json:"city"`
	Region            string `json:"region"`
	PostalCode        string `json:"postal_code"`
	Country           string `json:"country"`
	Phone             string `json:"phone"`
	IsDefaultShipping bool   `json:"is_default_shipping"`
	IsDefaultBilling  bool   `json:"is_default_billing"`

	ID readOnly `json:"id"`
}

func (b addressRequest) Validate() error {
	return required(field{"full_name", b.FullName}, field{"line1", b.Line1}, field{"city", b.City}, field{"country", b.Country})
}

// Response bodies.

// statusBody answers requests whose outcome is only a state, such as a
// signup waiting for its verification.
type statusBody struct {
	Status string `json:"status"`
}

type tokensBody struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
}

type mfaChallengeBody struct {
	MFARequired bool   `json:"mfa_required"`
	MFAToken    string `json:"mfa_token"`
}

type accountBody struct {
	ID            string     `json:"id"`
	Username      string     `json:"username"`
	Email         string     `json:"email"`
	EmailVerified bool       `json:"email_verified"`
	PendingEmail  string     `json:"pending_email,omitempty"`
	Name          string     `json:"name"`
	Phone         string     `json:"phone"`
	Roles         []string   `json:"roles"`
	MFAEnabled    bool       `json:"mfa_enabled"`
	CreatedAt     *time.Time `json:"created_at,omitempty"`
}

type sessionBody struct {
	ID         string    `json:"id"`
	Device     string    `json:"device"`
	IP         string    `json:"ip"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	Current    bool      `json:"current"`
}

type totpEnrollmentBody struct {
	Secret     string `json:"secret"`
	OTPAuthURL string `json:"otpauth_url"`
}

type recoveryCodesBody struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

type addressBody struct {
	ID                string `json:"id"`
	FullName          string `json:"full_name"`
	Line1             string `json:"line1"`
	Line2             string `json:"line2"`
	City              string `json:"city"`
	Region            string `json:"region"`
	PostalCode        string `json:"postal_code"`
	Country           string `json:"country"`
	Phone             string `json:"phone"`
	IsDefaultShipping bool   `json:"is_default_shipping"`
	IsDefaultBilling  bool   `json:"is_default_billing"`
}

// listBody is a page of a list. The account's lists are short (at most 20
// addresses, a handful of sessions) and come whole, so NextCursor is nil.
type listBody[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// The status members of the 2xx answers that carry no object.
const (
	statusVerificationSent = "verification_sent"
	statusEmailVerified    = "email_verified"
	statusResetSent        = "reset_sent"
)

// tokenTypeBearer is the token_type of every token response (RFC 6749 §7.1).
const tokenTypeBearer = "Bearer"

// Authentication and credentials: /v1/auth/*.

// signup registers an account. It answers 202 whether or not the email was
// taken (the service mails the owner instead), so the answer tells nobody
// which addresses have accounts. Signups count per client address
// (RateLimits.Signups) before the service is asked; that window fails
// closed.
func (s *Server) signup(w http.ResponseWriter, r *http.Request) error {
	var in signupRequest
	if err := Decode(r, &in); err != nil {
		return err
	}
	client := s.clientOf(r)
	if s.limiter != nil {
		d, err := s.limiter.Hit(r.Context(), ratelimit.Key(ratelimit.PurposeSignupsPerIP, ratelimit.IPBucket(client.IP)), s.limits.Signups)
		if err != nil {
			return err
		}
		// The signup window is the tighter limit of this route: its
		// numbers replace those of the GCRA limit of /v1/auth/*.
		ratelimit.Headers(w, d)
		if !d.Allowed {
			return ratelimit.Refused(d)
		}
	}
	err := s.accounts.Signup(r.Context(), emporium.Signup{
		Username: in.Username,
		Email:    in.Email,
		Password: in.Password,
		Client:   client,
	})
	if err != nil {
		return err
	}
	return Respond(w, http.StatusAccepted, statusBody{Status: statusVerificationSent})
}

func (s *Server) verifyEmail(w http.ResponseWriter, r *http.Request) error {
	var in tokenRequest
	if err := Decode(r, &in); err != nil {
		return err
	}
	if err := s.accounts.VerifyEmail(r.Context(), in.Token); err != nil {
		return err
	}
	return Respond(w, http.StatusOK, statusBody{Status: statusEmailVerified})
}

// resendVerification answers 202 for every address, registered or not.
func (s *Server) resendVerification(w http.ResponseWriter, r *http.Request) error {
	var in emailRequest
	if err := Decode(r, &in); err != nil {
		return err
	}
	if err := s.accounts.ResendVerification(r.Context(), in.Email, s.clientOf(r)); err != nil {
		return err
	}
	return Respond(w, http.StatusAccepted, statusBody{Status: statusVerificationSent})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	var in loginRequest
	if err := Decode(r, &in); err != nil {
		return err
	}
	res, err := s.accounts.Login(r.Context(), in.Email, in.Password, s.clientOf(r))
	if err != nil {
		return err
	}
	switch {
	case res.MFARequired && res.MFAToken != "":
		return Respond(w, http.StatusOK, mfaChallengeBody{MFARequired: true, MFAToken: res.MFAToken})
	case !res.MFARequired && res.Tokens != nil:
		return respondTokens(w, *res.Tokens)
	default:
		return &emporium.Error{Code: emporium.EINTERNAL, Op: "gateway.login: the service answered neither tokens nor an MFA challenge"}
	}
}

func (s *Server) loginMFA(w http.ResponseWriter, r *http.Request) error {
	var in loginMFARequest
	if err := Decode(r, &in); err != nil {
		return err
	}
	t, err := s.accounts.LoginMFA(r.Context(), in.MFAToken, in.Code, s.clientOf(r))
	if err != nil {
		return err
	}
	return respondTokens(w, t)
}

func (s *Server) refresh(w http.ResponseWriter, r *http.Request) error {
	var in refreshTokenRequest
	if err := Decode(r, &in); err != nil {
		return err
	}
	t, err := s.accounts.Refresh(r.Context(), in.RefreshToken, s.clientOf(r))
	if err != nil {
		return err
	}
	return respondTokens(w, t)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	var in refreshTokenRequest
	if err := Decode(r, &in); err != nil {
		return err
	}
	if err := s.accounts.Logout(r.Context(), in.RefreshToken); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// forgotPassword answers 202 for every address, registered or not.
func (s *Server) forgotPassword(w http.ResponseWriter, r *http.Request) error {
	var in emailRequest
	if err := Decode(r, &in); err != nil {
		return err
	}
	if err := s.accounts.ForgotPassword(r.Context(), in.Email, s.clientOf(r)); err != nil {
		return err
	}
	return Respond(w, http.StatusAccepted, statusBody{Status: statusResetSent})
}

func (s *Server) resetPassword(w http.ResponseWriter, r *http.Request) error {
	var in resetPasswordRequest
	if err := Decode(r, &in); err != nil {
		return err
	}
	if err := s.accounts.ResetPassword(r.Context(), in.Token, in.Password); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// respondTokens answers a login or a refresh. expires_in is the access
// token's lifetime in whole seconds, rounded down so a client renews early
// rather than late.
func respondTokens(w http.ResponseWriter, t emporium.Tokens) error {
	if t.AccessToken == "" || t.RefreshToken == "" {
		return &emporium.Error{Code: emporium.EINTERNAL, Op: "gateway: the service answered empty tokens"}
	}
	return Respond(w, http.StatusOK, tokensBody{
		AccessToken:  t.AccessToken,
		RefreshToken: t.RefreshToken,
		TokenType:    tokenTypeBearer,
		ExpiresIn:    max(int64(t.ExpiresIn/time.Second), 0),
	})
}

// jwksMaxAge is how long caches may keep the JWKS. A new signing key must be
// published at least this long before tokens are signed with it, so that
// verifiers that cache the set know it in time.
const jwksMaxAge = 5 * time.Minute

// jwks serves the public keys of access tokens, cacheable by anyone.
func (s *Server) jwks(w http.ResponseWriter, r *http.Request) error {
	body := s.accounts.JWKS()
	if len(body) == 0 {
		return emporium.Errorf(emporium.EUNAVAILABLE, "The token signing keys are not available yet; try again shortly.")
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(jwksMaxAge/time.Second)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}

// The caller's own account: /v1/me*. Every handler acts for the principal
// of the access token and takes no user id from the request.

func (s *Server) getMe(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	a, err := s.accounts.Account(r.Context(), p)
	if err != nil {
		return err
	}
	return Respond(w, http.StatusOK, accountOf(a))
}

// patchMe changes name and phone, or starts an email change. Members the
// server owns are refused by name with 400 (Decode), before the service is
// asked.
func (s *Server) patchMe(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	var in accountPatch
	if err := Decode(r, &in); err != nil {
		return err
	}
	update := emporium.AccountUpdate{Name: in.Name, Phone: in.Phone, Email: in.Email, CurrentPassword: deref(in.CurrentPassword)}
	a, err := s.accounts.UpdateAccount(r.Context(), p, update)
	if err != nil {
		return err
	}
	return Respond(w, http.StatusOK, accountOf(a))
}

func accountOf(a emporium.Account) accountBody {
	b := accountBody{
		ID:            a.ID,
		Username:      a.Username,
		Email:         a.Email,
		EmailVerified: a.EmailVerified,
		PendingEmail:  a.PendingEmail,
		Name:          a.Name,
		Phone:         a.Phone,
		Roles:         a.Roles,
		MFAEnabled:    a.MFAEnabled,
	}
	if b.Roles == nil {
		b.Roles = []string{}
	}
	if !a.CreatedAt.IsZero() {
		t := a.CreatedAt.UTC()
		b.CreatedAt = &t
	}
	return b
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	sessions, err := s.accounts.Sessions(r.Context(), p)
	if err != nil {
		return err
	}
	out := listBody[sessionBody]{Items: make([]sessionBody, 0, len(sessions))}
	for _, ss := range sessions {
		out.Items = append(out.Items, sessionBody{
			ID:         ss.ID,
			Device:     ss.Device,
			IP:         ss.IP,
			CreatedAt:  ss.CreatedAt.UTC(),
			LastUsedAt: ss.LastUsedAt.UTC(),
			ExpiresAt:  ss.ExpiresAt.UTC(),
			Current:    ss.Current,
		})
	}
	return Respond(w, http.StatusOK, out)
}

func (s *Server) revokeSession(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	if err := s.accounts.RevokeSession(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// beginTOTP takes no body: it starts (or restarts) an enrolment.
func (s *Server) beginTOTP(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	var in passwordRequest
	if err := Decode(r, &in); err != nil {
		return err
	}
	e, err := s.accounts.BeginTOTP(r.Context(), p, in.Password)
	if err != nil {
		return err
	}
	return Respond(w, http.StatusCreated, totpEnrollmentBody{Secret: e.Secret, OTPAuthURL: e.OTPAuthURL})
}

func (s *Server) confirmTOTP(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	var in codeRequest
	if err := Decode(r, &in); err != nil {
		return err
	}
	codes, err := s.accounts.ConfirmTOTP(r.Context(), p, in.Code)
	if err != nil {
		return err
	}
	if codes == nil {
		codes = []string{}
	}
	w.Header().Set("Cache-Control", "no-store")
	return Respond(w, http.StatusOK, recoveryCodesBody{RecoveryCodes: codes})
}

func (s *Server) disableTOTP(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	var in disableTOTPRequest
	if err := Decode(r, &in); err != nil {
		return err
	}
	if err := s.accounts.DisableTOTP(r.Context(), p, in.Password, in.Code); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listAddresses(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	addresses, err := s.accounts.Addresses(r.Context(), p)
	if err != nil {
		return err
	}
	out := listBody[addressBody]{Items: make([]addressBody, 0, len(addresses))}
	for _, a := range addresses {
		out.Items = append(out.Items, addressOf(a))
	}
	return Respond(w, http.StatusOK, out)
}

// maxIdempotencyKeyLength bounds an Idempotency-Key: a UUID is 36
// characters; 255 leaves room for any client's scheme.
const maxIdempotencyKeyLength = 255

// idempotencyKey returns the request's Idempotency-Key header, "" when it
// has none. A key is 1 to 255 visible ASCII characters; anything else is
// refused rather than stored.
func idempotencyKey(r *http.Request) (string, error) {
	values := r.Header.Values("Idempotency-Key")
	if len(values) == 0 {
		return "", nil
	}
	bad := &emporium.Error{
		Code:    emporium.EMALFORMED,
		Message: "The Idempotency-Key header must be one value of 1 to 255 visible ASCII characters.",
		Fields:  []emporium.FieldError{{Field: "Idempotency-Key", Code: emporium.FieldInvalid, Message: "must be 1 to 255 visible ASCII characters"}},
	}
	key := values[0]
	if len(values) > 1 || key == "" || len(key) > maxIdempotencyKeyLength {
		return "", bad
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return "", bad
		}
	}
	return key, nil
}

// addAddress creates an address and answers 201 with its Location. With an
// Idempotency-Key a retry answers the address the first request created.
func (s *Server) addAddress(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	in, err := decodeAddress(r)
	if err != nil {
		return err
	}
	a, err := s.accounts.AddAddress(r.Context(), p, in, key)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/me/addresses/"+url.PathEscape(a.ID))
	return Respond(w, http.StatusCreated, addressOf(a))
}

func (s *Server) getAddress(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	a, err := s.accounts.Address(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	return Respond(w, http.StatusOK, addressOf(a))
}

func (s *Server) replaceAddress(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	in, err := decodeAddress(r)
	if err != nil {
		return err
	}
	a, err := s.accounts.ReplaceAddress(r.Context(), p, r.PathValue("id"), in)
	if err != nil {
		return err
	}
	return Respond(w, http.StatusOK, addressOf(a))
}

func (s *Server) removeAddress(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	if err := s.accounts.RemoveAddress(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// decodeAddress reads the body of POST and PUT /v1/me/addresses.
func decodeAddress(r *http.Request) (emporium.Address, error) {
	var in addressRequest
	if err := Decode(r, &in); err != nil {
		return emporium.Address{}, err
	}
	return emporium.Address{
		FullName:          in.FullName,
		Line1:             in.Line1,
		Line2:             in.Line2,
		City:              in.City,
		Region:            in.Region,
		PostalCode:        in.PostalCode,
		Country:           in.Country,
		Phone:             in.Phone,
		IsDefaultShipping: in.IsDefaultShipping,
		IsDefaultBilling:  in.IsDefaultBilling,
	}, nil
}

func addressOf(a emporium.Address) addressBody {
	return addressBody{
		ID:                a.ID,
		FullName:          a.FullName,
		Line1:             a.Line1,
		Line2:             a.Line2,
		City:              a.City,
		Region:            a.Region,
		PostalCode:        a.PostalCode,
		Country:           a.Country,
		Phone:             a.Phone,
		IsDefaultShipping: a.IsDefaultShipping,
		IsDefaultBilling:  a.IsDefaultBilling,
	}
}
