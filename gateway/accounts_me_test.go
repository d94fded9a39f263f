package gateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/gateway"
)

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

// TestBodiesMustBeText checks that a body that is not UTF-8, or whose
// strings hold half a surrogate pair or a control character, is refused
// with 400 before the service is asked (encoding/json would have stored
// U+FFFD in their place), and that real text, escaped or not, passes.
func TestBodiesMustBeText(t *testing.T) {
	for name, body := range map[string]string{
		"invalid UTF-8":          "{\"name\":\"\xff\xfe\xfd bad\"}",
		"overlong UTF-8":         "{\"name\":\"\xc0\xafx\"}",
		"UTF-8 surrogate":        "{\"name\":\"\xed\xa0\x80\"}",
		"invalid UTF-8 in a key": "{\"na\xffme\":\"A\"}",
		"lone high surrogate":    `{"name":"\ud800 bad"}`,
		"lone high at the end":   `{"name":"bad\uD83D"}`,
		"lone low surrogate":     `{"name":"\udc00"}`,
		"high then non-low":      `{"name":"\ud83d\u0041"}`,
		"reversed pair":          `{"name":"\ude00\ud83d"}`,
		"escaped NUL":            `{"name":"a\u0000b"}`,
		"escaped escape":         `{"name":"a\u001bb"}`,
		"escaped backspace":      `{"name":"a\bb"}`,
		"raw DEL":                "{\"name\":\"a\x7fb\"}",
		"raw C1":                 "{\"name\":\"a\u0085b\"}",
		"escaped C1":             `{"name":"a\u009bb"}`,
	} {
		t.Run(name, func(t *testing.T) {
			f := newFake()
			s := accountsServer(t, f, gateway.Config{})
			resp, respBody := send(t, s, exchange{method: "PATCH", target: "/v1/me", token: aliceToken, body: body})
			require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s", respBody)
			assert.Equal(t, emporium.EMALFORMED, problemOf(t, resp, respBody).Code)
			assert.Empty(t, f.called("UpdateAccount"), "nothing changes")
		})
	}
	for name, tc := range map[string]struct{ body, want string }{
		"plain":               {`{"name":"Alice"}`, "Alice"},
		"accents":             {`{"name":"Zoë Ñandú"}`, "Zoë Ñandú"},
		"emoji":               {`{"name":"Alice 😀"}`, "Alice 😀"},
		"escaped pair":        {`{"name":"Alice \ud83d\ude00"}`, "Alice 😀"},
		"escaped BMP":         {`{"name":"\u00c9mile"}`, "Émile"},
		"escaped backslash+u": {`{"name":"a\\ud800"}`, `a\ud800`},
		"tab and newline":     {`{"name":"a\tb\nc"}`, "a\tb\nc"},
		"escaped quote":       {`{"name":"a\"\u0041"}`, `a"A`},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFake()
			s := accountsServer(t, f, gateway.Config{})
			resp, respBody := send(t, s, exchange{method: "PATCH", target: "/v1/me", token: aliceToken, body: tc.body})
			require.Equal(t, http.StatusOK, resp.StatusCode, "%s", respBody)
			in := f.last(t, "UpdateAccount").args[0].(emporium.AccountUpdate)
			require.NotNil(t, in.Name)
			assert.Equal(t, tc.want, *in.Name)
		})
	}
}
