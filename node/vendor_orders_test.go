package node_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium/actors/actorstest"
	"github.com/emporium-shop/emporium/mail/mailtest"
)

// Issue 12, item 1, over HTTP against a whole node: two vendors in one
// order each list only their own lines, with the shipping address and the
// fulfilment status and nothing of the payment; pages by cursor; filter by
// fulfilment status; each is told of the order once by mail and once by a
// vendor.order.created push; and another vendor (404), a buyer (403) and
// an anonymous caller (401) are refused.
func TestVendorOrders(t *testing.T) {
	smtp := mailtest.NewServer(t)
	n := openOrderNode(t, smtp)
	a := newAPI(t, n)
	_, skusA, vendorA := listProductBy(t, n, a, "VNA")
	_, skusB, vendorB := listProductBy(t, n, a, "VNB")
	emailOf := func(token string) (id, email string) {
		_, me, _ := a.do("GET", "/v1/me", token, nil)
		return me["id"].(string), me["email"].(string)
	}
	idA, mailA := emailOf(vendorA)
	idB, mailB := emailOf(vendorB)
	_, buyer := userToken(t, n, a, "buyer")
	addr := addAddress(t, a, buyer)
	liveA, liveB := dialLive(t, a, vendorA), dialLive(t, a, vendorB)

	place := func(key string, lines map[string]int) string {
		t.Helper()
		fill(t, a, buyer, lines)
		status, o := a.order(buyer, key, map[string]any{
			"shipping_address_id": addr, "shipping_method": "standard",
			"payment": map[string]any{"provider": "sandbox", "token": "tok_visa"},
		})
		require.Equal(t, http.StatusCreated, status, "%v", o)
		require.Equal(t, "confirmed", o["status"], "%v", o)
		return o["id"].(string)
	}
	// The first order holds two lines of A and one of B; the second, newer,
	// one line of A.
	both := place("vo-1", map[string]int{skusA[0]: 1, skusA[1]: 2, skusB[0]: 1})
	onlyA := place("vo-2", map[string]int{skusA[0]: 1})

	list := func(token, query string) (int, []map[string]any, string) {
		t.Helper()
		status, page, _ := a.do("GET", "/v1/vendor/orders"+query, token, nil)
		var items []map[string]any
		for _, it := range asList(page["items"]) {
			items = append(items, it.(map[string]any))
		}
		cursor, _ := page["next_cursor"].(string)
		return status, items, cursor
	}
	ids := func(items []map[string]any) []string {
		var out []string
		for _, it := range items {
			out = append(out, it["id"].(string))
		}
		return out
	}
	actorstest.WaitFor(t, 5*time.Second, "both orders in A's list", func() bool {
		_, items, _ := list(vendorA, "")
		return len(items) == 2
	})
	actorstest.WaitFor(t, 5*time.Second, "the first order in B's list", func() bool {
		_, items, _ := list(vendorB, "")
		return len(items) == 1
	})

	// Each vendor sees only their lines, where to ship, and no payment.
	status, itemsA, _ := list(vendorA, "")
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, []string{onlyA, both}, ids(itemsA), "newest first")
	_, itemsB, _ := list(vendorB, "")
	assert.Equal(t, []string{both}, ids(itemsB))
	linesOf := func(o map[string]any, vendor string) []string {
		var skus []string
		for _, l := range asList(o["lines"]) {
			l := l.(map[string]any)
			assert.Equal(t, vendor, l["vendor_id"], "only the vendor's lines")
			assert.Equal(t, "unfulfilled", l["fulfillment_status"])
			skus = append(skus, l["sku"].(string))
		}
		slices.Sort(skus)
		return skus
	}
	assert.Equal(t, []string{skusA[0], skusA[1]}, linesOf(itemsA[1], idA))
	assert.Equal(t, []string{skusB[0]}, linesOf(itemsB[0], idB))
	for _, o := range append(slices.Clone(itemsA), itemsB...) {
		for _, key := range []string{"payment", "payment_status", "total", "tax", "shipping", "billing_address"} {
			assert.NotContains(t, o, key, "no payment details")
		}
		assert.Equal(t, "confirmed", o["status"])
		assert.Equal(t, "unfulfilled", o["fulfillment_status"])
		assert.Equal(t, "1 Market St", o["shipping_address"].(map[string]any)["line1"])
	}
	assert.Equal(t, float64(1500+2*1700), itemsA[1]["subtotal"].(map[string]any)["amount"], "the vendor's lines only")

	// Pages by cursor.
	status, page1, cursor := list(vendorA, "?limit=1")
	require.Equal(t, http.StatusOK, status)
	require.NotEmpty(t, cursor)
	_, page2, last := list(vendorA, "?limit=1&cursor="+cursor)
	assert.Equal(t, []string{onlyA}, ids(page1))
	assert.Equal(t, []string{both}, ids(page2))
	assert.Empty(t, last, "the last page has no next_cursor")

	// One order of the vendor's.
	status, one, _ := a.do("GET", "/v1/vendor/orders/"+both, vendorA, nil)
	require.Equal(t, http.StatusOK, status, "%v", one)
	assert.Equal(t, []string{skusA[0], skusA[1]}, linesOf(one, idA))

	// Each vendor was mailed once per order, and pushed once.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := smtp.Wait(ctx, mailB)
	require.NoError(t, err)
	actorstest.WaitFor(t, 10*time.Second, "A's two mails", func() bool { return len(mailsTo(smtp, mailA)) == 2 })
	pushes := func(lc *liveConn) map[string]int {
		lc.mu.Lock()
		defer lc.mu.Unlock()
		out := map[string]int{}
		for _, m := range lc.msgs {
			if m["type"] == "vendor.order.created" {
				out[m["id"].(string)]++
			}
		}
		return out
	}
	actorstest.WaitFor(t, 5*time.Second, "the pushes", func() bool {
		return len(pushes(liveA)) == 2 && len(pushes(liveB)) == 1
	})
	time.Sleep(300 * time.Millisecond) // room for a duplicate to show
	assert.Equal(t, map[string]int{both: 1, onlyA: 1}, pushes(liveA))
	assert.Equal(t, map[string]int{both: 1}, pushes(liveB))
	liveB.mu.Lock()
	for _, m := range liveB.msgs {
		if m["type"] == "vendor.order.created" {
			assert.Equal(t, []string{skusB[0]}, linesOf(m["data"].(map[string]any), idB), "the push holds B's lines only")
		}
	}
	liveB.mu.Unlock()
	mailsA, mailsB := mailsTo(smtp, mailA), mailsTo(smtp, mailB)
	require.Len(t, mailsA, 2)
	require.Len(t, mailsB, 1)
	assert.Contains(t, mailsB[0].Subject, both)
	assert.Contains(t, mailsB[0].Text, "Stoneware Mug")
	assert.Contains(t, mailsB[0].Text, "1 Market St", "where to ship")
	assert.Contains(t, mailsB[0].Text, "/v1/vendor/orders/"+both)
	assert.NotContains(t, mailsB[0].Text, "Total", "no payment amounts")

	// The filter.
	status, unfulfilled, _ := list(vendorA, "?fulfillment_status=unfulfilled")
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, []string{onlyA, both}, ids(unfulfilled))
	_, shipped, _ := list(vendorA, "?fulfillment_status=shipped")
	assert.Empty(t, shipped)
	status, _, _ = list(vendorA, "?fulfillment_status=lost")
	assert.Equal(t, http.StatusUnprocessableEntity, status)

	// Cancelled, the order stays in A's list, its lines cancelled.
	status, cancelled, _ := a.do("POST", "/v1/orders/"+onlyA+"/cancel", buyer, nil)
	require.Equal(t, http.StatusOK, status, "%v", cancelled)
	actorstest.WaitFor(t, 5*time.Second, "the cancelled order under the filter", func() bool {
		_, items, _ := list(vendorA, "?fulfillment_status=cancelled")
		return slices.Equal(ids(items), []string{onlyA})
	})
	_, o, _ := a.do("GET", "/v1/vendor/orders/"+onlyA, vendorA, nil)
	assert.Equal(t, "cancelled", o["status"])
	_, unfulfilled, _ = list(vendorA, "?fulfillment_status=unfulfilled")
	assert.Equal(t, []string{both}, ids(unfulfilled))

	// BOLA/BFLA: another vendor, a buyer, anonymous.
	status, body, _ := a.do("GET", "/v1/vendor/orders/"+onlyA, vendorB, nil)
	assert.Equal(t, http.StatusNotFound, status, "an order without B's lines: %v", body)
	status, _, _ = a.do("GET", "/v1/vendor/orders/not-an-order", vendorB, nil)
	assert.Equal(t, http.StatusNotFound, status)
	for _, path := range []string{"/v1/vendor/orders", "/v1/vendor/orders/" + both} {
		status, body, _ = a.do("GET", path, buyer, nil)
		assert.Equal(t, http.StatusForbidden, status, "a buyer: %s %v", path, body)
		status, _, _ = a.do("GET", path, "", nil)
		assert.Equal(t, http.StatusUnauthorized, status, "anonymous: %s", path)
	}
	assert.Len(t, mailsTo(smtp, mailA), 2, "no mail repeated")
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// mailsTo answers the mails the test server received for to.
func mailsTo(s *mailtest.Server, to string) []mailtest.Received {
	var out []mailtest.Received
	for _, m := range s.Messages() {
		if slices.Contains(m.To, to) {
			out = append(out, m)
		}
	}
	return out
}
