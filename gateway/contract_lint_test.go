package gateway_test

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"

	"github.com/emporium-shop/emporium/gateway/gatewaytest"
)

// TestContractLint applies to openapi.yaml the rules of Spectral's OWASP
// ruleset and Redocly's recommended set that the project follows (make
// lint-api runs the tools themselves where Node.js is), so that they hold on
// any machine with Go alone. Each subtest is one rule; a failure lists every
// place that breaks it.
func TestContractLint(t *testing.T) {
	doc := gatewaytest.Spec(t)
	ops := operations(doc)
	require := func(t *testing.T, broken []string) {
		t.Helper()
		sort.Strings(broken)
		assert.Empty(t, broken, "\n%s", strings.Join(broken, "\n"))
	}

	t.Run("a license and contact", func(t *testing.T) {
		assert.NotNil(t, doc.Info.License, "info.license")
		assert.NotNil(t, doc.Info.Contact, "info.contact")
	})

	t.Run("every string, array and integer is bounded", func(t *testing.T) {
		var broken []string
		walkSchemas(doc, func(where string, s *openapi3.Schema) {
			if s.Type == nil {
				return
			}
			if s.Type.Includes(openapi3.TypeString) && s.MaxLength == nil && s.Enum == nil && s.Const == nil {
				broken = append(broken, where+": a string without maxLength, enum or const")
			}
			if s.Type.Includes(openapi3.TypeArray) && s.MaxItems == nil {
				broken = append(broken, where+": an array without maxItems")
			}
			if s.Type.Includes(openapi3.TypeInteger) {
				if s.Format != "int32" && s.Format != "int64" {
					broken = append(broken, where+": an integer without format int32 or int64")
				}
				if s.Min == nil || s.Max == nil {
					broken = append(broken, where+": an integer without minimum and maximum")
				}
			}
		})
		require(t, broken)
	})

	t.Run("every operation says who may call it", func(t *testing.T) {
		var broken []string
		for _, op := range ops {
			if op.Security == nil {
				broken = append(broken, op.name+": no security (say `security: []` for a public operation)")
				continue
			}
			admin := strings.HasPrefix(op.path, "/v1/admin/")
			for _, req := range *op.Security {
				_, adminScheme := req["adminBearer"]
				if admin != adminScheme && len(req) > 0 {
					broken = append(broken, op.name+": admin operations, and only they, use the adminBearer scheme")
				}
			}
		}
		require(t, broken)
	})

	t.Run("every operation declares the problems it can answer", func(t *testing.T) {
		var broken []string
		for _, op := range ops {
			has := func(status string) bool { return op.Responses.Value(status) != nil }
			want := []string{"500"}
			if op.secured() {
				want = append(want, "401")
			}
			if op.RequestBody != nil {
				want = append(want, "400", "413")
				if !strings.HasPrefix(op.path, "/v1/webhooks/") { // taken raw, any type
					want = append(want, "415", "422")
				}
			}
			if op.hasQuery() && !has("400") && !has("422") {
				broken = append(broken, op.name+": takes query parameters but declares neither 400 nor 422")
			}
			if strings.HasPrefix(op.path, "/v1/auth/") || strings.HasPrefix(op.path, "/v1/webhooks/") {
				want = append(want, "429") // under an edge rate limit
			}
			for _, status := range want {
				if !has(status) {
					broken = append(broken, fmt.Sprintf("%s: does not declare %s", op.name, status))
				}
			}
			if op.Description == "" || op.OperationID == "" {
				broken = append(broken, op.name+": no description or operationId")
			}
		}
		require(t, broken)
	})

	t.Run("problems are problem+json, 429 says when to retry", func(t *testing.T) {
		var broken []string
		for _, op := range ops {
			for status, ref := range op.Responses.Map() {
				if status < "400" || ref.Value == nil || op.name == "GET /readyz" && status == "503" {
					continue // not ready is the readiness report, not a problem
				}
				mt := ref.Value.Content.Get("application/problem+json")
				if mt == nil || mt.Schema == nil || mt.Schema.Ref != "#/components/schemas/Problem" {
					broken = append(broken, fmt.Sprintf("%s %s: not an application/problem+json Problem", op.name, status))
				}
				if status == "429" {
					for _, h := range []string{"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} {
						if ref.Value.Headers[h] == nil {
							broken = append(broken, fmt.Sprintf("%s 429: no %s header", op.name, h))
						}
					}
				}
			}
		}
		require(t, broken)
	})

	t.Run("request bodies are closed and mark what the server owns", func(t *testing.T) {
		var broken []string
		for _, op := range ops {
			if op.RequestBody == nil || strings.HasPrefix(op.path, "/v1/webhooks/") {
				continue // webhooks take the provider's body as it comes
			}
			mt := op.RequestBody.Value.Content.Get("application/json")
			if mt == nil || mt.Schema == nil {
				broken = append(broken, op.name+": a request body that is not application/json")
				continue
			}
			s := mt.Schema.Value
			if s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has {
				broken = append(broken, op.name+": a request body that allows unknown members (additionalProperties: false)")
			}
			for name, p := range s.Properties {
				if p.Value != nil && p.Value.Type == nil && p.Value.Items == nil && len(p.Value.Properties) == 0 && p.Ref == "" && !p.Value.ReadOnly {
					broken = append(broken, fmt.Sprintf("%s: member %q has no type and is not readOnly", op.name, name))
				}
			}
		}
		require(t, broken)
	})

	t.Run("the contract says limits count characters", func(t *testing.T) {
		assert.Contains(t, doc.Info.Description, "count characters (Unicode\n  code points), not bytes")
	})
}

// operation is one operation of the contract, with its path and method.
type operation struct {
	*openapi3.Operation
	path, method, name string
	pathParams         openapi3.Parameters
}

func (op operation) secured() bool {
	if op.Security == nil {
		return false
	}
	for _, req := range *op.Security {
		if len(req) > 0 {
			return true
		}
	}
	return false
}

func (op operation) hasQuery() bool {
	for _, p := range slices.Concat(op.Parameters, op.pathParams) {
		if p.Value != nil && p.Value.In == openapi3.ParameterInQuery {
			return true
		}
	}
	return false
}

// operations lists the contract's operations in path and method order.
func operations(doc *openapi3.T) []operation {
	var ops []operation
	for _, path := range doc.Paths.InMatchingOrder() {
		item := doc.Paths.Value(path)
		for method, op := range item.Operations() {
			ops = append(ops, operation{Operation: op, path: path, method: method, name: method + " " + path, pathParams: item.Parameters})
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].name < ops[j].name })
	return ops
}

// walkSchemas calls visit once for every schema of the document: the
// components' and those written inline in parameters, headers, bodies and
// responses, and every schema inside them. where says where it is.
func walkSchemas(doc *openapi3.T, visit func(where string, s *openapi3.Schema)) {
	seen := map[*openapi3.Schema]bool{}
	var walk func(where string, ref *openapi3.SchemaRef)
	walk = func(where string, ref *openapi3.SchemaRef) {
		if ref == nil || ref.Value == nil || seen[ref.Value] {
			return
		}
		if ref.Ref != "" {
			where = ref.Ref
		}
		s := ref.Value
		seen[s] = true
		visit(where, s)
		for name, p := range s.Properties {
			walk(where+"/properties/"+name, p)
		}
		walk(where+"/items", s.Items)
		walk(where+"/additionalProperties", s.AdditionalProperties.Schema)
		walk(where+"/propertyNames", s.PropertyNames)
		walk(where+"/not", s.Not)
		for i, sub := range slices.Concat(s.OneOf, s.AnyOf, s.AllOf, s.PrefixItems) {
			walk(fmt.Sprintf("%s/of/%d", where, i), sub)
		}
	}
	for name, s := range doc.Components.Schemas {
		walk("#/components/schemas/"+name, s)
	}
	params := func(where string, ps openapi3.Parameters) {
		for _, p := range ps {
			if p.Value != nil {
				walk(where+" parameter "+p.Value.Name, p.Value.Schema)
			}
		}
	}
	headers := func(where string, hs openapi3.Headers) {
		for name, h := range hs {
			if h.Value != nil {
				walk(where+" header "+name, h.Value.Schema)
			}
		}
	}
	content := func(where string, c openapi3.Content) {
		for mt, m := range c {
			walk(where+" "+mt, m.Schema)
		}
	}
	for name, p := range doc.Components.Parameters {
		walk("#/components/parameters/"+name, p.Value.Schema)
	}
	headers("#/components/headers", doc.Components.Headers)
	for _, op := range operations(doc) {
		params(op.name, op.pathParams)
		params(op.name, op.Parameters)
		if op.RequestBody != nil && op.RequestBody.Value != nil {
			content(op.name+" request", op.RequestBody.Value.Content)
		}
		for status, r := range op.Responses.Map() {
			if r.Value != nil {
				headers(op.name+" "+status, r.Value.Headers)
				content(op.name+" "+status, r.Value.Content)
			}
		}
	}
}
