package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/gateway"
	"github.com/emporium-shop/emporium/gateway/gatewaytest"
)

// These tests cover the HTTP layer of the accounts: decoding, statuses,
// headers, the plumbing of authentication and the contract. The service
// behind it is an in-memory fake; the real one has end-to-end tests of its
// own.

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
		assert.Equal(t, []any{"reset-1", "new password 1", testClient}, f.last(t, "ResetPassword").args)
	})
	t.Run("unlock mfa", func(t *testing.T) {
		resp, body := send(t, s, exchange{method: "POST", target: "/v1/auth/mfa/unlock", body: map[string]string{"token": "unlock-1"}})
		require.Equal(t, http.StatusNoContent, resp.StatusCode, "%s", body)
		assert.Equal(t, []any{"unlock-1"}, f.last(t, "UnlockMFA").args)
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
		{"UnlockMFA", exchange{method: "POST", target: "/v1/auth/mfa/unlock", body: `{"token":"used"}`},
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
