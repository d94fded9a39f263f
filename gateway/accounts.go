package gateway

import (
	"fmt"
	"net/http"
	"time"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/auth"
	"github.com/emporium-shop/emporium/ratelimit"
)

// This file and accounts_me.go and accounts_addresses.go serve
// emporium.Accounts over HTTP (DESIGN §8, §9): here signup, verification,
// login with MFA and the keys; there the caller's profile, sessions, MFA and
// addresses. Handlers decode, call the service and present its answer;
// every rule (what a valid password is, whether a token is good, which
// address is the default) is the service's.

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
	s.Handle("POST /v1/auth/mfa/unlock", s.authRoute(s.unlockMFA))
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
		if err := s.edgeLimit(w, r, s.limits.Auth, "auth", ratelimit.IPBucket(s.clientIP(r))); err != nil {
			return err
		}
		return h(w, r)
	}
}

// Request bodies. Each type's Validate, which Decode calls, checks that the
// members the contract names required are present (422 validation_failed,
// code "required") and that credentials are no longer than any valid one
// can be (code "too_long": a long one is refused by name before any lookup,
// where a service would only answer that it is wrong); what a valid value
// is, is the service's to say.

type signupRequest struct {
	Username string `json:"username"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (b signupRequest) Validate() error {
	var v validation
	v.present("username", b.Username)
	v.text("email", b.Email, true, emporium.MaxEmailLength)
	v.text("password", b.Password, true, auth.MaxPasswordLength)
	return v.err()
}

type tokenRequest struct {
	Token string `json:"token"`
}

func (b tokenRequest) Validate() error {
	var v validation
	v.text("token", b.Token, true, auth.MaxTokenLength)
	return v.err()
}

type emailRequest struct {
	Email string `json:"email"`
}

func (b emailRequest) Validate() error {
	var v validation
	v.text("email", b.Email, true, emporium.MaxEmailLength)
	return v.err()
}

type resetPasswordRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

func (b resetPasswordRequest) Validate() error {
	var v validation
	v.text("token", b.Token, true, auth.MaxTokenLength)
	v.text("password", b.Password, true, auth.MaxPasswordLength)
	return v.err()
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (b loginRequest) Validate() error {
	var v validation
	v.text("email", b.Email, true, emporium.MaxEmailLength)
	v.text("password", b.Password, true, auth.MaxPasswordLength)
	return v.err()
}

type loginMFARequest struct {
	MFAToken string `json:"mfa_token"`
	Code     string `json:"code"`
}

func (b loginMFARequest) Validate() error {
	var v validation
	v.text("mfa_token", b.MFAToken, true, auth.MaxTokenLength)
	v.text("code", b.Code, true, auth.MaxCodeLength)
	return v.err()
}

type refreshTokenRequest struct {
	RefreshToken string `json:"refresh_token"`
}

func (b refreshTokenRequest) Validate() error {
	var v validation
	v.text("refresh_token", b.RefreshToken, true, auth.MaxRefreshTokenLength)
	return v.err()
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

func (s *Server) unlockMFA(w http.ResponseWriter, r *http.Request) error {
	var in tokenRequest
	if err := Decode(r, &in); err != nil {
		return err
	}
	if err := s.accounts.UnlockMFA(r.Context(), in.Token); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) resetPassword(w http.ResponseWriter, r *http.Request) error {
	var in resetPasswordRequest
	if err := Decode(r, &in); err != nil {
		return err
	}
	if err := s.accounts.ResetPassword(r.Context(), in.Token, in.Password, s.clientOf(r)); err != nil {
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
