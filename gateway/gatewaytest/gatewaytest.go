// Package gatewaytest checks HTTP exchanges against the API contract,
// gateway/openapi.yaml, for the end-to-end tests of any package.
//
// An exchange passes when:
//
//   - its route is documented, and its response status is documented for
//     that operation, with the documented headers and body;
//   - or its path is not documented and the answer is a 404 problem, or the
//     path is documented but not the method and the answer is a 405 problem
//     with an Allow header: the server refused what the contract does not
//     offer;
//   - a request the contract does not allow (a missing member, a wrong
//     type) was refused with a 4xx: tests send such requests on purpose, but
//     a server that accepts one is out of contract.
//
// Every problem+json body must also repeat the response status and the
// X-Request-ID.
//
// The document is OpenAPI 3.1. kin-openapi reads the version from the
// document: (*openapi3.T).Validate checks it by 3.1 rules and openapi3filter
// validates bodies with its JSON Schema 2020-12 validator, without options.
package gatewaytest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/emporium-shop/emporium/gateway"
)

// contract is the loaded, validated document and its router, built once
// per test binary.
type contract struct {
	doc    *openapi3.T
	router routers.Router
}

var loadContract = sync.OnceValues(func() (*contract, error) {
	ctx := context.Background()
	// The reference page (/docs) and its script are text whose schema is a
	// string; kin-openapi decodes only text/plain that way by itself.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("text/javascript", openapi3filter.PlainBodyDecoder)
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(gateway.OpenAPI())
	if err != nil {
		return nil, fmt.Errorf("load openapi.yaml: %w", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		return nil, fmt.Errorf("openapi.yaml declares OpenAPI %s; the contract is 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(ctx, openapi3.EnableSchemaFormatValidation(), openapi3.EnableSchemaPatternValidation(), openapi3.EnableExamplesValidation()); err != nil {
		return nil, fmt.Errorf("openapi.yaml is not a valid OpenAPI 3.1 document: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route openapi.yaml: %w", err)
	}
	return &contract{doc: doc, router: router}, nil
})

// Spec returns the contract, loaded and validated. It fails the test if the
// document does not load or is not valid OpenAPI 3.1.
func Spec(t testing.TB) *openapi3.T {
	t.Helper()
	c, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	return c.doc
}

// ValidateResponse checks one exchange against the contract and reports
// every mismatch with t.Errorf, so it may be called from any goroutine.
// reqBody and respBody are the bodies, read in full; req.Body and resp.Body
// are not touched.
func ValidateResponse(t testing.TB, req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) {
	t.Helper()
	c, err := loadContract()
	if err != nil {
		t.Error(err)
		return
	}
	for _, problem := range c.check(req, reqBody, resp, respBody) {
		t.Errorf("%s %s answered %d: %s", req.Method, req.URL.Path, resp.StatusCode, problem)
	}
}

// check returns what is wrong with the exchange, if anything.
func (c *contract) check(req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) []string {
	ctx := context.Background()
	var wrong []string
	wrong = append(wrong, checkProblemBody(resp, respBody)...)

	// The validators read the request body, and the router looks at the
	// URL only: a copy keeps the caller's request as it was.
	in := req.Clone(ctx)
	in.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, pathParams, err := c.router.FindRoute(in)
	switch {
	case errors.Is(err, routers.ErrPathNotFound):
		if resp.StatusCode != http.StatusNotFound || !isProblem(resp) {
			return append(wrong, "the path is not in openapi.yaml, so the answer must be a 404 problem")
		}
		return append(wrong, c.checkProblemSchema(respBody)...)
	case errors.Is(err, routers.ErrMethodNotAllowed):
		if resp.StatusCode != http.StatusMethodNotAllowed || !isProblem(resp) {
			return append(wrong, "the method is not in openapi.yaml for this path, so the answer must be a 405 problem")
		}
		if resp.Header.Get("Allow") == "" {
			wrong = append(wrong, "a 405 must carry an Allow header")
		}
		return append(wrong, c.checkProblemSchema(respBody)...)
	case err != nil:
		return append(wrong, fmt.Sprintf("cannot match the request to openapi.yaml: %v", err))
	}

	reqInput := &openapi3filter.RequestValidationInput{
		Request:    in,
		PathParams: pathParams,
		Route:      route,
		Options: &openapi3filter.Options{
			MultiError:                        true,
			RejectWhenRequestBodyNotSpecified: true,
			SchemaValidationOptions:           []openapi3.SchemaValidationOption{openapi3.SetSchemaErrorMessageCustomizer(schemaErrorMessage)},
			// Whether credentials are good is the server's to decide; the
			// contract only says which operations want them.
			AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
		},
	}
	if err := openapi3filter.ValidateRequest(ctx, reqInput); err != nil && resp.StatusCode < 400 {
		wrong = append(wrong, fmt.Sprintf("the server accepted a request openapi.yaml does not allow: %v", err))
	}

	respInput := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: reqInput,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Options: &openapi3filter.Options{
			MultiError:              true,
			IncludeResponseStatus:   true,
			SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.SetSchemaErrorMessageCustomizer(schemaErrorMessage)},
		},
	}
	respInput.SetBodyBytes(respBody)
	if err := openapi3filter.ValidateResponse(ctx, respInput); err != nil {
		wrong = append(wrong, fmt.Sprintf("the response does not match openapi.yaml: %v", err))
	}
	return wrong
}

func isProblem(resp *http.Response) bool {
	mediaType, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return err == nil && mediaType == "application/problem+json"
}

// checkProblemBody checks what the schema cannot: that a problem repeats
// the status and the request id of its response.
func checkProblemBody(resp *http.Response, body []byte) []string {
	if !isProblem(resp) {
		return nil
	}
	var p gateway.Problem
	if err := json.Unmarshal(body, &p); err != nil {
		return []string{fmt.Sprintf("the problem body is not JSON: %v", err)}
	}
	var wrong []string
	if p.Status != resp.StatusCode {
		wrong = append(wrong, fmt.Sprintf("the problem says status %d", p.Status))
	}
	if id := resp.Header.Get("X-Request-ID"); p.RequestID != id {
		wrong = append(wrong, fmt.Sprintf("the problem's request_id %q is not the X-Request-ID %q", p.RequestID, id))
	}
	return wrong
}

// checkProblemSchema validates a body against the Problem schema, for the
// answers to requests that no operation describes.
func (c *contract) checkProblemSchema(body []byte) []string {
	ref := c.doc.Components.Schemas["Problem"]
	if ref == nil || ref.Value == nil {
		return []string{"openapi.yaml has no Problem schema"}
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return []string{fmt.Sprintf("the problem body is not JSON: %v", err)}
	}
	if err := ref.Value.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors(), openapi3.SetSchemaErrorMessageCustomizer(schemaErrorMessage)); err != nil {
		return []string{fmt.Sprintf("the body does not match the Problem schema: %v", err)}
	}
	return nil
}

// schemaErrorMessage says where a value breaks the schema and why, leaving
// out the dump of the whole schema kin-openapi adds by default.
func schemaErrorMessage(err *openapi3.SchemaError) string {
	return fmt.Sprintf("at /%s: %s", strings.Join(err.JSONPointer(), "/"), err.Reason)
}

// Transport returns a RoundTripper that sends requests with base
// (http.DefaultTransport when nil) and checks every exchange with
// ValidateResponse. Give it to the http.Client of an end-to-end test:
//
//	srv := httptest.NewServer(node)
//	client := &http.Client{Transport: gatewaytest.Transport(t, nil)}
func Transport(t testing.TB, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{t: t, base: base}
}

type transport struct {
	t    testing.TB
	base http.RoundTripper
}

// RoundTrip reads both bodies in full to check them, and hands the caller
// a response whose body reads the same bytes.
func (tr *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		var err error
		if reqBody, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := tr.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	ValidateResponse(tr.t, req, reqBody, resp, respBody)
	return resp, nil
}

// Do serves req with h in process, checks the exchange with
// ValidateResponse, and returns the response and its body.
func Do(t testing.TB, h http.Handler, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	var reqBody []byte
	if req.Body != nil {
		var err error
		if reqBody, err = io.ReadAll(req.Body); err != nil {
			t.Fatalf("read request body: %v", err)
		}
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	resp := rec.Result()
	body := rec.Body.Bytes()
	ValidateResponse(t, req, reqBody, resp, body)
	return resp, body
}
