package gateway_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/gateway"
)

// serveError answers a request with a handler that returns err.
func serveError(t *testing.T, err error) (*http.Response, []byte, *logs) {
	t.Helper()
	s, logs := newServer(t, gateway.Config{})
	s.Handle("GET /fail", func(w http.ResponseWriter, r *http.Request) error { return err })
	resp, body := serve(s, httptest.NewRequest(http.MethodGet, "/fail", nil))
	return resp, body, logs
}

// TestProblemTable answers every code of the one list (emporium.Codes) as
// the problem it lists.
func TestProblemTable(t *testing.T) {
	for _, info := range emporium.Codes() {
		code, status := info.Code, info.Status
		t.Run(code, func(t *testing.T) {
			err := emporium.Errorf(code, "Message for %s.", code)
			assert.Equal(t, status, gateway.StatusOf(err))

			resp, body, _ := serveError(t, err)
			require.Equal(t, status, resp.StatusCode)
			p := problemOf(t, resp, body)
			assert.Equal(t, code, p.Code)
			assert.Equal(t, info.Title, p.Title)
			assert.Equal(t, gateway.ProblemTypeBase+code, p.Type)
			if code == emporium.EINTERNAL {
				assert.Equal(t, "An internal error occurred.", p.Detail)
			} else {
				assert.Equal(t, "Message for "+code+".", p.Detail)
			}
			if code == emporium.EUNAUTHENTICATED {
				assert.Equal(t, "Bearer", resp.Header.Get("WWW-Authenticate"))
			} else {
				assert.Empty(t, resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

// TestContractListsEveryCode: the Problem schema of openapi.yaml names every
// code with its status.
func TestContractListsEveryCode(t *testing.T) {
	spec := string(gateway.OpenAPI())
	start := strings.Index(spec, "\n    Problem:\n")
	require.GreaterOrEqual(t, start, 0, "openapi.yaml has a Problem schema")
	end := strings.Index(spec[start:], "\n      type: object")
	require.Greater(t, end, 0)
	description := strings.Join(strings.Fields(spec[start:start+end]), " ")
	for _, info := range emporium.Codes() {
		assert.Contains(t, description, fmt.Sprintf("`%s` %d", info.Code, info.Status))
	}
}

func TestProblemFieldErrors(t *testing.T) {
	err := &emporium.Error{
		Code:    emporium.EINVALID,
		Message: "The address is incomplete.",
		Fields:  []emporium.FieldError{{Field: "postal_code", Code: "required", Message: "is required"}},
	}
	resp, body, _ := serveError(t, err)
	p := problemOf(t, resp, body)
	assert.Equal(t, err.Fields, p.Errors)
}

// TestProblemIsBounded checks that a problem keeps within the bounds
// openapi.yaml states however long the messages and names it reports (a
// client's unknown member can be as long as the body).
func TestProblemIsBounded(t *testing.T) {
	fields := make([]emporium.FieldError, gateway.MaxProblemErrors+5)
	for i := range fields {
		fields[i] = emporium.FieldError{Field: strings.Repeat("é", 5000), Code: "unknown_field", Message: strings.Repeat("ü", 5000)}
	}
	resp, body, _ := serveError(t, &emporium.Error{Code: emporium.EMALFORMED, Message: strings.Repeat("ö", 5000), Fields: fields})
	p := problemOf(t, resp, body)
	assert.Equal(t, gateway.MaxProblemDetail, utf8.RuneCountInString(p.Detail))
	assert.True(t, strings.HasSuffix(p.Detail, "…"))
	require.Len(t, p.Errors, gateway.MaxProblemErrors)
	assert.Equal(t, gateway.MaxProblemField, utf8.RuneCountInString(p.Errors[0].Field))
	assert.Equal(t, gateway.MaxProblemDetail, utf8.RuneCountInString(p.Errors[0].Message))
}

func TestProblemWithoutMessageUsesTitle(t *testing.T) {
	resp, body, _ := serveError(t, &emporium.Error{Code: emporium.ENOTFOUND})
	p := problemOf(t, resp, body)
	assert.Equal(t, "Not found.", p.Detail)
}

func TestInternalDetailsStayInTheLog(t *testing.T) {
	cause := errors.New("connect mongodb://admin:hunter2@10.0.0.7")
	cases := map[string]error{
		"plain error":   cause,
		"wrapped error": emporium.Wrap("product.Load", cause),
		"internal code with message": &emporium.Error{
			Code: emporium.EINTERNAL, Message: "hunter2 in the message", Err: cause,
		},
		"unknown code": &emporium.Error{Code: "brand_new_code", Message: "hunter2 in the message", Err: cause},
		"internal with fields": &emporium.Error{
			Code: emporium.EINTERNAL, Fields: []emporium.FieldError{{Field: "hunter2", Code: "x", Message: "y"}}, Err: cause,
		},
	}
	for name, err := range cases {
		t.Run(name, func(t *testing.T) {
			resp, body, logs := serveError(t, err)
			require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
			p := problemOf(t, resp, body)
			assert.Equal(t, "internal", p.Code)
			assert.Equal(t, "An internal error occurred.", p.Detail)
			assert.Empty(t, p.Errors)
			assert.NotContains(t, string(body), "hunter2")

			access := logs.find(t, "http request")
			require.Len(t, access, 1)
			assert.Equal(t, "ERROR", access[0]["level"])
			assert.Contains(t, access[0]["error"], "hunter2", "the cause is logged")
			assert.Equal(t, p.RequestID, access[0]["request_id"])
		})
	}
}

func TestUnavailableIsLoggedAsError(t *testing.T) {
	err := &emporium.Error{Code: emporium.EUNAVAILABLE, Err: fmt.Errorf("redis: %w", errors.New("i/o timeout"))}
	resp, body, logs := serveError(t, err)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	p := problemOf(t, resp, body)
	assert.NotContains(t, p.Detail, "timeout")
	access := logs.find(t, "http request")
	require.Len(t, access, 1)
	assert.Equal(t, "ERROR", access[0]["level"])
	assert.Contains(t, access[0]["error"], "i/o timeout")
}

// TestUnavailableSaysWhenToRetry: a 503 always carries Retry-After, the
// error's own hint when it has one (the store's read deadline sets one),
// else UnavailableRetryAfter, so clients back off instead of hammering.
func TestUnavailableSaysWhenToRetry(t *testing.T) {
	resp, _, _ := serveError(t, &emporium.Error{Code: emporium.EUNAVAILABLE, Message: "the store did not answer in time"})
	assert.Equal(t, fmt.Sprint(int(gateway.UnavailableRetryAfter.Seconds())), resp.Header.Get("Retry-After"))
	resp, _, _ = serveError(t, emporium.Wrap("op", &emporium.Error{Code: emporium.EUNAVAILABLE, RetryAfter: 1500 * time.Millisecond}))
	assert.Equal(t, "2", resp.Header.Get("Retry-After"), "rounded up to whole seconds")
}

// TestConflictThatPassesSaysWhenToRetry: a 409 whose error carries a retry
// hint (an order still being placed cannot be cancelled yet) sends it as
// Retry-After; a conflict without one sends none.
func TestConflictThatPassesSaysWhenToRetry(t *testing.T) {
	resp, _, _ := serveError(t, emporium.Wrap("op", &emporium.Error{Code: emporium.ECONFLICT, RetryAfter: time.Second}))
	assert.Equal(t, http.StatusConflict, resp.StatusCode)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	resp, _, _ = serveError(t, emporium.Errorf(emporium.ECONFLICT, "The version changed."))
	assert.Empty(t, resp.Header.Get("Retry-After"))
}

func TestClientErrorsAreLoggedByCode(t *testing.T) {
	_, _, logs := serveError(t, emporium.Errorf(emporium.EOUTOFSTOCK, "Only 2 left."))
	access := logs.find(t, "http request")
	require.Len(t, access, 1)
	assert.Equal(t, "INFO", access[0]["level"])
	assert.Equal(t, "out_of_stock", access[0]["code"])
	assert.NotContains(t, access[0], "error")
}

func TestNotFoundIsAProblem(t *testing.T) {
	s, _ := newServer(t, gateway.Config{})
	resp, body := serve(s, httptest.NewRequest(http.MethodGet, "/no/such/thing", nil))
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, "not_found", problemOf(t, resp, body).Code)
}

func TestMethodNotAllowedIsAProblem(t *testing.T) {
	s, _ := newServer(t, gateway.Config{})
	s.Handle("DELETE /v1/things/{id}", func(w http.ResponseWriter, r *http.Request) error { return nil })
	s.Handle("GET /v1/things/{id}", func(w http.ResponseWriter, r *http.Request) error { return nil })

	resp, body := serve(s, httptest.NewRequest(http.MethodPost, "/healthz", nil))
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Equal(t, "method_not_allowed", problemOf(t, resp, body).Code)
	assert.Equal(t, "GET, HEAD", resp.Header.Get("Allow"))

	resp, body = serve(s, httptest.NewRequest(http.MethodPut, "/v1/things/9", nil))
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Equal(t, "method_not_allowed", problemOf(t, resp, body).Code)
	assert.Equal(t, "DELETE, GET, HEAD", resp.Header.Get("Allow"))
}

func TestErrorAfterResponseStartedIsOnlyLogged(t *testing.T) {
	s, logs := newServer(t, gateway.Config{})
	s.Handle("GET /late", func(w http.ResponseWriter, r *http.Request) error {
		if err := gateway.Respond(w, http.StatusOK, map[string]int{"n": 1}); err != nil {
			return err
		}
		return errors.New("stream broke")
	})
	resp, body := serve(s, httptest.NewRequest(http.MethodGet, "/late", nil))
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.JSONEq(t, `{"n":1}`, string(body))
	access := logs.find(t, "http request")
	require.Len(t, access, 1)
	assert.Equal(t, "ERROR", access[0]["level"])
	assert.Contains(t, access[0]["error"], "stream broke")
}

func TestRespondUnencodableValue(t *testing.T) {
	s, _ := newServer(t, gateway.Config{})
	s.Handle("GET /bad", func(w http.ResponseWriter, r *http.Request) error {
		return gateway.Respond(w, http.StatusOK, map[string]any{"f": func() {}})
	})
	resp, body := serve(s, httptest.NewRequest(http.MethodGet, "/bad", nil))
	require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.Equal(t, "internal", problemOf(t, resp, body).Code)
}

// TestProblemExtensions: an error's extensions are members of its problem
// beside the standard ones, which they cannot replace; internal errors show
// none; a Problem decodes them back.
func TestProblemExtensions(t *testing.T) {
	err := &emporium.Error{Code: emporium.ECONFLICT, Message: "Changed.", Extensions: map[string]any{
		"totals":   map[string]int{"total": 5},
		"status":   999,          // a standard member: left out
		"Bad-Name": "x",          // not snake_case: left out
		"broken":   func() {},    // cannot be encoded: left out
		"note":     "kept as is", // a string
	}}
	resp, body, _ := serveError(t, err)
	require.Equal(t, http.StatusConflict, resp.StatusCode)
	var raw map[string]any
	require.NoError(t, json.Unmarshal(body, &raw))
	assert.Equal(t, map[string]any{"total": float64(5)}, raw["totals"])
	assert.Equal(t, "kept as is", raw["note"])
	assert.Equal(t, float64(409), raw["status"])
	assert.NotContains(t, raw, "Bad-Name")
	assert.NotContains(t, raw, "broken")

	var p gateway.Problem
	require.NoError(t, json.Unmarshal(body, &p))
	assert.Equal(t, emporium.ECONFLICT, p.Code)
	assert.Equal(t, map[string]json.RawMessage{"totals": json.RawMessage(`{"total":5}`), "note": json.RawMessage(`"kept as is"`)}, p.Extensions)
	again, jerr := json.Marshal(p)
	require.NoError(t, jerr)
	assert.JSONEq(t, string(body), string(again), "a Problem encodes as it decoded")

	resp, body, _ = serveError(t, &emporium.Error{Code: emporium.EINTERNAL, Extensions: map[string]any{"secret": "hunter2"}})
	require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.NotContains(t, string(body), "hunter2")
}
