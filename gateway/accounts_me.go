package gateway

import (
	"net/http"
	"time"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/auth"
)

// The caller's own account: /v1/me, its sessions and its MFA. Every
// handler acts for the principal of the access token and takes no user id
// from the request.

type codeRequest struct {
	Code string `json:"code"`
}

func (b codeRequest) Validate() error {
	var v validation
	v.text("code", b.Code, true, auth.MaxCodeLength)
	return v.err()
}

// passwordRequest is the body of POST /v1/me/mfa/totp: enrolment needs the
// password.
type passwordRequest struct {
	Password string `json:"password"`
}

func (b passwordRequest) Validate() error {
	var v validation
	v.text("password", b.Password, true, auth.MaxPasswordLength)
	return v.err()
}

type disableTOTPRequest struct {
	Password string `json:"password"`
	Code     string `json:"code"`
}

func (b disableTOTPRequest) Validate() error {
	var v validation
	v.text("password", b.Password, true, auth.MaxPasswordLength)
	v.text("code", b.Code, true, auth.MaxCodeLength)
	return v.err()
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

// Validate requires the current password with a new email, and bounds
// the credentials (the name and phone are the account rules' to check).
func (b accountPatch) Validate() error {
	var v validation
	if b.Email != nil {
		v.text("email", *b.Email, false, emporium.MaxEmailLength)
		v.text("current_password", deref(b.CurrentPassword), true, auth.MaxPasswordLength)
	} else if b.CurrentPassword != nil {
		v.text("current_password", *b.CurrentPassword, false, auth.MaxPasswordLength)
	}
	return v.err()
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

// listBody is a page of a list. The account's lists are short (at most 20
// addresses, a handful of sessions) and come whole, so NextCursor is nil.
type listBody[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

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
