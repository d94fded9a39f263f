package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium/actors/actorstest"
	orders "github.com/emporium-shop/emporium/actors/order"
	"github.com/emporium-shop/emporium/mail/mailtest"
	"github.com/emporium-shop/emporium/node"
	"github.com/emporium-shop/emporium/payments"
)

// Issue 11's "done when", over HTTP against a whole node: a buyer signs up,
// adds two lines, previews, pays with tok_visa and sees the order
// confirmed, captured, in their history, pushed over the websocket and
// confirmed by email; declines and cancellation give stock and money back;
// bad input changes nothing. Every request and response is checked against
// openapi.yaml.

func openOrderNode(t *testing.T, smtp *mailtest.Server) *node.Node {
	t.Helper()
	cfg := testConfig(t)
	cfg.SMTPURL = smtp.URL()
	cfg.SandboxWebhookSecret = "whsec_test"
	return openNode(t, cfg)
}

// order places an order with key and body and answers its status code and
// body.
func (a *api) order(token, key string, body any) (int, map[string]any) {
	a.t.Helper()
	raw, err := json.Marshal(body)
	require.NoError(a.t, err)
	// Tests wait as long as the API allows, so that a busy machine still
	// answers the settled order.
	req, err := http.NewRequest("POST", a.base+"/v1/orders?wait=10", bytes.NewReader(raw))
	require.NoError(a.t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := a.client.Do(req)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// available answers the available units of each of the product's SKUs.
func available(t *testing.T, a *api, productID string) map[string]float64 {
	t.Helper()
	status, p, _ := a.do("GET", "/v1/products/"+productID, "", nil)
	require.Equal(t, http.StatusOK, status, "%v", p)
	out := map[string]float64{}
	for _, v := range p["variants"].([]any) {
		v := v.(map[string]any)
		out[v["sku"].(string)] = v["available"].(float64)
	}
	return out
}

func addAddress(t *testing.T, a *api, token string) string {
	t.Helper()
	status, addr, _ := a.do("POST", "/v1/me/addresses", token, map[string]any{
		"full_name": "Ada Buyer", "line1": "1 Market St", "city": "San Francisco", "region": "CA",
		"postal_code": "94105", "country": "US",
	})
	require.Equal(t, http.StatusCreated, status, "%v", addr)
	return addr["id"].(string)
}

func fill(t *testing.T, a *api, token string, lines map[string]int) {
	t.Helper()
	for sku, qty := range lines {
		status, body, _ := a.do("POST", "/v1/cart/items", token, map[string]any{"sku": sku, "quantity": qty})
		require.Equal(t, http.StatusOK, status, "%v", body)
	}
}

func TestCheckoutJourney(t *testing.T) {
	smtp := mailtest.NewServer(t)
	n := openOrderNode(t, smtp)
	a := newAPI(t, n)
	productID, skus := listProduct(t, n, a, "ORD")
	_, buyer := userToken(t, n, a, "buyer")
	_, me, _ := a.do("GET", "/v1/me", buyer, nil)
	email := me["email"].(string)
	addr := addAddress(t, a, buyer)
	fill(t, a, buyer, map[string]int{skus[0]: 2, skus[1]: 1})

	status, methods, _ := a.do("GET", "/v1/shipping-methods?country=US", "", nil)
	require.Equal(t, http.StatusOK, status, "%v", methods)
	require.NotEmpty(t, methods["items"])

	status, preview, _ := a.do("POST", "/v1/checkout/preview", buyer, map[string]any{
		"shipping_address_id": addr, "shipping_method": "standard"})
	require.Equal(t, http.StatusOK, status, "%v", preview)
	amount := func(m any) float64 { return m.(map[string]any)["amount"].(float64) }
	assert.Equal(t, float64(2*1500+1700), amount(preview["subtotal"]))
	assert.Equal(t, amount(preview["total"]), amount(preview["subtotal"])+amount(preview["shipping"])+amount(preview["tax"]))
	assert.Positive(t, amount(preview["tax"]), "California taxes the order")

	device := dialLive(t, a, buyer)
	body := map[string]any{
		"shipping_address_id": addr, "shipping_method": "standard",
		"payment":        map[string]any{"provider": "sandbox", "token": "tok_visa"},
		"expected_total": preview["total"],
	}
	status, order := a.order(buyer, "key-1", body)
	require.Equal(t, http.StatusCreated, status, "%v", order)
	id := order["id"].(string)
	assert.Equal(t, "confirmed", order["status"], "%v", order)
	assert.Equal(t, "captured", order["payment_status"])
	assert.Equal(t, preview["total"], order["total"], "the preview and the order agree to the cent")
	assert.NotEmpty(t, order["estimated_delivery"])

	// A replay answers the same order; the key with another body is refused.
	status, again := a.order(buyer, "key-1", body)
	require.Equal(t, http.StatusCreated, status, "%v", again)
	assert.Equal(t, id, again["id"])
	other := map[string]any{"shipping_address_id": addr, "shipping_method": "express",
		"payment": map[string]any{"provider": "sandbox", "token": "tok_visa"}}
	status, refused := a.order(buyer, "key-1", other)
	assert.Equal(t, http.StatusUnprocessableEntity, status, "%v", refused)
	assert.Equal(t, "idempotency_key_reused", refused["code"])

	status, cart, _ := a.do("GET", "/v1/cart", buyer, nil)
	require.Equal(t, http.StatusOK, status)
	assert.Empty(t, cart["lines"], "the ordered lines left the cart")
	actorstest.WaitFor(t, 5*time.Second, "the stock is sold", func() bool {
		got := available(t, a, productID)
		return got[skus[0]] == 3 && got[skus[1]] == 2
	})
	actorstest.WaitFor(t, 5*time.Second, "the order in the buyer's history", func() bool {
		status, page, _ := a.do("GET", "/v1/orders", buyer, nil)
		items, _ := page["items"].([]any)
		return status == http.StatusOK && len(items) == 1 && items[0].(map[string]any)["id"] == id
	})
	actorstest.WaitFor(t, 5*time.Second, "a confirmed order.updated push", func() bool {
		device.mu.Lock()
		defer device.mu.Unlock()
		for _, m := range device.msgs {
			if m["type"] == "order.updated" && m["id"] == id && m["data"].(map[string]any)["status"] == "confirmed" {
				return true
			}
		}
		return false
	})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	msg, err := smtp.Wait(ctx, email)
	require.NoError(t, err)
	assert.Contains(t, msg.Subject, id, "the confirmation names the order")
	assert.Contains(t, msg.Text, "Ada Buyer", "it shows the address")

	// A new connection starts from the buyer's open orders.
	later := dialLive(t, a, buyer)
	actorstest.WaitFor(t, 5*time.Second, "the open order on connect", func() bool {
		later.mu.Lock()
		defer later.mu.Unlock()
		for _, m := range later.msgs {
			if m["type"] == "order.updated" && m["id"] == id {
				return true
			}
		}
		return false
	})

	// The vendor's read model holds the vendor's lines of the order.
	_, product, _ := a.do("GET", "/v1/products/"+productID, "", nil)
	actorstest.WaitFor(t, 5*time.Second, "the order in the vendor's read model", func() bool {
		var views []orders.VendorView
		err := n.Store.Projections().List(t.Context(), orders.VendorCollection, "vendor_id", product["vendor_id"], "", 10, &views)
		return err == nil && len(views) == 1 && views[0].OrderID == id && len(views[0].Lines) == 2
	})

	// Nobody else sees it.
	_, stranger := userToken(t, n, a, "stranger")
	status, _, _ = a.do("GET", "/v1/orders/"+id, stranger, nil)
	assert.Equal(t, http.StatusNotFound, status)
	status, _, _ = a.do("POST", "/v1/orders/"+id+"/cancel", stranger, nil)
	assert.Equal(t, http.StatusNotFound, status)
	for _, path := range []string{"/v1/orders/not-an-order", "/v1/orders/not-an-order/cancel", "/v1/orders/not-an-order/payment/confirm"} {
		method := "POST"
		if !strings.Contains(path, "/cancel") && !strings.Contains(path, "/confirm") {
			method = "GET"
		}
		status, _, _ = a.do(method, path, buyer, nil)
		assert.Equal(t, http.StatusNotFound, status, path)
	}

	// Cancelling gives the stock and the money back.
	status, cancelled, _ := a.do("POST", "/v1/orders/"+id+"/cancel", buyer, nil)
	require.Equal(t, http.StatusOK, status, "%v", cancelled)
	actorstest.WaitFor(t, 5*time.Second, "the order cancelled and refunded", func() bool {
		_, o, _ := a.do("GET", "/v1/orders/"+id, buyer, nil)
		return o["status"] == "cancelled" && o["payment_status"] == "refunded"
	})
	actorstest.WaitFor(t, 5*time.Second, "the stock back", func() bool {
		got := available(t, a, productID)
		return got[skus[0]] == 5 && got[skus[1]] == 3
	})
	ledger, err := n.Sandbox.Ledger(t.Context())
	require.NoError(t, err)
	require.Len(t, ledger, 1)
	assert.Equal(t, ledger[0].Captured, ledger[0].Refunded, "every cent captured was refunded")
	msg, err = smtp.Wait(ctx, email)
	require.NoError(t, err)
	assert.Contains(t, msg.Subject, id, "the cancellation names the order")
	assert.Contains(t, strings.ToLower(msg.Subject), "cancel")
}

func TestCheckoutDeclinesAndBadInput(t *testing.T) {
	smtp := mailtest.NewServer(t)
	n := openOrderNode(t, smtp)
	a := newAPI(t, n)
	productID, skus := listProduct(t, n, a, "DEC")
	_, buyer := userToken(t, n, a, "decliner")
	addr := addAddress(t, a, buyer)
	pay := func(token string) map[string]any {
		return map[string]any{"shipping_address_id": addr, "shipping_method": "standard",
			"payment": map[string]any{"provider": "sandbox", "token": token}}
	}

	// An empty cart is refused.
	status, body := a.order(buyer, "empty", pay("tok_visa"))
	assert.Equal(t, http.StatusUnprocessableEntity, status, "%v", body)

	fill(t, a, buyer, map[string]int{skus[0]: 1})
	for name, tc := range map[string]struct {
		key    string
		body   map[string]any
		status int
	}{
		"no key":           {"", pay("tok_visa"), http.StatusBadRequest},
		"unknown address":  {"k-addr", map[string]any{"shipping_address_id": "nope", "shipping_method": "standard", "payment": map[string]any{"provider": "sandbox", "token": "tok_visa"}}, http.StatusUnprocessableEntity},
		"unknown method":   {"k-method", map[string]any{"shipping_address_id": addr, "shipping_method": "teleport", "payment": map[string]any{"provider": "sandbox", "token": "tok_visa"}}, http.StatusUnprocessableEntity},
		"unknown token":    {"k-token", map[string]any{"shipping_address_id": addr, "shipping_method": "standard", "payment": map[string]any{"provider": "sandbox", "token": "tok_nope"}}, http.StatusUnprocessableEntity},
		"unknown provider": {"k-prov", map[string]any{"shipping_address_id": addr, "shipping_method": "standard", "payment": map[string]any{"provider": "cash", "token": "tok_visa"}}, http.StatusUnprocessableEntity},
		"client total":     {"k-total", map[string]any{"shipping_address_id": addr, "shipping_method": "standard", "payment": map[string]any{"provider": "sandbox", "token": "tok_visa"}, "total": map[string]any{"amount": 1, "currency": "USD"}}, http.StatusBadRequest},
		"client status":    {"k-status", map[string]any{"shipping_address_id": addr, "shipping_method": "standard", "payment": map[string]any{"provider": "sandbox", "token": "tok_visa"}, "status": "confirmed"}, http.StatusBadRequest},
		"stale total":      {"k-stale", map[string]any{"shipping_address_id": addr, "shipping_method": "standard", "payment": map[string]any{"provider": "sandbox", "token": "tok_visa"}, "expected_total": map[string]any{"amount": 1, "currency": "USD"}}, http.StatusConflict},
	} {
		status, body := a.order(buyer, tc.key, tc.body)
		assert.Equal(t, tc.status, status, "%s: %v", name, body)
	}
	status, page, _ := a.do("GET", "/v1/orders", buyer, nil)
	require.Equal(t, http.StatusOK, status)
	assert.Empty(t, page["items"], "no refusal made an order")
	assert.Equal(t, float64(5), available(t, a, productID)[skus[0]])

	for token, reason := range map[string]string{
		"tok_chargeDeclined":                  "payment_declined",
		"tok_chargeDeclinedInsufficientFunds": "insufficient_funds",
	} {
		status, o := a.order(buyer, "k-"+token, pay(token))
		require.Equal(t, http.StatusCreated, status, "%v", o)
		assert.Equal(t, "failed", o["status"], "%v", o)
		assert.Equal(t, reason, o["failure_reason"])
	}
	actorstest.WaitFor(t, 5*time.Second, "declined orders hold no stock", func() bool {
		return available(t, a, productID)[skus[0]] == 5
	})
	status, cart, _ := a.do("GET", "/v1/cart", buyer, nil)
	require.Equal(t, http.StatusOK, status)
	assert.Len(t, cart["lines"], 1, "a failed order leaves the cart as it was")

	// A line that can no longer be bought is refused before anything is
	// reserved.
	archivedID, archivable, vendor := listProductBy(t, n, a, "ARC")
	_, buyer2 := userToken(t, n, a, "archive-buyer")
	addr2 := addAddress(t, a, buyer2)
	fill(t, a, buyer2, map[string]int{archivable[0]: 1})
	status, _, _ = a.do("DELETE", "/v1/vendor/products/"+archivedID, vendor, nil)
	require.Equal(t, http.StatusOK, status)
	actorstest.WaitFor(t, 5*time.Second, "the archived product off sale", func() bool {
		status, _, _ := a.do("GET", "/v1/products/"+archivedID, "", nil)
		return status == http.StatusNotFound
	})
	status, o := a.order(buyer2, "k-archived", map[string]any{"shipping_address_id": addr2, "shipping_method": "standard",
		"payment": map[string]any{"provider": "sandbox", "token": "tok_visa"}})
	assert.Equal(t, http.StatusUnprocessableEntity, status, "%v", o)

	// tok_timeout: the first answer is lost, the retry learns it; charged once.
	status, o = a.order(buyer, "k-timeout", pay("tok_timeout"))
	require.Equal(t, http.StatusCreated, status, "%v", o)
	id := o["id"].(string)
	actorstest.WaitFor(t, 10*time.Second, "the timed-out order settles", func() bool {
		_, o, _ := a.do("GET", "/v1/orders/"+id, buyer, nil)
		return o["status"] == "confirmed"
	})
	ledger, err := n.Sandbox.Ledger(t.Context())
	require.NoError(t, err)
	captures := 0
	for _, p := range ledger {
		if p.OrderID == id {
			captures++
			assert.Equal(t, p.Authorized, p.Captured)
		}
	}
	assert.Equal(t, 1, captures, "one payment for the order")

	// tok_requiresApproval waits for the buyer, then confirms.
	fill(t, a, buyer, map[string]int{skus[1]: 1})
	status, o = a.order(buyer, "k-approval", pay("tok_requiresApproval"))
	require.Equal(t, http.StatusCreated, status, "%v", o)
	require.Equal(t, "awaiting_payment", o["status"], "%v", o)
	payment := o["payment"].(map[string]any)
	assert.True(t, strings.HasSuffix(payment["approval_url"].(string), "/v1/orders/"+o["id"].(string)+"/payment/confirm"))
	status, o, _ = a.do("POST", fmt.Sprintf("/v1/orders/%s/payment/confirm", o["id"]), buyer, nil)
	require.Equal(t, http.StatusOK, status, "%v", o)
	actorstest.WaitFor(t, 5*time.Second, "the approved order confirms", func() bool {
		_, got, _ := a.do("GET", "/v1/orders/"+o["id"].(string), buyer, nil)
		return got["status"] == "confirmed"
	})
}

// 50 concurrent POST /v1/orders with one key name one order, authorised and
// captured once; 50 with different keys for the same cart confirm at most
// what the stock allows, each captured once.
func TestConcurrentCheckouts(t *testing.T) {
	smtp := mailtest.NewServer(t)
	n := openOrderNode(t, smtp)
	a := newAPI(t, n)
	productID, skus := listProduct(t, n, a, "RACE")
	_, buyer := userToken(t, n, a, "racer")
	addr := addAddress(t, a, buyer)
	body := map[string]any{"shipping_address_id": addr, "shipping_method": "standard",
		"payment": map[string]any{"provider": "sandbox", "token": "tok_visa"}}

	fill(t, a, buyer, map[string]int{skus[0]: 1})
	ids := make(chan string, 50)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			status, o := a.order(buyer, "one-key", body)
			if assert.Equal(t, http.StatusCreated, status, "%v", o) {
				ids <- o["id"].(string)
			}
		})
	}
	wg.Wait()
	close(ids)
	var id string
	for got := range ids {
		if id == "" {
			id = got
		}
		assert.Equal(t, id, got, "every answer names the same order")
	}
	actorstest.WaitFor(t, 5*time.Second, "the order confirmed", func() bool {
		_, o, _ := a.do("GET", "/v1/orders/"+id, buyer, nil)
		return o["status"] == "confirmed"
	})
	ledger, err := n.Sandbox.Ledger(t.Context())
	require.NoError(t, err)
	require.Len(t, ledger, 1, "one authorisation")
	captures := 0
	for _, op := range ledger[0].Operations {
		if op.Kind == "capture" {
			captures++
		}
	}
	assert.Equal(t, 1, captures, "one capture")

	// The same cart (2 units of a SKU with 3 left... and 5 of the other)
	// under 50 keys at once.
	fill(t, a, buyer, map[string]int{skus[1]: 2})
	for i := range 50 {
		wg.Go(func() {
			status, o := a.order(buyer, fmt.Sprint("key-", i), body)
			assert.Contains(t, []int{http.StatusCreated, http.StatusUnprocessableEntity}, status,
				"an order, or a cart emptied by the one before: %v", o)
		})
	}
	wg.Wait()
	// Every order settles (the answers may come before, on a busy machine);
	// then the confirmed ones, the stock and the ledger agree. The read
	// models follow the grains a moment later: wait for them.
	var confirmed, pending int
	var captured, want int64
	actorstest.WaitFor(t, 30*time.Second, "every order settled, the stock and the ledger matching them", func() bool {
		ledger, err := n.Sandbox.Ledger(t.Context())
		if err != nil {
			return false
		}
		captured, want, confirmed, pending = 0, 0, 0, 0
		for _, p := range ledger {
			captured += p.Captured - p.Refunded
		}
		cursor := ""
		for range 10 {
			_, list, _ := a.do("GET", "/v1/orders?limit=100&cursor="+cursor, buyer, nil)
			for _, o := range list["items"].([]any) {
				o := o.(map[string]any)
				switch o["status"] {
				case "confirmed":
					confirmed++
					want += int64(o["total"].(map[string]any)["amount"].(float64))
				case "pending":
					pending++
				}
			}
			if cursor, _ = list["next_cursor"].(string); cursor == "" {
				break
			}
		}
		return pending == 0 && want == captured && available(t, a, productID)[skus[1]] == float64(3-2*(confirmed-1))
	})
	assert.LessOrEqual(t, confirmed-1, 1, "3 units of SKU B allow one order of 2 (beside the first order, of SKU A)")
}

// Webhooks: a signed delivery is applied (three times, once); unsigned,
// forged, altered and stale ones are refused and change nothing.
func TestPaymentWebhooks(t *testing.T) {
	smtp := mailtest.NewServer(t)
	n := openOrderNode(t, smtp)
	a := newAPI(t, n)
	_, skus := listProduct(t, n, a, "HOOK")
	_, buyer := userToken(t, n, a, "hooker")
	addr := addAddress(t, a, buyer)
	fill(t, a, buyer, map[string]int{skus[0]: 1})
	status, o := a.order(buyer, "hook-1", map[string]any{"shipping_address_id": addr, "shipping_method": "standard",
		"payment": map[string]any{"provider": "sandbox", "token": "tok_visa"}})
	require.Equal(t, http.StatusCreated, status, "%v", o)
	require.Equal(t, "confirmed", o["status"], "%v", o)
	ledger, err := n.Sandbox.Ledger(t.Context())
	require.NoError(t, err)
	require.Len(t, ledger, 1)
	header, body, err := n.Sandbox.Delivery(t.Context(), ledger[0].ID)
	require.NoError(t, err)

	deliver := func(h http.Header, b []byte) int {
		req, err := http.NewRequest("POST", a.base+"/v1/webhooks/sandbox", bytes.NewReader(b))
		require.NoError(t, err)
		for k, v := range h {
			req.Header[k] = v
		}
		res, err := a.client.Do(req)
		require.NoError(t, err)
		_ = res.Body.Close()
		return res.StatusCode
	}
	id := o["id"].(string)
	_, me, _ := a.do("GET", "/v1/me", buyer, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err = smtp.Wait(ctx, me["email"].(string)) // the saga's last step
	require.NoError(t, err)
	// The mail's event follows the mail: wait until the order stops moving.
	var before map[string]any
	actorstest.WaitFor(t, 5*time.Second, "the order settled", func() bool {
		_, first, _ := a.do("GET", "/v1/orders/"+id, buyer, nil)
		time.Sleep(100 * time.Millisecond) // what is waited for is that nothing happens
		_, before, _ = a.do("GET", "/v1/orders/"+id, buyer, nil)
		return first["seq"] == before["seq"]
	})
	assert.Equal(t, http.StatusNoContent, deliver(header, body), "a signed delivery")
	_, after, _ := a.do("GET", "/v1/orders/"+id, buyer, nil)
	seq := after["seq"]
	assert.Equal(t, before["seq"].(float64)+1, seq, "the delivery is recorded once")
	for range 2 {
		assert.Equal(t, http.StatusNoContent, deliver(header, body), "the same delivery again")
	}
	altered := bytes.Replace(body, []byte(ledger[0].ID), []byte(ledger[0].ID+"x"), 1)
	assert.Equal(t, http.StatusUnauthorized, deliver(header, altered), "an altered body")
	assert.Equal(t, http.StatusUnauthorized, deliver(http.Header{"Content-Type": {"application/json"}}, body), "unsigned")
	forged := http.Header{"Sandbox-Signature": {payments.Sign("not-the-secret", body, time.Now())}}
	assert.Equal(t, http.StatusUnauthorized, deliver(forged, body), "forged")
	stale := http.Header{"Sandbox-Signature": {payments.Sign("whsec_test", body, time.Now().Add(-time.Hour))}}
	assert.Equal(t, http.StatusUnauthorized, deliver(stale, body), "stale")
	_, got, _ := a.do("GET", "/v1/orders/"+id, buyer, nil)
	assert.Equal(t, "confirmed", got["status"], "nothing moved the order")
	assert.Equal(t, seq, got["seq"], "a redelivery is applied once")
}
