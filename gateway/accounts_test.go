package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/gateway"
	"github.com/emporium-shop/emporium/gateway/gatewaytest"
	"github.com/emporium-shop/emporium/ratelimit"
)

// These tests cover the HTTP layer of the accounts: decoding, statuses,
// headers, the plumbing of authentication and the contract. The service
// behind it is an in-memory fake; the real one has end-to-end tests of its
// own.

// Two users with one access token each.
var (
	alice = emporium.Principal{UserID: "u-alice", SessionID: "s-alice", Roles: []string{emporium.RoleCustomer}}
	bob   = emporium.Principal{UserID: "u-bob", SessionID: "s-bob", Roles: []string{emporium.RoleCustomer, emporium.RoleVendor}}
)

const (
	aliceToken = "alice.access.token"
	bobToken   = "bob.access.token"
)

// call is one call the fake received.
type call struct {
	method    string
	principal emporium.Principal
	args      []any
}

// fakeAccounts is an in-memory emporium.Accounts that records its calls.
// Errors set in fail are answered by the method of that name.
type fakeAccounts struct {
	mu        sync.Mutex
	calls     []call
	fail      map[string]error
	login     emporium.Login
	jwks      []byte
	addresses map[string][]emporium.Address // by user id
	nextID    int
}

func newFake() *fakeAccounts {
	return &fakeAccounts{
		fail:      map[string]error{},
		login:     emporium.Login{Tokens: &emporium.Tokens{AccessToken: "new.access", RefreshToken: "new-refresh", ExpiresIn: 15 * time.Minute}},
		jwks:      []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","alg":"EdDSA","use":"sig","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`),
		addresses: map[string][]emporium.Address{},
	}
}

func (f *fakeAccounts) record(method string, p emporium.Principal, args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{method, p, args})
	return f.fail[method]
}

func (f *fakeAccounts) setFail(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[method] = err
}

// called returns the calls of method, or every call but Authenticate when
// method is "".
func (f *fakeAccounts) called(method string) []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []call
	for _, c := range f.calls {
		if c.method == method || method == "" && c.method != "Authenticate" {
			out = append(out, c)
		}
	}
	return out
}

// last returns the one call of method, failing the test if there is not
// exactly one.
func (f *fakeAccounts) last(t *testing.T, method string) call {
	t.Helper()
	calls := f.called(method)
	require.Len(t, calls, 1, "calls of %s", method)
	return calls[0]
}

var none emporium.Principal

func (f *fakeAccounts) Signup(ctx context.Context, in emporium.Signup) error {
	return f.record("Signup", none, in)
}

func (f *fakeAccounts) VerifyEmail(ctx context.Context, token string) error {
	return f.record("VerifyEmail", none, token)
}

func (f *fakeAccounts) ResendVerification(ctx context.Context, email string, c emporium.Client) error {
	return f.record("ResendVerification", none, email, c)
}

func (f *fakeAccounts) Login(ctx context.Context, email, password string, c emporium.Client) (emporium.Login, error) {
	if err := f.record("Login", none, email, password, c); err != nil {
		return emporium.Login{}, err
	}
	return f.login, nil
}

func (f *fakeAccounts) LoginMFA(ctx context.Context, mfaToken, code string, c emporium.Client) (emporium.Tokens, error) {
	if err := f.record("LoginMFA", none, mfaToken, code, c); err != nil {
		return emporium.Tokens{}, err
	}
	return emporium.Tokens{AccessToken: "mfa.access", RefreshToken: "mfa-refresh", ExpiresIn: 15 * time.Minute}, nil
}

func (f *fakeAccounts) Refresh(ctx context.Context, refreshToken string, c emporium.Client) (emporium.Tokens, error) {
	if err := f.record("Refresh", none, refreshToken, c); err != nil {
		return emporium.Tokens{}, err
	}
	return emporium.Tokens{AccessToken: "rotated.access", RefreshToken: "rotated-refresh", ExpiresIn: 900500 * time.Millisecond}, nil
}

func (f *fakeAccounts) Logout(ctx context.Context, refreshToken string) error {
	return f.record("Logout", none, refreshToken)
}

func (f *fakeAccounts) ForgotPassword(ctx context.Context, email string, c emporium.Client) error {
	return f.record("ForgotPassword", none, email, c)
}

func (f *fakeAccounts) ResetPassword(ctx context.Context, token, password string) error {
	return f.record("ResetPassword", none, token, password)
}

func (f *fakeAccounts) Authenticate(ctx context.Context, accessToken string) (emporium.Principal, error) {
	if err := f.record("Authenticate", none, accessToken); err != nil {
		return emporium.Principal{}, err
	}
	switch accessToken {
	case aliceToken:
		return alice, nil
	case bobToken:
		return bob, nil
	}
	return emporium.Principal{}, emporium.Errorf(emporium.EUNAUTHENTICATED, "The access token is not valid.")
}

func (f *fakeAccounts) JWKS() []byte { return f.jwks }

func (f *fakeAccounts) account(p emporium.Principal) emporium.Account {
	return emporium.Account{
		ID: p.UserID, Username: strings.TrimPrefix(p.UserID, "u-"), Email: strings.TrimPrefix(p.UserID, "u-") + "@example.com",
		EmailVerified: true, Roles: p.Roles, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600)),
	}
}

func (f *fakeAccounts) Account(ctx context.Context, p emporium.Principal) (emporium.Account, error) {
	if err := f.record("Account", p); err != nil {
		return emporium.Account{}, err
	}
	return f.account(p), nil
}

func (f *fakeAccounts) UpdateAccount(ctx context.Context, p emporium.Principal, in emporium.AccountUpdate) (emporium.Account, error) {
	if err := f.record("UpdateAccount", p, in); err != nil {
		return emporium.Account{}, err
	}
	a := f.account(p)
	if in.Name != nil {
		a.Name = *in.Name
	}
	if in.Phone != nil {
		a.Phone = *in.Phone
	}
	if in.Email != nil {
		a.PendingEmail = *in.Email
	}
	return a, nil
}

func (f *fakeAccounts) Sessions(ctx context.Context, p emporium.Principal) ([]emporium.Session, error) {
	if err := f.record("Sessions", p); err != nil {
		return nil, err
	}
	t := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	return []emporium.Session{
		{ID: p.SessionID, Device: "Firefox", IP: "192.0.2.1", CreatedAt: t, LastUsedAt: t.Add(time.Hour), ExpiresAt: t.Add(30 * 24 * time.Hour), Current: true},
		{ID: p.SessionID + "-old", Device: "curl/8", IP: "2001:db8::1", CreatedAt: t.Add(-time.Hour), LastUsedAt: t.Add(-time.Hour), ExpiresAt: t.Add(29 * 24 * time.Hour)},
	}, nil
}

func (f *fakeAccounts) RevokeSession(ctx context.Context, p emporium.Principal, sessionID string) error {
	if err := f.record("RevokeSession", p, sessionID); err != nil {
		return err
	}
	if !strings.HasPrefix(sessionID, p.SessionID) {
		return emporium.Errorf(emporium.ENOTFOUND, "No such session.")
	}
	return nil
}

func (f *fakeAccounts) BeginTOTP(ctx context.Context, p emporium.Principal, password string) (emporium.TOTPEnrollment, error) {
	if err := f.record("BeginTOTP", p, password); err != nil {
		return emporium.TOTPEnrollment{}, err
	}
	return emporium.TOTPEnrollment{Secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", OTPAuthURL: "otpauth://totp/Emporium:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Emporium"}, nil
}

func (f *fakeAccounts) ConfirmTOTP(ctx context.Context, p emporium.Principal, code string) ([]string, error) {
	if err := f.record("ConfirmTOTP", p, code); err != nil {
		return nil, err
	}
	return []string{"aaaa-bbbb", "cccc-dddd"}, nil
}

func (f *fakeAccounts) DisableTOTP(ctx context.Context, p emporium.Principal, password, code string) error {
	return f.record("DisableTOTP", p, password, code)
}

func (f *fakeAccounts) Addresses(ctx context.Context, p emporium.Principal) ([]emporium.Address, error) {
	if err := f.record("Addresses", p); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.addresses[p.UserID]), nil
}

func (f *fakeAccounts) find(p emporium.Principal, id string) (int, error) {
	for i, a := range f.addresses[p.UserID] {
		if a.ID == id {
			return i, nil
		}
	}
	return 0, emporium.Errorf(emporium.ENOTFOUND, "No such address.")
}

func (f *fakeAccounts) Address(ctx context.Context, p emporium.Principal, id string) (emporium.Address, error) {
	if err := f.record("Address", p, id); err != nil {
		return emporium.Address{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	i, err := f.find(p, id)
	if err != nil {
		return emporium.Address{}, err
	}
	return f.addresses[p.UserID][i], nil
}

func (f *fakeAccounts) AddAddress(ctx context.Context, p emporium.Principal, a emporium.Address, key string) (emporium.Address, error) {
	if err := f.record("AddAddress", p, a, key); err != nil {
		return emporium.Address{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	a.ID = fmt.Sprintf("addr-%d", f.nextID)
	f.addresses[p.UserID] = append(f.addresses[p.UserID], a)
	return a, nil
}

func (f *fakeAccounts) ReplaceAddress(ctx context.Context, p emporium.Principal, id string, a emporium.Address) (emporium.Address, error) {
	if err := f.record("ReplaceAddress", p, id, a); err != nil {
		return emporium.Address{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	i, err := f.find(p, id)
	if err != nil {
		return emporium.Address{}, err
	}
	a.ID = id
	f.addresses[p.UserID][i] = a
	return a, nil
}

func (f *fakeAccounts) RemoveAddress(ctx context.Context, p emporium.Principal, id string) error {
	if err := f.record("RemoveAddress", p, id); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	i, err := f.find(p, id)
	if err != nil {
		return err
	}
	f.addresses[p.UserID] = slices.Delete(f.addresses[p.UserID], i, i+1)
	return nil
}

var _ emporium.Accounts = (*fakeAccounts)(nil)

// exchange is one request to send.
type exchange struct {
	method, target string
	token          string // sent as Authorization: Bearer
	body           any    // a string is sent as it is, anything else as JSON
	header         http.Header
	remoteAddr     string
}

// send serves ex with h, checks the exchange against openapi.yaml and
// returns the response and its body.
func send(t *testing.T, h http.Handler, ex exchange) (*http.Response, []byte) {
	t.Helper()
	var body io.Reader
	switch b := ex.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		body = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(ex.method, ex.target, body)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if ex.token != "" {
		req.Header.Set("Authorization", "Bearer "+ex.token)
	}
	for k, vs := range ex.header {
		req.Header.Del(k)
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if ex.remoteAddr != "" {
		req.RemoteAddr = ex.remoteAddr
	}
	req.Header.Set("User-Agent", "emporium-test/1.0")
	return gatewaytest.Do(t, h, req)
}

func decodeJSON(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(body, &m), "body: %s", body)
	return m
}

func accountsServer(t *testing.T, f *fakeAccounts, cfg gateway.Config) *gateway.Server {
	t.Helper()
	cfg.Accounts = f
	s, _ := newServer(t, cfg)
	return s
}

// TestAccountsHappyPaths sends every account route a good request and
// checks the status, the body and what the service was asked.
func TestAccountsHappyPaths(t *testing.T) {
	f := newFake()
	s := accountsServer(t, f, gateway.Config{})
	testClient := emporium.Client{IP: "192.0.2.1", UserAgent: "emporium-test/1.0"}

	t.Run("signup", func(t *testing.T) {
		resp, body := send(t, s, exchange{method: "POST", target: "/v1/auth/signup", body: map[string]string{"username": "ada", "email": "ada@example.com", "password": "correct horse battery"}})
		require.Equal(t, http.StatusAccepted, resp.StatusCode, "%s", body)
		assert.Equal(t, "verification_sent", decodeJSON(t, body)["status"])
		assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
		in := f.last(t, "Signup").args[0].(emporium.Signup)
		assert.Equal(t, emporium.Signup{Username: "ada", Email: "ada@example.com", Password: "correct horse battery", Client: testClient}, in)
	})
	t.Run("verify email", func(t *testing.T) {
		resp, body := send(t, s, exchange{method: "POST", target: "/v1/auth/verify-email", body: map[string]string{"token": "tok-1"}})
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
		assert.Equal(t, "email_verified", decodeJSON(t, body)["status"])
		assert.Equal(t, []any{"tok-1"}, f.last(t, "VerifyEmail").args)
	})
	t.Run("resend verification", func(t *testing.T) {
		resp, body := send(t, s, exchange{method: "POST", target: "/v1/auth/resend-verification", body: map[string]string{"email": "ada@example.com"}})
		require.Equal(t, http.StatusAccepted, resp.StatusCode, "%s", body)
		assert.Equal(t, "verification_sent", decodeJSON(t, body)["status"])
		assert.Equal(t, []any{"ada@example.com", testClient}, f.last(t, "ResendVerification").args)
	})
	t.Run("login", func(t *testing.T) {
		resp, body := send(t, s, exchange{method: "POST", target: "/v1/auth/login", body: map[string]string{"email": "ada@example.com", "password": "pw-123456"}})
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
		assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"), "token responses are never cached")
		assert.JSONEq(t, `{"access_token":"new.access","refresh_token":"new-refresh","token_type":"Bearer","expires_in":900}`, string(body))
		assert.Equal(t, []any{"ada@example.com", "pw-123456", testClient}, f.last(t, "Login").args)
	})
	t.Run("login mfa", func(t *testing.T) {
		resp, body := send(t, s, exchange{method: "POST", target: "/v1/auth/login/mfa", body: map[string]string{"mfa_token": "mfa-1", "code": "123456"}})
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
		assert.JSONEq(t, `{"access_token":"mfa.access","refresh_token":"mfa-refresh","token_type":"Bearer","expires_in":900}`, string(body))
		assert.Equal(t, []any{"mfa-1", "123456", testClient}, f.last(t, "LoginMFA").args)
	})
	t.Run("refresh", func(t *testing.T) {
		resp, body := send(t, s, exchange{method: "POST", target: "/v1/auth/refresh", body: map[string]string{"refresh_token": "r-1"}})
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
		// 900.5 s is answered as 900: expires_in rounds down.
		assert.JSONEq(t, `{"access_token":"rotated.access","refresh_token":"rotated-refresh","token_type":"Bearer","expires_in":900}`, string(body))
		assert.Equal(t, []any{"r-1", testClient}, f.last(t, "Refresh").args)
	})
	t.Run("logout", func(t *testing.T) {
		resp, body := send(t, s, exchange{method: "POST", target: "/v1/auth/logout", body: map[string]string{"refresh_token": "r-2"}})
		require.Equal(t, http.StatusNoContent, resp.StatusCode, "%s", body)
		assert.Empty(t, body)
		assert.Equal(t, []any{"r-2"}, f.last(t, "Logout").args)
	})
	t.Run("forgot password", func(t *testing.T) {
		resp, body := send(t, s, exchange{method: "POST", target: "/v1/auth/password/forgot", body: map[string]string{"email": "nobody@example.com"}})
		require.Equal(t, http.StatusAccepted, resp.StatusCode, "%s", body)
		assert.Equal(t, "reset_sent", decodeJSON(t, body)["status"])
		assert.Equal(t, []any{"nobody@example.com", testClient}, f.last(t, "ForgotPassword").args)
	})
	t.Run("reset password", func(t *testing.T) {
		resp, body := send(t, s, exchange{method: "POST", target: "/v1/auth/password/reset", body: map[string]string{"token": "reset-1", "password": "new password 1"}})
		require.Equal(t, http.StatusNoContent, resp.StatusCode, "%s", body)
		assert.Equal(t, []any{"reset-1", "new password 1"}, f.last(t, "ResetPassword").args)
	})
	t.Run("get me", func(t *testing.T) {
		resp, body := send(t, s, exchange{method: "GET", target: "/v1/me", token: aliceToken})
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
		assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
		assert.JSONEq(t, `{"id":"u-alice","username":"alice","email":"alice@example.com","email_verified":true,"name":"","phone":"","roles":["customer"],"mfa_enabled":false,"created_at":"2026-01-02T02:04:05Z"}`, string(body))
		assert.Equal(t, alice, f.last(t, "Account").principal)
	})
	t.Run("patch me", func(t *testing.T) {
		resp, body := send(t, s, exchange{method: "PATCH", target: "/v1/me", token: aliceToken, body: `{"name":"Alice Liddell","phone":"+14155550123","email":"new@example.com","current_password":"pw"}`})
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
		got := decodeJSON(t, body)
		assert.Equal(t, "Alice Liddell", got["name"])
		assert.Equal(t, "new@example.com", got["pending_email"])
		c := f.last(t, "UpdateAccount")
		assert.Equal(t, alice, c.principal)
		in := c.args[0].(emporium.AccountUpdate)
		require.NotNil(t, in.Name)
		require.NotNil(t, in.Phone)
		require.NotNil(t, in.Email)
		assert.Equal(t, "Alice Liddell", *in.Name)
		assert.Equal(t, "+14155550123", *in.Phone)
		assert.Equal(t, "new@example.com", *in.Email)
		assert.Equal(t, "pw", in.CurrentPassword)
	})
	t.Run("patch email without the password", func(t *testing.T) {
		before := len(f.called("UpdateAccount"))
		resp, body := send(t, s, exchange{method: "PATCH", target: "/v1/me", token: aliceToken, body: `{"email":"new@example.com"}`})
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, "%s", body)
		assert.Len(t, f.called("UpdateAccount"), before, "the service is not called")
	})
	t.Run("sessions", func(t *testing.T) {
		resp, body := send(t, s, exchange{method: "GET", target: "/v1/me/sessions", token: aliceToken})
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
		got := decodeJSON(t, body)
		assert.Nil(t, got["next_cursor"])
		require.Contains(t, got, "next_cursor")
		items := got["items"].([]any)
		require.Len(t, items, 2)
		assert.Equal(t, map[string]any{
			"id": "s-alice", "device": "Firefox", "ip": "192.0.2.1", "created_at": "2026-03-01T10:00:00Z",
			"last_used_at": "2026-03-01T11:00:00Z", "expires_at": "2026-03-31T10:00:00Z", "current": true,
		}, items[0])
		assert.Equal(t, alice, f.last(t, "Sessions").principal)
	})
	t.Run("revoke session", func(t *testing.T) {
		resp, body := send(t, s, exchange{method: "DELETE", target: "/v1/me/sessions/s-alice-old", token: aliceToken})
		require.Equal(t, http.StatusNoContent, resp.StatusCode, "%s", body)
		c := f.last(t, "RevokeSession")
		assert.Equal(t, alice, c.principal)
		assert.Equal(t, []any{"s-alice-old"}, c.args)
	})
	t.Run("begin totp", func(t *testing.T) {
		resp, body := send(t, s, exchange{method: "POST", target: "/v1/me/mfa/totp", token: aliceToken, body: `{"password":"pw"}`})
		require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", body)
		got := decodeJSON(t, body)
		assert.Equal(t, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", got["secret"])
		assert.True(t, strings.HasPrefix(got["otpauth_url"].(string), "otpauth://totp/"))
		assert.Equal(t, alice, f.last(t, "BeginTOTP").principal)
		assert.Equal(t, []any{"pw"}, f.last(t, "BeginTOTP").args)
	})
	t.Run("confirm totp", func(t *testing.T) {
		resp, body := send(t, s, exchange{method: "POST", target: "/v1/me/mfa/totp/confirm", token: aliceToken, body: map[string]string{"code": "654321"}})
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
		assert.JSONEq(t, `{"recovery_codes":["aaaa-bbbb","cccc-dddd"]}`, string(body))
		c := f.last(t, "ConfirmTOTP")
		assert.Equal(t, alice, c.principal)
		assert.Equal(t, []any{"654321"}, c.args)
	})
	t.Run("disable totp", func(t *testing.T) {
		resp, body := send(t, s, exchange{method: "DELETE", target: "/v1/me/mfa/totp", token: aliceToken, body: map[string]string{"password": "pw-123456", "code": "111111"}})
		require.Equal(t, http.StatusNoContent, resp.StatusCode, "%s", body)
		c := f.last(t, "DisableTOTP")
		assert.Equal(t, alice, c.principal)
		assert.Equal(t, []any{"pw-123456", "111111"}, c.args)
	})

	home := map[string]any{
		"full_name": "Alice Liddell", "line1": "1 Rabbit Hole", "line2": "Flat 2", "city": "Oxford", "region": "Oxfordshire",
		"postal_code": "OX1 1AA", "country": "GB", "phone": "+441865000000", "is_default_shipping": true, "is_default_billing": true,
	}
	var id string
	t.Run("add address", func(t *testing.T) {
		resp, body := send(t, s, exchange{method: "POST", target: "/v1/me/addresses", token: aliceToken, body: home,
			header: http.Header{"Idempotency-Key": {"0b6c3c1e-8a5e-4a4e-9a61-3f1f4c0c2b11"}}})
		require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", body)
		got := decodeJSON(t, body)
		id = got["id"].(string)
		require.NotEmpty(t, id)
		assert.Equal(t, "/v1/me/addresses/"+id, resp.Header.Get("Location"))
		want := map[string]any{"id": id}
		for k, v := range home {
			want[k] = v
		}
		assert.Equal(t, want, got)
		c := f.last(t, "AddAddress")
		assert.Equal(t, alice, c.principal)
		assert.Equal(t, emporium.Address{
			FullName: "Alice Liddell", Line1: "1 Rabbit Hole", Line2: "Flat 2", City: "Oxford", Region: "Oxfordshire",
			PostalCode: "OX1 1AA", Country: "GB", Phone: "+441865000000", IsDefaultShipping: true, IsDefaultBilling: true,
		}, c.args[0])
		assert.Equal(t, "0b6c3c1e-8a5e-4a4e-9a61-3f1f4c0c2b11", c.args[1], "the Idempotency-Key goes to the service")
	})
	t.Run("list addresses", func(t *testing.T) {
		resp, body := send(t, s, exchange{method: "GET", target: "/v1/me/addresses", token: aliceToken})
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
		got := decodeJSON(t, body)
		require.Contains(t, got, "next_cursor")
		assert.Nil(t, got["next_cursor"])
		require.Len(t, got["items"], 1)
		assert.Equal(t, id, got["items"].([]any)[0].(map[string]any)["id"])
	})
	t.Run("get address", func(t *testing.T) {
		resp, body := send(t, s, exchange{method: "GET", target: "/v1/me/addresses/" + id, token: aliceToken})
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
		assert.Equal(t, "Oxford", decodeJSON(t, body)["city"])
		assert.Equal(t, []any{id}, f.last(t, "Address").args)
	})
	t.Run("replace address", func(t *testing.T) {
		resp, body := send(t, s, exchange{method: "PUT", target: "/v1/me/addresses/" + id, token: aliceToken,
			body: map[string]any{"full_name": "A. Liddell", "line1": "2 Looking Glass", "city": "Oxford", "country": "GB"}})
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
		got := decodeJSON(t, body)
		assert.Equal(t, "2 Looking Glass", got["line1"])
		assert.Equal(t, "", got["line2"], "absent optional members come back empty")
		assert.Equal(t, false, got["is_default_shipping"])
		c := f.last(t, "ReplaceAddress")
		assert.Equal(t, alice, c.principal)
		assert.Equal(t, id, c.args[0])
	})
	t.Run("remove address", func(t *testing.T) {
		resp, body := send(t, s, exchange{method: "DELETE", target: "/v1/me/addresses/" + id, token: aliceToken})
		require.Equal(t, http.StatusNoContent, resp.StatusCode, "%s", body)
		assert.Equal(t, []any{id}, f.last(t, "RemoveAddress").args)
	})
	t.Run("jwks", func(t *testing.T) {
		resp, body := send(t, s, exchange{method: "GET", target: "/.well-known/jwks.json"})
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		assert.Equal(t, "public, max-age=300", resp.Header.Get("Cache-Control"))
		assert.Equal(t, f.jwks, body)
	})
}

func TestLoginAnswersAnMFAChallenge(t *testing.T) {
	f := newFake()
	f.login = emporium.Login{MFARequired: true, MFAToken: "challenge-1"}
	s := accountsServer(t, f, gateway.Config{})
	resp, body := send(t, s, exchange{method: "POST", target: "/v1/auth/login", body: map[string]string{"email": "ada@example.com", "password": "pw-123456"}})
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	assert.JSONEq(t, `{"mfa_required":true,"mfa_token":"challenge-1"}`, string(body))
}

func TestLoginWithNeitherTokensNorChallengeIsInternal(t *testing.T) {
	f := newFake()
	f.login = emporium.Login{}
	s := accountsServer(t, f, gateway.Config{})
	resp, body := send(t, s, exchange{method: "POST", target: "/v1/auth/login", body: map[string]string{"email": "ada@example.com", "password": "pw-123456"}})
	require.Equal(t, http.StatusInternalServerError, resp.StatusCode, "%s", body)
	assert.Equal(t, "internal", problemOf(t, resp, body).Code)
}

// TestAccountsRefuseBadBodies checks that malformed JSON, unknown members,
// other media types and missing members are refused as problems before the
// service is asked.
func TestAccountsRefuseBadBodies(t *testing.T) {
	routes := []struct {
		method, target, token string
		good                  string
	}{
		{"POST", "/v1/auth/signup", "", `{"username":"ada","email":"ada@example.com","password":"pw-123456"}`},
		{"POST", "/v1/auth/verify-email", "", `{"token":"t"}`},
		{"POST", "/v1/auth/resend-verification", "", `{"email":"a@example.com"}`},
		{"POST", "/v1/auth/login", "", `{"email":"a@example.com","password":"pw"}`},
		{"POST", "/v1/auth/login/mfa", "", `{"mfa_token":"m","code":"1"}`},
		{"POST", "/v1/auth/refresh", "", `{"refresh_token":"r"}`},
		{"POST", "/v1/auth/logout", "", `{"refresh_token":"r"}`},
		{"POST", "/v1/auth/password/forgot", "", `{"email":"a@example.com"}`},
		{"POST", "/v1/auth/password/reset", "", `{"token":"t","password":"pw-123456"}`},
		{"PATCH", "/v1/me", aliceToken, `{"name":"A"}`},
		{"POST", "/v1/me/mfa/totp/confirm", aliceToken, `{"code":"1"}`},
		{"DELETE", "/v1/me/mfa/totp", aliceToken, `{"password":"p","code":"1"}`},
		{"POST", "/v1/me/addresses", aliceToken, `{"full_name":"A","line1":"l","city":"c","country":"GB"}`},
		{"PUT", "/v1/me/addresses/addr-1", aliceToken, `{"full_name":"A","line1":"l","city":"c","country":"GB"}`},
	}
	for _, rt := range routes {
		t.Run(rt.method+" "+rt.target, func(t *testing.T) {
			f := newFake()
			s := accountsServer(t, f, gateway.Config{})
			check := func(name string, body string, header http.Header, status int, code string) {
				t.Helper()
				resp, respBody := send(t, s, exchange{method: rt.method, target: rt.target, token: rt.token, body: body, header: header})
				require.Equal(t, status, resp.StatusCode, "%s: %s", name, respBody)
				assert.Equal(t, code, problemOf(t, resp, respBody).Code, name)
			}
			check("malformed JSON", `{"a":`, nil, http.StatusBadRequest, emporium.EMALFORMED)
			check("syntax error", `{"a" 1}`, nil, http.StatusBadRequest, emporium.EMALFORMED)
			check("not an object", `[1]`, nil, http.StatusBadRequest, emporium.EMALFORMED)
			check("empty body", ``, nil, http.StatusBadRequest, emporium.EMALFORMED)
			check("unknown member", rt.good[:len(rt.good)-1]+`,"surprise":1}`, nil, http.StatusBadRequest, emporium.EMALFORMED)
			check("trailing data", rt.good+`{}`, nil, http.StatusBadRequest, emporium.EMALFORMED)
			check("not JSON", rt.good, http.Header{"Content-Type": {"text/plain"}}, http.StatusUnsupportedMediaType, emporium.EMEDIATYPE)
			if rt.method != "PATCH" {
				resp, respBody := send(t, s, exchange{method: rt.method, target: rt.target, token: rt.token, body: `{}`})
				require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, "missing members: %s", respBody)
				p := problemOf(t, resp, respBody)
				assert.Equal(t, emporium.EINVALID, p.Code)
				require.NotEmpty(t, p.Errors)
				for _, e := range p.Errors {
					assert.Equal(t, "required", e.Code, "%+v", e)
				}
			}
			assert.Empty(t, f.called(""), "the service is never asked")
		})
	}
}

func TestAccountsRefuseOversizedBodies(t *testing.T) {
	f := newFake()
	s := accountsServer(t, f, gateway.Config{MaxBodyBytes: 64})
	resp, body := send(t, s, exchange{method: "POST", target: "/v1/auth/login", body: `{"email":"a@example.com","password":"` + strings.Repeat("x", 100) + `"}`})
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "%s", body)
	assert.Equal(t, emporium.ETOOLARGE, problemOf(t, resp, body).Code)
	assert.Empty(t, f.called(""))
}

// TestPatchMeRefusesServerOwnedFields checks mass assignment: a member the
// server owns is refused by name, and the service never sees the request.
func TestPatchMeRefusesServerOwnedFields(t *testing.T) {
	for _, body := range []string{
		`{"roles":["admin"]}`,
		`{"name":"Mallory","roles":["admin"]}`,
		`{"id":"u-bob"}`,
		`{"email_verified":true}`,
		`{"username":"root"}`,
		`{"roles":null}`,
		`{"mfa_enabled":false}`,
		`{"pending_email":"x@example.com"}`,
		`{"created_at":"2020-01-01T00:00:00Z"}`,
	} {
		t.Run(body, func(t *testing.T) {
			f := newFake()
			s := accountsServer(t, f, gateway.Config{})
			resp, respBody := send(t, s, exchange{method: "PATCH", target: "/v1/me", token: aliceToken, body: body})
			require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s", respBody)
			p := problemOf(t, resp, respBody)
			assert.Equal(t, emporium.EMALFORMED, p.Code)
			require.Len(t, p.Errors, 1)
			assert.Equal(t, "read_only", p.Errors[0].Code)
			assert.Contains(t, p.Detail, "set by the server")
			assert.Contains(t, body, `"`+p.Errors[0].Field+`"`)
			assert.Empty(t, f.called(""), "the service is never asked")
		})
	}
	t.Run("several", func(t *testing.T) {
		f := newFake()
		s := accountsServer(t, f, gateway.Config{})
		resp, respBody := send(t, s, exchange{method: "PATCH", target: "/v1/me", token: aliceToken, body: `{"id":"x","roles":["admin"],"email_verified":true}`})
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s", respBody)
		p := problemOf(t, resp, respBody)
		var fields []string
		for _, e := range p.Errors {
			fields = append(fields, e.Field)
		}
		assert.ElementsMatch(t, []string{"id", "roles", "email_verified"}, fields)
		assert.Empty(t, f.called(""))
	})
	t.Run("address id", func(t *testing.T) {
		f := newFake()
		s := accountsServer(t, f, gateway.Config{})
		resp, respBody := send(t, s, exchange{method: "POST", target: "/v1/me/addresses", token: aliceToken,
			body: `{"id":"addr-9","full_name":"A","line1":"l","city":"c","country":"GB"}`})
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s", respBody)
		p := problemOf(t, resp, respBody)
		require.Len(t, p.Errors, 1)
		assert.Equal(t, emporium.FieldError{Field: "id", Code: "read_only", Message: "is set by the server and cannot be changed"}, p.Errors[0])
		assert.Empty(t, f.called(""))
	})
	t.Run("null leaves a member as it is", func(t *testing.T) {
		f := newFake()
		s := accountsServer(t, f, gateway.Config{})
		resp, respBody := send(t, s, exchange{method: "PATCH", target: "/v1/me", token: aliceToken, body: `{"name":null,"phone":"+14155550123"}`})
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", respBody)
		in := f.last(t, "UpdateAccount").args[0].(emporium.AccountUpdate)
		assert.Nil(t, in.Name)
		assert.Nil(t, in.Email)
		require.NotNil(t, in.Phone)
	})
}

// meRoutes are the routes that need a bearer token, each with a good body.
var meRoutes = []struct{ method, target, body string }{
	{"GET", "/v1/me", ""},
	{"PATCH", "/v1/me", `{"name":"A"}`},
	{"GET", "/v1/me/sessions", ""},
	{"DELETE", "/v1/me/sessions/s-1", ""},
	{"POST", "/v1/me/mfa/totp", `{"password":"p"}`},
	{"POST", "/v1/me/mfa/totp/confirm", `{"code":"123456"}`},
	{"DELETE", "/v1/me/mfa/totp", `{"password":"p","code":"123456"}`},
	{"GET", "/v1/me/addresses", ""},
	{"POST", "/v1/me/addresses", `{"full_name":"A","line1":"l","city":"c","country":"GB"}`},
	{"GET", "/v1/me/addresses/addr-1", ""},
	{"PUT", "/v1/me/addresses/addr-1", `{"full_name":"A","line1":"l","city":"c","country":"GB"}`},
	{"DELETE", "/v1/me/addresses/addr-1", ""},
}

// TestMeRequiresABearerToken checks every /v1/me route without a token and
// with bad ones: 401 with WWW-Authenticate, and the service is asked
// nothing but to check the token.
func TestMeRequiresABearerToken(t *testing.T) {
	authorizations := map[string][]string{
		"missing":        nil,
		"empty":          {""},
		"wrong scheme":   {"Basic YWxpY2U6cHc="},
		"no token":       {"Bearer"},
		"blank token":    {"Bearer   "},
		"two tokens":     {"Bearer " + aliceToken, "Bearer " + bobToken},
		"spaces":         {"Bearer a b"},
		"invalid token":  {"Bearer forged.token"},
		"token too long": {"Bearer " + strings.Repeat("a", 5000)},
	}
	for _, rt := range meRoutes {
		for name, values := range authorizations {
			t.Run(rt.method+" "+rt.target+" "+name, func(t *testing.T) {
				f := newFake()
				s := accountsServer(t, f, gateway.Config{})
				ex := exchange{method: rt.method, target: rt.target, header: http.Header{"Authorization": values}}
				if rt.body != "" {
					ex.body = rt.body
				}
				resp, body := send(t, s, ex)
				require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s", body)
				assert.Equal(t, "Bearer", resp.Header.Get("WWW-Authenticate"))
				assert.Equal(t, emporium.EUNAUTHENTICATED, problemOf(t, resp, body).Code)
				assert.Empty(t, f.called(""), "only Authenticate may be called")
			})
		}
	}
	t.Run("scheme is case-insensitive", func(t *testing.T) {
		f := newFake()
		s := accountsServer(t, f, gateway.Config{})
		resp, body := send(t, s, exchange{method: "GET", target: "/v1/me", header: http.Header{"Authorization": {"bearer " + aliceToken}}})
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	})
	t.Run("authentication down is 503, not 401", func(t *testing.T) {
		f := newFake()
		f.setFail("Authenticate", emporium.Errorf(emporium.EUNAVAILABLE, "Keys are loading."))
		s := accountsServer(t, f, gateway.Config{})
		resp, body := send(t, s, exchange{method: "GET", target: "/v1/me", token: aliceToken})
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "%s", body)
		assert.Empty(t, resp.Header.Get("WWW-Authenticate"))
	})
	t.Run("other errors of Authenticate are 401", func(t *testing.T) {
		f := newFake()
		f.setFail("Authenticate", emporium.Errorf(emporium.EINVALID, "bad kid"))
		s := accountsServer(t, f, gateway.Config{})
		resp, body := send(t, s, exchange{method: "GET", target: "/v1/me", token: aliceToken})
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s", body)
		assert.NotContains(t, string(body), "bad kid")
	})
}

// TestMeActsForTheTokensUser checks that every /v1/me handler hands the
// service the principal of the token and nothing a client could choose:
// Bob naming Alice's objects reaches only his own.
func TestMeActsForTheTokensUser(t *testing.T) {
	f := newFake()
	s := accountsServer(t, f, gateway.Config{})
	resp, body := send(t, s, exchange{method: "POST", target: "/v1/me/addresses", token: aliceToken,
		body: `{"full_name":"Alice","line1":"1 Rabbit Hole","city":"Oxford","country":"GB"}`})
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", body)
	aliceAddress := decodeJSON(t, body)["id"].(string)

	for _, rt := range meRoutes {
		t.Run(rt.method+" "+rt.target, func(t *testing.T) {
			before := len(f.called(""))
			target := strings.Replace(rt.target, "addr-1", aliceAddress, 1)
			target = strings.Replace(target, "s-1", alice.SessionID, 1)
			ex := exchange{method: rt.method, target: target, token: bobToken}
			if rt.body != "" {
				ex.body = rt.body
			}
			resp, body := send(t, s, ex)
			calls := f.called("")[before:]
			require.Len(t, calls, 1, "one call to the service")
			assert.Equal(t, bob, calls[0].principal, "the service acts for the token's user")
			if strings.Contains(rt.target, "addr-1") || strings.Contains(rt.target, "/sessions/") {
				// The fake keeps objects per user, as the service does.
				assert.Equal(t, http.StatusNotFound, resp.StatusCode, "Bob cannot reach Alice's object: %s", body)
			}
		})
	}

	resp, body = send(t, s, exchange{method: "GET", target: "/v1/me/addresses/" + aliceAddress, token: aliceToken})
	require.Equal(t, http.StatusOK, resp.StatusCode, "Alice's address is still hers: %s", body)
}

func newLimiter(t *testing.T) (*ratelimit.Limiter, *time.Time) {
	t.Helper()
	mr := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { client.Close() })
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	l := ratelimit.New(client, "test:rl:")
	l.Clock = func() time.Time { return now }
	return l, &now
}

// TestSignupsAreLimitedPerAddress sends 11 signups from one address within
// a minute under a window of 10: the 11th is a 429 with Retry-After and the
// RateLimit fields, and never reaches the service.
func TestSignupsAreLimitedPerAddress(t *testing.T) {
	limiter, now := newLimiter(t)
	f := newFake()
	proxy := netip.MustParsePrefix("10.0.0.0/8")
	s := accountsServer(t, f, gateway.Config{
		Limiter:        limiter,
		RateLimits:     gateway.RateLimits{Signups: ratelimit.Window{Max: 10, Period: time.Minute}},
		TrustedProxies: []netip.Prefix{proxy},
	})
	signup := func(i int, remoteAddr string, header http.Header) (*http.Response, []byte) {
		return send(t, s, exchange{method: "POST", target: "/v1/auth/signup", remoteAddr: remoteAddr, header: header,
			body: map[string]string{"username": fmt.Sprintf("user%d", i), "email": fmt.Sprintf("user%d@example.com", i), "password": "pw-123456"}})
	}
	// The client is behind a trusted proxy, which names it in
	// X-Forwarded-For; the address before it is whatever the client wrote.
	viaProxy := http.Header{"X-Forwarded-For": {"203.0.113.99, 198.51.100.7"}}
	for i := 1; i <= 10; i++ {
		*now = now.Add(time.Second)
		resp, body := signup(i, "10.1.2.3:4567", viaProxy)
		require.Equal(t, http.StatusAccepted, resp.StatusCode, "signup %d: %s", i, body)
		assert.Equal(t, "10", resp.Header.Get("RateLimit-Limit"))
		assert.Equal(t, fmt.Sprint(10-i), resp.Header.Get("RateLimit-Remaining"))
	}
	*now = now.Add(time.Second)
	resp, body := signup(11, "10.9.9.9:1", http.Header{"X-Forwarded-For": {"198.51.100.7"}})
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "%s", body)
	assert.Equal(t, emporium.ERATELIMITED, problemOf(t, resp, body).Code)
	// The first signup leaves the window 60 s after it was made, 10 s
	// from now.
	assert.Equal(t, "50", resp.Header.Get("Retry-After"))
	assert.Equal(t, "10", resp.Header.Get("RateLimit-Limit"))
	assert.Equal(t, "0", resp.Header.Get("RateLimit-Remaining"))
	assert.NotEmpty(t, resp.Header.Get("RateLimit-Reset"))
	assert.Len(t, f.called("Signup"), 10, "the refused signup never reaches the service")
	for _, c := range f.called("Signup") {
		assert.Equal(t, "198.51.100.7", c.args[0].(emporium.Signup).Client.IP, "the client address is the one the trusted proxy saw")
	}

	// Another address is not limited by this one.
	resp, body = signup(12, "198.51.100.8:1", nil)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "%s", body)

	// Once the first signup left the window, one more is allowed.
	*now = now.Add(50 * time.Second)
	resp, body = signup(13, "198.51.100.7:1", nil)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "%s", body)
}

func TestSignupLimitFailsClosed(t *testing.T) {
	mr := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1})
	t.Cleanup(func() { client.Close() })
	f := newFake()
	s := accountsServer(t, f, gateway.Config{Limiter: ratelimit.New(client, "test:rl:")})
	mr.Close()
	resp, body := send(t, s, exchange{method: "POST", target: "/v1/auth/signup", body: map[string]string{"username": "ada", "email": "ada@example.com", "password": "pw-123456"}})
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "%s", body)
	assert.Empty(t, f.called("Signup"))
}

// TestAuthRoutesShareALimitPerAddress checks the GCRA limit of /v1/auth/*.
func TestAuthRoutesShareALimitPerAddress(t *testing.T) {
	limiter, _ := newLimiter(t)
	f := newFake()
	s := accountsServer(t, f, gateway.Config{
		Limiter:    limiter,
		RateLimits: gateway.RateLimits{Auth: ratelimit.Limit{Rate: 3, Burst: 3, Period: time.Hour}},
	})
	requests := []exchange{
		{method: "POST", target: "/v1/auth/login", body: `{"email":"a@example.com","password":"pw"}`},
		{method: "POST", target: "/v1/auth/refresh", body: `{"refresh_token":"r"}`},
		{method: "POST", target: "/v1/auth/password/forgot", body: `{"email":"a@example.com"}`},
	}
	for i, ex := range requests {
		resp, body := send(t, s, ex)
		require.Less(t, resp.StatusCode, 300, "%s", body)
		assert.Equal(t, "3", resp.Header.Get("RateLimit-Limit"))
		assert.Equal(t, fmt.Sprint(2-i), resp.Header.Get("RateLimit-Remaining"))
	}
	resp, body := send(t, s, exchange{method: "POST", target: "/v1/auth/verify-email", body: `{"token":"t"}`})
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "%s", body)
	assert.Equal(t, emporium.ERATELIMITED, problemOf(t, resp, body).Code)
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
	assert.Equal(t, "0", resp.Header.Get("RateLimit-Remaining"))
	assert.Empty(t, f.called("VerifyEmail"))

	// Another address has a limit of its own, and /v1/me is not under it.
	resp, body = send(t, s, exchange{method: "POST", target: "/v1/auth/verify-email", remoteAddr: "198.51.100.1:1", body: `{"token":"t"}`})
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	resp, body = send(t, s, exchange{method: "GET", target: "/v1/me", token: aliceToken})
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	assert.Empty(t, resp.Header.Get("RateLimit-Limit"))
}

// TestServiceRateLimitsAre429 checks a limit the service applies (failed
// logins per account): 429 with a Retry-After, the error's retry hint in
// whole seconds rounded up, or the default; never read from the message.
func TestServiceRateLimitsAre429(t *testing.T) {
	for _, tc := range []struct {
		name       string
		wait       time.Duration
		retryAfter string
	}{
		{"42 seconds", 42 * time.Second, "42"},
		{"rounded up", 1500 * time.Millisecond, "2"},
		{"under a second", time.Millisecond, "1"},
		{"no hint", 0, "60"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.setFail("Login", &emporium.Error{Code: emporium.ERATELIMITED, Message: "Too many requests; try again in 999 seconds.", RetryAfter: tc.wait})
			s := accountsServer(t, f, gateway.Config{})
			resp, body := send(t, s, exchange{method: "POST", target: "/v1/auth/login", body: `{"email":"a@example.com","password":"pw"}`})
			require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "%s", body)
			assert.Equal(t, emporium.ERATELIMITED, problemOf(t, resp, body).Code)
			assert.Equal(t, tc.retryAfter, resp.Header.Get("Retry-After"))
		})
	}
	t.Run("behind an edge limit", func(t *testing.T) {
		limiter, _ := newLimiter(t)
		f := newFake()
		f.setFail("Login", &emporium.Error{Code: emporium.ERATELIMITED, Message: "Too many failed logins.", RetryAfter: 900 * time.Second})
		s := accountsServer(t, f, gateway.Config{Limiter: limiter})
		resp, body := send(t, s, exchange{method: "POST", target: "/v1/auth/login", body: `{"email":"a@example.com","password":"pw"}`})
		require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "%s", body)
		assert.Equal(t, "900", resp.Header.Get("Retry-After"))
		assert.Empty(t, resp.Header.Get("RateLimit-Remaining"), "the edge limit's fields do not describe the refusal")
	})
	t.Run("TOTP tries", func(t *testing.T) {
		f := newFake()
		f.setFail("ConfirmTOTP", &emporium.Error{Code: emporium.ERATELIMITED, Message: "Too many codes.", RetryAfter: 30 * time.Second})
		s := accountsServer(t, f, gateway.Config{})
		resp, body := send(t, s, exchange{method: "POST", target: "/v1/me/mfa/totp/confirm", token: aliceToken, body: `{"code":"000000"}`})
		require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "%s", body)
		assert.Equal(t, "30", resp.Header.Get("Retry-After"))
	})
}

// TestAccountsServiceErrors checks that the service's errors reach the
// client as the problems the contract lists.
func TestAccountsServiceErrors(t *testing.T) {
	cases := []struct {
		method  string
		ex      exchange
		err     error
		status  int
		wwwAuth bool
	}{
		{"Login", exchange{method: "POST", target: "/v1/auth/login", body: `{"email":"a@example.com","password":"pw"}`},
			emporium.Errorf(emporium.EUNAUTHENTICATED, "Wrong email or password."), http.StatusUnauthorized, true},
		{"Login", exchange{method: "POST", target: "/v1/auth/login", body: `{"email":"a@example.com","password":"pw"}`},
			emporium.Errorf(emporium.EFORBIDDEN, "Verify your email address first."), http.StatusForbidden, false},
		{"Signup", exchange{method: "POST", target: "/v1/auth/signup", body: `{"username":"ada","email":"a@example.com","password":"pw"}`},
			&emporium.Error{Code: emporium.EINVALID, Message: "The password is too short.", Fields: []emporium.FieldError{{Field: "password", Code: "too_short", Message: "must have at least 8 characters"}}}, http.StatusUnprocessableEntity, false},
		{"Refresh", exchange{method: "POST", target: "/v1/auth/refresh", body: `{"refresh_token":"old"}`},
			emporium.Errorf(emporium.EUNAUTHENTICATED, "The session was revoked."), http.StatusUnauthorized, true},
		{"VerifyEmail", exchange{method: "POST", target: "/v1/auth/verify-email", body: `{"token":"used"}`},
			emporium.Errorf(emporium.EINVALID, "The link is used or expired."), http.StatusUnprocessableEntity, false},
		{"ResetPassword", exchange{method: "POST", target: "/v1/auth/password/reset", body: `{"token":"t","password":"pw"}`},
			emporium.Errorf(emporium.EUNAVAILABLE, "busy"), http.StatusServiceUnavailable, false},
		{"UpdateAccount", exchange{method: "PATCH", target: "/v1/me", token: aliceToken, body: `{"email":"taken@example.com","current_password":"pw"}`},
			emporium.Errorf(emporium.ECONFLICT, "Changed meanwhile."), http.StatusConflict, false},
		{"AddAddress", exchange{method: "POST", target: "/v1/me/addresses", token: aliceToken, body: `{"full_name":"A","line1":"l","city":"c","country":"XX"}`},
			emporium.Errorf(emporium.EINVALID, "country is not a country"), http.StatusUnprocessableEntity, false},
		{"Account", exchange{method: "GET", target: "/v1/me", token: aliceToken},
			fmt.Errorf("mongo exploded"), http.StatusInternalServerError, false},
		{"Sessions", exchange{method: "GET", target: "/v1/me/sessions", token: aliceToken},
			emporium.Errorf(emporium.EFORBIDDEN, "No."), http.StatusForbidden, false},
		{"BeginTOTP", exchange{method: "POST", target: "/v1/me/mfa/totp", token: aliceToken, body: `{"password":"pw"}`},
			emporium.Errorf(emporium.ECONFLICT, "MFA is on already."), http.StatusConflict, false},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+emporium.ErrorCode(tc.err), func(t *testing.T) {
			f := newFake()
			f.setFail(tc.method, tc.err)
			s := accountsServer(t, f, gateway.Config{})
			resp, body := send(t, s, tc.ex)
			require.Equal(t, tc.status, resp.StatusCode, "%s", body)
			p := problemOf(t, resp, body)
			assert.Equal(t, tc.wwwAuth, resp.Header.Get("WWW-Authenticate") == "Bearer")
			assert.NotContains(t, p.Detail, "mongo")
			assert.Equal(t, emporium.ErrorFields(tc.err), p.Errors)
		})
	}
}

func TestAddAddressIdempotencyKey(t *testing.T) {
	body := `{"full_name":"A","line1":"l","city":"c","country":"GB"}`
	t.Run("none", func(t *testing.T) {
		f := newFake()
		s := accountsServer(t, f, gateway.Config{})
		resp, respBody := send(t, s, exchange{method: "POST", target: "/v1/me/addresses", token: aliceToken, body: body})
		require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", respBody)
		assert.Equal(t, "", f.last(t, "AddAddress").args[1])
	})
	for name, values := range map[string][]string{
		"empty":     {""},
		"too long":  {strings.Repeat("k", 256)},
		"space":     {"a key"},
		"non-ASCII": {"clé"},
		"two":       {"a", "b"},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFake()
			s := accountsServer(t, f, gateway.Config{})
			resp, respBody := send(t, s, exchange{method: "POST", target: "/v1/me/addresses", token: aliceToken, body: body,
				header: http.Header{"Idempotency-Key": values}})
			require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s", respBody)
			assert.Equal(t, emporium.EMALFORMED, problemOf(t, resp, respBody).Code)
			assert.Empty(t, f.called(""))
		})
	}
	t.Run("location escapes the id", func(t *testing.T) {
		f := newFake()
		s := accountsServer(t, f, gateway.Config{})
		f.nextID = 0
		resp, respBody := send(t, s, exchange{method: "POST", target: "/v1/me/addresses", token: aliceToken, body: body})
		require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", respBody)
		assert.Equal(t, "/v1/me/addresses/addr-1", resp.Header.Get("Location"))
	})
}

func TestJWKSUnavailable(t *testing.T) {
	f := newFake()
	f.jwks = nil
	s := accountsServer(t, f, gateway.Config{})
	resp, body := send(t, s, exchange{method: "GET", target: "/.well-known/jwks.json"})
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "%s", body)
	assert.Empty(t, resp.Header.Get("Cache-Control"), "a failure is not cached")
}

func TestAccountRoutesNeedTheService(t *testing.T) {
	s, _ := newServer(t, gateway.Config{})
	for _, target := range []string{"/v1/me", "/.well-known/jwks.json"} {
		resp, body := serve(s, httptest.NewRequest("GET", target, nil))
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "%s: %s", target, body)
	}
	assert.Panics(t, func() {
		s.Authenticated(func(http.ResponseWriter, *http.Request, emporium.Principal) error { return nil })
	})
}

func TestMeRoutesRefuseOtherMethods(t *testing.T) {
	f := newFake()
	s := accountsServer(t, f, gateway.Config{})
	for _, ex := range []exchange{
		{method: "DELETE", target: "/v1/me", token: aliceToken},
		{method: "PUT", target: "/v1/me/sessions", token: aliceToken},
		{method: "GET", target: "/v1/auth/login"},
		{method: "PATCH", target: "/v1/me/addresses/a-1", token: aliceToken},
	} {
		resp, body := send(t, s, ex)
		assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, "%s %s: %s", ex.method, ex.target, body)
		assert.NotEmpty(t, resp.Header.Get("Allow"))
	}
	assert.Empty(t, f.called(""))
}

// TestAuthenticatedPutsThePrincipalInTheContext checks the helper other
// features mount their routes with.
func TestAuthenticatedPutsThePrincipalInTheContext(t *testing.T) {
	f := newFake()
	s := accountsServer(t, f, gateway.Config{})
	var fromCtx emporium.Principal
	var ok bool
	s.Handle("GET /v1/test/whoami", s.Authenticated(func(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
		fromCtx, ok = gateway.PrincipalFrom(r.Context())
		return gateway.Respond(w, http.StatusOK, map[string]string{"user": p.UserID})
	}))
	req := httptest.NewRequest("GET", "/v1/test/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+bobToken)
	resp, body := serve(s, req)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	require.True(t, ok)
	assert.Equal(t, bob, fromCtx)
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))

	_, ok = gateway.PrincipalFrom(context.Background())
	assert.False(t, ok)
}

func TestClientMetadata(t *testing.T) {
	f := newFake()
	s := accountsServer(t, f, gateway.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	longUA := strings.Repeat("é", 400) // 800 bytes
	req := httptest.NewRequest("POST", "/v1/auth/login", strings.NewReader(`{"email":"a@example.com","password":"pw"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", longUA)
	req.Header.Set("X-Forwarded-For", "2001:db8::7")
	req.RemoteAddr = "10.0.0.1:443"
	resp, body := gatewaytest.Do(t, s, req)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	c := f.last(t, "Login").args[2].(emporium.Client)
	assert.Equal(t, "2001:db8::7", c.IP)
	assert.Equal(t, strings.Repeat("é", 256), c.UserAgent, "the User-Agent is cut to 512 bytes on a character boundary")
}
