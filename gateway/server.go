// Package gateway is the HTTP edge of Emporium. It routes requests with a
// net/http ServeMux, runs the middleware every request shares (request id,
// access log and metrics, panic recovery, security headers, body limit),
// renders every error as an RFC 9457 problem, and serves health and the
// OpenAPI contract (metrics have their own handler, for another listener).
//
// The gateway holds no business rules. Features add routes with
// Server.Handle; their handlers decode the request, call a grain or a read
// model, and return an emporium error when something fails, which the
// gateway turns into the problem the contract promises.
//
// Request bodies have one shape: each body is a request type declared here
// (signupRequest, productRequest, ...), decoded by Decode, which owns what
// the edge checks: the members a body may hold (any other is refused), the
// server-owned members it refuses by name (readOnly fields) and the members
// the contract requires (the type's Validate). Where a service takes an input
// type of the root package whose json tags are the contract's names
// (emporium.ProductInput, CategoryUpdate, VendorInput, WishlistItemInput),
// the request type embeds it rather than copying its fields; otherwise (the
// account routes, whose services take plain values) it declares them. What a
// valid value is stays the service's to say.
//
// Handlers pass the request's context to the services, which bound every
// grain call they make for it by its deadline (actors.Within).
package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/ratelimit"
)

// Defaults for the zero values of Config.
const (
	// DefaultMaxBodyBytes is the request body limit: 1 MiB is far above any
	// JSON body of the API and far below what would hurt a node.
	DefaultMaxBodyBytes = 1 << 20
	// DefaultCheckTimeout bounds /readyz: a probe must answer well within the
	// orchestrator's own probe timeout, and a dependency slower than this is
	// not ready.
	DefaultCheckTimeout = 2 * time.Second
)

// Config is what the node gives the gateway. The zero value works: logs are
// discarded and metrics go to a private registry.
type Config struct {
	// Logger receives the access log, panics and the causes of internal
	// errors. Nil discards them.
	Logger *slog.Logger
	// Registry receives the gateway's metrics, and MetricsHandler serves
	// it, so the node registers its own collectors here too. Nil makes a
	// private registry.
	Registry *prometheus.Registry
	// Checks are what /readyz runs. Their names must be unique.
	Checks []Check
	// CheckTimeout bounds each run of the checks. Zero means
	// DefaultCheckTimeout.
	CheckTimeout time.Duration
	// MaxBodyBytes limits request bodies. Zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Version is the build version, exported as the emporium_build_info
	// metric.
	Version string

	// Accounts is the account service. When it is set, New mounts the
	// account routes (/v1/auth/*, /v1/me*, /.well-known/jwks.json); nil
	// leaves them out, so they answer 404.
	Accounts emporium.Accounts
	// Catalog is the catalogue service. When it is set, New mounts the
	// catalogue routes (categories, vendors, products); its vendor and admin
	// routes need Accounts too, to authenticate.
	Catalog emporium.Catalog
	// Alerts serves back-in-stock alerts; nil leaves their routes out.
	Alerts emporium.Alerts
	// Reviews serves product reviews; nil leaves their routes out. All but
	// the public list need Accounts too, to authenticate.
	Reviews emporium.Reviews
	// Carts and Wishlists are the cart and wishlist services. When set, New
	// mounts their routes (/v1/cart*, /v1/wishlists*); they need Accounts
	// too, to authenticate.
	Carts     emporium.Carts
	Wishlists emporium.Wishlists
	// Orders is the order service. When it is set, New mounts GET
	// /v1/shipping-methods and, with Accounts to authenticate, the checkout
	// and order routes (POST /v1/checkout/preview, /v1/orders*).
	Orders emporium.Orders
	// PaymentWebhooks receives payment providers' notifications. When it
	// is set, New mounts POST /v1/webhooks/{provider}, which needs no
	// credentials: the service verifies each delivery's signature.
	PaymentWebhooks emporium.PaymentWebhooks
	// Limiter applies the edge rate limits of the account and webhook
	// routes (see RateLimits). Nil means no rate limiting at the edge; the limits the
	// services apply themselves (failed logins per account) still hold.
	Limiter *ratelimit.Limiter
	// RateLimits are the limits Limiter applies. Zero fields take the
	// DESIGN §9 presets.
	RateLimits RateLimits
	// Idempotency keeps the hash of the request each Idempotency-Key came
	// with, so that a key reused with a different request is refused (422
	// idempotency_key_reused). Nil leaves that check out: a key is then
	// only passed to the services.
	Idempotency IdempotencyClaims
	// TrustedProxies are the load balancers and reverse proxies whose
	// X-Forwarded-For the gateway believes when it finds a client's address
	// (ratelimit.ClientIP). Empty means the peer address is the client's.
	TrustedProxies []netip.Prefix

	// Live updates (ws.go).

	// Live is the live-update plumbing. When Live.Hub is set, New mounts
	// POST /v1/ws/tickets and GET /v1/ws; they need Accounts too.
	Live LiveConfig
	// AllowedOrigins are the web origins, scheme://host[:port] (see
	// ParseOrigin), whose pages may open a live connection. A websocket
	// request with any other Origin is refused, and so is one with a
	// ticket and no Origin. New panics on an entry ParseOrigin refuses.
	AllowedOrigins []string

	// Cluster reports the cluster to administrators. When it is set, New
	// mounts GET /v1/admin/cluster, which needs Accounts too, to
	// authenticate.
	Cluster emporium.ClusterAdmin
}

// RateLimits are the limits the gateway applies at the edge, by client
// address (its /64 for IPv6).
type RateLimits struct {
	// Signups is the exact sliding window of signups from one address.
	// Zero means ratelimit.SignupsPerIP.
	Signups ratelimit.Window
	// Auth is the GCRA limit of all /v1/auth/* requests from one address.
	// Zero means ratelimit.PerClient.
	Auth ratelimit.Limit
	// Webhooks is the GCRA limit of POST /v1/webhooks/{provider} from one
	// address. Zero means ratelimit.WebhooksPerIP.
	Webhooks ratelimit.Limit
}

// Check is one readiness check, such as "mongo" or "cluster". Check returns
// nil when the dependency is usable and must give up when ctx is done.
type Check struct {
	Name  string
	Check func(ctx context.Context) error
}

// HandlerFunc is the signature of the gateway's handlers. A handler that
// fails returns the error instead of writing it; the gateway renders it as a
// problem (see Error). A handler that already started its response and then
// fails can only have its error logged.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// ServeHTTP calls h and renders its error, so a HandlerFunc can be used
// wherever an http.Handler is expected.
func (h HandlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	err := h(w, r)
	if err == nil {
		return
	}
	if st := stateOf(r.Context()); st != nil && st.status != 0 {
		st.err = err
		return
	}
	Error(w, r, err)
}

// Server is the gateway: an http.Handler that runs the middleware and then
// the route that matches.
type Server struct {
	mux          *http.ServeMux
	handler      http.Handler
	log          *slog.Logger
	registry     *prometheus.Registry
	metrics      *metrics
	checks       []Check
	checkTimeout time.Duration
	maxBodyBytes int64

	accounts       emporium.Accounts
	catalog        emporium.Catalog
	alerts         emporium.Alerts
	reviews        emporium.Reviews
	carts          emporium.Carts
	wishlists      emporium.Wishlists
	orders         emporium.Orders
	webhooks       emporium.PaymentWebhooks
	limiter        *ratelimit.Limiter
	limits         RateLimits
	trustedProxies []netip.Prefix
	idempotency    IdempotencyClaims
	cluster        emporium.ClusterAdmin

	// draining is set by Drain: /readyz fails from then on.
	draining atomic.Bool

	// live is the state of the live-update routes (ws.go), nil when they
	// are not mounted.
	live *liveServer
}

// New returns a gateway with its operational routes (/healthz, /readyz,
// /openapi.yaml) in place, and the routes of each service cfg sets
// (accounts, catalogue, carts and wishlists, orders, payment webhooks). It registers the gateway's metrics in
// cfg.Registry and panics if they are there already, which is a wiring bug
// as a pattern registered twice on a ServeMux is.
func New(cfg Config) *Server {
	s := &Server{
		mux:          http.NewServeMux(),
		log:          slog.New(slog.DiscardHandler),
		registry:     cfg.Registry,
		checks:       cfg.Checks,
		checkTimeout: cfg.CheckTimeout,
		maxBodyBytes: cfg.MaxBodyBytes,

		accounts:       cfg.Accounts,
		catalog:        cfg.Catalog,
		alerts:         cfg.Alerts,
		reviews:        cfg.Reviews,
		carts:          cfg.Carts,
		wishlists:      cfg.Wishlists,
		orders:         cfg.Orders,
		webhooks:       cfg.PaymentWebhooks,
		limiter:        cfg.Limiter,
		limits:         cfg.RateLimits,
		trustedProxies: cfg.TrustedProxies,
		idempotency:    cfg.Idempotency,
		cluster:        cfg.Cluster,
	}
	if s.limits.Signups == (ratelimit.Window{}) {
		s.limits.Signups = ratelimit.SignupsPerIP
	}
	if s.limits.Auth == (ratelimit.Limit{}) {
		s.limits.Auth = ratelimit.PerClient
	}
	if s.limits.Webhooks == (ratelimit.Limit{}) {
		s.limits.Webhooks = ratelimit.WebhooksPerIP
	}
	if cfg.Logger != nil {
		s.log = cfg.Logger
	}
	s.log = slog.New(requestIDHandler{s.log.Handler()})
	if s.registry == nil {
		s.registry = prometheus.NewRegistry()
	}
	if s.checkTimeout <= 0 {
		s.checkTimeout = DefaultCheckTimeout
	}
	if s.maxBodyBytes <= 0 {
		s.maxBodyBytes = DefaultMaxBodyBytes
	}
	s.metrics = newMetrics(s.registry, cfg.Version)

	// The order a request passes through: it gets its id first so every
	// later step can log it; the access log and metrics wrap everything
	// else so they see the final status, that of a recovered panic included;
	// security headers are set before any handler can write.
	s.handler = chain(http.HandlerFunc(s.route),
		s.withRequestID,
		s.withAccessLog,
		s.withRecovery,
		withSecurityHeaders,
		s.withBodyLimit,
	)

	s.Handle("GET /healthz", s.healthz)
	s.Handle("GET /readyz", s.readyz)
	s.Handle("GET /openapi.yaml", serveOpenAPI)
	s.Handle("GET /docs", serveDocs)
	s.Handle("GET "+DocsScriptPath, serveDocsScript)
	if s.accounts != nil {
		s.mountAccounts()
	}
	if s.catalog != nil {
		s.mountCatalog()
	}
	if s.accounts != nil {
		s.mountCarts()
	}
	if s.alerts != nil {
		s.mountAlerts()
	}
	if s.reviews != nil {
		s.mountReviews()
	}
	s.mountOrders()
	if s.cluster != nil && s.accounts != nil {
		s.Handle("GET /v1/admin/cluster", s.Authenticated(s.clusterStatus))
	}
	// Live updates (ws.go).
	if cfg.Live.Hub != nil {
		s.mountLive(cfg.Live, cfg.AllowedOrigins)
	}
	return s
}

// MetricsHandler serves the registry's metrics in the Prometheus text format
// (or OpenMetrics when the scraper asks). It is not a route of the gateway:
// metrics tell the Go version, the build and the traffic of every route, so
// the node serves them on their own listener (METRICS_ADDR, loopback by
// default) and the API answers 404 for /metrics.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelError),
	})
}

// Handle registers h for pattern, a ServeMux pattern such as
// "GET /v1/products/{id}". Patterns should name their method, so that other
// methods get a 405 with an Allow header. Handle panics on a pattern that is
// invalid or conflicts with one already registered.
func (s *Server) Handle(pattern string, h HandlerFunc) {
	s.mux.Handle(pattern, h)
}

// ServeHTTP runs the middleware and the matching route.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

// chain wraps h in middleware, the first listed outermost, so the list reads
// in the order a request passes through.
func chain(h http.Handler, middleware ...func(http.Handler) http.Handler) http.Handler {
	for i := len(middleware) - 1; i >= 0; i-- {
		h = middleware[i](h)
	}
	return h
}

// route hands the request to the ServeMux, after recording the pattern that
// matches for the access log and metrics. The mux sets r.Pattern only on the
// request it passes down, which the middleware above never sees, so the
// pattern is looked up here first.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	h, pattern := s.mux.Handler(r)
	if pattern != "" {
		if st := stateOf(r.Context()); st != nil {
			st.pattern = pattern
		}
		s.mux.ServeHTTP(w, r)
		return
	}
	s.unmatched(w, r, h)
}

// unmatched answers a request that no pattern matches. The ServeMux knows
// whether the path exists for other methods (405, and which ones) or not at
// all (404), or whether it must redirect to a cleaned path; but it answers
// with text bodies. So its handler runs against a recorder, and its verdict
// is rendered as a problem.
func (s *Server) unmatched(w http.ResponseWriter, r *http.Request, h http.Handler) {
	v := &verdict{header: make(http.Header)}
	h.ServeHTTP(v, r)
	switch v.status {
	case http.StatusNotFound:
		Error(w, r, errNotFound)
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", v.header.Get("Allow"))
		Error(w, r, errMethodNotAllowed)
	default:
		h.ServeHTTP(w, r)
	}
}

// verdict is a ResponseWriter that keeps the status and headers of a
// response and drops its body.
type verdict struct {
	header http.Header
	status int
}

func (v *verdict) Header() http.Header { return v.header }

func (v *verdict) Write(b []byte) (int, error) {
	if v.status == 0 {
		v.status = http.StatusOK
	}
	return len(b), nil
}

func (v *verdict) WriteHeader(status int) {
	if v.status == 0 {
		v.status = status
	}
}
