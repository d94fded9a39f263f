package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/gateway"
	"github.com/emporium-shop/emporium/gateway/gatewaytest"
	"github.com/emporium-shop/emporium/ratelimit"
)

// These tests cover the HTTP layer of orders and payment webhooks:
// decoding, statuses, headers and the contract. The services behind it are
// in-memory fakes (orders_fake_test.go); every exchange goes through send,
// which validates it against openapi.yaml.

func ordersServer(t *testing.T, cfg gateway.Config) (*gateway.Server, *fakeOrders, *fakeWebhooks) {
	t.Helper()
	orders, hooks := newFakeOrders(), &fakeWebhooks{}
	if cfg.Accounts == nil {
		cfg.Accounts = newFake()
	}
	cfg.Orders, cfg.PaymentWebhooks = orders, hooks
	s, _ := newServer(t, cfg)
	return s, orders, hooks
}

const placeBody = `{"shipping_address_id":"addr-1","billing_address_id":"addr-2","shipping_method":"standard",` +
	`"payment":{"provider":"sandbox","token":"tok_visa","return_url":"https://shop.example/return?x=1"},` +
	`"expected_total":{"amount":3630,"currency":"USD"}}`

// placeOrder is an exchange that places an order with key.
func placeOrder(key, body string) exchange {
	ex := exchange{method: "POST", target: "/v1/orders", token: aliceToken, body: body}
	if key != "" {
		ex.header = http.Header{"Idempotency-Key": {key}}
	}
	return ex
}

func decodeOrder(t *testing.T, body []byte) emporium.Order {
	t.Helper()
	var o emporium.Order
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&o), "body: %s", body)
	return o
}

// TestOrdersHappyPaths sends every order route a good request and checks
// the status, the body and what the service was asked; send checks each
// exchange against openapi.yaml.
func TestOrdersHappyPaths(t *testing.T) {
	for _, sparse := range []bool{false, true} {
		t.Run(fmt.Sprintf("sparse=%v", sparse), func(t *testing.T) {
			s, f, hooks := ordersServer(t, gateway.Config{})
			f.sparse = sparse

			t.Run("shipping methods", func(t *testing.T) {
				resp, body := send(t, s, exchange{method: "GET", target: "/v1/shipping-methods?country=gb"})
				require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
				items := decodeJSON(t, body)["items"].([]any)
				if !sparse {
					assert.Len(t, items, 2)
				} else {
					assert.Empty(t, items, "an empty list is [], not null")
				}
				assert.Equal(t, []any{"GB"}, f.called("ShippingMethods")[0].args, "no token needed; the country in capitals")

				resp, body = send(t, s, exchange{method: "GET", target: "/v1/shipping-methods"})
				require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
				assert.Equal(t, []any{""}, f.called("ShippingMethods")[1].args)
			})
			t.Run("preview", func(t *testing.T) {
				resp, body := send(t, s, exchange{method: "POST", target: "/v1/checkout/preview", token: aliceToken,
					body: `{"shipping_address_id":"addr-1","shipping_method":"standard"}`})
				require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
				assert.Equal(t, float64(3630), decodeJSON(t, body)["total"].(map[string]any)["amount"])
				c := f.last(t, "Preview")
				assert.Equal(t, alice, c.principal)
				assert.Equal(t, emporium.CheckoutInput{ShippingAddressID: "addr-1", ShippingMethod: "standard"}, c.args[0])
			})
			t.Run("place", func(t *testing.T) {
				resp, body := send(t, s, placeOrder("key-1", placeBody))
				require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", body)
				o := decodeOrder(t, body)
				assert.Equal(t, "u-alice-key-1", o.ID)
				assert.Equal(t, "/v1/orders/u-alice-key-1", resp.Header.Get("Location"))
				assert.NotNil(t, o.Lines)
				assert.NotNil(t, o.Shipments)
				c := f.last(t, "PlaceOrder")
				assert.Equal(t, alice, c.principal)
				assert.Equal(t, emporium.PlaceOrderInput{
					ShippingAddressID: "addr-1", BillingAddressID: "addr-2", ShippingMethod: "standard",
					Payment:       emporium.PaymentInput{Provider: "sandbox", Token: "tok_visa", ReturnURL: "https://shop.example/return?x=1"},
					ExpectedTotal: &emporium.Money{Amount: 3630, Currency: "USD"},
				}, c.args[0])
				assert.Equal(t, "key-1", c.args[1])
				assert.Equal(t, gateway.DefaultOrderWait, c.args[2])
			})
			t.Run("place with a wait", func(t *testing.T) {
				for _, wait := range []int{0, 10} {
					ex := placeOrder(fmt.Sprintf("key-w%d", wait), `{"shipping_address_id":"a","shipping_method":"m","payment":{"provider":"sandbox"}}`)
					ex.target += fmt.Sprintf("?wait=%d", wait)
					resp, body := send(t, s, ex)
					require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", body)
					calls := f.called("PlaceOrder")
					assert.Equal(t, time.Duration(wait)*time.Second, calls[len(calls)-1].args[2])
				}
			})
			t.Run("list", func(t *testing.T) {
				resp, body := send(t, s, exchange{method: "GET", target: "/v1/orders?limit=2&cursor=c1", token: aliceToken})
				require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
				page := decodeJSON(t, body)
				if !sparse {
					assert.Len(t, page["items"], 2)
					assert.Equal(t, "c2", page["next_cursor"])
				} else {
					assert.Equal(t, []any{}, page["items"])
					assert.NotContains(t, page, "next_cursor", "absent on the last page")
				}
				assert.Equal(t, []any{"c1", 2}, f.last(t, "ListOrders").args)
			})
			t.Run("get", func(t *testing.T) {
				resp, body := send(t, s, exchange{method: "GET", target: "/v1/orders/u-alice-1", token: aliceToken})
				require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
				assert.Equal(t, "u-alice-1", decodeOrder(t, body).ID)
				assert.Equal(t, []any{"u-alice-1"}, f.last(t, "Order").args)
			})
			t.Run("cancel", func(t *testing.T) {
				resp, body := send(t, s, exchange{method: "POST", target: "/v1/orders/u-alice-1/cancel", token: aliceToken,
					header: http.Header{"Idempotency-Key": {"cancel-1"}}})
				require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
				assert.Equal(t, []any{"u-alice-1", "cancel-1"}, f.last(t, "CancelOrder").args)
				resp, body = send(t, s, exchange{method: "POST", target: "/v1/orders/u-alice-1/cancel", token: aliceToken})
				require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
				calls := f.called("CancelOrder")
				assert.Equal(t, []any{"u-alice-1", ""}, calls[len(calls)-1].args, "the key is optional")
			})
			t.Run("confirm payment", func(t *testing.T) {
				resp, body := send(t, s, exchange{method: "POST", target: "/v1/orders/u-alice-1/payment/confirm", token: aliceToken})
				require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
				assert.Equal(t, []any{"u-alice-1"}, f.last(t, "ConfirmPayment").args)
			})
			t.Run("webhook", func(t *testing.T) {
				resp, body := send(t, s, exchange{method: "POST", target: "/v1/webhooks/sandbox", body: `{"id":"evt_1"}`})
				require.Equal(t, http.StatusNoContent, resp.StatusCode, "%s", body)
				assert.Empty(t, body)
				require.NotEmpty(t, hooks.received())
			})
		})
	}
}

// TestOrdersOverTheNetwork places an order and delivers a webhook through
// a real listener and gatewaytest.Transport.
func TestOrdersOverTheNetwork(t *testing.T) {
	s, f, hooks := ordersServer(t, gateway.Config{})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	client := &http.Client{Transport: gatewaytest.Transport(t, nil)}

	req, err := http.NewRequest("POST", srv.URL+"/v1/orders?wait=1", strings.NewReader(placeBody))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	req.Header.Set("Idempotency-Key", "net-1")
	resp, err := client.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", body)
	assert.Equal(t, time.Second, f.last(t, "PlaceOrder").args[2])

	resp, err = client.Post(srv.URL+"/v1/webhooks/stripe", "application/json; charset=utf-8", strings.NewReader(`{"type":"charge.captured"}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.Len(t, hooks.received(), 1)
	assert.Equal(t, "stripe", hooks.received()[0].provider)
}

// TestPlaceOrderNeedsAnIdempotencyKey: without the header the order is not
// placed; a malformed one is refused as on every route.
func TestPlaceOrderNeedsAnIdempotencyKey(t *testing.T) {
	s, f, _ := ordersServer(t, gateway.Config{})
	resp, body := send(t, s, placeOrder("", placeBody))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s", body)
	p := problemOf(t, resp, body)
	assert.Equal(t, emporium.EIDEMPOTENCYREQUIRED, p.Code)
	assert.Equal(t, []emporium.FieldError{{Field: "Idempotency-Key", Code: emporium.FieldRequired, Message: "is required"}}, p.Errors)
	assert.Contains(t, p.Detail, "Idempotency-Key")

	ex := placeOrder("", placeBody)
	ex.header = http.Header{"Idempotency-Key": {"a key with spaces"}}
	resp, body = send(t, s, ex)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s", body)
	assert.Equal(t, emporium.EMALFORMED, problemOf(t, resp, body).Code)

	assert.Empty(t, f.called(""), "the service is never asked")
}

// TestPlaceOrderKeysAreTheServices: the order service keeps the request
// hash with the order, so the gateway's own key claims stay out of the way:
// a replay reaches the service, which answers the order as it is now.
func TestPlaceOrderKeysAreTheServices(t *testing.T) {
	claims := &memClaims{}
	s, f, _ := ordersServer(t, gateway.Config{Idempotency: claims})
	for range 2 {
		resp, body := send(t, s, placeOrder("same", placeBody))
		require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", body)
	}
	assert.Len(t, f.called("PlaceOrder"), 2)
	f.setFail("PlaceOrder", &emporium.Error{Code: emporium.EIDEMPOTENCY, Message: "This Idempotency-Key placed another order."})
	resp, body := send(t, s, placeOrder("same", strings.Replace(placeBody, "standard", "express", 1)))
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, "%s", body)
	assert.Equal(t, emporium.EIDEMPOTENCY, problemOf(t, resp, body).Code)
	claims.mu.Lock()
	defer claims.mu.Unlock()
	assert.Empty(t, claims.owners, "POST /v1/orders claims no key in the gateway")
}

// TestOrderBodiesRefuseServerOwnedMembers: totals, prices, statuses and ids
// are the server's. Sent by a client they are refused by name, as on every
// route (400 malformed_request, field code read_only), and the service is
// never asked.
func TestOrderBodiesRefuseServerOwnedMembers(t *testing.T) {
	routes := []struct{ name, good string }{
		{"POST /v1/orders", placeBody},
		{"POST /v1/checkout/preview", `{"shipping_address_id":"addr-1","shipping_method":"standard"}`},
	}
	owned := map[string]string{
		"total":          `{"amount":1,"currency":"USD"}`,
		"subtotal":       `{"amount":1,"currency":"USD"}`,
		"tax":            `{"amount":0,"currency":"USD"}`,
		"shipping":       `{"amount":0,"currency":"USD"}`,
		"status":         `"confirmed"`,
		"payment_status": `"captured"`,
		"id":             `"o-1"`,
		"lines":          `[{"sku":"TEE","unit_price":{"amount":1,"currency":"USD"}}]`,
		"unit_price":     `{"amount":1,"currency":"USD"}`,
		"price":          `null`,
	}
	for _, rt := range routes {
		for name, value := range owned {
			t.Run(rt.name+" "+name, func(t *testing.T) {
				s, f, _ := ordersServer(t, gateway.Config{})
				method, target, _ := strings.Cut(rt.name, " ")
				ex := exchange{method: method, target: target, token: aliceToken, body: rt.good[:len(rt.good)-1] + `,"` + name + `":` + value + `}`,
					header: http.Header{"Idempotency-Key": {"k"}}}
				resp, body := send(t, s, ex)
				require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s", body)
				p := problemOf(t, resp, body)
				assert.Equal(t, emporium.EMALFORMED, p.Code)
				assert.Equal(t, []emporium.FieldError{{Field: name, Code: emporium.FieldReadOnly, Message: "is set by the server and cannot be changed"}}, p.Errors)
				assert.Empty(t, f.called(""))
			})
		}
	}
}

// TestOrdersRefuseBadRequests: bodies and query parameters the contract
// does not allow are refused before the service is asked.
func TestOrdersRefuseBadRequests(t *testing.T) {
	long := strings.Repeat("x", 129)
	cases := []struct {
		name   string
		ex     exchange
		status int
		code   string
		fields []string // the fields named, in order
	}{
		{"unknown member", placeOrder("k", `{"shipping_address_id":"a","shipping_method":"m","payment":{"provider":"sandbox"},"coupon":"FREE"}`),
			400, emporium.EMALFORMED, []string{"coupon"}},
		{"unknown payment member", placeOrder("k", `{"shipping_address_id":"a","shipping_method":"m","payment":{"provider":"sandbox","card_number":"4242"}}`),
			400, emporium.EMALFORMED, []string{"card_number"}},
		{"not JSON", exchange{method: "POST", target: "/v1/orders", token: aliceToken, body: placeBody,
			header: http.Header{"Idempotency-Key": {"k"}, "Content-Type": {"text/plain"}}}, 415, emporium.EMEDIATYPE, nil},
		{"missing members", placeOrder("k", `{}`), 422, emporium.EINVALID, []string{"shipping_address_id", "shipping_method", "payment.provider"}},
		{"too long", placeOrder("k", `{"shipping_address_id":"`+long+`","billing_address_id":"`+long+`","shipping_method":"`+long+
			`","payment":{"provider":"`+long[:65]+`","token":"`+strings.Repeat("t", 513)+`","return_url":"https://x.example/`+strings.Repeat("r", 2048)+`"}}`),
			422, emporium.EINVALID, []string{"shipping_address_id", "billing_address_id", "shipping_method", "payment.provider", "payment.token", "payment.return_url"}},
		{"relative return url", placeOrder("k", `{"shipping_address_id":"a","shipping_method":"m","payment":{"provider":"p","return_url":"/back"}}`),
			422, emporium.EINVALID, []string{"payment.return_url"}},
		{"javascript return url", placeOrder("k", `{"shipping_address_id":"a","shipping_method":"m","payment":{"provider":"p","return_url":"javascript:alert(1)"}}`),
			422, emporium.EINVALID, []string{"payment.return_url"}},
		{"bad expected currency", placeOrder("k", `{"shipping_address_id":"a","shipping_method":"m","payment":{"provider":"p"},"expected_total":{"amount":1}}`),
			422, emporium.EINVALID, []string{"expected_total.currency"}},
		{"expected total of the wrong type", placeOrder("k", `{"shipping_address_id":"a","shipping_method":"m","payment":{"provider":"p"},"expected_total":3630}`),
			400, emporium.EMALFORMED, []string{"expected_total"}},
		{"wait too long", func() exchange { ex := placeOrder("k", placeBody); ex.target += "?wait=11"; return ex }(), 422, emporium.EINVALID, []string{"wait"}},
		{"wait not a number", func() exchange { ex := placeOrder("k", placeBody); ex.target += "?wait=soon"; return ex }(), 422, emporium.EINVALID, []string{"wait"}},
		{"preview missing members", exchange{method: "POST", target: "/v1/checkout/preview", token: aliceToken, body: `{}`},
			422, emporium.EINVALID, []string{"shipping_address_id", "shipping_method"}},
		{"preview takes no payment", exchange{method: "POST", target: "/v1/checkout/preview", token: aliceToken,
			body: `{"shipping_address_id":"a","shipping_method":"m","payment":{"provider":"p"}}`}, 400, emporium.EMALFORMED, []string{"payment"}},
		{"country", exchange{method: "GET", target: "/v1/shipping-methods?country=GBR"}, 422, emporium.EINVALID, []string{"country"}},
		{"limit", exchange{method: "GET", target: "/v1/orders?limit=many", token: aliceToken}, 422, emporium.EINVALID, []string{"limit"}},
		{"cancel key", exchange{method: "POST", target: "/v1/orders/u-alice-1/cancel", token: aliceToken, header: http.Header{"Idempotency-Key": {""}}},
			400, emporium.EMALFORMED, []string{"Idempotency-Key"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, f, _ := ordersServer(t, gateway.Config{})
			resp, body := send(t, s, tc.ex)
			require.Equal(t, tc.status, resp.StatusCode, "%s", body)
			p := problemOf(t, resp, body)
			assert.Equal(t, tc.code, p.Code)
			var fields []string
			for _, e := range p.Errors {
				fields = append(fields, e.Field)
			}
			assert.Equal(t, tc.fields, fields)
			assert.Empty(t, f.called(""), "the service is never asked")
		})
	}
}

// TestOrderRoutesNeedAToken: every route but the shipping methods and the
// webhooks answers 401 without a valid token, and never asks the service.
func TestOrderRoutesNeedAToken(t *testing.T) {
	s, f, _ := ordersServer(t, gateway.Config{})
	for _, ex := range []exchange{
		{method: "POST", target: "/v1/checkout/preview", body: `{"shipping_address_id":"a","shipping_method":"m"}`},
		{method: "POST", target: "/v1/orders", body: placeBody, header: http.Header{"Idempotency-Key": {"k"}}},
		{method: "GET", target: "/v1/orders"},
		{method: "GET", target: "/v1/orders/u-alice-1"},
		{method: "POST", target: "/v1/orders/u-alice-1/cancel"},
		{method: "POST", target: "/v1/orders/u-alice-1/payment/confirm"},
		{method: "GET", target: "/v1/orders/u-alice-1", token: "forged.token"},
	} {
		t.Run(ex.method+" "+ex.target, func(t *testing.T) {
			resp, body := send(t, s, ex)
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s", body)
			assert.Equal(t, emporium.EUNAUTHENTICATED, problemOf(t, resp, body).Code)
			assert.Equal(t, "Bearer", resp.Header.Get("WWW-Authenticate"))
		})
	}
	assert.Empty(t, f.called(""))
}

// TestAnotherUsersOrderIsNotFound: the service answers ENOTFOUND for an
// order of someone else, and the gateway says 404, whatever the route.
func TestAnotherUsersOrderIsNotFound(t *testing.T) {
	s, f, _ := ordersServer(t, gateway.Config{})
	for _, ex := range []exchange{
		{method: "GET", target: "/v1/orders/u-alice-1", token: bobToken},
		{method: "POST", target: "/v1/orders/u-alice-1/cancel", token: bobToken},
		{method: "POST", target: "/v1/orders/u-alice-1/payment/confirm", token: bobToken},
	} {
		resp, body := send(t, s, ex)
		require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s %s: %s", ex.method, ex.target, body)
		assert.Equal(t, emporium.ENOTFOUND, problemOf(t, resp, body).Code)
	}
	for _, c := range f.called("") {
		assert.Equal(t, bob, c.principal, "the service acts for the token's user")
	}
}

// TestPriceChangedCarriesTheTotals: EPRICECHANGED is a 409 whose problem
// holds the totals now, whether the error came from the service in process
// or across the cluster from a grain.
func TestPriceChangedCarriesTheTotals(t *testing.T) {
	totals := emporium.OrderTotals{Subtotal: usd(2900), Shipping: usd(500), Tax: usd(340), Total: usd(3740)}
	changed := emporium.PriceChanged(totals)
	crossed := emporium.GrainCall("order.Place",
		cluster.NewGrainErrorResponse(emporium.EPRICECHANGED, changed.Message).WithMetadata(emporium.Metadata(changed)))
	for name, err := range map[string]error{"in process": emporium.Wrap("orders.Place", changed), "across the cluster": crossed} {
		t.Run(name, func(t *testing.T) {
			s, f, _ := ordersServer(t, gateway.Config{})
			f.setFail("PlaceOrder", err)
			resp, body := send(t, s, placeOrder("k", placeBody))
			require.Equal(t, http.StatusConflict, resp.StatusCode, "%s", body)
			p := problemOf(t, resp, body)
			assert.Equal(t, emporium.EPRICECHANGED, p.Code)
			assert.Equal(t, "Price changed", p.Title)
			require.Contains(t, p.Extensions, "totals")
			var got emporium.OrderTotals
			require.NoError(t, json.Unmarshal(p.Extensions["totals"], &got))
			assert.Equal(t, totals, got)
			assert.JSONEq(t, `{"subtotal":{"amount":2900,"currency":"USD"},"shipping":{"amount":500,"currency":"USD"},`+
				`"tax":{"amount":340,"currency":"USD"},"total":{"amount":3740,"currency":"USD"}}`, string(p.Extensions["totals"]))
		})
	}
}

// TestOrderServiceErrors: the service's other errors reach the client as
// the problems the contract lists.
func TestOrderServiceErrors(t *testing.T) {
	cases := []struct {
		method string
		ex     exchange
		err    error
		status int
	}{
		{"PlaceOrder", placeOrder("k", placeBody), &emporium.Error{Code: emporium.EOUTOFSTOCK, Message: "Only 1 left of TEE-RED-M."}, 409},
		{"PlaceOrder", placeOrder("k", placeBody), emporium.Invalidf("shipping_address_id", emporium.FieldNotFound, "no such address"), 422},
		{"PlaceOrder", placeOrder("k", placeBody), emporium.Errorf(emporium.EUNAVAILABLE, "busy"), 503},
		{"PlaceOrder", placeOrder("k", placeBody), &emporium.Error{Code: emporium.ERATELIMITED, Message: "Too many orders.", RetryAfter: time.Second}, 429},
		{"Preview", exchange{method: "POST", target: "/v1/checkout/preview", token: aliceToken, body: `{"shipping_address_id":"a","shipping_method":"m"}`},
			emporium.Errorf(emporium.EINVALID, "The cart is empty."), 422},
		{"ShippingMethods", exchange{method: "GET", target: "/v1/shipping-methods"}, fmt.Errorf("mongo exploded"), 500},
		{"ListOrders", exchange{method: "GET", target: "/v1/orders?limit=1000", token: aliceToken},
			emporium.Invalidf("limit", emporium.FieldOutOfRange, "limit must be 1 to 100"), 422},
		{"CancelOrder", exchange{method: "POST", target: "/v1/orders/u-alice-1/cancel", token: aliceToken},
			emporium.Errorf(emporium.ECONFLICT, "The order shipped already."), 409},
		{"ConfirmPayment", exchange{method: "POST", target: "/v1/orders/u-alice-1/payment/confirm", token: aliceToken},
			emporium.Errorf(emporium.ECONFLICT, "The order is not awaiting payment."), 409},
		{"Order", exchange{method: "GET", target: "/v1/orders/u-alice-9", token: aliceToken}, emporium.Errorf(emporium.ENOTFOUND, "No such order."), 404},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+emporium.ErrorCode(tc.err), func(t *testing.T) {
			s, f, _ := ordersServer(t, gateway.Config{})
			f.setFail(tc.method, tc.err)
			resp, body := send(t, s, tc.ex)
			require.Equal(t, tc.status, resp.StatusCode, "%s", body)
			p := problemOf(t, resp, body)
			assert.NotContains(t, p.Detail, "mongo")
			assert.Equal(t, emporium.ErrorFields(tc.err), p.Errors)
			assert.Len(t, f.called(tc.method), 1)
		})
	}
}

// TestWebhooksTakeTheRawBody: the body reaches the service byte for byte
// with the request's headers, whatever its content type and members: the
// provider's signature covers those bytes.
func TestWebhooksTakeTheRawBody(t *testing.T) {
	bodies := []struct {
		name, contentType, body string
	}{
		{"JSON with members the API does not know", "application/json", "{\"id\":\"evt_1\",  \"type\":\"payment_intent.succeeded\",\n\"livemode\":false,\"unknown\":{\"deep\":[1,2]}}\n"},
		{"form encoded", "application/x-www-form-urlencoded", "event=payment.captured&id=42&sig=abc%3D%3D"},
		{"plain text", "text/plain; charset=latin1", "not json at all {"},
		{"no content type", "", "\x00\x01binary\xff"},
		{"empty", "application/json", ""},
	}
	for _, b := range bodies {
		t.Run(b.name, func(t *testing.T) {
			s, orders, hooks := ordersServer(t, gateway.Config{})
			header := http.Header{"Stripe-Signature": {"t=1,v1=deadbeef"}, "Content-Type": {b.contentType}}
			if b.contentType == "" {
				header["Content-Type"] = nil
			}
			resp, body := send(t, s, exchange{method: "POST", target: "/v1/webhooks/stripe", body: b.body, header: header})
			require.Equal(t, http.StatusNoContent, resp.StatusCode, "%s", body)
			got := hooks.received()
			require.Len(t, got, 1)
			assert.Equal(t, "stripe", got[0].provider)
			assert.Equal(t, []byte(b.body), append([]byte{}, got[0].body...), "the exact bytes")
			assert.Equal(t, "t=1,v1=deadbeef", got[0].header.Get("Stripe-Signature"))
			assert.Equal(t, b.contentType, got[0].header.Get("Content-Type"))
			assert.Empty(t, orders.called(""))
		})
	}
}

func TestWebhookSizeLimit(t *testing.T) {
	s, _, hooks := ordersServer(t, gateway.Config{})
	atLimit := strings.Repeat("a", gateway.MaxWebhookBytes)
	resp, body := send(t, s, exchange{method: "POST", target: "/v1/webhooks/sandbox", body: atLimit, header: http.Header{"Content-Type": {"text/plain"}}})
	require.Equal(t, http.StatusNoContent, resp.StatusCode, "%s", body)
	require.Len(t, hooks.received(), 1)

	// Declared too large, and too large without a declared length.
	resp, body = send(t, s, exchange{method: "POST", target: "/v1/webhooks/sandbox", body: atLimit + "a"})
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "%s", body)
	assert.Equal(t, emporium.ETOOLARGE, problemOf(t, resp, body).Code)

	req := httptest.NewRequest("POST", "/v1/webhooks/sandbox", io.MultiReader(strings.NewReader(atLimit), strings.NewReader("a")))
	req.ContentLength = -1
	resp, body = gatewaytest.Do(t, s, req)
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "%s", body)
	assert.Equal(t, emporium.ETOOLARGE, problemOf(t, resp, body).Code)
	assert.Contains(t, problemOf(t, resp, body).Detail, fmt.Sprint(gateway.MaxWebhookBytes))

	assert.Len(t, hooks.received(), 1, "an oversized delivery never reaches the service")
}

func TestWebhookRefusals(t *testing.T) {
	t.Run("forged", func(t *testing.T) {
		s, _, hooks := ordersServer(t, gateway.Config{})
		hooks.err = emporium.Errorf(emporium.EUNAUTHENTICATED, "The signature does not match the body.")
		resp, body := send(t, s, exchange{method: "POST", target: "/v1/webhooks/stripe", body: `{"id":"evt_1"}`})
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s", body)
		p := problemOf(t, resp, body)
		assert.Equal(t, emporium.EUNAUTHENTICATED, p.Code)
		assert.Equal(t, "The signature does not match the body.", p.Detail)
	})
	t.Run("unknown provider", func(t *testing.T) {
		s, _, hooks := ordersServer(t, gateway.Config{})
		hooks.err = emporium.Errorf(emporium.ENOTFOUND, "No such provider.")
		resp, body := send(t, s, exchange{method: "POST", target: "/v1/webhooks/acme", body: `{}`})
		require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s", body)
		assert.Len(t, hooks.received(), 1)
	})
	t.Run("malformed provider name", func(t *testing.T) {
		s, _, hooks := ordersServer(t, gateway.Config{})
		for _, name := range []string{"Stripe", "-x", strings.Repeat("p", 65), "a%20b"} {
			resp, body := send(t, s, exchange{method: "POST", target: "/v1/webhooks/" + name, body: `{}`})
			require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s: %s", name, body)
			assert.Equal(t, emporium.ENOTFOUND, problemOf(t, resp, body).Code)
		}
		assert.Empty(t, hooks.received())
	})
	t.Run("only POST", func(t *testing.T) {
		s, _, _ := ordersServer(t, gateway.Config{})
		resp, body := send(t, s, exchange{method: "GET", target: "/v1/webhooks/stripe"})
		require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, "%s", body)
	})
}

// TestWebhooksAreLimitedPerAddress checks the GCRA limit of the webhook
// route, and that it is its own: other routes are not under it.
func TestWebhooksAreLimitedPerAddress(t *testing.T) {
	limiter, _ := newLimiter(t)
	s, _, hooks := ordersServer(t, gateway.Config{
		Limiter:    limiter,
		RateLimits: gateway.RateLimits{Webhooks: ratelimit.Limit{Rate: 2, Burst: 2, Period: time.Hour}},
	})
	for i := range 2 {
		resp, body := send(t, s, exchange{method: "POST", target: "/v1/webhooks/stripe", body: `{}`})
		require.Equal(t, http.StatusNoContent, resp.StatusCode, "%s", body)
		assert.Equal(t, "2", resp.Header.Get("RateLimit-Limit"))
		assert.Equal(t, fmt.Sprint(1-i), resp.Header.Get("RateLimit-Remaining"))
	}
	resp, body := send(t, s, exchange{method: "POST", target: "/v1/webhooks/paypal", body: `{}`})
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "%s", body)
	assert.Equal(t, emporium.ERATELIMITED, problemOf(t, resp, body).Code)
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
	assert.Len(t, hooks.received(), 2, "the refused delivery never reaches the service")

	resp, body = send(t, s, exchange{method: "POST", target: "/v1/webhooks/stripe", remoteAddr: "198.51.100.1:1", body: `{}`})
	require.Equal(t, http.StatusNoContent, resp.StatusCode, "another address has a limit of its own: %s", body)
	resp, body = send(t, s, exchange{method: "GET", target: "/v1/shipping-methods"})
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	assert.Empty(t, resp.Header.Get("RateLimit-Limit"))
}

// TestOrderRoutesNeedTheirServices: without Orders or PaymentWebhooks the
// routes are not there; without Accounts only the public ones are.
func TestOrderRoutesNeedTheirServices(t *testing.T) {
	bare, _ := newServer(t, gateway.Config{Accounts: newFake()})
	for _, target := range []string{"/v1/shipping-methods", "/v1/orders", "/v1/webhooks/stripe"} {
		resp, body := serve(bare, httptest.NewRequest("GET", target, nil))
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "%s: %s", target, body)
	}
	public, _ := newServer(t, gateway.Config{Orders: newFakeOrders(), PaymentWebhooks: &fakeWebhooks{}})
	resp, body := serve(public, httptest.NewRequest("GET", "/v1/shipping-methods", nil))
	assert.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	resp, body = serve(public, httptest.NewRequest("GET", "/v1/orders", nil))
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "%s", body)
	resp, body = serve(public, httptest.NewRequest("POST", "/v1/webhooks/stripe", strings.NewReader("{}")))
	assert.Equal(t, http.StatusNoContent, resp.StatusCode, "%s", body)
}
