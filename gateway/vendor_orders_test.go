package gateway_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/gateway"
)

// The vendor's order routes over the fake order service (bob is a vendor,
// alice a buyer); send checks each exchange against openapi.yaml.

func decodeVendorOrder(t *testing.T, raw json.RawMessage) emporium.VendorOrder {
	t.Helper()
	var o emporium.VendorOrder
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&o), "body: %s", raw)
	return o
}

func TestVendorOrderRoutes(t *testing.T) {
	s, f, _ := ordersServer(t, gateway.Config{})

	t.Run("list", func(t *testing.T) {
		resp, body := send(t, s, exchange{method: "GET", target: "/v1/vendor/orders?limit=5&cursor=c1&fulfillment_status=partially_shipped", token: bobToken})
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
		var page struct {
			Items      []json.RawMessage `json:"items"`
			NextCursor string            `json:"next_cursor"`
		}
		require.NoError(t, json.Unmarshal(body, &page))
		require.Len(t, page.Items, 1)
		o := decodeVendorOrder(t, page.Items[0])
		assert.Equal(t, emporium.FulfillmentPartiallyShipped, o.FulfillmentStatus)
		assert.Equal(t, "c2", page.NextCursor)
		assert.NotContains(t, string(body), "payment", "no payment details")
		assert.NotContains(t, string(body), "billing_address")
		c := f.last(t, "VendorOrders")
		assert.Equal(t, bob, c.principal)
		assert.Equal(t, []any{"partially_shipped", "c1", 5}, c.args)
	})

	t.Run("one", func(t *testing.T) {
		resp, body := send(t, s, exchange{method: "GET", target: "/v1/vendor/orders/o-mine", token: bobToken})
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
		o := decodeVendorOrder(t, body)
		assert.Equal(t, "o-mine", o.ID)
		require.Len(t, o.Lines, 1)
		assert.Equal(t, bob.UserID, o.Lines[0].VendorID)
	})

	t.Run("an order without the vendor's lines is 404", func(t *testing.T) {
		resp, body := send(t, s, exchange{method: "GET", target: "/v1/vendor/orders/o-theirs", token: bobToken})
		require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s", body)
		assert.Equal(t, emporium.ENOTFOUND, problemOf(t, resp, body).Code)
	})

	t.Run("a bad filter is 422", func(t *testing.T) {
		before := len(f.called("VendorOrders"))
		resp, body := send(t, s, exchange{method: "GET", target: "/v1/vendor/orders?fulfillment_status=lost", token: bobToken})
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, "%s", body)
		p := problemOf(t, resp, body)
		require.NotEmpty(t, p.Errors)
		assert.Equal(t, "fulfillment_status", p.Errors[0].Field)
		assert.Len(t, f.called("VendorOrders"), before, "the service is not asked")
	})

	t.Run("a buyer is 403", func(t *testing.T) {
		for _, target := range []string{"/v1/vendor/orders", "/v1/vendor/orders/o-mine"} {
			resp, body := send(t, s, exchange{method: "GET", target: target, token: aliceToken})
			require.Equal(t, http.StatusForbidden, resp.StatusCode, "%s: %s", target, body)
			assert.Equal(t, emporium.EFORBIDDEN, problemOf(t, resp, body).Code)
		}
	})

	t.Run("anonymous is 401", func(t *testing.T) {
		calls := len(f.called(""))
		for _, target := range []string{"/v1/vendor/orders", "/v1/vendor/orders/o-mine"} {
			resp, body := send(t, s, exchange{method: "GET", target: target})
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s: %s", target, body)
			assert.Equal(t, "Bearer", resp.Header.Get("WWW-Authenticate"))
		}
		assert.Len(t, f.called(""), calls, "the service is not asked")
	})
}
