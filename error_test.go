package emporium_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/stretchr/testify/assert"

	"github.com/emporium-shop/emporium"
)

func TestErrorCodeAndMessage(t *testing.T) {
	invalid := emporium.Errorf(emporium.EINVALID, "quantity must be positive")
	tests := []struct {
		name     string
		err      error
		code     string
		message  string
		internal bool
	}{
		{"our error", invalid, emporium.EINVALID, "quantity must be positive", false},
		{"wrapped", fmt.Errorf("adding: %w", invalid), emporium.EINVALID, "quantity must be positive", false},
		{"Wrap keeps code", emporium.Wrap("cart.Add", invalid), emporium.EINVALID, "quantity must be positive", false},
		{"plain error is internal", errors.New("dial tcp 10.0.0.7:27017: refused"), emporium.EINTERNAL, "", true},
		{"deadline is unavailable", fmt.Errorf("request: %w", context.DeadlineExceeded), emporium.EUNAVAILABLE, "", true},
		{"grain reason", cluster.NewGrainErrorResponse(emporium.EOUTOFSTOCK, "only 2 left"), emporium.EOUTOFSTOCK, "only 2 left", false},
		{"protoactor reason", cluster.NewGrainErrorResponse(cluster.ErrorReason_DEADLINE_EXCEEDED, "secret detail"), emporium.EUNAVAILABLE, "", true},
		{"grain internal", cluster.NewGrainErrorResponse(emporium.EINTERNAL, "mongo said x"), emporium.EINTERNAL, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.code, emporium.ErrorCode(tt.err))
			msg := emporium.ErrorMessage(tt.err)
			if tt.internal {
				assert.NotContains(t, msg, "10.0.0.7")
				assert.NotContains(t, msg, "secret")
				assert.NotContains(t, msg, "mongo")
			} else {
				assert.Equal(t, tt.message, msg)
			}
		})
	}
}

func TestGrainCall(t *testing.T) {
	assert.Nil(t, emporium.GrainCall("op", nil))
	timeout := emporium.GrainCall("inventory.Reserve", fmt.Errorf("error request: %w", errors.New("have reached max retries: 3")))
	assert.Equal(t, emporium.EUNAVAILABLE, emporium.ErrorCode(timeout), "a failed call is worth retrying, not a bug")
	assert.Contains(t, timeout.Error(), "inventory.Reserve")

	resp := cluster.NewGrainErrorResponse(emporium.EINVALID, "on_hand is below reserved").
		WithMetadata(map[string]string{emporium.FieldsKey: `[{"field":"on_hand","code":"below_reserved","message":"m"}]`})
	err := emporium.GrainCall("inventory.SetStock", resp)
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err))
	assert.Equal(t, "on_hand is below reserved", emporium.ErrorMessage(err))
	assert.Equal(t, []emporium.FieldError{{Field: "on_hand", Code: "below_reserved", Message: "m"}}, emporium.ErrorFields(err))
}

func TestErrorString(t *testing.T) {
	err := &emporium.Error{Op: "persistence.Open", Code: emporium.EUNAVAILABLE, Message: "cannot reach MongoDB", Err: errors.New("refused")}
	assert.Equal(t, "persistence.Open: <unavailable> cannot reach MongoDB: refused", err.Error())
	assert.True(t, emporium.IsCode(err, emporium.EUNAVAILABLE))
	assert.False(t, emporium.IsCode(nil, emporium.EUNAVAILABLE))
}

// constsOf returns the string constants declared in error.go whose names
// start with prefix, by name.
func constsOf(t *testing.T, prefix string) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "error.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	for _, decl := range f.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !strings.HasPrefix(name.Name, prefix) || !ok || lit.Kind != token.STRING {
					continue
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				found[name.Name] = v
			}
		}
	}
	return found
}

// TestCodesListsEveryCode keeps the one list of error codes whole: every E...
// constant is in Codes once, with a status and a title.
func TestCodesListsEveryCode(t *testing.T) {
	declared := constsOf(t, "E")
	assert.Len(t, declared, len(emporium.Codes()), "declared: %v", declared)
	seen := map[string]bool{}
	for _, c := range emporium.Codes() {
		assert.False(t, seen[c.Code], "%s is listed twice", c.Code)
		seen[c.Code] = true
		assert.Contains(t, slices.Collect(maps.Values(declared)), c.Code)
		assert.GreaterOrEqual(t, c.Status, 400, c.Code)
		assert.Less(t, c.Status, 600, c.Code)
		assert.NotEmpty(t, c.Title, c.Code)
		got, ok := emporium.LookupCode(c.Code)
		assert.True(t, ok)
		assert.Equal(t, c, got)
	}
	for name, code := range declared {
		assert.True(t, seen[code], "%s (%q) is not in Codes", name, code)
	}
	_, ok := emporium.LookupCode("brand_new_code")
	assert.False(t, ok)
}

// TestEveryCodeCrossesTheCluster: a grain that answers any of our codes is
// understood by its caller.
func TestEveryCodeCrossesTheCluster(t *testing.T) {
	for _, c := range emporium.Codes() {
		err := emporium.GrainCall("op", cluster.NewGrainErrorResponse(c.Code, "m"))
		assert.Equal(t, c.Code, emporium.ErrorCode(err))
	}
}

// TestFieldCodesAreOneSet: each field code is declared once, under one name.
func TestFieldCodesAreOneSet(t *testing.T) {
	names := map[string]string{}
	for name, code := range constsOf(t, "Field") {
		assert.Regexp(t, `^[a-z]+(_[a-z]+)*$`, code, name)
		if other, ok := names[code]; ok {
			t.Errorf("%s and %s are both %q", name, other, code)
		}
		names[code] = name
	}
	assert.Contains(t, names, emporium.FieldRequired)
}

func TestInvalid(t *testing.T) {
	err := emporium.Invalidf("quantity", emporium.FieldOutOfRange, "quantity must be between 1 and %d", 99)
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err))
	assert.Equal(t, "quantity must be between 1 and 99", emporium.ErrorMessage(err))
	assert.Equal(t, []emporium.FieldError{{Field: "quantity", Code: "out_of_range", Message: "quantity must be between 1 and 99"}},
		emporium.ErrorFields(emporium.Wrap("cart.Add", err)), "Wrap keeps the fields")

	both := emporium.InvalidFields(emporium.Field("name", emporium.FieldRequired, "name is required"),
		emporium.Field("slug", emporium.FieldTooLong, "slug must be at most %d characters", 100))
	assert.Equal(t, "name is required; slug must be at most 100 characters", both.Message)
	assert.Len(t, emporium.ErrorFields(both), 2)
}

// TestRetryAfter: the retry hint is structured, survives wrapping and a trip
// across the cluster, and is never read from the message.
func TestRetryAfter(t *testing.T) {
	refused := &emporium.Error{Code: emporium.ERATELIMITED, Message: "Too many attempts.", RetryAfter: 1500 * time.Millisecond,
		Fields: []emporium.FieldError{{Field: "code", Code: "invalid", Message: "m"}}}
	assert.Equal(t, 1500*time.Millisecond, emporium.ErrorRetryAfter(fmt.Errorf("login: %w", emporium.Wrap("user.Login", refused))))
	assert.Zero(t, emporium.ErrorRetryAfter(emporium.Errorf(emporium.ERATELIMITED, "try again in 42 seconds")))
	assert.Zero(t, emporium.ErrorRetryAfter(nil))

	resp := cluster.NewGrainErrorResponse(emporium.ERATELIMITED, "Too many attempts.").WithMetadata(emporium.Metadata(refused))
	crossed := emporium.GrainCall("user.Login", resp)
	assert.Equal(t, 1500*time.Millisecond, emporium.ErrorRetryAfter(crossed))
	assert.Equal(t, refused.Fields, emporium.ErrorFields(crossed))
	assert.Nil(t, emporium.Metadata(errors.New("plain")))
}

// TestExtensions: an error's extensions survive wrapping and a trip across
// the cluster, encoding as they did.
func TestExtensions(t *testing.T) {
	totals := emporium.OrderTotals{
		Subtotal: emporium.Money{Amount: 2000, Currency: "USD"}, Shipping: emporium.Money{Amount: 500, Currency: "USD"},
		Tax: emporium.Money{Amount: 200, Currency: "USD"}, Total: emporium.Money{Amount: 2700, Currency: "USD"},
	}
	changed := emporium.PriceChanged(totals)
	assert.Equal(t, emporium.EPRICECHANGED, emporium.ErrorCode(changed))
	wrapped := fmt.Errorf("place: %w", emporium.Wrap("order.Place", changed))
	assert.Equal(t, totals, emporium.ErrorExtensions(wrapped)[emporium.TotalsExtension])

	resp := cluster.NewGrainErrorResponse(emporium.EPRICECHANGED, changed.Message).WithMetadata(emporium.Metadata(changed))
	crossed := emporium.GrainCall("order.Place", resp)
	want, err := json.Marshal(changed.Extensions)
	assert.NoError(t, err)
	got, err := json.Marshal(emporium.ErrorExtensions(crossed))
	assert.NoError(t, err)
	assert.JSONEq(t, string(want), string(got))
	assert.Nil(t, emporium.ErrorExtensions(errors.New("plain")))
	assert.Nil(t, emporium.Metadata(emporium.Errorf(emporium.ENOTFOUND, "no")))

	unencodable := &emporium.Error{Code: emporium.ECONFLICT, Extensions: map[string]any{"f": func() {}}}
	assert.Nil(t, emporium.Metadata(unencodable), "what cannot be encoded is left out")
}
