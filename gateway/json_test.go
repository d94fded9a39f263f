package gateway_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/gateway"
)

// order is a request body with the shapes handlers decode: scalars, a
// nested object, a list, a map and a value with its own text decoding.
type order struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
	Address  struct {
		PostalCode string `json:"postal_code"`
	} `json:"address"`
	Tags    []string          `json:"tags"`
	Options map[string]string `json:"options"`
	When    time.Time         `json:"when"`
	Gift    *bool             `json:"gift"`
	Price   float64           `json:"price"`
	IP      netip.Addr        `json:"ip"`
}

func jsonRequest(body, contentType string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/v1/orders", strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req
}

func TestDecodeAccepts(t *testing.T) {
	cases := map[string]struct{ body, contentType string }{
		"plain":                 {`{"sku":"A-1","quantity":2}`, "application/json"},
		"charset utf-8":         {`{"sku":"A-1","quantity":2}`, "application/json; charset=utf-8"},
		"upper case media type": {`{"sku":"A-1","quantity":2}`, "Application/JSON"},
		"whitespace around":     {" \n\t{\"sku\":\"A-1\",\"quantity\":2}\r\n  ", "application/json"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var o order
			require.NoError(t, gateway.Decode(jsonRequest(tc.body, tc.contentType), &o))
			assert.Equal(t, "A-1", o.SKU)
			assert.Equal(t, 2, o.Quantity)
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	cases := []struct {
		name, body, contentType string
		code                    string
		detail                  []string // substrings of the detail
		field                   string   // the field error's field, if one is expected
	}{
		{name: "unknown field", body: `{"sku":"A","colour":"red"}`,
			code: emporium.EMALFORMED, detail: []string{`"colour"`}, field: "colour"},
		{name: "unknown nested field", body: `{"address":{"postal_code":"1","street":"x"}}`,
			code: emporium.EMALFORMED, detail: []string{`"street"`}, field: "street"},
		{name: "trailing object", body: `{"sku":"A"} {"sku":"B"}`,
			code: emporium.EMALFORMED, detail: []string{"nothing after"}},
		{name: "trailing garbage", body: `{"sku":"A"}garbage`,
			code: emporium.EMALFORMED, detail: []string{"nothing after"}},
		{name: "trailing bracket", body: `{"sku":"A"}]`,
			code: emporium.EMALFORMED, detail: []string{"nothing after"}},
		{name: "text content type", body: `{"sku":"A"}`, contentType: "text/plain",
			code: emporium.EMEDIATYPE},
		{name: "no content type", body: `{"sku":"A"}`, contentType: "-",
			code: emporium.EMEDIATYPE},
		{name: "form content type", body: `sku=A`, contentType: "application/x-www-form-urlencoded",
			code: emporium.EMEDIATYPE},
		{name: "other charset", body: `{"sku":"A"}`, contentType: "application/json; charset=latin1",
			code: emporium.EMEDIATYPE},
		{name: "broken content type", body: `{"sku":"A"}`, contentType: "application/json; ===",
			code: emporium.EMEDIATYPE},
		{name: "empty body", body: ``, code: emporium.EMALFORMED, detail: []string{"empty"}},
		{name: "blank body", body: " \n ", code: emporium.EMALFORMED, detail: []string{"empty"}},
		{name: "syntax error", body: `{"sku": "A",}`,
			code: emporium.EMALFORMED, detail: []string{"not valid JSON", "line 1, column 13"}},
		{name: "syntax error on line 3", body: "{\n  \"sku\": \"A\",\n  \"quantity\": 2x\n}",
			code: emporium.EMALFORMED, detail: []string{"line 3"}},
		{name: "truncated", body: `{"sku":"A"`, code: emporium.EMALFORMED, detail: []string{"ends"}},
		{name: "wrong type", body: `{"quantity":"two"}`,
			code: emporium.EMALFORMED, detail: []string{`"quantity"`, "must be an integer", "line 1, column"}, field: "quantity"},
		{name: "fraction for integer", body: `{"quantity":1.5}`,
			code: emporium.EMALFORMED, detail: []string{`"quantity"`, "must be an integer"}, field: "quantity"},
		{name: "wrong nested type", body: `{"address":{"postal_code":75001}}`,
			code: emporium.EMALFORMED, detail: []string{`"address.postal_code"`, "must be a string"}, field: "address.postal_code"},
		{name: "object for list", body: `{"tags":{}}`,
			code: emporium.EMALFORMED, detail: []string{`"tags"`, "must be an array"}, field: "tags"},
		{name: "string for boolean", body: `{"gift":"yes"}`,
			code: emporium.EMALFORMED, detail: []string{`"gift"`, "must be a boolean"}, field: "gift"},
		{name: "number for time", body: `{"when":5}`,
			code: emporium.EMALFORMED, detail: []string{"not valid for its field"}},
		{name: "number for text", body: `{"ip":5}`,
			code: emporium.EMALFORMED, detail: []string{`"ip"`, "must be a string"}, field: "ip"},
		{name: "malformed time", body: `{"when":"yesterday"}`,
			code: emporium.EMALFORMED, detail: []string{"not valid for its field"}},
		{name: "array body", body: `[{"sku":"A"}]`, code: emporium.EMALFORMED, detail: []string{"JSON object"}},
		{name: "null body", body: `null`, code: emporium.EMALFORMED, detail: []string{"JSON object"}},
		{name: "string body", body: `"sku"`, code: emporium.EMALFORMED, detail: []string{"JSON object"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			contentType := tc.contentType
			switch contentType {
			case "":
				contentType = "application/json"
			case "-":
				contentType = ""
			}
			var o order
			err := gateway.Decode(jsonRequest(tc.body, contentType), &o)
			require.Error(t, err)
			var e *emporium.Error
			require.True(t, errors.As(err, &e), "%T is not an *emporium.Error", err)
			assert.Equal(t, tc.code, emporium.ErrorCode(err))
			msg := emporium.ErrorMessage(err)
			for _, want := range tc.detail {
				assert.Contains(t, msg, want)
			}
			assertNoGoNames(t, msg)
			if tc.field != "" {
				fields := emporium.ErrorFields(err)
				require.Len(t, fields, 1)
				assert.Equal(t, tc.field, fields[0].Field)
				assertNoGoNames(t, fields[0].Message)
			}
		})
	}
}

// assertNoGoNames checks that a message meant for API callers does not
// describe the Go program behind the API.
func assertNoGoNames(t *testing.T, msg string) {
	t.Helper()
	for _, leak := range []string{"gateway_test", "main.", "Go ", "struct", "int64", "float64", "time.Time", "json:", "reflect", "*"} {
		assert.NotContains(t, msg, leak)
	}
}

func TestDecodeOverLimit(t *testing.T) {
	req := jsonRequest(`{"sku":"`+strings.Repeat("x", 100)+`"}`, "application/json")
	req.Body = http.MaxBytesReader(httptest.NewRecorder(), req.Body, 32)
	var o order
	err := gateway.Decode(req, &o)
	assert.Equal(t, emporium.ETOOLARGE, emporium.ErrorCode(err))
	assert.Equal(t, http.StatusRequestEntityTooLarge, gateway.StatusOf(err))
}

func TestDecodeThroughServer(t *testing.T) {
	s, _ := newServer(t, gateway.Config{})
	s.Handle("POST /v1/orders", func(w http.ResponseWriter, r *http.Request) error {
		var o order
		if err := gateway.Decode(r, &o); err != nil {
			return err
		}
		return gateway.Respond(w, http.StatusCreated, map[string]any{"sku": o.SKU})
	})

	resp, body := serve(s, jsonRequest(`{"sku":"A","price_override":1}`, "application/json"))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	p := problemOf(t, resp, body)
	assert.Equal(t, "malformed_request", p.Code)
	assert.Equal(t, []emporium.FieldError{{Field: "price_override", Code: "unknown_field", Message: "is not a known field"}}, p.Errors)

	resp, body = serve(s, jsonRequest(`{"sku":"A"}`, "text/plain"))
	require.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode)
	assert.Equal(t, "unsupported_media_type", problemOf(t, resp, body).Code)

	resp, body = serve(s, jsonRequest(`{"sku":"A"}`, "application/json"))
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.JSONEq(t, `{"sku":"A"}`, string(body))
}

// FuzzDecode checks that no body makes Decode panic, and that every
// failure is an emporium error the gateway answers with a 4xx.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"sku":"A-1","quantity":2,"address":{"postal_code":"75001"},"tags":["a"],"options":{"size":"M"},"when":"2024-05-01T10:00:00Z","gift":true,"price":1.5}`,
		`{"sku":"A","colour":"red"}`,
		`{"sku":"A"} {"sku":"B"}`,
		`{"quantity":"two"}`,
		`{"address":{"postal_code":75001}}`,
		`{"when":"yesterday"}`,
		`{"sku": "A",}`,
		`{"sku":"A"`,
		`[1,2]`,
		`null`,
		``,
		"{\"sku\":\"\xff\"}",
		`{"quantity":1e400}`,
		`{"options":{"a":1}}`,
	} {
		f.Add([]byte(seed), "application/json")
	}
	f.Add([]byte(`{}`), "text/plain")
	f.Add([]byte(`{}`), "application/json; charset=\"utf-8\"")

	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		req := httptest.NewRequest(http.MethodPost, "/v1/orders", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", contentType)
		var o order
		err := gateway.Decode(req, &o)
		if err == nil {
			return
		}
		e, ok := err.(*emporium.Error)
		if !ok {
			t.Fatalf("Decode returned %T, not *emporium.Error: %v", err, err)
		}
		if status := gateway.StatusOf(e); status < 400 || status > 499 {
			t.Fatalf("Decode returned %q (status %d) for %q: %v", e.Code, status, body, err)
		}
		if e.Message == "" {
			t.Fatalf("Decode returned an error without a message: %v", err)
		}
	})
}
