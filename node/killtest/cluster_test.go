// Package killtest runs a cluster of real emporium processes on loopback,
// sharing one store (FerretDB on PostgreSQL behind the write gate,
// persistence/ferretserver) and one Redis, and does to it what an operator
// and bad luck do: under a steady load of add-to-cart and checkout spread
// over the nodes, it kills one node with SIGKILL and restarts it, stops
// another with SIGTERM and lets a fourth join. Then it checks that nothing
// acknowledged was lost, that every order settles and that no SKU is
// oversold, and it reports the errors around each event and the throughput
// of three nodes next to one. docs/operations.md has its numbers.
//
// It runs without -race (the binary is built without it, and the load is
// the point) in `make test-kill`, which .ci/run calls with the short
// timings; KILLTEST_GAP=25s gives the full run of docs/operations.md. It
// needs PostgreSQL (EMPORIUM_POSTGRES_URL, default the machine's at
// 127.0.0.1:5432) and skips, saying so, without one.
package killtest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium/persistence/ferretserver"
	"github.com/emporium-shop/emporium/tools/shopclient"
)

// maxNodes is how many nodes the peer list names: three that start, and
// room for a fourth to join (automanaged needs every member in its list).
const maxNodes = 4

// password is every test account's password.
const password = "kill test password 1"

// cluster is the processes of one test and the settings they share.
type cluster struct {
	t        *testing.T
	bin      string
	dir      string
	storeURI string
	database string
	redisURL string
	peers    string
	http     [maxNodes]string
	remote   [maxNodes]string
	health   [maxNodes]int
	procs    [maxNodes]*proc
}

// proc is one emporium process.
type proc struct {
	cmd  *exec.Cmd
	log  *lockedBuffer
	done chan struct{} // closed once the process has exited
	err  error         // its exit, once done is closed
}

// newCluster builds the binary and starts the shared store and Redis; no
// node runs yet.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	pg := postgresURL(t)
	c := &cluster{t: t, dir: t.TempDir(), database: fmt.Sprintf("killtest_%d", time.Now().UnixNano())}
	c.bin = filepath.Join(c.dir, "emporium")
	out, err := exec.Command("go", "build", "-o", c.bin, "github.com/emporium-shop/emporium/cmd/emporium").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	srv, err := ferretserver.Start(context.Background(), ferretserver.Config{Addr: "127.0.0.1:0", PostgreSQLURL: pg,
		Logger: slog.New(slog.NewTextHandler(&prefixWriter{t: t, prefix: "store: "}, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	c.storeURI = srv.URI
	// KILLTEST_KEEP=1 keeps the database for a post-mortem (its name is
	// logged); otherwise the test drops it.
	if os.Getenv("KILLTEST_KEEP") != "" {
		t.Logf("keeping database %s (KILLTEST_KEEP)", c.database)
	} else {
		t.Cleanup(func() { dropDatabase(t, c.storeURI, c.database) })
	}

	// One Redis for the whole cluster, in this process: the machine's
	// Redis is shared with other tests, and a cluster's rate limits and
	// live channels must be its own.
	mr := miniredis.NewMiniRedis()
	mr.ClockTTL(true)
	require.NoError(t, mr.StartAddr("127.0.0.1:0"))
	t.Cleanup(mr.Close)
	c.redisURL = "redis://" + mr.Addr() + "/0"

	var peers []string
	for i := range maxNodes {
		c.http[i] = freeAddr(t)
		c.remote[i] = freeAddr(t)
		_, port, _ := net.SplitHostPort(freeAddr(t))
		c.health[i], _ = strconv.Atoi(port)
		peers = append(peers, "127.0.0.1:"+port)
	}
	c.peers = strings.Join(peers, ",")
	return c
}

// postgresURL is EMPORIUM_POSTGRES_URL or the machine's PostgreSQL; the
// test skips when it does not answer.
func postgresURL(t *testing.T) string {
	raw := os.Getenv("EMPORIUM_POSTGRES_URL")
	if raw == "" {
		raw = "postgres://postgres@127.0.0.1:5432/postgres"
	}
	u, err := url.Parse(raw)
	require.NoError(t, err, "EMPORIUM_POSTGRES_URL")
	conn, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err != nil {
		t.Skipf("the kill test needs PostgreSQL for its shared store; none answers at %s (%v): start one or set EMPORIUM_POSTGRES_URL", u.Host, err)
	}
	conn.Close()
	return raw
}

// env is the settings of node i (0-based).
func (c *cluster) env(i int) []string {
	return append(os.Environ(),
		"DATA_DIR="+filepath.Join(c.dir, fmt.Sprintf("node%d", i+1)),
		"HTTP_ADDR="+c.http[i], "METRICS_ADDR=127.0.0.1:0",
		"MONGODB_URI="+c.storeURI, "MONGODB_DATABASE="+c.database, "REDIS_URL="+c.redisURL, "ELASTICSEARCH_URL=",
		"JWT_KEY_FILE="+filepath.Join(c.dir, "keys", "jwt-ed25519.pem"),
		"CLUSTER_PROVIDER=automanaged", "CLUSTER_ADDR="+c.remote[i],
		"CLUSTER_HEALTH_PORT="+strconv.Itoa(c.health[i]), "CLUSTER_PEERS="+c.peers,
		"LOG_LEVEL=warn", "SHUTDOWN_TIMEOUT=15s",
		// So that the killed node's read models are repaired during the run.
		"MEMBER_DEAD_AFTER="+deadAfter.String())
}

// base is node i's URL.
func (c *cluster) base(i int) string { return "http://" + c.http[i] }

// start starts node i and returns at once.
func (c *cluster) start(i int) *proc {
	c.t.Helper()
	p := &proc{cmd: exec.Command(c.bin, "serve"), log: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd.Env = c.env(i)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	require.NoError(c.t, p.cmd.Start(), "start node %d", i+1)
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	c.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	c.procs[i] = p
	return p
}

// waitReady waits until node i answers /readyz.
func (c *cluster) waitReady(i int, within time.Duration) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), within)
	defer cancel()
	if err := (&shopclient.Client{Base: c.base(i)}).WaitReady(ctx); err != nil {
		c.t.Fatalf("node %d: %v\nlog:\n%s", i+1, err, c.procs[i].log)
	}
}

// kill stops node i with SIGKILL and waits for it to be gone.
func (c *cluster) kill(i int) {
	c.t.Helper()
	require.NoError(c.t, c.procs[i].cmd.Process.Signal(syscall.SIGKILL))
	<-c.procs[i].done
}

// terminate stops node i with SIGTERM and waits, at most within, for it to
// exit; it returns how long that took.
func (c *cluster) terminate(i int, within time.Duration) time.Duration {
	c.t.Helper()
	started := time.Now()
	require.NoError(c.t, c.procs[i].cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-c.procs[i].done:
	case <-time.After(within):
		c.t.Errorf("node %d did not exit within %s of SIGTERM", i+1, within)
		c.kill(i)
	}
	return time.Since(started)
}

// stopAll stops every running node with SIGTERM.
func (c *cluster) stopAll() {
	var wg sync.WaitGroup
	for i, p := range c.procs {
		if p == nil {
			continue
		}
		select {
		case <-p.done:
			continue
		default:
		}
		wg.Go(func() { c.terminate(i, 30*time.Second) })
	}
	wg.Wait()
}

// createUsers creates the accounts through the binary, as an operator does:
// the first is admin and vendor.
func (c *cluster) createUsers(emails []string) {
	c.t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(emails))
	// A few at a time: each is a process that hashes a password with
	// argon2id (19 MiB) and opens the stores.
	sem := make(chan struct{}, 3)
	for i, e := range emails {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			args := []string{"admin", "create-user", "--username", fmt.Sprintf("user%d", i), "--email", e}
			if i == 0 {
				args = append(args, "--role", "admin", "--role", "vendor")
			}
			cmd := exec.Command(c.bin, args...)
			// A DATA_DIR of its own, since the command opens the embedded
			// search index there, which one process at a time may hold; and
			// a member of its own (it starts one to reach the grains) that
			// joins no cluster.
			cmd.Env = append(c.env(0), "DATA_DIR="+filepath.Join(c.dir, fmt.Sprintf("admin%d", i)),
				"CLUSTER_PROVIDER=local", "CLUSTER_ADDR=127.0.0.1:0", "CLUSTER_PEERS=")
			cmd.Stdin = strings.NewReader(password + "\n")
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("create-user %s: %v: %s", e, err, out)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(c.t, err)
	}
}

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
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

// prefixWriter writes each record to the test's log with a prefix.
type prefixWriter struct {
	t      *testing.T
	prefix string
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	w.t.Log(w.prefix + strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
