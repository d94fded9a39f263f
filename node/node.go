// Package node builds a running Emporium node from its Config: the stores
// (MongoDB or the embedded FerretDB, Redis or the embedded miniredis), the
// Proto.Actor cluster member with every grain kind, the background loops and
// the HTTP gateway. It is wiring only; the rules live in actors/.
//
// A Node is used as Open, then Close, like the WTF Dial's Main: the binary
// does it on start and on SIGTERM, and end-to-end tests do it on port 0.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/cart"
	"github.com/emporium-shop/emporium/actors/catalog"
	"github.com/emporium-shop/emporium/actors/category"
	"github.com/emporium-shop/emporium/actors/inventory"
	"github.com/emporium-shop/emporium/actors/order"
	"github.com/emporium-shop/emporium/actors/product"
	"github.com/emporium-shop/emporium/actors/session"
	"github.com/emporium-shop/emporium/actors/user"
	"github.com/emporium-shop/emporium/auth"
	"github.com/emporium-shop/emporium/gateway"
	"github.com/emporium-shop/emporium/live"
	"github.com/emporium-shop/emporium/mail"
	"github.com/emporium-shop/emporium/payments"
	"github.com/emporium-shop/emporium/payments/sandbox"
	"github.com/emporium-shop/emporium/persistence"
	_ "github.com/emporium-shop/emporium/protos" // every protobuf type, or a peer's message is refused and a journal unreadable
	"github.com/emporium-shop/emporium/ratelimit"
	"github.com/emporium-shop/emporium/search"
)

// Version is the build's version, set by the linker for releases.
var Version = "dev"

// Node is one running Emporium node.
type Node struct {
	Config   Config
	Logger   *slog.Logger
	Registry *prometheus.Registry

	Store       persistence.Store
	Redis       *redis.Client
	Cluster     *cluster.Cluster
	Activations *actors.Activations

	// Accounts is the account service, once the node is open.
	Accounts *user.Service
	// Catalog is the catalogue service, once the node is open.
	Catalog *catalog.Service
	// Carts and Wishlists are the shopping services, once the node is open.
	Carts     *cart.Service
	Wishlists *user.WishlistService
	// Orders is the order service, Webhooks the payment providers'
	// notifications, and Sandbox the built-in payment provider, once the
	// node is open.
	Orders   *order.Service
	Webhooks *order.Webhooks
	Sandbox  *sandbox.Sandbox
	// Index is the product search index; Indexer keeps it in step with the
	// product and stock read models.
	Index   search.Index
	Indexer *search.Indexer
	// SeedProgress, when set before Open, is told the progress of seeding
	// SEED_PRODUCTS demo products; by default progress is logged.
	SeedProgress func(done, total int)

	// tokens is the node's one store of one-time tokens: email
	// verification, password reset, MFA challenges and websocket tickets.
	tokens  *auth.OneTime
	liveBus *live.Bus
	livePub *live.Publisher
	limiter *ratelimit.Limiter
	mail    mail.Sender
	// payments are the payment providers by name, webhooks their
	// notification verifiers.
	payments     map[string]payments.Provider
	webhooks     map[string]payments.WebhookVerifier
	orderWaiter  *order.Waiter
	orderMetrics *order.Metrics
	// servicesReady is set once the services are built: grains activated
	// by other members can ask for a back-in-stock notice before then, and
	// notifyAlert needs the catalogue and the accounts.
	servicesReady atomic.Bool
	adminOnly     bool
	server        *http.Server
	listener      net.Listener
	// demoPassword is the demo vendors' password once DemoVendorPassword
	// found it, and demoFile the file it is kept in.
	demoMu       sync.Mutex
	demoPassword string
	demoFile     string
	// metricsListener is the METRICS_ADDR listener, nil when it is empty.
	metricsListener net.Listener
	// gateway is the HTTP gateway once serving; draining is set when the
	// orderly stop begins (operations.go).
	gateway  *gateway.Server
	draining atomic.Bool

	// closers undo Open's steps; Close runs them in reverse.
	closers []closer
	loops   sync.WaitGroup
	stop    context.CancelFunc
	// repair keeps the node's heartbeat and repairs after dead members
	// (repair.go); nil until the loops start, and on an admin-only node.
	repair *actors.ViewRepair
}

type closer struct {
	name string
	fn   func(ctx context.Context) error
	// expected is how long the step waits by design (the readiness drain).
	expected time.Duration
}

// New returns a node for cfg that logs to logger. Nothing starts until Open.
func New(cfg Config, logger *slog.Logger) *Node {
	return &Node{Config: cfg, Logger: logger, Registry: prometheus.NewRegistry()}
}

// Open starts the node: stores, cluster member, background loops, then the
// HTTP listener. When a step fails, what started is closed again and the
// error names the setting at fault.
func (n *Node) Open(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			closeCtx, cancel := context.WithTimeout(context.Background(), n.Config.ShutdownTimeout)
			defer cancel()
			_ = n.Close(closeCtx)
		}
	}()
	if err := n.Config.Validate(); err != nil {
		return err
	}
	n.Logger.Info("starting node", slog.String("version", Version), slog.Any("settings", &n.Config))
	n.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	start := time.Now()
	if n.Store, err = OpenStore(ctx, n.Config, n.Logger); err != nil {
		return err
	}
	n.onClose("store", n.Store.Close)
	n.Logger.Info("store ready", slog.String("backend", n.Store.Backend()), slog.Duration("took", time.Since(start)))

	client, closeRedis, err := openRedis(ctx, n.Config.RedisURL, n.Logger)
	if err != nil {
		return err
	}
	n.Redis = client
	n.tokens = &auth.OneTime{Client: client, Prefix: "emporium:"}
	n.onClose("redis", func(context.Context) error { closeRedis(); return nil })

	if err := n.openSearch(ctx); err != nil {
		return err
	}
	if err := n.ensureIndexes(ctx); err != nil {
		return err
	}
	n.openLive()
	if err := n.openPayments(); err != nil {
		return err
	}
	if err := n.startCluster(); err != nil {
		return err
	}
	if n.Accounts, n.limiter, err = n.accounts(); err != nil {
		return err
	}
	if n.Catalog, err = n.catalogService(); err != nil {
		return err
	}
	if err := n.shoppingServices(); err != nil {
		return err
	}
	if err := n.orderServices(); err != nil {
		return err
	}
	n.servicesReady.Store(true)
	n.startLoops()
	if n.adminOnly {
		return nil
	}
	if err := n.seedOnStart(ctx); err != nil {
		return err
	}
	return n.serveHTTP()
}

// OpenForAdmin opens what an operator command needs: the stores, a cluster
// member hosting the grains, the services and the search indexer, without
// the HTTP listener or the other background loops. With the embedded store, run it while no server uses
// the same DATA_DIR.
func (n *Node) OpenForAdmin(ctx context.Context) error {
	n.adminOnly = true
	return n.Open(ctx)
}

// startCluster joins the cluster as a member hosting every grain kind.
func (n *Node) startCluster() error {
	n.Activations = actors.NewActivations(n.Registry)
	// Every grain kind persists through the same journal and snapshots.
	grains := actors.GrainConfig{
		Journal:     n.Store.Journal(),
		Snapshots:   n.Store.Snapshots(),
		Logger:      n.Logger,
		Activations: n.Activations,
		IdleTimeout: n.Config.GrainIdle,
	}
	// Product and stock changes wake the search indexer, which reads them
	// back from the read models.
	kinds := []*cluster.Kind{
		inventory.NewKind(inventory.Config{GrainConfig: grains, Views: n.Store.Projections(),
			StockChanged: func(sku string) { n.Indexer.NotifySKUs(sku) }, Notify: n.notifyAlert}),
		session.NewKind(grains),
		user.NewKind(grains, user.WithClaims(n.claims()), user.WithViews(n.Store.Projections())),
		product.NewKind(product.Config{
			GrainConfig: grains,
			Claims:      n.claims(),
			Views:       n.Store.Projections(),
			Changed:     func(id string) { n.Indexer.Notify(id) },
		}),
		category.NewKind(category.Config{GrainConfig: grains, Views: n.Store.Projections()}),
	}
	carts, err := n.cartConfig()
	if err != nil {
		return err
	}
	carts.GrainConfig = grains
	orders := n.orderConfig()
	orders.GrainConfig = grains
	kinds = append(kinds, cart.NewKind(carts), order.NewKind(orders))
	var peers []string
	for _, p := range strings.Split(n.Config.ClusterPeers, ",") {
		if p = strings.TrimSpace(p); p != "" {
			peers = append(peers, p)
		}
	}
	c, err := actors.StartMember(actors.ClusterConfig{
		Name:           n.Config.ClusterName,
		Provider:       n.Config.ClusterProvider,
		Addr:           n.Config.ClusterAddr,
		AdvertisedAddr: n.Config.ClusterAdvAddr,
		Peers:          peers,
		HealthPort:     n.Config.ClusterHealth,
		Logger:         n.Logger,
	}, kinds...)
	if err != nil {
		return err
	}
	n.Cluster = c
	n.onClose("cluster", func(ctx context.Context) error { return n.leave(ctx, c) })
	if err := actors.ServeStatus(c.ActorSystem, n.memberStatus); err != nil {
		return err
	}
	n.registerClusterMetrics(c)
	n.Logger.Info("cluster member joined", slog.String("address", c.ActorSystem.Address()), slog.String("provider", n.Config.ClusterProvider))
	return nil
}

// leaveCluster shuts the member down within ctx. A member of a real cluster
// leaves gracefully, so the others take its grains over at once; Proto.Actor
// then sleeps 2 s and ignores any deadline, so the wait is bounded here and
// the rest of the budget is kept for closing the stores. A lone local member
// has nobody to hand over to and stops at once.
func leaveCluster(ctx context.Context, c *cluster.Cluster, provider string) error {
	graceful := provider != actors.ProviderLocal
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Shutdown(graceful)
	}()
	budget := 10 * time.Second
	if deadline, ok := ctx.Deadline(); ok {
		// Keep a fifth of what is left for the stores.
		budget = time.Until(deadline) * 4 / 5
	}
	select {
	case <-done:
		return nil
	case <-time.After(budget):
		return fmt.Errorf("leaving the cluster took over %s; going on with the shutdown", budget.Round(time.Millisecond))
	}
}

// startLoops starts the background work of the node: the search indexer,
// and, when serving, the sweeper of expired reservations. Close stops it.
func (n *Node) startLoops() {
	ctx, cancel := context.WithCancel(context.Background())
	n.stop = cancel
	n.onClose("background loops", func(context.Context) error {
		cancel()
		n.loops.Wait()
		return nil
	})
	n.loops.Add(1)
	go func() {
		defer n.loops.Done()
		n.Indexer.Run(ctx)
	}()
	if n.adminOnly {
		return
	}
	n.loops.Add(1)
	go func() {
		defer n.loops.Done()
		n.rekeyNames(ctx)
	}()
	n.loops.Add(1)
	go func() {
		defer n.loops.Done()
		n.sweepIdempotency(ctx)
	}()
	n.loops.Add(1)
	go func() {
		defer n.loops.Done()
		n.recovery().Run(ctx)
	}()
	sweeper := &inventory.Sweeper{
		Cluster:  n.Cluster,
		Lister:   n.Store.Projections(),
		Clock:    actors.SystemClock{},
		Logger:   n.Logger,
		Interval: n.Config.SweepInterval,
	}
	n.loops.Add(1)
	go func() {
		defer n.loops.Done()
		sweeper.Run(ctx)
	}()
	n.repair = n.newViewRepair()
	n.loops.Add(1)
	go func() {
		defer n.loops.Done()
		n.repair.Run(ctx)
	}()
}

// serveHTTP listens on HTTP_ADDR and serves the gateway.
func (n *Node) serveHTTP() error {
	proxies, _ := n.Config.trustedProxies() // checked by Validate
	origins, _ := n.Config.allowedOrigins()
	hub := live.NewHub(n.liveBus, live.HubOptions{Logger: n.Logger})
	gw := gateway.New(gateway.Config{
		Cluster:         n,
		Carts:           n.Carts,
		Wishlists:       n.Wishlists,
		Orders:          n.Orders,
		PaymentWebhooks: n.Webhooks,
		Live:            n.liveConfig(hub),
		AllowedOrigins:  origins,
		Logger:          n.Logger,
		Registry:        n.Registry,
		Version:         Version,
		Accounts:        n.Accounts,
		Catalog:         n.Catalog,
		Alerts:          n.Catalog,
		Reviews:         n.Catalog,
		Limiter:         n.limiter,
		TrustedProxies:  proxies,
		Idempotency:     n.claims(),
		Checks: []gateway.Check{
			{Name: "store", Check: n.Store.Ping},
			{Name: "redis", Check: func(ctx context.Context) error { return n.Redis.Ping(ctx).Err() }},
			{Name: "cluster", Check: func(context.Context) error {
				if !actors.Joined(n.Cluster) {
					return errors.New("this member is not in the cluster's member list")
				}
				return nil
			}},
		},
	})
	n.gateway = gw
	// Metrics first, so that they are served until the HTTP API has
	// drained (closers run in reverse).
	if err := n.serveMetrics(gw.MetricsHandler()); err != nil {
		_ = hub.Close()
		return err
	}
	ln, err := net.Listen("tcp", n.Config.HTTPAddr)
	if err != nil {
		_ = hub.Close()
		return fmt.Errorf("http: cannot listen on HTTP_ADDR=%s: %w", n.Config.HTTPAddr, err)
	}
	n.listener = ln
	n.server = &http.Server{
		Handler:           gw,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(n.Logger.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := n.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.Logger.Error("http server stopped", slog.Any("error", err))
		}
	}()
	n.onClose("http", n.server.Shutdown)
	// Closed before the server drains: Shutdown does not wait for (or
	// close) hijacked websocket connections.
	n.onClose("live connections", func(context.Context) error { return hub.Close() })
	// The first step of an orderly stop: readiness fails while requests
	// are still served, so that load balancers move away first.
	n.onCloseWaiting("readiness", n.Config.ShutdownDrain, n.drain)
	n.Logger.Info("serving HTTP", slog.String("addr", ln.Addr().String()))
	return nil
}

// serveMetrics listens on METRICS_ADDR and serves /metrics and the Go
// profiler (/debug/pprof/) there, apart from the API: metrics tell the Go version, the build and the traffic of every
// route, which is for operators, not for the public. An empty METRICS_ADDR
// serves none.
func (n *Node) serveMetrics(metrics http.Handler) error {
	if n.Config.MetricsAddr == "" {
		n.Logger.Info("no metrics listener (METRICS_ADDR is empty)")
		return nil
	}
	ln, err := net.Listen("tcp", n.Config.MetricsAddr)
	if err != nil {
		return fmt.Errorf("metrics: cannot listen on METRICS_ADDR=%s: %w", n.Config.MetricsAddr, err)
	}
	n.metricsListener = ln
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	// The Go profiler, for operators measuring a node (docs/benchmarks.md):
	// it shows the code, so it lives here, never on the API's address.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(n.Logger.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.Logger.Error("metrics server stopped", slog.Any("error", err))
		}
	}()
	n.onClose("metrics", srv.Shutdown)
	n.Logger.Info("serving metrics", slog.String("addr", ln.Addr().String()))
	return nil
}

// MetricsURL returns the URL of the metrics (/metrics on METRICS_ADDR), or
// "" when the node serves none.
func (n *Node) MetricsURL() string {
	if n.metricsListener == nil {
		return ""
	}
	return "http://" + loopback(n.metricsListener.Addr().String()) + "/metrics"
}

// Addr returns the address the HTTP API listens on (useful with port 0).
func (n *Node) Addr() string {
	if n.listener == nil {
		return ""
	}
	return n.listener.Addr().String()
}

// URL returns the base URL of the HTTP API.
func (n *Node) URL() string {
	return "http://" + loopback(n.Addr())
}

// loopback replaces the unspecified host of a listener's address with
// 127.0.0.1, to dial it from this machine.
func loopback(addr string) string {
	if strings.HasPrefix(addr, "[::]:") {
		addr = "127.0.0.1:" + strings.TrimPrefix(addr, "[::]:")
	}
	return addr
}

// Close stops the node in the reverse order of Open; it is what SIGTERM
// runs. Readiness fails first (for SHUTDOWN_DRAIN), then live connections
// close, the HTTP server stops accepting and drains the requests in flight,
// the metrics listener stops, background loops stop, grains passivate and
// their projections are flushed, the member leaves the cluster, and the
// stores close. It returns every error met, and is safe to call on a node
// that did not open fully. A step that takes a second or more longer than it
// waits by design is logged as a warning with its time, so that a slow stop
// says where it waited.
func (n *Node) Close(ctx context.Context) error {
	var errs []error
	for i := len(n.closers) - 1; i >= 0; i-- {
		c := n.closers[i]
		start := time.Now()
		if err := c.fn(ctx); err != nil {
			errs = append(errs, fmt.Errorf("closing %s: %w", c.name, err))
		}
		if took := time.Since(start); took >= c.expected+time.Second {
			n.Logger.Warn("slow shutdown step", slog.String("step", c.name), slog.Duration("took", took))
		}
	}
	n.closers = nil
	return errors.Join(errs...)
}

func (n *Node) onClose(name string, fn func(ctx context.Context) error) {
	n.closers = append(n.closers, closer{name: name, fn: fn})
}

// onCloseWaiting is onClose for a step that waits expected by design.
func (n *Node) onCloseWaiting(name string, expected time.Duration, fn func(ctx context.Context) error) {
	n.closers = append(n.closers, closer{name: name, fn: fn, expected: expected})
}
