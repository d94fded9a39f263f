package node_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium/actors/actorstest"
	"github.com/emporium-shop/emporium/mail/mailtest"
)

// Issue 12's back-in-stock alerts, over HTTP against a whole node: buyers
// subscribe to a sold-out variant; the vendor restocks it through the API;
// each subscriber gets exactly one email (over real SMTP) and one
// stock.changed push, and the subscription is gone; a second restock sends
// nothing. A retried subscribe is idempotent; bad input answers its
// declared problem and changes nothing; nobody sees or removes another
// user's alert. Every request and response is checked against
// openapi.yaml.

// stockChanged answers the stock.changed pushes a connection received.
func (lc *liveConn) stockChanged() []map[string]any {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	var out []map[string]any
	for _, m := range lc.msgs {
		if m["type"] == "stock.changed" {
			out = append(out, m)
		}
	}
	return out
}

func myAlerts(t *testing.T, a *api, token string) []any {
	t.Helper()
	status, body, _ := a.do("GET", "/v1/me/alerts", token, nil)
	require.Equal(t, http.StatusOK, status, "%v", body)
	return body["items"].([]any)
}

func TestBackInStockAlerts(t *testing.T) {
	smtp := mailtest.NewServer(t)
	cfg := testConfig(t)
	cfg.SMTPURL = smtp.URL()
	n := openNode(t, cfg)
	a := newAPI(t, n)
	productID, skus, vendor := listProductBy(t, n, a, "ALERT")
	otherProduct, otherSKUs := listProduct(t, n, a, "OTHER")
	_ = otherProduct
	soldOut := skus[1]
	stockPath := "/v1/vendor/products/" + productID + "/variants/" + soldOut + "/stock"
	status, body, _ := a.do("PUT", stockPath, vendor, map[string]any{"on_hand": 0})
	require.Equal(t, http.StatusOK, status, "%v", body)
	alertPath := "/v1/products/" + productID + "/variants/" + soldOut + "/alerts"

	buyers := map[string]string{}
	emails := map[string]string{}
	live := map[string]*liveConn{}
	for _, name := range []string{"ann", "bob"} {
		_, token := userToken(t, n, a, name)
		buyers[name] = token
		status, me, _ := a.do("GET", "/v1/me", token, nil)
		require.Equal(t, http.StatusOK, status, "%v", me)
		emails[name] = me["email"].(string)
		live[name] = dialLive(t, a, token)
	}
	_, carol := userToken(t, n, a, "carol")

	// Subscribe: 201, then 200 for the same alert (a retry).
	for _, name := range []string{"ann", "bob"} {
		status, alert, h := a.do("POST", alertPath, buyers[name], nil)
		require.Equal(t, http.StatusCreated, status, "%v", alert)
		assert.Equal(t, alertPath, h.Get("Location"))
		assert.Equal(t, map[string]any{"product_id": productID, "sku": soldOut, "status": "active",
			"created_at": alert["created_at"]}, alert)
	}
	status, again, _ := a.do("POST", alertPath, buyers["ann"], nil)
	require.Equal(t, http.StatusOK, status, "%v", again)
	assert.Equal(t, soldOut, again["sku"])

	// Each sees their own alert, and only theirs.
	for _, name := range []string{"ann", "bob"} {
		actorstest.WaitFor(t, 5*time.Second, name+"'s alert listed", func() bool { return len(myAlerts(t, a, buyers[name])) == 1 })
		assert.Equal(t, soldOut, myAlerts(t, a, buyers[name])[0].(map[string]any)["sku"])
	}
	assert.Empty(t, myAlerts(t, a, carol), "carol sees nobody's alerts")

	// Bad input answers its declared problem and subscribes nobody.
	for _, c := range []struct {
		name, path, token string
		status            int
	}{
		{"an in-stock SKU", "/v1/products/" + productID + "/variants/" + skus[0] + "/alerts", carol, http.StatusConflict},
		{"an unknown SKU", "/v1/products/" + productID + "/variants/NOPE-1/alerts", carol, http.StatusNotFound},
		{"another product's SKU", "/v1/products/" + productID + "/variants/" + otherSKUs[0] + "/alerts", carol, http.StatusNotFound},
		{"an unknown product", "/v1/products/nope/variants/" + soldOut + "/alerts", carol, http.StatusNotFound},
		{"anonymous", alertPath, "", http.StatusUnauthorized},
	} {
		status, problem, h := a.do("POST", c.path, c.token, nil)
		assert.Equal(t, c.status, status, "%s: %v", c.name, problem)
		if c.status == http.StatusConflict {
			assert.Contains(t, problem["detail"], "in stock", "the problem says why")
		}
		assert.Contains(t, h.Get("Content-Type"), "application/problem+json", c.name)
		status, _, _ = a.do("DELETE", c.path, c.token, nil)
		if c.status != http.StatusConflict {
			assert.Equal(t, c.status, status, "DELETE of %s", c.name)
		}
	}
	status, _, _ = a.do("GET", "/v1/me/alerts", "", nil)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Empty(t, myAlerts(t, a, carol), "bad requests subscribed nobody")

	// BOLA: carol's DELETE of the same path removes only her own (absent)
	// alert; ann's stays.
	status, _, _ = a.do("DELETE", alertPath, carol, nil)
	assert.Equal(t, http.StatusNoContent, status)
	assert.Len(t, myAlerts(t, a, buyers["ann"]), 1)

	// Carol subscribes and unsubscribes: she is not told of the restock.
	status, body, _ = a.do("POST", alertPath, carol, nil)
	require.Equal(t, http.StatusCreated, status, "%v", body)
	status, _, _ = a.do("DELETE", alertPath, carol, nil)
	require.Equal(t, http.StatusNoContent, status)
	status, _, _ = a.do("DELETE", alertPath, carol, nil)
	require.Equal(t, http.StatusNoContent, status, "a repeated DELETE is fine")

	// The vendor restocks: one mail and one push per subscriber.
	status, body, _ = a.do("PUT", stockPath, vendor, map[string]any{"on_hand": 4})
	require.Equal(t, http.StatusOK, status, "%v", body)
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	for _, name := range []string{"ann", "bob"} {
		msg, err := smtp.Wait(ctx, emails[name])
		require.NoError(t, err, "%s's mail", name)
		assert.Equal(t, "Back in stock: Stoneware Mug", msg.Subject)
		assert.Contains(t, msg.Text, "Stoneware Mug (color: red) is back in stock")
		assert.Contains(t, msg.Text, "https://shop.example/v1/products/"+productID)
		actorstest.WaitFor(t, 5*time.Second, name+"'s stock.changed push", func() bool { return len(live[name].stockChanged()) > 0 })
		push := live[name].stockChanged()[0]
		assert.Equal(t, soldOut, push["id"])
		assert.Equal(t, map[string]any{"product_id": productID, "sku": soldOut, "available": float64(4), "in_stock": true}, push["data"])
		actorstest.WaitFor(t, 5*time.Second, name+"'s alert gone", func() bool { return len(myAlerts(t, a, buyers[name])) == 0 })
	}

	// Sold out and back again: nobody is subscribed any more, so nothing
	// is sent.
	status, body, _ = a.do("PUT", stockPath, vendor, map[string]any{"on_hand": 0})
	require.Equal(t, http.StatusOK, status, "%v", body)
	status, body, _ = a.do("PUT", stockPath, vendor, map[string]any{"on_hand": 2})
	require.Equal(t, http.StatusOK, status, "%v", body)
	time.Sleep(500 * time.Millisecond)
	sent := map[string]int{}
	for _, m := range smtp.Messages() {
		if strings.HasPrefix(m.Subject, "Back in stock") {
			for _, to := range m.To {
				sent[to]++
			}
		}
	}
	assert.Equal(t, map[string]int{emails["ann"]: 1, emails["bob"]: 1}, sent, "exactly one mail per subscriber, none to carol")
	for _, name := range []string{"ann", "bob"} {
		assert.Len(t, live[name].stockChanged(), 1, "exactly one push to %s", name)
	}
}

// TestAlertLimitAndPages: a user holds at most MaxAlertsPerUser (50)
// active alerts, listed page by page; the 51st is a conflict until one is
// removed.
func TestAlertLimitAndPages(t *testing.T) {
	n := openCatalogNode(t, 0)
	a := newAPI(t, n)
	_, vendor := userToken(t, n, a, "vendor")
	status, body, _ := a.do("POST", "/v1/vendors", vendor, map[string]any{"store_name": "Limits"})
	require.Equal(t, http.StatusCreated, status, "%v", body)
	_, admin := userToken(t, n, a, "admin", "admin")
	status, cat, _ := a.do("POST", "/v1/admin/categories", admin, map[string]any{"name": "Many"})
	require.Equal(t, http.StatusCreated, status, "%v", cat)
	colours, sizes := []any{}, []any{}
	for i := range 8 {
		colours = append(colours, fmt.Sprint("c", i))
	}
	for i := range 7 {
		sizes = append(sizes, fmt.Sprint("s", i))
	}
	var variants []any
	var skus []string
	for _, c := range colours {
		for _, s := range sizes {
			sku := fmt.Sprintf("LIM-%s-%s", c, s)
			skus = append(skus, sku)
			variants = append(variants, map[string]any{"sku": sku, "options": map[string]any{"color": c, "size": s}, "price": 100})
		}
	}
	status, p, _ := a.do("POST", "/v1/vendor/products", vendor, map[string]any{
		"title": "Many", "brand": "Kiln", "category_id": cat["id"], "currency": "USD", "status": "active",
		"options":  []any{map[string]any{"name": "color", "values": colours}, map[string]any{"name": "size", "values": sizes}},
		"variants": variants,
	})
	require.Equal(t, http.StatusCreated, status, "%v", p)
	id := p["id"].(string)
	actorstest.WaitFor(t, 5*time.Second, "the product is public", func() bool {
		status, _, _ := a.do("GET", "/v1/products/"+id, "", nil)
		return status == http.StatusOK
	})
	_, buyer := userToken(t, n, a, "buyer")
	path := func(sku string) string { return "/v1/products/" + id + "/variants/" + sku + "/alerts" }
	for _, sku := range skus[:50] {
		status, body, _ := a.do("POST", path(sku), buyer, nil) // never stocked: sold out
		require.Equal(t, http.StatusCreated, status, "%v", body)
	}
	var seen []string
	actorstest.WaitFor(t, 10*time.Second, "50 alerts listed, 20 a page", func() bool {
		seen = nil
		cursor := ""
		for {
			status, page, _ := a.do("GET", "/v1/me/alerts?limit=20&cursor="+cursor, buyer, nil)
			require.Equal(t, http.StatusOK, status, "%v", page)
			for _, it := range page["items"].([]any) {
				seen = append(seen, it.(map[string]any)["sku"].(string))
			}
			next, _ := page["next_cursor"].(string)
			if next == "" {
				return len(seen) == 50
			}
			cursor = url.QueryEscape(next)
		}
	})
	assert.ElementsMatch(t, skus[:50], seen, "every alert once across the pages")

	status, problem, _ := a.do("POST", path(skus[50]), buyer, nil)
	assert.Equal(t, http.StatusConflict, status, "%v", problem)
	status, again, _ := a.do("POST", path(skus[0]), buyer, nil)
	assert.Equal(t, http.StatusOK, status, "one held already is answered, not refused: %v", again)

	status, _, _ = a.do("DELETE", path(skus[0]), buyer, nil)
	require.Equal(t, http.StatusNoContent, status)
	actorstest.WaitFor(t, 5*time.Second, "room for one more", func() bool {
		status, _, _ := a.do("POST", path(skus[50]), buyer, nil)
		return status == http.StatusCreated
	})
}
