package node_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium/actors/actorstest"
	"github.com/emporium-shop/emporium/node"
)

// Issue 5's "done when", over HTTP against a whole node: a shopper fills,
// edits and empties a cart and moves wishlist items into it, while a second
// connection sees cart.updated over the websocket; nobody reads or changes
// another user's cart or wishlist; the cart survives a node restart.

// listProduct makes a vendor with one active product of two variants (A in
// stock 5, B in stock 3) and answers the product id and its SKUs.
func listProduct(t *testing.T, n *node.Node, a *api, sku string) (id string, skus [2]string) {
	t.Helper()
	id, skus, _ = listProductBy(t, n, a, sku)
	return id, skus
}

// listProductBy is listProduct, answering the vendor's token too.
func listProductBy(t *testing.T, n *node.Node, a *api, sku string) (id string, skus [2]string, vendor string) {
	t.Helper()
	_, vendor = userToken(t, n, a, "vendor")
	status, body, _ := a.do("POST", "/v1/vendors", vendor, map[string]any{"store_name": "Store " + sku})
	require.Equal(t, http.StatusCreated, status, "%v", body)
	_, admin := userToken(t, n, a, "admin", "admin")
	status, cat, _ := a.do("POST", "/v1/admin/categories", admin, map[string]any{"name": "Mugs " + sku})
	require.Equal(t, http.StatusCreated, status, "%v", cat)
	skus = [2]string{sku + "-A", sku + "-B"}
	status, p, _ := a.do("POST", "/v1/vendor/products", vendor, map[string]any{
		"title": "Stoneware Mug", "brand": "Kiln", "category_id": cat["id"], "currency": "USD", "status": "active",
		"options": []any{map[string]any{"name": "color", "values": []any{"blue", "red"}}},
		"variants": []any{
			map[string]any{"sku": skus[0], "options": map[string]any{"color": "blue"}, "price": 1500},
			map[string]any{"sku": skus[1], "options": map[string]any{"color": "red"}, "price": 1700},
		},
	})
	require.Equal(t, http.StatusCreated, status, "%v", p)
	id = p["id"].(string)
	for i, onHand := range []int{5, 3} {
		status, body, _ = a.do("PUT", "/v1/vendor/products/"+id+"/variants/"+skus[i]+"/stock", vendor, map[string]any{"on_hand": onHand})
		require.Equal(t, http.StatusOK, status, "%v", body)
	}
	actorstest.WaitFor(t, 5*time.Second, "the product is public", func() bool {
		status, _, _ := a.do("GET", "/v1/products/"+id, "", nil)
		return status == http.StatusOK
	})
	return id, skus, vendor
}

// liveConn opens a websocket with a ticket, as a browser on the shop's
// origin does, and collects its messages.
type liveConn struct {
	mu   sync.Mutex
	msgs []map[string]any
	conn *websocket.Conn
}

func dialLive(t *testing.T, a *api, token string) *liveConn {
	t.Helper()
	status, body, _ := a.do("POST", "/v1/ws/tickets", token, nil)
	require.Equal(t, http.StatusOK, status, "%v", body)
	u := "ws" + strings.TrimPrefix(a.base, "http") + "/v1/ws?ticket=" + body["ticket"].(string)
	conn, resp, err := websocket.DefaultDialer.Dial(u, http.Header{"Origin": {"https://shop.example"}})
	require.NoError(t, err)
	_ = resp.Body.Close()
	lc := &liveConn{conn: conn}
	go func() {
		for {
			var m map[string]any
			if err := conn.ReadJSON(&m); err != nil {
				return
			}
			lc.mu.Lock()
			lc.msgs = append(lc.msgs, m)
			lc.mu.Unlock()
		}
	}()
	t.Cleanup(func() { _ = conn.Close() })
	return lc
}

// waitSeq waits for a cart.updated message with at least seq and answers it.
func (lc *liveConn) waitSeq(t *testing.T, seq float64) map[string]any {
	t.Helper()
	var found map[string]any
	actorstest.WaitFor(t, 5*time.Second, "a cart.updated push", func() bool {
		lc.mu.Lock()
		defer lc.mu.Unlock()
		for _, m := range lc.msgs {
			if m["type"] == "cart.updated" && m["seq"].(float64) >= seq {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

func TestCartWishlistsAndLiveUpdates(t *testing.T) {
	n := openCatalogNode(t, 0)
	a := newAPI(t, n)
	productID, skus := listProduct(t, n, a, "MUG")
	_, shopper := userToken(t, n, a, "shopper")
	_, other := userToken(t, n, a, "other")

	status, cart, _ := a.do("GET", "/v1/cart", shopper, nil)
	require.Equal(t, http.StatusOK, status, "%v", cart)
	assert.Empty(t, cart["lines"])
	device := dialLive(t, a, shopper)
	first := device.waitSeq(t, 0)
	assert.Equal(t, float64(0), first["data"].(map[string]any)["item_count"], "the current cart comes first")

	// Add, merge, and the limits.
	status, cart, _ = a.do("POST", "/v1/cart/items", shopper, map[string]any{"sku": skus[0], "quantity": 2})
	require.Equal(t, http.StatusOK, status, "%v", cart)
	status, cart, _ = a.do("POST", "/v1/cart/items", shopper, map[string]any{"sku": skus[0]})
	require.Equal(t, http.StatusOK, status, "%v", cart)
	lines := cart["lines"].([]any)
	require.Len(t, lines, 1, "the same SKU merges into one line")
	line := lines[0].(map[string]any)
	assert.Equal(t, float64(3), line["quantity"])
	assert.Equal(t, productID, line["product_id"])
	assert.Equal(t, "Stoneware Mug", line["title"])
	assert.Equal(t, map[string]any{"amount": float64(4500), "currency": "USD"}, line["line_total"])
	assert.Equal(t, float64(3), cart["item_count"])
	pushed := device.waitSeq(t, cart["seq"].(float64))
	assert.Equal(t, float64(3), pushed["data"].(map[string]any)["item_count"], "the other connection sees the change")

	status, body, _ := a.do("POST", "/v1/cart/items", shopper, map[string]any{"sku": skus[0], "quantity": 3})
	assert.Equal(t, http.StatusConflict, status, "6 of 5 in stock: %v", body)
	assert.Equal(t, "out_of_stock", body["code"])
	status, body, _ = a.do("POST", "/v1/cart/items", shopper, map[string]any{"sku": skus[1], "quantity": 1, "unit_price": map[string]any{"amount": 1, "currency": "USD"}})
	assert.Equal(t, http.StatusBadRequest, status, "a client's price is refused: %v", body)
	status, body, _ = a.do("POST", "/v1/cart/items", shopper, map[string]any{"sku": "NO-SUCH-SKU"})
	assert.Equal(t, http.StatusUnprocessableEntity, status, "%v", body)
	lineID := line["line_id"].(string)
	for _, q := range []int{0, 100} {
		status, body, _ = a.do("PATCH", "/v1/cart/items/"+lineID, shopper, map[string]any{"quantity": q})
		assert.Equal(t, http.StatusUnprocessableEntity, status, "quantity %d: %v", q, body)
	}
	status, cart, _ = a.do("PATCH", "/v1/cart/items/"+lineID, shopper, map[string]any{"quantity": 1})
	require.Equal(t, http.StatusOK, status, "%v", cart)
	assert.Equal(t, float64(1), cart["item_count"])

	// Another user has a cart of their own and cannot touch this one's lines.
	status, body, _ = a.do("GET", "/v1/cart", other, nil)
	require.Equal(t, http.StatusOK, status)
	assert.Empty(t, body["lines"])
	status, _, _ = a.do("PATCH", "/v1/cart/items/"+lineID, other, map[string]any{"quantity": 2})
	assert.Equal(t, http.StatusNotFound, status)
	status, _, _ = a.do("DELETE", "/v1/cart/items/"+lineID, other, nil)
	assert.Equal(t, http.StatusNotFound, status)

	// Wishlists: a named list, an item, moved into the cart.
	status, list, hdr := a.do("POST", "/v1/wishlists", shopper, map[string]any{"name": "Gifts"})
	require.Equal(t, http.StatusCreated, status, "%v", list)
	listID := list["id"].(string)
	assert.Equal(t, "/v1/wishlists/"+listID, hdr.Get("Location"))
	status, body, _ = a.do("POST", "/v1/wishlists", shopper, map[string]any{"name": "gifts"})
	assert.Equal(t, http.StatusUnprocessableEntity, status, "names are unique ignoring case: %v", body)
	status, list, _ = a.do("POST", "/v1/wishlists/"+listID+"/items", shopper, map[string]any{"product_id": productID, "sku": skus[1]})
	require.Equal(t, http.StatusOK, status, "%v", list)
	require.Len(t, list["items"], 1)
	status, body, _ = a.do("POST", "/v1/wishlists/"+listID+"/items", shopper, map[string]any{"product_id": "no-such-product"})
	assert.Equal(t, http.StatusUnprocessableEntity, status, "%v", body)
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/wishlists/" + listID},
		{"DELETE", "/v1/wishlists/" + listID},
		{"POST", "/v1/wishlists/" + listID + "/items/" + productID + "/move-to-cart"},
	} {
		status, body, _ := a.do(c.method, c.path, other, nil)
		assert.Equal(t, http.StatusNotFound, status, "%s %s by another user: %v", c.method, c.path, body)
	}
	status, cart, _ = a.do("POST", "/v1/wishlists/"+listID+"/items/"+productID+"/move-to-cart", shopper, nil)
	require.Equal(t, http.StatusOK, status, "%v", cart)
	assert.Len(t, cart["lines"], 2)
	assert.Equal(t, float64(2), cart["item_count"])
	status, list, _ = a.do("GET", "/v1/wishlists/"+listID, shopper, nil)
	require.Equal(t, http.StatusOK, status)
	assert.Empty(t, list["items"], "the moved item left the wishlist")
	status, lists, _ := a.do("GET", "/v1/wishlists", shopper, nil)
	require.Equal(t, http.StatusOK, status)
	assert.Len(t, lists["items"], 1)
	device.waitSeq(t, cart["seq"].(float64))

	// Empty the cart: a line, then the rest.
	status, cart, _ = a.do("DELETE", "/v1/cart/items/"+lineID, shopper, nil)
	require.Equal(t, http.StatusOK, status, "%v", cart)
	assert.Len(t, cart["lines"], 1)
	status, cart, _ = a.do("DELETE", "/v1/cart", shopper, nil)
	require.Equal(t, http.StatusOK, status, "%v", cart)
	assert.Empty(t, cart["lines"])
	assert.Equal(t, float64(0), device.waitSeq(t, cart["seq"].(float64))["data"].(map[string]any)["item_count"])

	// Bad websocket requests are refused before anything happens.
	_, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(a.base, "http")+"/v1/ws?ticket=forged", http.Header{"Origin": {"https://shop.example"}})
	require.Error(t, err)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	status, ticket, _ := a.do("POST", "/v1/ws/tickets", shopper, nil)
	require.Equal(t, http.StatusOK, status)
	_, resp, err = websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(a.base, "http")+"/v1/ws?ticket="+ticket["ticket"].(string), http.Header{"Origin": {"https://evil.example"}})
	require.Error(t, err)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
}

// Two devices of one shopper add at once: the grain serialises them, and
// the cart holds exactly what was accepted. Then the node restarts and the
// cart is still there.
func TestCartRaceAndRestart(t *testing.T) {
	cfg := node.DefaultConfig()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.RedisURL = getenv("REDIS_URL")
	cfg.PublicURL = "https://shop.example"
	if uri := getenv("MONGODB_URI"); uri != "" {
		cfg.MongoURI, cfg.MongoDatabase = uri, "emporium_restart_"+time.Now().Format("150405.000000")
		cfg.MongoDatabase = strings.ReplaceAll(cfg.MongoDatabase, ".", "_")
	}
	open := func() *node.Node {
		n := node.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		require.NoError(t, n.Open(t.Context()))
		return n
	}
	n := open()
	a := newAPI(t, n)
	_, skus := listProduct(t, n, a, "RACE")
	_, shopper := userToken(t, n, a, "racer")

	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := map[string]int{}
	for device := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 4 {
				sku := skus[(device+i)%2]
				status, _, _ := a.do("POST", "/v1/cart/items", shopper, map[string]any{"sku": sku, "quantity": 1})
				if status == http.StatusOK {
					mu.Lock()
					accepted[sku]++
					mu.Unlock()
				} else {
					assert.Equal(t, http.StatusConflict, status, "only running out of stock may refuse an add")
				}
			}
		}()
	}
	wg.Wait()
	status, cart, _ := a.do("GET", "/v1/cart", shopper, nil)
	require.Equal(t, http.StatusOK, status)
	before := quantities(cart)
	assert.Equal(t, accepted, before, "every accepted add is in the cart, once")

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	require.NoError(t, n.Close(ctx))
	n = open()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		assert.NoError(t, n.Close(ctx))
	})
	a.base = n.URL()
	status, cart, _ = a.do("GET", "/v1/cart", shopper, nil)
	require.Equal(t, http.StatusOK, status, "the token is still good: same keys, same session")
	assert.Equal(t, before, quantities(cart), "the cart survived the restart")
}

func quantities(cart map[string]any) map[string]int {
	out := map[string]int{}
	for _, l := range cart["lines"].([]any) {
		line := l.(map[string]any)
		out[line["sku"].(string)] = int(line["quantity"].(float64))
	}
	return out
}
