package node_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/product"
)

// TestProductCreateChecksLimitsFirst is issue 14's item 1: a creation over
// a limit is refused at once, before any SKU is claimed, so it costs no
// writes and another vendor may use its SKUs.
func TestProductCreateChecksLimitsFirst(t *testing.T) {
	n := openCatalogNode(t, 0)
	a := newAPI(t, n)
	_, alice := userToken(t, n, a, "alice")
	_, bob := userToken(t, n, a, "bob")
	for _, v := range []struct{ token, name string }{{alice, "Alice Limits"}, {bob, "Bob Limits"}} {
		status, body, _ := a.do("POST", "/v1/vendors", v.token, map[string]any{"store_name": v.name})
		require.Equal(t, http.StatusCreated, status, "%v", body)
	}

	body := func(skus ...string) map[string]any {
		values := make([]any, len(skus))
		variants := make([]any, len(skus))
		for i, sku := range skus {
			values[i] = fmt.Sprintf("v%d", i)
			variants[i] = map[string]any{"sku": sku, "options": map[string]any{"size": values[i]}, "price": 1000}
		}
		return map[string]any{
			"title": "Many Variants", "currency": "USD",
			"options":  []any{map[string]any{"name": "size", "values": values}},
			"variants": variants,
		}
	}
	skus := make([]string, 1000)
	for i := range skus {
		skus[i] = fmt.Sprintf("LIMIT-%04d", i)
	}

	for _, tc := range []struct {
		name string
		body map[string]any
	}{
		{"1,000 variants", body(skus...)},
		// Within the counts, but one SKU is malformed: nothing is claimed
		// for the 99 good ones either.
		{"a malformed SKU", body(append(append([]string{}, skus[:99]...), "BAD SKU!")...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			status, resp, _ := a.do("POST", "/v1/vendor/products", alice, tc.body)
			elapsed := time.Since(start)
			require.Equal(t, http.StatusUnprocessableEntity, status, "%v", resp)
			assert.Less(t, elapsed, 500*time.Millisecond, "refused before any claim or write")
		})
	}

	// Nothing was claimed: Bob may use SKUs from both bodies.
	for _, sku := range []string{skus[0], skus[50], skus[98], skus[999]} {
		status, resp, _ := a.do("POST", "/v1/vendor/products", bob, body(sku))
		require.Equal(t, http.StatusCreated, status, "SKU %s is free: %v", sku, resp)
	}
}

// TestStaleSKUClaimIsReclaimable: a SKU claim whose creation never
// completed (a node that stopped between claim and write) is taken over
// once it is old enough; a fresh one, which may be a creation under way, is
// not.
func TestStaleSKUClaimIsReclaimable(t *testing.T) {
	n := openCatalogNode(t, 0)
	a := newAPI(t, n)
	_, bob := userToken(t, n, a, "bob")
	status, resp, _ := a.do("POST", "/v1/vendors", bob, map[string]any{"store_name": "Bob Stale"})
	require.Equal(t, http.StatusCreated, status, "%v", resp)

	at := func(when time.Time) *actors.DocumentClaims {
		return &actors.DocumentClaims{
			Collection: func(c string) actors.ClaimDocuments { return n.Store.Documents(c) },
			Now:        func() time.Time { return when },
		}
	}
	require.NoError(t, at(time.Now().Add(-time.Hour)).Claim(t.Context(), product.SKUsCollection, "STALE-1", "never-created"))
	require.NoError(t, at(time.Now()).Claim(t.Context(), product.SKUsCollection, "FRESH-1", "being-created"))

	one := func(sku string) map[string]any {
		return map[string]any{"title": "One", "currency": "USD", "variants": []any{map[string]any{"sku": sku, "price": 1000}}}
	}
	status, resp, _ = a.do("POST", "/v1/vendor/products", bob, one("FRESH-1"))
	require.Equal(t, http.StatusUnprocessableEntity, status, "a fresh claim stands: %v", resp)
	status, resp, _ = a.do("POST", "/v1/vendor/products", bob, one("STALE-1"))
	require.Equal(t, http.StatusCreated, status, "a stale claim of a product that never was is taken over: %v", resp)
	owner, _, err := at(time.Now()).Owner(t.Context(), product.SKUsCollection, "STALE-1")
	require.NoError(t, err)
	assert.Equal(t, resp["id"], owner)
}
