package node_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium/actors/actorstest"
	"github.com/emporium-shop/emporium/gateway/gatewaytest"
	"github.com/emporium-shop/emporium/node"
	"github.com/emporium-shop/emporium/persistence/persistencetest"
)

// The catalogue of issue 4's "done when", over HTTP against a whole node:
// an admin builds the category tree, a user opens a store and lists a
// product, stocks it and publishes it; buyers find it by search, filters
// and facets; another vendor can touch none of it; archiving takes it off
// sale. Every request and response is checked against openapi.yaml.

func openCatalogNode(t *testing.T, seed int) *node.Node {
	t.Helper()
	cfg := testConfig(t)
	cfg.SeedProducts = seed
	return openNode(t, cfg)
}

// testConfig is the settings of a test node: ports picked by the system,
// the test's store (embedded, or the one persistencetest names), the
// machine's Redis when REDIS_URL is set, and a public URL of its own.
func testConfig(t *testing.T) node.Config {
	t.Helper()
	cfg := node.DefaultConfig()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.MetricsAddr = "127.0.0.1:0"
	store := persistencetest.Config(t)
	cfg.DataDir, cfg.MongoURI = store.DataDir, store.URI
	if store.Database != "" {
		cfg.MongoDatabase = store.Database
	}
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.RedisURL = getenv("REDIS_URL")
	cfg.PublicURL = "https://shop.example"
	return cfg
}

// openNode opens a node with cfg and closes it when the test ends.
func openNode(t *testing.T, cfg node.Config) *node.Node {
	t.Helper()
	n := node.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, n.Open(t.Context()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		assert.NoError(t, n.Close(ctx))
	})
	return n
}

func newAPI(t *testing.T, n *node.Node) *api {
	return &api{t: t, base: n.URL(), client: &http.Client{Transport: gatewaytest.Transport(t, http.DefaultTransport), Timeout: 20 * time.Second}}
}

// userToken creates a verified account with roles and logs it in over HTTP.
func userToken(t *testing.T, n *node.Node, a *api, name string, roles ...string) (id, token string) {
	t.Helper()
	suffix := fmt.Sprint(time.Now().UnixNano() % 1e8)
	email := name + suffix + "@example.com"
	const password = "correct horse battery staple"
	acc, err := n.Accounts.CreateUser(t.Context(), name+"_"+suffix, email, password, roles)
	require.NoError(t, err)
	status, body, _ := a.do("POST", "/v1/auth/login", "", map[string]any{"email": email, "password": password})
	require.Equal(t, http.StatusOK, status, "%v", body)
	return acc.ID, body["access_token"].(string)
}

// searchIDs answers the ids of the first page of a search.
func searchIDs(a *api, query string) []string {
	status, body, _ := a.do("GET", "/v1/products?"+query, "", nil)
	require.Equal(a.t, http.StatusOK, status, "%v", body)
	var ids []string
	for _, it := range body["items"].([]any) {
		ids = append(ids, it.(map[string]any)["id"].(string))
	}
	return ids
}

func TestCatalogueOverHTTP(t *testing.T) {
	n := openCatalogNode(t, 0)
	a := newAPI(t, n)
	_, admin := userToken(t, n, a, "root", "admin")
	aliceID, alice := userToken(t, n, a, "alice")
	_, bob := userToken(t, n, a, "bob")

	// The category tree: three levels, built by an admin only.
	status, body, _ := a.do("POST", "/v1/admin/categories", alice, map[string]any{"name": "Electronics"})
	require.Equal(t, http.StatusForbidden, status, "%v", body)
	status, electronics, _ := a.do("POST", "/v1/admin/categories", admin, map[string]any{"name": "Electronics"})
	require.Equal(t, http.StatusCreated, status, "%v", electronics)
	assert.Equal(t, "electronics", electronics["slug"])
	status, audio, _ := a.do("POST", "/v1/admin/categories", admin, map[string]any{"name": "Audio", "parent_id": electronics["id"]})
	require.Equal(t, http.StatusCreated, status, "%v", audio)
	status, headphones, _ := a.do("POST", "/v1/admin/categories", admin, map[string]any{"name": "Headphones", "parent_id": audio["id"]})
	require.Equal(t, http.StatusCreated, status, "%v", headphones)
	status, body, _ = a.do("POST", "/v1/admin/categories", admin, map[string]any{"name": "Other", "slug": "audio"})
	assert.Equal(t, http.StatusUnprocessableEntity, status, "taken slug: %v", body)
	status, body, _ = a.do("POST", "/v1/admin/categories", admin, map[string]any{"name": "X", "id": "mine"})
	assert.Equal(t, http.StatusBadRequest, status, "server-owned id: %v", body)
	status, body, _ = a.do("GET", "/v1/categories", "", nil)
	require.Equal(t, http.StatusOK, status)
	roots := body["items"].([]any)
	require.Len(t, roots, 1)
	assert.Equal(t, "Audio", roots[0].(map[string]any)["children"].([]any)[0].(map[string]any)["name"])

	// Only vendors list products; opening a store works with the token the
	// user already has.
	product := map[string]any{
		"title": "Studio Wireless Headphones", "description": "Closed-back headphones with forty hours of battery.",
		"brand": "Sonix", "category_id": headphones["id"], "currency": "USD",
		"images":  []any{map[string]any{"url": "https://img.example/h1.jpg", "alt": "Black headphones"}},
		"options": []any{map[string]any{"name": "color", "values": []any{"black", "silver"}}},
		"variants": []any{
			map[string]any{"sku": "SONIX-H1-BLK", "options": map[string]any{"color": "black"}, "price": 12999, "compare_at_price": 15999},
			map[string]any{"sku": "SONIX-H1-SLV", "options": map[string]any{"color": "silver"}, "price": 13999},
		},
	}
	status, body, _ = a.do("POST", "/v1/vendor/products", alice, product)
	require.Equal(t, http.StatusForbidden, status, "not a vendor yet: %v", body)
	status, store, _ := a.do("POST", "/v1/vendors", alice, map[string]any{"store_name": "Alice Audio", "description": "Good sound."})
	require.Equal(t, http.StatusCreated, status, "%v", store)
	assert.Equal(t, aliceID, store["id"])
	status, body, _ = a.do("POST", "/v1/vendors", bob, map[string]any{"store_name": "alice  AUDIO"})
	assert.Equal(t, http.StatusUnprocessableEntity, status, "store name taken: %v", body)
	// Names that look the same are the same name: a Cyrillic о for the o,
	// fullwidth letters.
	for _, lookalike := range []string{"Alice Audi\u043e", "\uff21\uff4c\uff49\uff43\uff45 \uff21\uff55\uff44\uff49\uff4f"} {
		status, body, _ = a.do("POST", "/v1/vendors", bob, map[string]any{"store_name": lookalike})
		assert.Equal(t, http.StatusUnprocessableEntity, status, "%q is taken: %v", lookalike, body)
	}
	status, _, _ = a.do("POST", "/v1/vendors", bob, map[string]any{"store_name": "Bob's Bits"})
	require.Equal(t, http.StatusCreated, status)

	// Server-owned fields are refused by name; bad variants are 422.
	owned := clone(product)
	owned["vendor_id"] = "someone-else"
	owned["rating"] = map[string]any{"average": 5, "count": 1000}
	status, body, _ = a.do("POST", "/v1/vendor/products", alice, owned)
	require.Equal(t, http.StatusBadRequest, status, "%v", body)
	assert.Len(t, body["errors"], 2)
	bad := clone(product)
	bad["variants"] = []any{map[string]any{"sku": "SONIX-H1-BLK", "options": map[string]any{"color": "black"}, "price": -1}}
	status, body, _ = a.do("POST", "/v1/vendor/products", alice, bad)
	require.Equal(t, http.StatusUnprocessableEntity, status, "%v", body)

	status, created, hdr := a.do("POST", "/v1/vendor/products", alice, product)
	require.Equal(t, http.StatusCreated, status, "%v", created)
	id := created["id"].(string)
	assert.Equal(t, "/v1/vendor/products/"+id, hdr.Get("Location"))
	assert.Equal(t, "draft", created["status"])
	assert.Equal(t, aliceID, created["vendor_id"])

	// Drafts are not public.
	status, _, _ = a.do("GET", "/v1/products/"+id, "", nil)
	assert.Equal(t, http.StatusNotFound, status)

	// Stock, then publish.
	status, stock, _ := a.do("PUT", "/v1/vendor/products/"+id+"/variants/SONIX-H1-BLK/stock", alice, map[string]any{"on_hand": 5})
	require.Equal(t, http.StatusOK, status, "%v", stock)
	assert.EqualValues(t, 5, stock["available"])
	status, _, _ = a.do("PUT", "/v1/vendor/products/"+id+"/variants/NOPE/stock", alice, map[string]any{"on_hand": 5})
	assert.Equal(t, http.StatusNotFound, status, "unknown SKU")
	status, body, _ = a.do("PUT", "/v1/vendor/products/"+id+"/variants/SONIX-H1-BLK/stock", alice, map[string]any{"on_hand": -2})
	assert.Equal(t, http.StatusUnprocessableEntity, status, "%v", body)
	status, body, _ = a.do("PATCH", "/v1/vendor/products/"+id, alice, map[string]any{"status": "active"})
	require.Equal(t, http.StatusOK, status, "%v", body)
	assert.Equal(t, "active", body["status"])

	// Bob can neither see nor change Alice's product.
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/v1/vendor/products/" + id, nil},
		{"PATCH", "/v1/vendor/products/" + id, map[string]any{"title": "Mine now"}},
		{"DELETE", "/v1/vendor/products/" + id, nil},
		{"PUT", "/v1/vendor/products/" + id + "/variants/SONIX-H1-BLK/stock", map[string]any{"on_hand": 0}},
	} {
		status, body, _ := a.do(c.method, c.path, bob, c.body)
		assert.Equal(t, http.StatusNotFound, status, "%s %s by another vendor: %v", c.method, c.path, body)
	}
	status, body, _ = a.do("GET", "/v1/vendor/products", bob, nil)
	require.Equal(t, http.StatusOK, status)
	assert.Empty(t, body["items"])
	status, body, _ = a.do("GET", "/v1/vendor/products", alice, nil)
	require.Equal(t, http.StatusOK, status)
	require.Len(t, body["items"], 1)

	// Buyers find it: a typo in a long word, the parent category, facets.
	actorstest.WaitFor(t, 5*time.Second, "the product is searchable", func() bool {
		return slices.Contains(searchIDs(a, "q=headphnes"), id)
	})
	assert.Contains(t, searchIDs(a, "category="+url.QueryEscape(electronics["slug"].(string))), id)
	assert.Contains(t, searchIDs(a, "category="+url.QueryEscape(electronics["id"].(string))+"&brand=Sonix&min_price=10000&max_price=20000&in_stock=true"), id)
	assert.NotContains(t, searchIDs(a, "brand=Other"), id)
	assert.NotContains(t, searchIDs(a, "max_price=5000"), id)
	status, body, _ = a.do("GET", "/v1/products?q=wireless", "", nil)
	require.Equal(t, http.StatusOK, status)
	facets := body["facets"].(map[string]any)
	assert.Contains(t, facets["brand"], map[string]any{"value": "Sonix", "count": float64(1)})
	assert.Contains(t, facets["category"], map[string]any{"value": electronics["id"], "count": float64(1)})
	hit := body["items"].([]any)[0].(map[string]any)
	assert.Equal(t, map[string]any{"amount": float64(12999), "currency": "USD"}, hit["price"])

	status, body, _ = a.do("GET", "/v1/products/"+id, "", nil)
	require.Equal(t, http.StatusOK, status)
	variants := body["variants"].([]any)
	assert.EqualValues(t, 5, variants[0].(map[string]any)["available"])
	assert.EqualValues(t, 0, variants[1].(map[string]any)["available"])

	status, body, _ = a.do("GET", "/v1/vendors/"+aliceID, "", nil)
	require.Equal(t, http.StatusOK, status)
	assert.EqualValues(t, 1, body["product_count"])

	// Stock runs out: the in-stock filter follows.
	status, _, _ = a.do("PUT", "/v1/vendor/products/"+id+"/variants/SONIX-H1-BLK/stock", alice, map[string]any{"on_hand": 0})
	require.Equal(t, http.StatusOK, status)
	actorstest.WaitFor(t, 5*time.Second, "in_stock=false follows the stock", func() bool {
		return slices.Contains(searchIDs(a, "in_stock=false"), id) && !slices.Contains(searchIDs(a, "in_stock=true"), id)
	})

	// A lost update is refused with the version it was made from.
	status, body, _ = a.do("PATCH", "/v1/vendor/products/"+id, alice, map[string]any{"title": "Old edit", "expected_version": 1})
	assert.Equal(t, http.StatusConflict, status, "%v", body)

	// Archive: gone from the public side, kept for the vendor.
	status, body, _ = a.do("DELETE", "/v1/vendor/products/"+id, alice, nil)
	require.Equal(t, http.StatusOK, status, "%v", body)
	assert.Equal(t, "archived", body["status"])
	actorstest.WaitFor(t, time.Second, "the archived product is not found (the read model follows in milliseconds)", func() bool {
		status, _, _ = a.do("GET", "/v1/products/"+id, "", nil)
		return status == http.StatusNotFound
	})
	actorstest.WaitFor(t, 5*time.Second, "the archived product leaves search", func() bool {
		return !slices.Contains(searchIDs(a, "q=headphones"), id)
	})
	status, body, _ = a.do("GET", "/v1/vendor/products/"+id, alice, nil)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "archived", body["status"])

	// Categories with products stay; empty leaves go.
	status, _, _ = a.do("DELETE", "/v1/admin/categories/"+headphones["id"].(string), admin, nil)
	assert.Equal(t, http.StatusConflict, status, "the archived product still uses it")
	status, _, _ = a.do("DELETE", "/v1/admin/categories/"+electronics["id"].(string), admin, nil)
	assert.Equal(t, http.StatusConflict, status, "it has sub-categories")

	// Bad query parameters are 422 problems naming each.
	for _, q := range []string{"limit=1000", "min_price=abc", "sort=cheapest", "cursor=garbage", "in_stock=maybe", "min_price=500&max_price=100"} {
		status, body, _ := a.do("GET", "/v1/products?"+q, "", nil)
		assert.Equal(t, http.StatusUnprocessableEntity, status, "%s: %v", q, body)
	}
	status, body, _ = a.do("GET", "/v1/products?category=no-such-category", "", nil)
	require.Equal(t, http.StatusOK, status)
	assert.Empty(t, body["items"])
}

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// A node started with --seed serves a demo catalogue: every page of a
// browse is new, each sort holds its order, filters and facets agree.
func TestSeededCatalogue(t *testing.T) {
	n := openCatalogNode(t, 60)
	a := newAPI(t, n)
	var total float64
	actorstest.WaitFor(t, 30*time.Second, "the demo catalogue is indexed", func() bool {
		_, body, _ := a.do("GET", "/v1/products?limit=1", "", nil)
		total, _ = body["total"].(float64)
		return total == 60
	})

	for _, sort := range []string{"newest", "price_asc", "price_desc"} {
		seen := map[string]bool{}
		var prices []float64
		cursor := ""
		for pages := 0; ; pages++ {
			require.Less(t, pages, 20, "paging does not end")
			status, body, _ := a.do("GET", "/v1/products?limit=7&sort="+sort+"&cursor="+url.QueryEscape(cursor), "", nil)
			require.Equal(t, http.StatusOK, status, "%v", body)
			for _, it := range body["items"].([]any) {
				item := it.(map[string]any)
				id := item["id"].(string)
				require.False(t, seen[id], "%s seen twice with sort %s", id, sort)
				seen[id] = true
				prices = append(prices, item["price"].(map[string]any)["amount"].(float64))
			}
			next, _ := body["next_cursor"].(string)
			if next == "" {
				break
			}
			cursor = next
		}
		assert.Len(t, seen, 60, "sort %s", sort)
		switch sort {
		case "price_asc":
			assert.True(t, slices.IsSorted(prices), "ascending prices")
		case "price_desc":
			assert.True(t, slices.IsSortedFunc(prices, func(x, y float64) int { return int(y - x) }), "descending prices")
		}
	}

	// A brand facet count is what filtering by that brand finds.
	status, body, _ := a.do("GET", "/v1/products?limit=100", "", nil)
	require.Equal(t, http.StatusOK, status)
	facets := body["facets"].(map[string]any)
	brand := facets["brand"].([]any)[0].(map[string]any)
	status, byBrand, _ := a.do("GET", "/v1/products?limit=100&brand="+url.QueryEscape(brand["value"].(string)), "", nil)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, brand["count"], byBrand["total"])
	// A root category counts its sub-categories' products.
	status, tree, _ := a.do("GET", "/v1/categories", "", nil)
	require.Equal(t, http.StatusOK, status)
	counts := map[string]float64{}
	for _, c := range facets["category"].([]any) {
		counts[c.(map[string]any)["value"].(string)] = c.(map[string]any)["count"].(float64)
	}
	var rootsSum float64
	for _, r := range tree["items"].([]any) {
		rootsSum += counts[r.(map[string]any)["id"].(string)]
	}
	assert.Equal(t, float64(60), rootsSum, "root counts add up to the catalogue")
	// In-stock and out-of-stock split the catalogue.
	_, inStock, _ := a.do("GET", "/v1/products?in_stock=true&limit=1", "", nil)
	_, outStock, _ := a.do("GET", "/v1/products?in_stock=false&limit=1", "", nil)
	assert.Equal(t, float64(60), inStock["total"].(float64)+outStock["total"].(float64))
}
