package node_test

import (
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium/actors/actorstest"
	"github.com/emporium-shop/emporium/mail/mailtest"
)

// Issue 12, the must-hold flow over HTTP against a whole node: two vendors
// in one order each ship and deliver only their own lines; the buyer's
// order goes confirmed → processing → shipped → delivered as the lines
// move, every step pushed live and every shipment mailed with its tracking;
// the delivered lines become purchases, and the buyer reviews both products
// (verified), their ratings on the product pages and ordering search by
// rating. Then an admin
// lists orders, cancels what has not shipped of a second order (its units
// back on hand, its share refunded) and refunds part of it; and every new
// route refuses another vendor, a buyer and an anonymous caller.
func TestFulfilmentOverHTTP(t *testing.T) {
	smtp := mailtest.NewServer(t)
	n := openOrderNode(t, smtp)
	a := newAPI(t, n)
	productA, skusA, vendorA := listProductBy(t, n, a, "FUA")
	productB, skusB, vendorB := listProductBy(t, n, a, "FUB")
	_, admin := userToken(t, n, a, "root", "admin")
	buyerID, buyer := userToken(t, n, a, "buyer")
	_, me, _ := a.do("GET", "/v1/me", buyer, nil)
	buyerMail := me["email"].(string)
	addr := addAddress(t, a, buyer)
	live := dialLive(t, a, buyer)

	place := func(key string, lines map[string]int) map[string]any {
		t.Helper()
		fill(t, a, buyer, lines)
		status, o := a.order(buyer, key, map[string]any{
			"shipping_address_id": addr, "shipping_method": "standard",
			"payment": map[string]any{"provider": "sandbox", "token": "tok_visa"},
		})
		require.Equal(t, http.StatusCreated, status, "%v", o)
		require.Equal(t, "confirmed", o["status"], "%v", o)
		return o
	}
	lineOf := func(o map[string]any, sku string) string {
		for _, l := range asList(o["lines"]) {
			if l := l.(map[string]any); l["sku"] == sku {
				return l["line_id"].(string)
			}
		}
		t.Fatalf("no line of %s in %v", sku, o)
		return ""
	}
	o := place("fu-1", map[string]int{skusA[0]: 1, skusA[1]: 1, skusB[0]: 2})
	id := o["id"].(string)
	a0, a1, b0 := lineOf(o, skusA[0]), lineOf(o, skusA[1]), lineOf(o, skusB[0])
	actorstest.WaitFor(t, 5*time.Second, "the order in both vendors' lists", func() bool {
		sa, _, _ := a.do("GET", "/v1/vendor/orders/"+id, vendorA, nil)
		sb, _, _ := a.do("GET", "/v1/vendor/orders/"+id, vendorB, nil)
		return sa == http.StatusOK && sb == http.StatusOK
	})
	buyerStatus := func() string {
		_, o, _ := a.do("GET", "/v1/orders/"+id, buyer, nil)
		return o["status"].(string)
	}
	ship := func(token string, body map[string]any) (int, map[string]any) {
		status, vo, _ := a.do("POST", "/v1/vendor/orders/"+id+"/ship", token, body)
		return status, vo
	}

	// B cannot ship A's line (404, as a line that does not exist); a
	// buyer and an anonymous caller cannot ship at all.
	status, body := ship(vendorB, map[string]any{"carrier": "UPS", "tracking_number": "1Z-B", "lines": []any{a0}})
	assert.Equal(t, http.StatusNotFound, status, "%v", body)
	status, body = ship(buyer, map[string]any{"carrier": "UPS", "tracking_number": "1Z-B"})
	assert.Equal(t, http.StatusForbidden, status, "%v", body)
	status, body = ship("", map[string]any{"carrier": "UPS", "tracking_number": "1Z-B"})
	assert.Equal(t, http.StatusUnauthorized, status, "%v", body)
	status, body = ship(vendorA, map[string]any{"carrier": "UPS", "tracking_number": "<script>"})
	assert.Equal(t, http.StatusUnprocessableEntity, status, "%v", body)
	assert.Equal(t, "confirmed", buyerStatus(), "nothing changed")

	// A ships one line: processing. The same shipment again is answered
	// once (one shipment).
	status, vo := ship(vendorA, map[string]any{"carrier": "UPS", "tracking_number": "1Z999AA10123456784", "lines": []any{a0}})
	require.Equal(t, http.StatusOK, status, "%v", vo)
	assert.Equal(t, "partially_shipped", vo["fulfillment_status"])
	assert.Equal(t, "processing", vo["status"])
	status, again := ship(vendorA, map[string]any{"carrier": "UPS", "tracking_number": "1Z999AA10123456784", "lines": []any{a0}})
	require.Equal(t, http.StatusOK, status, "%v", again)
	assert.Len(t, asList(again["shipments"]), 1, "answered once")
	for _, sh := range asList(again["shipments"]) {
		assert.Equal(t, []any{a0}, sh.(map[string]any)["lines"], "a vendor sees their shipments only")
	}
	// Once a line shipped, the buyer cannot cancel the order.
	status, body, _ = a.do("POST", "/v1/orders/"+id+"/cancel", buyer, nil)
	assert.Equal(t, http.StatusConflict, status, "%v", body)
	// Another shipment of a shipped line is a conflict.
	status, body = ship(vendorA, map[string]any{"carrier": "DHL", "tracking_number": "JD014600", "lines": []any{a0}})
	assert.Equal(t, http.StatusConflict, status, "%v", body)

	// A ships the rest (no lines named), B ships theirs: shipped.
	status, vo = ship(vendorA, map[string]any{"carrier": "DHL Express", "tracking_number": "JD014600006281230704"})
	require.Equal(t, http.StatusOK, status, "%v", vo)
	assert.Equal(t, "shipped", vo["fulfillment_status"])
	assert.Equal(t, "processing", buyerStatus(), "B's line has not shipped")
	status, vo = ship(vendorB, map[string]any{"carrier": "USPS", "tracking_number": "9400 1000 0000 0000 0000 00"})
	require.Equal(t, http.StatusOK, status, "%v", vo)
	assert.Equal(t, "shipped", buyerStatus())

	// Deliveries: B (body absent), then A's lines one by one.
	deliver := func(token string, body any) (int, map[string]any) {
		status, vo, _ := a.do("POST", "/v1/vendor/orders/"+id+"/deliver", token, body)
		return status, vo
	}
	status, vo = deliver(vendorB, nil)
	require.Equal(t, http.StatusOK, status, "%v", vo)
	assert.Equal(t, "delivered", vo["fulfillment_status"])
	assert.Equal(t, "shipped", buyerStatus())
	status, body = deliver(vendorB, map[string]any{"lines": []any{a1}})
	assert.Equal(t, http.StatusNotFound, status, "B delivering A's line: %v", body)
	status, body = deliver(buyer, nil)
	assert.Equal(t, http.StatusForbidden, status, "a buyer: %v", body)
	status, body = deliver("", nil)
	assert.Equal(t, http.StatusUnauthorized, status, "anonymous: %v", body)
	status, vo = deliver(vendorA, map[string]any{"lines": []any{a0}})
	require.Equal(t, http.StatusOK, status, "%v", vo)
	status, vo = deliver(vendorA, map[string]any{"lines": []any{a1}})
	require.Equal(t, http.StatusOK, status, "%v", vo)
	assert.Equal(t, "delivered", buyerStatus())

	// The buyer's order shows every shipment with its tracking.
	_, final, _ := a.do("GET", "/v1/orders/"+id, buyer, nil)
	shipments := asList(final["shipments"])
	require.Len(t, shipments, 3)
	var tracking []string
	for _, sh := range shipments {
		sh := sh.(map[string]any)
		tracking = append(tracking, sh["carrier"].(string)+" "+sh["tracking_number"].(string))
		assert.NotEmpty(t, sh["delivered_at"], "every shipment delivered: %v", sh)
	}
	assert.Equal(t, []string{"UPS 1Z999AA10123456784", "DHL Express JD014600006281230704", "USPS 9400 1000 0000 0000 0000 00"}, tracking)
	for _, l := range asList(final["lines"]) {
		assert.Equal(t, "delivered", l.(map[string]any)["fulfillment_status"])
	}
	_ = b0

	// Every step was pushed live, in order.
	actorstest.WaitFor(t, 5*time.Second, "the delivered push", func() bool {
		return slices.Contains(orderStatuses(live, id), "delivered")
	})
	statuses := slices.Compact(orderStatuses(live, id))
	assert.Equal(t, []string{"processing", "shipped", "delivered"}, statuses[slices.Index(statuses, "processing"):],
		"pushed in order: %v", statuses)

	// Mails: one per shipment and one per delivery, with the tracking.
	actorstest.WaitFor(t, 10*time.Second, "the shipment mails", func() bool {
		shipped, delivered := 0, 0
		for _, m := range mailsTo(smtp, buyerMail) {
			switch {
			case strings.Contains(m.Subject, "has shipped"):
				shipped++
			case strings.Contains(m.Subject, "was delivered"):
				delivered++
			}
		}
		return shipped == 3 && delivered == 3
	})
	for _, m := range mailsTo(smtp, buyerMail) {
		if strings.Contains(m.Subject, "has shipped") && strings.Contains(m.Text, "USPS") {
			assert.Contains(t, m.Text, "Tracking number: 9400 1000 0000 0000 0000 00")
			assert.Contains(t, m.Text, "2 × Stoneware Mug", "the shipment's line only")
			assert.NotContains(t, m.Text, "1 × Stoneware Mug")
		}
	}

	// The delivered lines are purchases: the right to review each product.
	orders := n.Orders
	actorstest.WaitFor(t, 5*time.Second, "the purchases", func() bool {
		okA, errA := orders.Delivered(t.Context(), buyerID, productA)
		okB, errB := orders.Delivered(t.Context(), buyerID, productB)
		return errA == nil && errB == nil && okA && okB
	})
	other, err := orders.Delivered(t.Context(), "someone-else", productA)
	require.NoError(t, err)
	assert.False(t, other)

	// After delivery the buyer reviews what they bought: a verified review,
	// one per product; someone who bought nothing may not. The rating shows
	// on the product page and orders search results.
	_, stranger := userToken(t, n, a, "stranger")
	status, body, _ = a.do("POST", "/v1/products/"+productA+"/reviews", stranger, map[string]any{"rating": 1})
	assert.Equal(t, http.StatusForbidden, status, "%v", body)
	assert.Equal(t, "purchase_required", body["code"])
	status, review, _ := a.do("POST", "/v1/products/"+productA+"/reviews", buyer, map[string]any{
		"rating": 4, "title": "Holds heat", "body": "Arrived with its tracking number as promised."})
	require.Equal(t, http.StatusCreated, status, "%v", review)
	assert.Equal(t, true, review["verified_purchase"])
	status, body, _ = a.do("POST", "/v1/products/"+productA+"/reviews", buyer, map[string]any{"rating": 5})
	assert.Equal(t, http.StatusConflict, status, "one review per buyer and product: %v", body)
	status, review, _ = a.do("POST", "/v1/products/"+productB+"/reviews", buyer, map[string]any{"rating": 5})
	require.Equal(t, http.StatusCreated, status, "%v", review)
	waitRating(t, a, productA, 4, 1)
	waitRating(t, a, productB, 5, 1)
	actorstest.WaitFor(t, 10*time.Second, "search sorted by rating", func() bool {
		ids := searchIDs(a, "sort=rating&min_rating=4&limit=100")
		iA, iB := slices.Index(ids, productA), slices.Index(ids, productB)
		return iA >= 0 && iB >= 0 && iB < iA
	})

	// Admins: a second order, A ships their line; the admin cancels the
	// rest (B's two units back on hand, their share refunded), then
	// refunds part of A's line.
	before := available(t, a, productB)[skusB[0]]
	o2 := place("fu-2", map[string]int{skusA[0]: 1, skusB[0]: 2})
	id2 := o2["id"].(string)
	actorstest.WaitFor(t, 5*time.Second, "the second order in A's list", func() bool {
		s, _, _ := a.do("GET", "/v1/vendor/orders/"+id2, vendorA, nil)
		return s == http.StatusOK
	})
	status, vo, _ = a.do("POST", "/v1/vendor/orders/"+id2+"/ship", vendorA, map[string]any{"carrier": "UPS", "tracking_number": "1Z2"})
	require.Equal(t, http.StatusOK, status, "%v", vo)
	actorstest.WaitFor(t, 5*time.Second, "B's units held by the order", func() bool {
		return available(t, a, productB)[skusB[0]] == before-2
	})

	status, body, _ = a.do("POST", "/v1/admin/orders/"+id2+"/cancel", admin, map[string]any{"reason": "Out of stock at B"})
	assert.Equal(t, http.StatusBadRequest, status, "no Idempotency-Key: %v", body)
	for _, token := range []string{buyer, vendorA} {
		status, body = a.doKeyed("POST", "/v1/admin/orders/"+id2+"/cancel", token, "k-cancel", map[string]any{})
		assert.Equal(t, http.StatusForbidden, status, "%v", body)
	}
	status, cancelled := a.doKeyed("POST", "/v1/admin/orders/"+id2+"/cancel", admin, "k-cancel", map[string]any{"reason": "Out of stock at B"})
	require.Equal(t, http.StatusOK, status, "%v", cancelled)
	assert.Equal(t, "shipped", cancelled["status"], "what is left has shipped")
	assert.Equal(t, "cancelled", lineStatus(cancelled, skusB[0]))
	// B's share: their lines' total and their part of the tax.
	tax := o2["tax"].(map[string]any)["amount"].(float64)
	subtotal := o2["subtotal"].(map[string]any)["amount"].(float64)
	b0share := 2*1500 + math.RoundToEven(tax*2*1500/subtotal)
	actorstest.WaitFor(t, 5*time.Second, "the refund of B's lines and the units back", func() bool {
		_, o, _ := a.do("GET", "/v1/admin/orders/"+id2, admin, nil)
		refunded := o["payment"].(map[string]any)["refunded"].(map[string]any)["amount"].(float64)
		return refunded == b0share && available(t, a, productB)[skusB[0]] == before
	})
	status, same := a.doKeyed("POST", "/v1/admin/orders/"+id2+"/cancel", admin, "k-cancel", map[string]any{"reason": "Out of stock at B"})
	require.Equal(t, http.StatusOK, status, "the same key answers the same cancellation: %v", same)

	status, body = a.doKeyed("POST", "/v1/admin/orders/"+id2+"/refund", admin, "k-refund", map[string]any{
		"amount": map[string]any{"amount": 500, "currency": "USD"}, "reason": "Late delivery"})
	require.Equal(t, http.StatusOK, status, "%v", body)
	refundedOf := func(o map[string]any) float64 {
		return o["payment"].(map[string]any)["refunded"].(map[string]any)["amount"].(float64)
	}
	actorstest.WaitFor(t, 5*time.Second, "the partial refund", func() bool {
		_, o, _ := a.do("GET", "/v1/orders/"+id2, buyer, nil)
		return refundedOf(o) >= 500+b0share
	})
	status, again = a.doKeyed("POST", "/v1/admin/orders/"+id2+"/refund", admin, "k-refund", map[string]any{
		"amount": map[string]any{"amount": 500, "currency": "USD"}, "reason": "Late delivery"})
	require.Equal(t, http.StatusOK, status, "%v", again)
	_, o2now, _ := a.do("GET", "/v1/orders/"+id2, buyer, nil)
	assert.Equal(t, 500+b0share, refundedOf(o2now), "a retried refund refunds once")
	assert.Equal(t, "partially_refunded", o2now["payment_status"])
	status, body = a.doKeyed("POST", "/v1/admin/orders/"+id2+"/refund", admin, "k-refund-2", map[string]any{
		"amount": map[string]any{"amount": 1e9, "currency": "USD"}, "reason": "Too much"})
	assert.Equal(t, http.StatusUnprocessableEntity, status, "more than is left: %v", body)
	status, body = a.doKeyed("POST", "/v1/admin/orders/"+id2+"/refund", admin, "k-refund-3", map[string]any{"reason": "Everything else"})
	require.Equal(t, http.StatusOK, status, "%v", body)
	actorstest.WaitFor(t, 5*time.Second, "refunded", func() bool {
		_, o, _ := a.do("GET", "/v1/orders/"+id2, buyer, nil)
		return o["status"] == "refunded" && o["payment_status"] == "refunded" && refundedOf(o) == o["total"].(map[string]any)["amount"].(float64)
	})

	// Admin lists: all, by buyer, by vendor, by status.
	listIDs := func(query string) []string {
		t.Helper()
		status, page, _ := a.do("GET", "/v1/admin/orders"+query, admin, nil)
		require.Equal(t, http.StatusOK, status, "%v", page)
		var ids []string
		for _, it := range asList(page["items"]) {
			ids = append(ids, it.(map[string]any)["id"].(string))
		}
		return ids
	}
	actorstest.WaitFor(t, 5*time.Second, "the admin's lists", func() bool {
		return slices.Equal(listIDs("?buyer_id="+buyerID), []string{id2, id}) &&
			slices.Equal(listIDs("?status=delivered&buyer_id="+buyerID), []string{id}) &&
			slices.Contains(listIDs("?status=refunded"), id2) &&
			slices.Contains(listIDs(""), id)
	})
	_, meB, _ := a.do("GET", "/v1/me", vendorB, nil)
	assert.Subset(t, listIDs("?vendor_id="+meB["id"].(string)), []string{id, id2})
	status, page, _ := a.do("GET", "/v1/admin/orders?limit=1&buyer_id="+buyerID, admin, nil)
	require.Equal(t, http.StatusOK, status)
	require.NotEmpty(t, page["next_cursor"])
	assert.Equal(t, []string{id}, listIDs("?limit=1&buyer_id="+buyerID+"&cursor="+page["next_cursor"].(string)))
	status, body, _ = a.do("GET", "/v1/admin/orders?status=lost", admin, nil)
	assert.Equal(t, http.StatusUnprocessableEntity, status, "%v", body)

	// BFLA on the admin routes: a buyer and a vendor are refused (403), an
	// anonymous caller is asked to sign in (401).
	for _, path := range []string{"/v1/admin/orders", "/v1/admin/orders/" + id} {
		for _, token := range []string{buyer, vendorA} {
			status, body, _ = a.do("GET", path, token, nil)
			assert.Equal(t, http.StatusForbidden, status, "%s: %v", path, body)
		}
		status, _, _ = a.do("GET", path, "", nil)
		assert.Equal(t, http.StatusUnauthorized, status, path)
	}
	status, body = a.doKeyed("POST", "/v1/admin/orders/"+id+"/refund", buyer, "k-b", map[string]any{"reason": "mine"})
	assert.Equal(t, http.StatusForbidden, status, "%v", body)
	status, body, _ = a.do("POST", "/v1/admin/orders/"+id+"/refund", "", map[string]any{"reason": "mine"})
	assert.Equal(t, http.StatusUnauthorized, status, "%v", body)
	status, body = a.doKeyed("POST", "/v1/admin/orders/"+id+"/refund", vendorB, "k-v", map[string]any{"reason": "mine"})
	assert.Equal(t, http.StatusForbidden, status, "another vendor: %v", body)
	status, body, _ = a.do("POST", "/v1/admin/orders/"+id+"/cancel", "", nil)
	assert.Equal(t, http.StatusUnauthorized, status, "%v", body)
	_, o1, _ := a.do("GET", "/v1/orders/"+id, buyer, nil)
	assert.Zero(t, refundedOf(o1), "nothing was refunded of the first order")
}

// orderStatuses answers the statuses of the order.updated pushes of id, in
// the order they came.
func orderStatuses(lc *liveConn, id string) []string {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	var out []string
	for _, m := range lc.msgs {
		if m["type"] == "order.updated" && m["id"] == id {
			out = append(out, m["data"].(map[string]any)["status"].(string))
		}
	}
	return out
}

// lineStatus answers the fulfilment status of the order's line of sku.
func lineStatus(o map[string]any, sku string) string {
	for _, l := range asList(o["lines"]) {
		if l := l.(map[string]any); l["sku"] == sku {
			return l["fulfillment_status"].(string)
		}
	}
	return ""
}
