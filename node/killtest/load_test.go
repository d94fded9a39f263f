package killtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emporium-shop/emporium/tools/shopclient"
)

// balancer spreads requests over the nodes in rotation, as a load balancer
// with a health check would: a node leaves the rotation the moment it is
// killed or stopped, and enters it once its /readyz answers.
type balancer struct {
	mu    sync.Mutex
	nodes []int
	bases map[int]string
	next  atomic.Uint64
}

func (b *balancer) add(i int, base string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bases[i] = base
	b.nodes = append(b.nodes, i)
	sort.Ints(b.nodes)
}

func (b *balancer) remove(i int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, n := range b.nodes {
		if n == i {
			b.nodes = append(b.nodes[:k], b.nodes[k+1:]...)
			return
		}
	}
}

// pick returns the next node in rotation and its URL.
func (b *balancer) pick() (int, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.nodes) == 0 {
		return -1, ""
	}
	i := b.nodes[int(b.next.Add(1)%uint64(len(b.nodes)))]
	return i, b.bases[i]
}

// outcome is one request of the load.
type outcome struct {
	sent time.Time // when the request was sent
	at   time.Time // when the answer (or the failure) came
	op   string    // "add" or "order"
	node int
	err  string // empty for a success
}

// recorder keeps every outcome.
type recorder struct {
	mu   sync.Mutex
	outs []outcome
}

func (r *recorder) record(op string, node int, sent time.Time, err error) {
	o := outcome{sent: sent, at: time.Now(), op: op, node: node}
	if err != nil {
		o.err = err.Error()
	}
	r.mu.Lock()
	r.outs = append(r.outs, o)
	r.mu.Unlock()
}

func (r *recorder) all() []outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]outcome(nil), r.outs...)
}

// successes counts the successes between from and to.
func (r *recorder) successes(from, to time.Time) int {
	n := 0
	for _, o := range r.all() {
		if o.err == "" && !o.at.Before(from) && o.at.Before(to) {
			n++
		}
	}
	return n
}

// cartBuyer adds one unit at a time to its cart and counts, per SKU, what it
// sent and what was acknowledged.
type cartBuyer struct {
	email, token string
	skus         []string
	sent, acked  map[string]int64
}

// maxPerLine keeps each cart line under the 99 units a line may hold.
const maxPerLine = 95

func (b *cartBuyer) run(ctx context.Context, lb *balancer, rec *recorder) {
	for k := 0; ctx.Err() == nil; k++ {
		sku := b.skus[k%len(b.skus)]
		if b.sent[sku] >= maxPerLine {
			if k > len(b.skus)*maxPerLine {
				return // every line is full
			}
			continue
		}
		node, base := lb.pick()
		c := &shopclient.Client{Base: base, Token: b.token, HTTP: httpClient}
		b.sent[sku]++
		sent := time.Now()
		err := c.AddToCart(ctx, sku, 1)
		if ctx.Err() != nil {
			return // the load stopped mid-request: neither an error nor an ack
		}
		rec.record("add", node, sent, err)
		if err == nil {
			b.acked[sku]++
		}
	}
}

// orderBuyer adds a unit to its cart and checks out, again and again, and
// keeps the ids of its orders and which were confirmed in the answer.
type orderBuyer struct {
	id           int
	email, token string
	addressID    string
	skus         []string

	mu        sync.Mutex
	ids       map[string]bool // every order id an answer named
	confirmed map[string]bool // ids answered as confirmed
	unknown   []string        // Idempotency-Keys whose placement got no answer
}

func (b *orderBuyer) run(ctx context.Context, lb *balancer, rec *recorder) {
	for k := 0; ctx.Err() == nil; k++ {
		sku := b.skus[(b.id+k)%len(b.skus)]
		node, base := lb.pick()
		c := &shopclient.Client{Base: base, Token: b.token, HTTP: httpClient}
		sent := time.Now()
		err := c.AddToCart(ctx, sku, 1)
		if ctx.Err() != nil {
			return
		}
		if outOfStock(err) {
			// The scarce SKU is sold out: the right answer, not an error.
			rec.record("add refused", node, sent, nil)
			continue
		}
		rec.record("add", node, sent, err)
		if err != nil {
			continue
		}
		node, base = lb.pick()
		c = &shopclient.Client{Base: base, Token: b.token, HTTP: httpClient}
		key := fmt.Sprintf("kill-%d-%d", b.id, k)
		sent = time.Now()
		order, err := placeOrder(ctx, c, key, b.addressID)
		if ctx.Err() != nil {
			b.mu.Lock()
			b.unknown = append(b.unknown, key)
			b.mu.Unlock()
			return
		}
		rec.record("order", node, sent, err)
		b.mu.Lock()
		if err != nil {
			b.unknown = append(b.unknown, key)
		} else {
			b.ids[order.ID] = true
			if order.Status == "confirmed" {
				b.confirmed[order.ID] = true
			}
		}
		b.mu.Unlock()
		if err != nil || order.Status != "confirmed" {
			// A failed order leaves its lines in the cart; start the next
			// one from an empty cart so that one sold-out SKU does not fail
			// every order after it. (Not recorded: it is housekeeping.)
			_ = c.Do(ctx, http.MethodDelete, "/v1/cart", nil, nil)
		}
	}
}

// httpClient is the load's HTTP client: a timeout above the node's own
// grain request timeouts, so that a slow answer is an answer.
var httpClient = &http.Client{Timeout: 20 * time.Second}

// order is the part of an order the test reads.
type order struct {
	ID            string `json:"id"`
	Status        string `json:"status"`
	FailureReason string `json:"failure_reason"`
	Lines         []struct {
		SKU      string `json:"sku"`
		Quantity int64  `json:"quantity"`
	} `json:"lines"`
	Total   struct{ Amount int64 } `json:"total"`
	Payment struct {
		Captured, Refunded struct{ Amount int64 }
	} `json:"payment"`
}

// placeOrder posts an order with an Idempotency-Key, waiting up to 2 s for
// the saga.
func placeOrder(ctx context.Context, c *shopclient.Client, key, addressID string) (order, error) {
	var o order
	body, _ := json.Marshal(map[string]any{"shipping_address_id": addressID, "shipping_method": "standard",
		"payment": map[string]string{"provider": "sandbox", "token": "tok_visa"}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base+"/v1/orders?wait=2", bytes.NewReader(body))
	if err != nil {
		return o, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Idempotency-Key", key)
	res, err := httpClient.Do(req)
	if err != nil {
		return o, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return o, err
	}
	if res.StatusCode != http.StatusCreated && res.StatusCode != http.StatusOK {
		return o, &shopclient.StatusError{Method: http.MethodPost, Path: "/v1/orders", Status: res.StatusCode, Body: string(data)}
	}
	return o, json.Unmarshal(data, &o)
}

// terminal reports whether an order's status is one it stays in without a
// client or a vendor acting: the checkout is over.
func terminal(status string) bool {
	switch status {
	case "pending", "awaiting_payment":
		return false
	}
	return true
}

// shortErr trims an error for the report.
func shortErr(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return s
}

// outOfStock reports whether err is the answer that a SKU has too few
// units: 409 with the problem code out_of_stock.
func outOfStock(err error) bool {
	var se *shopclient.StatusError
	return errors.As(err, &se) && se.Status == http.StatusConflict && strings.Contains(se.Body, `"code":"out_of_stock"`)
}
