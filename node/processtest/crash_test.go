// Package processtest runs the emporium binary as real processes, as an
// operator does, and does to them what tests in one process cannot: kill
// them with SIGKILL. Like the cluster tests it runs without -race (the
// binary is built without it), in `make test-cluster`.
package processtest

import (
	"bytes"
	"context"
	"errors"
	"net"
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
