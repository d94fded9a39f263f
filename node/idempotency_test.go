package node_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// doKeyed is api.do with an Idempotency-Key.
func (a *api) doKeyed(method, path, bearer, key string, body any) (int, map[string]any) {
	a.t.Helper()
	raw, err := json.Marshal(body)
	require.NoError(a.t, err)
	req, err := http.NewRequest(method, a.base+path, bytes.NewReader(raw))
	require.NoError(a.t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Idempotency-Key", key)
	resp, err := a.client.Do(req)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	out := map[string]any{}
	raw, err = io.ReadAll(resp.Body)
	require.NoError(a.t, err)
	if len(raw) > 0 {
		require.NoError(a.t, json.Unmarshal(raw, &out), "%s", raw)
	}
	return resp.StatusCode, out
}

// TestIdempotencyKeyReusedWithAnotherBody is issue 14's item 10: the same
// Idempotency-Key with the same request answers as the first time; with a
// different request it is 422 idempotency_key_reused and changes nothing.
func TestIdempotencyKeyReusedWithAnotherBody(t *testing.T) {
	n := openCatalogNode(t, 0)
	a := newAPI(t, n)
	_, skus := listProduct(t, n, a, "IDEM")
	_, shopper := userToken(t, n, a, "shopper")

	reused := func(t *testing.T, status int, body map[string]any) {
		t.Helper()
		require.Equal(t, http.StatusUnprocessableEntity, status, "%v", body)
		assert.Equal(t, "idempotency_key_reused", body["code"])
	}

	t.Run("cart add-item", func(t *testing.T) {
		status, first := a.doKeyed("POST", "/v1/cart/items", shopper, "cart-k1", map[string]any{"sku": skus[0], "quantity": 1})
		require.Equal(t, http.StatusOK, status, "%v", first)
		status, again := a.doKeyed("POST", "/v1/cart/items", shopper, "cart-k1", map[string]any{"quantity": 1, "sku": skus[0]})
		require.Equal(t, http.StatusOK, status, "%v", again)
		assert.Equal(t, first["item_count"], again["item_count"], "the retry changes the cart once")

		status, body := a.doKeyed("POST", "/v1/cart/items", shopper, "cart-k1", map[string]any{"sku": skus[0], "quantity": 3})
		reused(t, status, body)
		status, body = a.doKeyed("POST", "/v1/cart/items", shopper, "cart-k1", map[string]any{"sku": skus[1], "quantity": 1})
		reused(t, status, body)
		status, cart, _ := a.do("GET", "/v1/cart", shopper, nil)
		require.Equal(t, http.StatusOK, status)
		assert.Equal(t, float64(1), cart["item_count"], "nothing changed")

		// Keys are the caller's: another user may send the same one.
		_, other := userToken(t, n, a, "other")
		status, body = a.doKeyed("POST", "/v1/cart/items", other, "cart-k1", map[string]any{"sku": skus[1], "quantity": 2})
		require.Equal(t, http.StatusOK, status, "%v", body)
	})

	t.Run("product create", func(t *testing.T) {
		_, vendor := userToken(t, n, a, "vendor")
		status, body, _ := a.do("POST", "/v1/vendors", vendor, map[string]any{"store_name": "Idem Store"})
		require.Equal(t, http.StatusCreated, status, "%v", body)
		product := func(title string) map[string]any {
			return map[string]any{"title": title, "currency": "USD", "variants": []any{map[string]any{"sku": "IDEM-P-1", "price": 100}}}
		}
		status, first := a.doKeyed("POST", "/v1/vendor/products", vendor, "prod-k1", product("Kettle"))
		require.Equal(t, http.StatusCreated, status, "%v", first)
		status, again := a.doKeyed("POST", "/v1/vendor/products", vendor, "prod-k1", product("Kettle"))
		require.Equal(t, http.StatusCreated, status, "%v", again)
		assert.Equal(t, first["id"], again["id"])
		status, body = a.doKeyed("POST", "/v1/vendor/products", vendor, "prod-k1", product("Teapot"))
		reused(t, status, body)

		// A request refused as invalid changed nothing and gives its key
		// up, for the corrected request.
		status, body = a.doKeyed("POST", "/v1/vendor/products", vendor, "prod-k2", map[string]any{"title": "", "currency": "USD"})
		require.Equal(t, http.StatusUnprocessableEntity, status, "%v", body)
		assert.Equal(t, "validation_failed", body["code"])
		status, body = a.doKeyed("POST", "/v1/vendor/products", vendor, "prod-k2", map[string]any{"title": "Mug", "currency": "USD", "variants": []any{map[string]any{"sku": "IDEM-P-2", "price": 100}}})
		require.Equal(t, http.StatusCreated, status, "%v", body)
	})

	t.Run("wishlist create", func(t *testing.T) {
		status, first := a.doKeyed("POST", "/v1/wishlists", shopper, "wish-k1", map[string]any{"name": "Birthday"})
		require.Equal(t, http.StatusCreated, status, "%v", first)
		status, again := a.doKeyed("POST", "/v1/wishlists", shopper, "wish-k1", map[string]any{"name": "Birthday"})
		require.Equal(t, http.StatusCreated, status, "%v", again)
		assert.Equal(t, first["id"], again["id"])
		status, body := a.doKeyed("POST", "/v1/wishlists", shopper, "wish-k1", map[string]any{"name": "Christmas"})
		reused(t, status, body)
	})
}
