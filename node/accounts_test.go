package node_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium/auth"
	"github.com/emporium-shop/emporium/gateway/gatewaytest"
	"github.com/emporium-shop/emporium/mail/mailtest"
	"github.com/emporium-shop/emporium/node"
)

// The accounts flow of issue 3's "done when", over HTTP against a whole
// node: a new user signs up, gets the mail over real SMTP, verifies, logs in
// with and without MFA, refreshes, edits the profile and addresses, and
// resets the password. Every request and response is checked against
// openapi.yaml.

type api struct {
	t      *testing.T
	base   string
	client *http.Client
}

func (a *api) do(method, path, bearer string, body any) (int, map[string]any, http.Header) {
	a.t.Helper()
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(a.t, err)
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, a.base+path, r)
	require.NoError(a.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	req.Header.Set("User-Agent", "accounts-test/1.0")
	resp, err := a.client.Do(req)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(a.t, err)
	out := map[string]any{}
	if len(raw) > 0 && strings.Contains(resp.Header.Get("Content-Type"), "json") {
		require.NoError(a.t, json.Unmarshal(raw, &out), "%s %s: %s", method, path, raw)
	}
	return resp.StatusCode, out, resp.Header
}

var tokenInMail = regexp.MustCompile(`token=([A-Za-z0-9_\-]+)`)

func mailedToken(t *testing.T, srv *mailtest.Server, to string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	msg, err := srv.Wait(ctx, to)
	require.NoError(t, err, "no mail to %s", to)
	m := tokenInMail.FindStringSubmatch(msg.Text)
	require.Len(t, m, 2, "no token in the mail to %s: %s", to, msg.Text)
	return m[1]
}

func openAccountsNode(t *testing.T, smtp *mailtest.Server) *node.Node {
	t.Helper()
	cfg := testConfig(t)
	cfg.SMTPURL = smtp.URL()
	return openNode(t, cfg)
}

func TestAccountsOverHTTP(t *testing.T) {
	smtp := mailtest.NewServer(t)
	n := openAccountsNode(t, smtp)
	a := &api{t: t, base: n.URL(), client: &http.Client{Transport: gatewaytest.Transport(t, http.DefaultTransport), Timeout: 20 * time.Second}}
	suffix := fmt.Sprint(time.Now().UnixNano())
	email := "ada-" + suffix + "@example.com"
	password := "correct horse battery staple"

	// Sign up, get the mail over SMTP, verify.
	status, _, _ := a.do("POST", "/v1/auth/signup", "", map[string]any{"username": "ada_" + suffix[len(suffix)-8:], "email": email, "password": password})
	require.Equal(t, http.StatusAccepted, status)
	status, body, _ := a.do("POST", "/v1/auth/login", "", map[string]any{"email": email, "password": password})
	assert.Equal(t, http.StatusForbidden, status, "unverified: %v", body)
	assert.Equal(t, "email_not_verified", body["code"])
	verify := mailedToken(t, smtp, email)
	status, _, _ = a.do("POST", "/v1/auth/verify-email", "", map[string]any{"token": verify})
	require.Equal(t, http.StatusOK, status)
	status, _, _ = a.do("POST", "/v1/auth/verify-email", "", map[string]any{"token": verify})
	assert.Equal(t, http.StatusUnprocessableEntity, status, "a verification token is single use")

	// Log in, read and edit the profile.
	status, body, _ = a.do("POST", "/v1/auth/login", "", map[string]any{"email": email, "password": password})
	require.Equal(t, http.StatusOK, status, "%v", body)
	access, refresh := body["access_token"].(string), body["refresh_token"].(string)
	assert.Equal(t, "Bearer", body["token_type"])
	status, body, _ = a.do("GET", "/v1/me", access, nil)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, email, body["email"])
	assert.Equal(t, true, body["email_verified"])
	status, _, _ = a.do("PATCH", "/v1/me", access, map[string]any{"roles": []string{"admin"}})
	assert.Equal(t, http.StatusBadRequest, status, "server-owned fields are refused")
	status, body, _ = a.do("PATCH", "/v1/me", access, map[string]any{"name": "Ada Lovelace", "phone": "+441234567890"})
	require.Equal(t, http.StatusOK, status, "%v", body)
	assert.Equal(t, "Ada Lovelace", body["name"])

	// Addresses.
	address := map[string]any{"full_name": "Ada Lovelace", "line1": "12 St James's Square", "city": "London", "postal_code": "SW1Y 4JH", "country": "GB"}
	status, body, hdr := a.do("POST", "/v1/me/addresses", access, address)
	require.Equal(t, http.StatusCreated, status, "%v", body)
	addressID := body["id"].(string)
	assert.NotEmpty(t, hdr.Get("Location"))
	assert.Equal(t, true, body["is_default_shipping"])
	status, body, _ = a.do("GET", "/v1/me/addresses", access, nil)
	require.Equal(t, http.StatusOK, status)
	assert.Len(t, body["items"], 1)

	// Refresh rotates; a rotated token's reuse revokes the session.
	status, body, _ = a.do("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": refresh})
	require.Equal(t, http.StatusOK, status, "%v", body)
	newest := body["refresh_token"].(string)
	status, _, _ = a.do("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": refresh})
	assert.Equal(t, http.StatusUnauthorized, status, "reuse of a rotated token")
	status, _, _ = a.do("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": newest})
	assert.Equal(t, http.StatusUnauthorized, status, "the whole family is revoked")

	// Another user cannot reach Ada's address.
	other := "bob-" + suffix + "@example.com"
	status, _, _ = a.do("POST", "/v1/auth/signup", "", map[string]any{"username": "bob_" + suffix[len(suffix)-8:], "email": other, "password": password})
	require.Equal(t, http.StatusAccepted, status)
	status, _, _ = a.do("POST", "/v1/auth/verify-email", "", map[string]any{"token": mailedToken(t, smtp, other)})
	require.Equal(t, http.StatusOK, status)
	status, body, _ = a.do("POST", "/v1/auth/login", "", map[string]any{"email": other, "password": password})
	require.Equal(t, http.StatusOK, status)
	bob := body["access_token"].(string)
	status, _, _ = a.do("GET", "/v1/me/addresses/"+addressID, bob, nil)
	assert.Equal(t, http.StatusNotFound, status)
	status, _, _ = a.do("DELETE", "/v1/me/addresses/"+addressID, bob, nil)
	assert.Equal(t, http.StatusNotFound, status)
	status, body, _ = a.do("POST", "/v1/auth/login", "", map[string]any{"email": email, "password": password})
	require.Equal(t, http.StatusOK, status)
	adaAccess := body["access_token"].(string)
	status, body, _ = a.do("GET", "/v1/me/sessions", adaAccess, nil)
	require.Equal(t, http.StatusOK, status)
	adaSession := body["items"].([]any)[0].(map[string]any)["id"].(string)
	status, _, _ = a.do("DELETE", "/v1/me/sessions/"+adaSession, bob, nil)
	assert.Equal(t, http.StatusNotFound, status, "Bob cannot end Ada's session")
	status, body, _ = a.do("GET", "/v1/me", bob, nil)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, other, body["email"], "/v1/me is always the caller's own")
	status, _, _ = a.do("GET", "/v1/me/addresses/"+addressID, adaAccess, nil)
	assert.Equal(t, http.StatusOK, status, "while Ada still reaches it")

	// MFA: enrol, then log in in two steps.
	status, body, _ = a.do("POST", "/v1/auth/login", "", map[string]any{"email": email, "password": password})
	require.Equal(t, http.StatusOK, status)
	access = body["access_token"].(string)
	status, _, _ = a.do("POST", "/v1/me/mfa/totp", access, map[string]any{"password": "a wrong password"})
	assert.Equal(t, http.StatusUnprocessableEntity, status, "enrolment needs the password")
	status, body, _ = a.do("POST", "/v1/me/mfa/totp", access, map[string]any{"password": password})
	require.Equal(t, http.StatusCreated, status, "%v", body)
	secret := body["secret"].(string)
	code, err := totp.GenerateCode(secret, time.Now())
	require.NoError(t, err)
	status, body, _ = a.do("POST", "/v1/me/mfa/totp/confirm", access, map[string]any{"code": code})
	require.Equal(t, http.StatusOK, status, "%v", body)
	recovery := body["recovery_codes"].([]any)
	require.Len(t, recovery, 10)
	status, body, _ = a.do("POST", "/v1/auth/login", "", map[string]any{"email": email, "password": password})
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, true, body["mfa_required"])
	next, err := totp.GenerateCode(secret, time.Now().Add(30*time.Second)) // the confirm used this step's code
	require.NoError(t, err)
	status, body, _ = a.do("POST", "/v1/auth/login/mfa", "", map[string]any{"mfa_token": body["mfa_token"], "code": next})
	require.Equal(t, http.StatusOK, status, "%v", body)
	assert.NotEmpty(t, body["access_token"])
	status, body, _ = a.do("POST", "/v1/auth/login", "", map[string]any{"email": email, "password": password})
	require.Equal(t, http.StatusOK, status)
	status, _, _ = a.do("POST", "/v1/auth/login/mfa", "", map[string]any{"mfa_token": body["mfa_token"], "code": next})
	assert.Equal(t, http.StatusUnauthorized, status, "a TOTP code is accepted once")

	// Password reset ends every session.
	status, body, _ = a.do("POST", "/v1/auth/login", "", map[string]any{"email": other, "password": password})
	require.Equal(t, http.StatusOK, status)
	bobRefresh := body["refresh_token"].(string)
	status, _, _ = a.do("POST", "/v1/auth/password/forgot", "", map[string]any{"email": other})
	require.Equal(t, http.StatusAccepted, status)
	status, _, _ = a.do("POST", "/v1/auth/password/forgot", "", map[string]any{"email": "nobody-" + suffix + "@example.com"})
	require.Equal(t, http.StatusAccepted, status, "the same answer for unknown addresses")
	reset := mailedToken(t, smtp, other)
	status, _, _ = a.do("POST", "/v1/auth/password/reset", "", map[string]any{"token": reset, "password": "an entirely new passphrase"})
	require.Equal(t, http.StatusNoContent, status)
	noticeCtx, cancelNotice := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancelNotice()
	notice, err := smtp.Wait(noticeCtx, other)
	require.NoError(t, err, "the address hears of the reset")
	assert.Equal(t, "Your password was changed", notice.Subject)
	assert.Contains(t, notice.Text, "If it was not you")
	status, _, _ = a.do("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": bobRefresh})
	assert.Equal(t, http.StatusUnauthorized, status, "sessions end with a reset")
	status, _, _ = a.do("POST", "/v1/auth/login", "", map[string]any{"email": other, "password": "an entirely new passphrase"})
	assert.Equal(t, http.StatusOK, status)

	// The JWKS publishes the key that signs access tokens.
	status, body, _ = a.do("GET", "/.well-known/jwks.json", "", nil)
	require.Equal(t, http.StatusOK, status)
	assert.NotEmpty(t, body["keys"])
}

func TestFailedLoginsAreLimited(t *testing.T) {
	smtp := mailtest.NewServer(t)
	n := openAccountsNode(t, smtp)
	a := &api{t: t, base: n.URL(), client: &http.Client{Transport: gatewaytest.Transport(t, http.DefaultTransport), Timeout: 20 * time.Second}}
	suffix := fmt.Sprint(time.Now().UnixNano())
	email := "eve-" + suffix + "@example.com"
	password := "correct horse battery staple"
	status, _, _ := a.do("POST", "/v1/auth/signup", "", map[string]any{"username": "eve_" + suffix[len(suffix)-8:], "email": email, "password": password})
	require.Equal(t, http.StatusAccepted, status)
	status, _, _ = a.do("POST", "/v1/auth/verify-email", "", map[string]any{"token": mailedToken(t, smtp, email)})
	require.Equal(t, http.StatusOK, status)

	for i := range 10 {
		status, _, _ = a.do("POST", "/v1/auth/login", "", map[string]any{"email": email, "password": "wrong password " + fmt.Sprint(i)})
		require.Equal(t, http.StatusUnauthorized, status, "attempt %d", i+1)
	}
	status, _, hdr := a.do("POST", "/v1/auth/login", "", map[string]any{"email": email, "password": password})
	assert.Equal(t, http.StatusTooManyRequests, status, "the 11th attempt in a row is refused, even with the right password")
	assert.NotEmpty(t, hdr.Get("Retry-After"))
}

// TestBadAccessTokensAreRefused presents forged, tampered, expired and
// misaddressed tokens to /v1/me: each is 401 with WWW-Authenticate.
func TestBadAccessTokensAreRefused(t *testing.T) {
	smtp := mailtest.NewServer(t)
	n := openAccountsNode(t, smtp)
	a := &api{t: t, base: n.URL(), client: &http.Client{Transport: gatewaytest.Transport(t, http.DefaultTransport), Timeout: 20 * time.Second}}
	suffix := fmt.Sprint(time.Now().UnixNano())
	email := "tok-" + suffix + "@example.com"
	password := "correct horse battery staple"
	status, _, _ := a.do("POST", "/v1/auth/signup", "", map[string]any{"username": "tok_" + suffix[len(suffix)-8:], "email": email, "password": password})
	require.Equal(t, http.StatusAccepted, status)
	status, _, _ = a.do("POST", "/v1/auth/verify-email", "", map[string]any{"token": mailedToken(t, smtp, email)})
	require.Equal(t, http.StatusOK, status)
	status, body, _ := a.do("POST", "/v1/auth/login", "", map[string]any{"email": email, "password": password})
	require.Equal(t, http.StatusOK, status)
	good := body["access_token"].(string)
	loginBody := body
	status, _, _ = a.do("GET", "/v1/me", good, nil)
	require.Equal(t, http.StatusOK, status)

	keys, err := auth.LoadOrCreateKeyFile(filepath.Join(n.Config.DataDir, "keys", "jwt-ed25519.pem"))
	require.NoError(t, err)
	claims, err := n.Accounts.Authenticate(t.Context(), good)
	require.NoError(t, err)
	sign := func(audience string, now time.Time) string {
		issuer, err := auth.NewIssuer(auth.IssuerConfig{Keys: keys, Issuer: n.Config.PublicURL, Audience: audience, Now: func() time.Time { return now }})
		require.NoError(t, err)
		tok, _, err := issuer.Issue(claims.UserID, claims.Roles, claims.SessionID)
		require.NoError(t, err)
		return tok
	}
	parts := strings.Split(good, ".")
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"someone-else","aud":"emporium"}`)) + "." + parts[2]
	for name, tok := range map[string]string{
		"alg none":       none,
		"tampered":       tampered,
		"expired":        sign("emporium", time.Now().Add(-time.Hour)),
		"wrong audience": sign("another-shop", time.Now()),
		"garbage":        "not-a-jwt",
	} {
		status, body, hdr := a.do("GET", "/v1/me", tok, nil)
		assert.Equal(t, http.StatusUnauthorized, status, "%s: %v", name, body)
		assert.Equal(t, "unauthenticated", body["code"], name)
		assert.Contains(t, hdr.Get("WWW-Authenticate"), "Bearer", name)
	}

	// Logging out ends the session: its access token stops working at once.
	status, _, _ = a.do("POST", "/v1/auth/logout", "", map[string]any{"refresh_token": 42})
	assert.Equal(t, http.StatusBadRequest, status, "refresh_token must be a string")
	firstRefresh := loginBody["refresh_token"].(string) // of the first login
	status, body, _ = a.do("POST", "/v1/auth/login", "", map[string]any{"email": email, "password": password})
	require.Equal(t, http.StatusOK, status)
	access, refresh := body["access_token"].(string), body["refresh_token"].(string)
	status, body, _ = a.do("GET", "/v1/me/sessions", access, nil)
	require.Equal(t, http.StatusOK, status)
	assert.Len(t, body["items"], 2, "two logins, two sessions")
	status, _, _ = a.do("POST", "/v1/auth/logout", "", map[string]any{"refresh_token": firstRefresh})
	require.Equal(t, http.StatusNoContent, status)
	status, _, _ = a.do("GET", "/v1/me", good, nil)
	assert.Equal(t, http.StatusUnauthorized, status, "the first session's access token died with it")
	status, _, _ = a.do("POST", "/v1/auth/logout", "", map[string]any{"refresh_token": refresh})
	require.Equal(t, http.StatusNoContent, status)
	status, _, _ = a.do("GET", "/v1/me", access, nil)
	assert.Equal(t, http.StatusUnauthorized, status)

	// Malformed JSON and unknown fields are 400 problems.
	req, err := http.NewRequest("POST", n.URL()+"/v1/auth/login", strings.NewReader(`{"email": "x@example.com", "password": `))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	status, body, _ = a.do("POST", "/v1/auth/login", "", map[string]any{"email": email, "password": password, "remember_me": true})
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "malformed_request", body["code"])
}
