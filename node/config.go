package node

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emporium-shop/emporium/persistence"
)

// Config is every setting of a node. Each has an environment variable and a
// flag twin (the flag wins); `emporium serve --help` lists them all, and the
// start-up log shows them with secrets masked.
type Config struct {
	HTTPAddr        string
	MetricsAddr     string
	DataDir         string
	MongoURI        string
	MongoDatabase   string
	RedisURL        string
	ClusterName     string
	ClusterProvider string
	ClusterAddr     string
	ClusterAdvAddr  string
	ClusterPeers    string
	ClusterHealth   int
	LogLevel        string
	LogFormat       string
	ShutdownTimeout time.Duration
	ShutdownDrain   time.Duration
	SweepInterval   time.Duration
	GrainIdle       time.Duration
	DeadAfter       time.Duration
	PublicURL       string
	SMTPURL         string
	MailFrom        string
	JWTKeyFile      string
	TrustedProxies  string
	ElasticURL      string
	ElasticIndex    string
	SeedProducts    int
	AllowedOrigins  string
	SeedRandom      int
	DemoPassword    string

	CheckoutRatesFile    string
	SandboxWebhookSecret string
	StripeSecretKey      string
	StripeAPIURL         string
	StripeWebhookSecret  string
	PayPalClientID       string
	PayPalSecret         string
	PayPalAPIURL         string
	PayPalWebhookID      string
}

// ErrBadSettings is the error of settings with a wrong value; the message
// after it names each variable at fault.
var ErrBadSettings = errors.New("bad settings")

// setting describes one Config field: its environment variable, its flag,
// its default and whether its value is a secret (or may hold one).
type setting struct {
	env, flag, def, help string
	secret               bool
	field                any // *string, *int or *time.Duration
}

// settings is the table behind Bind, Validate and LogValue, in the order
// --help shows.
func (c *Config) settings() []setting {
	return []setting{
		{"HTTP_ADDR", "http-addr", ":8080", "address the HTTP API listens on", false, &c.HTTPAddr},
		{"METRICS_ADDR", "metrics-addr", "127.0.0.1:9090", "address of the metrics listener (/metrics, never on HTTP_ADDR; port 0 picks a free one); empty: no metrics listener", false, &c.MetricsAddr},
		{"DATA_DIR", "data-dir", "./data", "directory of the embedded stores", false, &c.DataDir},
		{"MONGODB_URI", "mongodb-uri", "", "MongoDB URI; empty runs the embedded SQLite store under DATA_DIR/store", true, &c.MongoURI},
		{"MONGODB_DATABASE", "mongodb-database", "emporium", "MongoDB database name", false, &c.MongoDatabase},
		{"REDIS_URL", "redis-url", "", "Redis URL (redis://host:6379/0); empty runs an embedded in-process Redis", true, &c.RedisURL},
		{"CLUSTER_NAME", "cluster-name", "emporium", "cluster name; members of different names never meet", false, &c.ClusterName},
		{"CLUSTER_PROVIDER", "cluster-provider", "local", "how members find each other: local (one member) or automanaged (CLUSTER_PEERS)", false, &c.ClusterProvider},
		{"CLUSTER_ADDR", "cluster-addr", "127.0.0.1:0", "host:port the cluster remote listens on (port 0 picks a free one)", false, &c.ClusterAddr},
		{"CLUSTER_ADVERTISED_ADDR", "cluster-advertised-addr", "", "host:port other members dial, when not CLUSTER_ADDR", false, &c.ClusterAdvAddr},
		{"CLUSTER_PEERS", "cluster-peers", "", "comma-separated host:port health endpoints of every member (automanaged)", false, &c.ClusterPeers},
		{"CLUSTER_HEALTH_PORT", "cluster-health-port", "6330", "port of this member's health endpoint (automanaged)", false, &c.ClusterHealth},
		{"LOG_LEVEL", "log-level", "info", "debug, info, warn or error", false, &c.LogLevel},
		{"LOG_FORMAT", "log-format", "text", "text or json", false, &c.LogFormat},
		{"SHUTDOWN_TIMEOUT", "shutdown-timeout", "15s", "longest a graceful shutdown may take", false, &c.ShutdownTimeout},
		{"SHUTDOWN_DRAIN", "shutdown-drain", "0s", "on SIGTERM, how long /readyz fails before the node stops taking HTTP requests, so load balancers stop sending new ones first (their health-check interval); part of SHUTDOWN_TIMEOUT", false, &c.ShutdownDrain},
		{"SWEEP_INTERVAL", "sweep-interval", "30s", "how often expired reservations of passivated SKUs are released", false, &c.SweepInterval},
		{"GRAIN_IDLE_TIMEOUT", "grain-idle-timeout", "5m", "a grain idle this long is passivated", false, &c.GrainIdle},
		{"MEMBER_DEAD_AFTER", "member-dead-after", "1m", "a member (or an earlier run of this node) whose heartbeat in the store is this old stopped without writing its last read models; another member wakes the grains whose read model is behind. Members beat every sixth of it", false, &c.DeadAfter},
		{"PUBLIC_URL", "public-url", "http://localhost:8080", "base URL of links in emails and the issuer of access tokens", false, &c.PublicURL},
		{"SMTP_URL", "smtp-url", "", "SMTP server (smtp://user:pass@host:587, smtps://...); empty logs mails to the dev outbox", true, &c.SMTPURL},
		{"MAIL_FROM", "mail-from", "Emporium <no-reply@localhost>", "sender address of emails", false, &c.MailFrom},
		{"JWT_KEY_FILE", "jwt-key-file", "", "PEM file of the Ed25519 keys that sign access tokens (first = active); empty: DATA_DIR/keys/jwt-ed25519.pem, created once. Every node of a cluster needs the same file", false, &c.JWTKeyFile},
		{"TRUSTED_PROXIES", "trusted-proxies", "", "comma-separated CIDRs of proxies whose X-Forwarded-For is believed", false, &c.TrustedProxies},
		{"ALLOWED_ORIGINS", "allowed-origins", "", "comma-separated web origins (https://shop.example) whose pages may open live connections; empty: PUBLIC_URL's", false, &c.AllowedOrigins},
		{"ELASTICSEARCH_URL", "elasticsearch-url", "", "Elasticsearch (7.x, 8.x) or OpenSearch URL, http://user:pass@host:9200; empty runs the embedded bleve index under DATA_DIR/search", true, &c.ElasticURL},
		{"ELASTICSEARCH_INDEX", "elasticsearch-index", "emporium-products", "name of the products index in Elasticsearch", false, &c.ElasticIndex},
		{"SEED_PRODUCTS", "seed", "0", "on start, load this many demo products when the catalogue is empty (0: none)", false, &c.SeedProducts},
		{"SEED_RANDOM", "seed-random", "1", "random seed of the demo catalogue: the same seed makes the same catalogue", false, &c.SeedRandom},
		{"CHECKOUT_RATES_FILE", "checkout-rates-file", "", "JSON file of shipping methods and tax rates (docs/checkout.md); empty: the built-in defaults", false, &c.CheckoutRatesFile},
		{"SANDBOX_WEBHOOK_SECRET", "sandbox-webhook-secret", "", "secret that signs the sandbox payment provider's webhooks (Sandbox-Signature); empty refuses them", true, &c.SandboxWebhookSecret},
		{"STRIPE_SECRET_KEY", "stripe-secret-key", "", "Stripe secret key; set, it offers the stripe payment provider", true, &c.StripeSecretKey},
		{"STRIPE_API_URL", "stripe-api-url", "", "Stripe API base URL (e.g. a stripe-mock); empty: Stripe's", false, &c.StripeAPIURL},
		{"STRIPE_WEBHOOK_SECRET", "stripe-webhook-secret", "", "Stripe webhook signing secret (whsec_...); empty refuses Stripe webhooks", true, &c.StripeWebhookSecret},
		{"PAYPAL_CLIENT_ID", "paypal-client-id", "", "PayPal REST client id; set with PAYPAL_SECRET, it offers the paypal payment provider", false, &c.PayPalClientID},
		{"PAYPAL_SECRET", "paypal-secret", "", "PayPal REST secret", true, &c.PayPalSecret},
		{"PAYPAL_API_URL", "paypal-api-url", "", "PayPal API base URL; empty: PayPal's sandbox (https://api-m.sandbox.paypal.com)", false, &c.PayPalAPIURL},
		{"PAYPAL_WEBHOOK_ID", "paypal-webhook-id", "", "id of the PayPal webhook subscription (WH-...) whose deliveries PayPal verifies; empty refuses PayPal webhooks", false, &c.PayPalWebhookID},
		{"DEMO_PASSWORD", "demo-password", "", "password of the demo vendors that seeding creates (8-128 characters); empty: a random one, made once and kept in DATA_DIR/demo-vendor-password (mode 0600)", true, &c.DemoPassword},
	}
}

// Parse reads the settings: each flag's default is its environment
// variable (through getenv) or else the built-in default, and a flag given in
// args wins. A value of the wrong shape is reported naming its variable or
// flag, unless a flag overrode the variable. --help is flag.ErrHelp.
func (c *Config) Parse(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	envErrs := map[string]string{} // flag name -> problem with its variable
	for _, s := range c.settings() {
		v := s.def
		if e := getenv(s.env); e != "" {
			v = e
		}
		help := fmt.Sprintf("%s (env %s)", s.help, s.env)
		switch p := s.field.(type) {
		case *string:
			fs.StringVar(p, s.flag, v, help)
		case *int:
			n, err := strconv.Atoi(v)
			if err != nil {
				envErrs[s.flag] = fmt.Sprintf("%s=%q is not a number", s.env, v)
			}
			fs.IntVar(p, s.flag, n, help)
		case *time.Duration:
			d, err := time.ParseDuration(v)
			if err != nil {
				envErrs[s.flag] = fmt.Sprintf("%s=%q is not a duration such as 15s", s.env, v)
			}
			fs.DurationVar(p, s.flag, d, help)
		}
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	fs.Visit(func(f *flag.Flag) { delete(envErrs, f.Name) })
	if len(envErrs) > 0 {
		return fmt.Errorf("%w:\n  %s", ErrBadSettings, strings.Join(slices.Sorted(maps.Values(envErrs)), "\n  "))
	}
	return nil
}

// DefaultConfig returns the settings a node has with no environment and no
// flags: one node, embedded stores, under ./data.
func DefaultConfig() Config {
	var c Config
	_ = c.Parse(flag.NewFlagSet("defaults", flag.ContinueOnError), nil, func(string) string { return "" })
	return c
}

// Validate checks the settings that can be checked without connecting, and
// names the setting at fault.
func (c *Config) Validate() error {
	var errs []string
	if c.ShutdownTimeout <= 0 || c.SweepInterval <= 0 || c.GrainIdle <= 0 {
		errs = append(errs, "SHUTDOWN_TIMEOUT, SWEEP_INTERVAL and GRAIN_IDLE_TIMEOUT must be positive durations")
	}
	if c.DeadAfter < 600*time.Millisecond {
		errs = append(errs, fmt.Sprintf("MEMBER_DEAD_AFTER=%s must be at least 600ms (members beat every sixth of it); 1m suits a production cluster", c.DeadAfter))
	}
	if c.ShutdownDrain < 0 || (c.ShutdownTimeout > 0 && c.ShutdownDrain >= c.ShutdownTimeout) {
		errs = append(errs, fmt.Sprintf("SHUTDOWN_DRAIN=%s must be at least 0 and shorter than SHUTDOWN_TIMEOUT=%s", c.ShutdownDrain, c.ShutdownTimeout))
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		errs = append(errs, err.Error())
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Sprintf("LOG_FORMAT=%q is not text or json", c.LogFormat))
	}
	if c.ClusterHealth <= 0 || c.ClusterHealth > 65535 {
		errs = append(errs, fmt.Sprintf("CLUSTER_HEALTH_PORT=%d is not a port number", c.ClusterHealth))
	}
	if c.ClusterProvider != "local" && c.ClusterProvider != "automanaged" {
		errs = append(errs, fmt.Sprintf("CLUSTER_PROVIDER=%q is not local or automanaged", c.ClusterProvider))
	}
	if c.MongoURI != "" && !strings.HasPrefix(c.MongoURI, "mongodb://") && !strings.HasPrefix(c.MongoURI, "mongodb+srv://") {
		errs = append(errs, "MONGODB_URI must start with mongodb:// or mongodb+srv://")
	}
	if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") {
		errs = append(errs, "REDIS_URL must start with redis:// or rediss://")
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Sprintf("PUBLIC_URL=%q is not an http(s) URL such as https://shop.example", c.PublicURL))
	}
	if c.ElasticURL != "" && !strings.HasPrefix(c.ElasticURL, "http://") && !strings.HasPrefix(c.ElasticURL, "https://") {
		errs = append(errs, "ELASTICSEARCH_URL must start with http:// or https://")
	}
	if c.SeedProducts < 0 || c.SeedProducts > 1_000_000 {
		errs = append(errs, fmt.Sprintf("SEED_PRODUCTS=%d is not between 0 and 1000000", c.SeedProducts))
	}
	if n := len([]rune(c.DemoPassword)); c.DemoPassword != "" && (n < 8 || n > 128) {
		errs = append(errs, "DEMO_PASSWORD must be 8 to 128 characters long")
	}
	if _, err := c.allowedOrigins(); err != nil {
		errs = append(errs, err.Error())
	}
	if _, err := c.trustedProxies(); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w:\n  %s", ErrBadSettings, strings.Join(errs, "\n  "))
	}
	return nil
}

// LogValue renders the settings for the start-up log with secrets masked
// (persistence.RedactURI): a URI keeps its user name, hosts and harmless
// options, never its password or secret options.
func (c *Config) LogValue() slog.Value {
	var attrs []slog.Attr
	for _, s := range c.settings() {
		v := fmt.Sprint(reflect.ValueOf(s.field).Elem().Interface())
		if s.secret {
			v = persistence.RedactURI(v)
		}
		if s.field == any(&c.DemoPassword) && v != "" {
			v = persistence.RedactURI("not a URI") // all of it masked, whatever it holds
		}
		attrs = append(attrs, slog.String(s.env, v))
	}
	return slog.GroupValue(attrs...)
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("LOG_LEVEL=%q is not debug, info, warn or error", s)
	}
	return l, nil
}

// NewLogger returns the node's logger as the settings ask.
func (c *Config) NewLogger(w interface{ Write([]byte) (int, error) }) *slog.Logger {
	level, _ := parseLevel(c.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// trustedProxies parses TRUSTED_PROXIES.
func (c *Config) trustedProxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(c.TrustedProxies, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("TRUSTED_PROXIES has %q, which is not a CIDR such as 10.0.0.0/8", part)
		}
		out = append(out, p)
	}
	return out, nil
}

// JWTKeyPath returns the file of the token signing keys: JWT_KEY_FILE, or
// DATA_DIR/keys/jwt-ed25519.pem when it is empty.
func (c *Config) JWTKeyPath() string {
	if c.JWTKeyFile != "" {
		return c.JWTKeyFile
	}
	return filepath.Join(c.DataDir, "keys", "jwt-ed25519.pem")
}
