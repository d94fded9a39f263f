package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
)

// owned sits embedded and unexported in sample, as productOwned and
// cartOwned sit in the handlers' request types.
type owned struct {
	ID      readOnly `json:"id"`
	Version readOnly `json:"version"`
}

type sample struct {
	Name string `json:"name"`
	owned
	Rating readOnly `json:"rating"`
}

func (b sample) Validate() error { return required(field{"name", b.Name}) }

func decodeSample(t *testing.T, body string) error {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	var in sample
	return Decode(r, &in)
}

func TestDecodeRefusesReadOnlyMembersThenValidates(t *testing.T) {
	require.NoError(t, decodeSample(t, `{"name":"x"}`))

	err := decodeSample(t, `{"name":"x","rating":null,"id":"p1"}`)
	require.Equal(t, emporium.EMALFORMED, emporium.ErrorCode(err), "a member sent as null is sent")
	var names []string
	for _, f := range emporium.ErrorFields(err) {
		assert.Equal(t, emporium.FieldReadOnly, f.Code)
		names = append(names, f.Field)
	}
	assert.Equal(t, []string{"id", "rating"}, names, "in the order the type declares them")

	err = decodeSample(t, `{"version":3}`)
	assert.Equal(t, "The field \"version\" is set by the server and cannot be changed.", emporium.ErrorMessage(err),
		"read-only members are refused before Validate runs")

	err = decodeSample(t, `{}`)
	require.Equal(t, emporium.EINVALID, emporium.ErrorCode(err))
	assert.Equal(t, []emporium.FieldError{{Field: "name", Code: emporium.FieldRequired, Message: "is required"}}, emporium.ErrorFields(err))

	err = decodeSample(t, `{"name":"x","other":1}`)
	assert.Equal(t, emporium.FieldUnknownField, emporium.ErrorFields(err)[0].Code, "undeclared members stay unknown")
}

// inner is embedded in embedding as the request types embed the root
// package's input types.
type inner struct {
	Total *struct {
		Amount int64 `json:"amount"`
	} `json:"expected_total"`
	Lines []struct {
		Qty int `json:"qty"`
	} `json:"lines"`
}

type embedding struct {
	inner
	owned
}

// TestDecodeNamesMembersNotGoTypes: encoding/json names an embedded struct
// in a type error's path by its Go type; Decode names the JSON member.
func TestDecodeNamesMembersNotGoTypes(t *testing.T) {
	for body, want := range map[string]string{
		`{"expected_total":5}`:                "expected_total",
		`{"expected_total":{"amount":"5"}}`:   "expected_total.amount",
		`{"lines":[{"qty":1},{"qty":"two"}]}`: "lines.qty",
		`{"lines":{"qty":1}}`:                 "lines",
	} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		var in embedding
		err := Decode(r, &in)
		require.Equal(t, emporium.EMALFORMED, emporium.ErrorCode(err), body)
		fields := emporium.ErrorFields(err)
		require.Len(t, fields, 1, body)
		assert.Equal(t, want, fields[0].Field, body)
		assert.Equal(t, emporium.FieldInvalidType, fields[0].Code, body)
		assert.NotContains(t, emporium.ErrorMessage(err), "inner", body)
	}
}
