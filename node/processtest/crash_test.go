// Package processtest runs the emporium binary as real processes, as an
// operator does, and does to them what tests in one process cannot: kill
// them with SIGKILL. Like the cluster tests it runs without -race (the
// binary is built without it), in `make test-cluster`.
package processtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium/tools/shopclient"
)

// build compiles the emporium binary into a temporary directory.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "emporium")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/emporium-shop/emporium/cmd/emporium").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// node is one emporium process.
type node struct {
	cmd *exec.Cmd
	log *lockedBuffer
}

// env is the settings of every process of a test: its own DATA_DIR and
// an embedded Redis, whatever the environment says.
func env(dataDir, httpAddr string) []string {
	return append(os.Environ(), "DATA_DIR="+dataDir, "HTTP_ADDR="+httpAddr, "REDIS_URL=", "MONGODB_URI=",
		"ELASTICSEARCH_URL=", "METRICS_ADDR=127.0.0.1:0", "LOG_LEVEL=warn")
}

// start runs `emporium serve` and waits until it is ready.
func start(t *testing.T, bin, dataDir, addr string) *node {
	t.Helper()
	n := &node{cmd: exec.Command(bin, "serve"), log: &lockedBuffer{}}
	n.cmd.Env = env(dataDir, addr)
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	require.NoError(t, n.cmd.Start())
	t.Cleanup(func() {
		if n.cmd.ProcessState == nil {
			_ = n.cmd.Process.Kill()
			_ = n.cmd.Wait()
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := (&shopclient.Client{Base: "http://" + addr}).WaitReady(ctx); err != nil {
		t.Fatalf("%v\nnode log:\n%s", err, n.log)
	}
	return n
}

// lockedBuffer is a bytes.Buffer that a process's output and the test may
// use at once.
type lockedBuffer struct {
	mu sync.Mutex
	bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.String()
}

// TestKilledNodeKeepsEveryAcknowledgedAdd kills a node with SIGKILL in the
// middle of add-to-cart traffic, restarts it on the same DATA_DIR, and
// checks that every add it acknowledged is in the cart, and nothing more
// than was sent: a reply means durable.
func TestKilledNodeKeepsEveryAcknowledgedAdd(t *testing.T) {
	bin := build(t)
	dataDir, addr := t.TempDir(), freeAddr(t)
	const email, password = "shop@example.com", "crash test password 1"

	create := exec.Command(bin, "admin", "create-user", "--username", "shop", "--email", email, "--role", "admin", "--role", "vendor")
	create.Env = env(dataDir, "")
	create.Stdin = strings.NewReader(password + "\n")
	out, err := create.CombinedOutput()
	require.NoError(t, err, "create-user: %s", out)

	first := start(t, bin, dataDir, addr)
	ctx := t.Context()
	shop := &shopclient.Client{Base: "http://" + addr}
	require.NoError(t, shop.Login(ctx, email, password))
	skus, err := shop.Stock(ctx, "Crash Test Store", 10, 1_000_000)
	require.NoError(t, err)

	// Shoppers add one unit at a time, each to SKUs of its own, and count
	// what was acknowledged and what was sent.
	const shoppers = 8
	var acked, sent [shoppers]map[string]int64
	var adds atomic.Int64
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var wg sync.WaitGroup
	for i := range shoppers {
		acked[i], sent[i] = map[string]int64{}, map[string]int64{}
		wg.Go(func() {
			mine := skus[i*len(skus)/shoppers : (i+1)*len(skus)/shoppers]
			for k := 0; loadCtx.Err() == nil; k++ {
				sku := mine[k%len(mine)]
				sent[i][sku]++
				if err := shop.AddToCart(loadCtx, sku, 1); err == nil {
					acked[i][sku]++
					adds.Add(1)
				}
			}
		})
	}
	deadline := time.Now().Add(30 * time.Second)
	for adds.Load() < 300 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // the load runs meanwhile; this only paces the check
	}
	require.NoError(t, first.cmd.Process.Kill(), "SIGKILL")
	waitErr := first.cmd.Wait()
	var exit *exec.ExitError
	require.True(t, errors.As(waitErr, &exit), "the node was killed: %v", waitErr)
	stopLoad()
	wg.Wait()
	require.GreaterOrEqual(t, adds.Load(), int64(300), "adds acknowledged before the kill")

	start(t, bin, dataDir, addr)
	require.NoError(t, shop.Login(ctx, email, password))
	cart, err := shop.CartQuantities(ctx)
	require.NoError(t, err)
	var total, wantMin int64
	for i := range shoppers {
		for sku, n := range acked[i] {
			wantMin += n
			assert.GreaterOrEqual(t, cart[sku], n, "SKU %s: %d adds were acknowledged", sku, n)
			assert.LessOrEqual(t, cart[sku], sent[i][sku], "SKU %s: only %d adds were sent", sku, sent[i][sku])
		}
	}
	for _, n := range cart {
		total += n
	}
	t.Logf("%d adds acknowledged before SIGKILL; the cart holds %d units after the restart", wantMin, total)
	assert.GreaterOrEqual(t, total, wantMin)
	assert.NotContains(t, first.log.String(), "panic")
}

// TestKilledNodeSettlesEveryOrder kills a node with SIGKILL while buyers
// check out, restarts it on the same DATA_DIR, and checks that every order
// it accepted settles without a client asking (the recovery loop resumes
// the sagas the kill cut), and that the money and the stock add up: every
// confirmed order captured its total, no other order kept money, and the
// units sold are those of the confirmed orders.
func TestKilledNodeSettlesEveryOrder(t *testing.T) {
	bin := build(t)
	dataDir, addr := t.TempDir(), freeAddr(t)
	const email, password = "orders@example.com", "crash test password 1"
	const buyers = 6
	users := []string{email}
	for i := range buyers {
		users = append(users, fmt.Sprintf("buyer%d@example.com", i))
	}
	for i, u := range users {
		args := []string{"admin", "create-user", "--username", fmt.Sprintf("user%d", i), "--email", u}
		if u == email {
			args = append(args, "--role", "admin", "--role", "vendor")
		}
		create := exec.Command(bin, args...)
		create.Env = env(dataDir, "")
		create.Stdin = strings.NewReader(password + "\n")
		out, err := create.CombinedOutput()
		require.NoError(t, err, "create-user: %s", out)
	}

	first := start(t, bin, dataDir, addr)
	ctx := t.Context()
	shop := &shopclient.Client{Base: "http://" + addr}
	require.NoError(t, shop.Login(ctx, email, password))
	const onHand = 1000
	skus, err := shop.Stock(ctx, "Checkout Crash Store", 3, onHand)
	require.NoError(t, err)

	// Each buyer fills its cart and places orders without waiting for
	// their outcome, so that sagas are in flight when the node dies.
	type placed struct {
		key   string
		buyer *shopclient.Client
	}
	var mu sync.Mutex
	var orders []placed
	emails := map[*shopclient.Client]string{}
	var accepted atomic.Int64
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var wg sync.WaitGroup
	for i := range buyers {
		b := &shopclient.Client{Base: "http://" + addr}
		emails[b] = users[i+1]
		require.NoError(t, b.Login(ctx, users[i+1], password))
		var addr struct {
			ID string `json:"id"`
		}
		require.NoError(t, b.Do(ctx, http.MethodPost, "/v1/me/addresses", map[string]string{
			"full_name": "Crash Buyer", "line1": "1 Main St", "city": "Austin", "region": "TX", "postal_code": "78701", "country": "US"}, &addr))
		wg.Go(func() {
			for k := 0; loadCtx.Err() == nil; k++ {
				if b.AddToCart(loadCtx, skus[(i+k)%len(skus)], 1) != nil {
					continue
				}
				key := fmt.Sprintf("buyer%d-order%d", i, k)
				mu.Lock()
				orders = append(orders, placed{key, b})
				mu.Unlock()
				body := map[string]any{"shipping_address_id": addr.ID, "shipping_method": "standard",
					"payment": map[string]string{"provider": "sandbox", "token": "tok_visa"}}
				if _, err := placeOrder(loadCtx, b, key, 0, body); err == nil {
					accepted.Add(1)
				}
			}
		})
	}
	deadline := time.Now().Add(30 * time.Second)
	for accepted.Load() < 40 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // the load runs meanwhile; this only paces the check
	}
	require.NoError(t, first.cmd.Process.Kill(), "SIGKILL")
	_ = first.cmd.Wait()
	stopLoad()
	wg.Wait()
	require.GreaterOrEqual(t, accepted.Load(), int64(40), "orders accepted before the kill")

	second := start(t, bin, dataDir, addr)
	// Every order the node accepted settles by itself: the test reads the
	// buyers' order lists (read models, which activate no grain) until no
	// order is pending.
	type listed struct {
		ID      string                 `json:"id"`
		Status  string                 `json:"status"`
		Total   struct{ Amount int64 } `json:"total"`
		Payment struct {
			Captured, Refunded struct{ Amount int64 }
		} `json:"payment"`
	}
	buyerClients := map[*shopclient.Client]bool{}
	for _, o := range orders {
		buyerClients[o.buyer] = true
	}
	var all []listed
	settleBy := time.Now().Add(45 * time.Second)
	for {
		all = all[:0]
		pending := 0
		for b := range buyerClients {
			require.NoError(t, b.Login(ctx, emails[b], password))
			var page struct {
				Items []listed `json:"items"`
			}
			require.NoError(t, b.Do(ctx, http.MethodGet, "/v1/orders?limit=100", nil, &page))
			for _, o := range page.Items {
				if o.Status == "pending" {
					pending++
				}
			}
			all = append(all, page.Items...)
		}
		if pending == 0 || time.Now().After(settleBy) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	var confirmed int
	for _, o := range all {
		switch o.Status {
		case "confirmed":
			confirmed++
			assert.Equal(t, o.Total.Amount, o.Payment.Captured.Amount, "order %s captured its total", o.ID)
		case "failed":
			assert.Zero(t, o.Payment.Captured.Amount-o.Payment.Refunded.Amount, "order %s kept no money", o.ID)
		default:
			t.Errorf("order %s did not settle by itself: %s", o.ID, o.Status)
		}
	}
	t.Logf("%d orders accepted before SIGKILL; %d orders exist after the restart, %d confirmed", accepted.Load(), len(all), confirmed)
	assert.GreaterOrEqual(t, int64(len(all)), accepted.Load(), "every accepted order exists")
	assert.Positive(t, confirmed)
	assert.NotContains(t, first.log.String(), "panic")
	assert.NotContains(t, second.log.String(), "panic")
}

// placeOrder posts an order with an Idempotency-Key and ?wait=seconds.
func placeOrder(ctx context.Context, c *shopclient.Client, key string, wait int, body any) (map[string]any, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("%s/v1/orders?wait=%d", c.Base, wait), bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Idempotency-Key", key)
	res, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusCreated {
		return out, fmt.Errorf("POST /v1/orders: %d %v", res.StatusCode, out)
	}
	return out, nil
}
