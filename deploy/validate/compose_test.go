package validate

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

var nodes = []string{"node1", "node2", "node3"}

// loadCompose parses docker-compose.yml as `docker compose` would, with the
// given environment only (none of this process's), interpolated and
// normalised.
func loadCompose(t *testing.T, env ...string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root),
		cli.WithEnv(env),
		cli.WithInterpolation(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return p
}

func TestComposeServices(t *testing.T) {
	p := loadCompose(t)
	want := append([]string{"mongo", "search", "redis", "mailpit", "lb"}, nodes...)
	got := p.ServiceNames()
	for _, name := range want {
		if !slices.Contains(got, name) {
			t.Errorf("service %s is missing (have %v)", name, got)
		}
	}
	for name, s := range p.Services {
		if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) < 2 {
			t.Errorf("service %s has no health check", name)
		}
		if s.Image == "" {
			t.Errorf("service %s names no image", name)
		}
	}
	// Only the load balancer is reachable from outside, on one port.
	for name, s := range p.Services {
		if name != "lb" && len(s.Ports) > 0 {
			t.Errorf("service %s publishes %v: only lb may publish a port", name, s.Ports)
		}
	}
	lb := p.Services["lb"]
	if len(lb.Ports) != 1 || lb.Ports[0].Published != "8080" || lb.Ports[0].Target != 80 {
		t.Errorf("lb publishes %+v, want 8080 -> 80", lb.Ports)
	}
	for _, n := range nodes {
		if dep, ok := lb.DependsOn[n]; !ok || dep.Condition != types.ServiceConditionHealthy {
			t.Errorf("lb does not wait for %s to be healthy", n)
		}
	}
	// The port follows EMPORIUM_PORT.
	if got := loadCompose(t, "EMPORIUM_PORT=9000").Services["lb"].Ports; len(got) != 1 || got[0].Published != "9000" {
		t.Errorf("with EMPORIUM_PORT=9000 lb publishes %+v", got)
	}
}

func TestComposeMongoIsAReplicaSet(t *testing.T) {
	p := loadCompose(t)
	m := p.Services["mongo"]
	if !slices.Contains(m.Command, "--replSet") || !slices.Contains(m.Command, "rs0") {
		t.Errorf("mongo command %v does not start a replica set rs0", m.Command)
	}
	hc := strings.Join(m.HealthCheck.Test, " ")
	if !strings.Contains(hc, "rs.initiate") || !strings.Contains(hc, "host: 'mongo:27017'") {
		t.Errorf("mongo's health check does not initiate the replica set as the nodes reach it: %s", hc)
	}
	for _, n := range nodes {
		if uri := env(t, p, n, "MONGODB_URI"); !strings.HasPrefix(uri, "mongodb://mongo:27017/") || !strings.Contains(uri, "replicaSet=rs0") {
			t.Errorf("%s: MONGODB_URI=%q does not name the replica set rs0 on mongo:27017", n, uri)
		}
	}
}

func TestComposeNodes(t *testing.T) {
	p := loadCompose(t)
	known := nodeSettings(t)
	// Caddy's address, the one proxy the nodes trust.
	lbAddr, err := netip.ParseAddr(p.Services["lb"].Networks["default"].Ipv4Address)
	if err != nil {
		t.Fatalf("lb has no fixed address: %v", err)
	}
	subnet := netip.MustParsePrefix(p.Networks["default"].Ipam.Config[0].Subnet)
	if !subnet.Contains(lbAddr) {
		t.Errorf("lb's address %s is outside the network %s", lbAddr, subnet)
	}
	caddyfile, err := os.ReadFile(filepath.Join(root, "deploy", "caddy", "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	var peers []string
	for _, n := range nodes {
		peers = append(peers, n+":"+env(t, p, n, "CLUSTER_HEALTH_PORT"))
	}
	seeders := 0
	for _, n := range nodes {
		s := p.Services[n]
		var names []string
		for k, v := range s.Environment {
			names = append(names, k)
			if v == nil {
				t.Errorf("%s: %s has no value", n, k)
			} else if strings.Contains(*v, "${") {
				t.Errorf("%s: %s=%q is not interpolated", n, k, *v)
			}
		}
		checkEnvNames(t, n, names, known)

		if s.Build == nil || s.Build.Dockerfile != "deploy/Dockerfile" {
			t.Errorf("%s is not built from deploy/Dockerfile: %+v", n, s.Build)
		}
		if !s.ReadOnly {
			t.Errorf("%s: the root file system is writable", n)
		}
		if hc := s.HealthCheck.Test; !slices.Contains(hc, "/usr/local/bin/probe") || !strings.HasSuffix(hc[len(hc)-1], "/readyz") {
			t.Errorf("%s: health check %v is not the image's probe of /readyz", n, hc)
		}
		for _, dep := range []string{"mongo", "redis", "search", "mailpit"} {
			if d, ok := s.DependsOn[dep]; !ok || d.Condition != types.ServiceConditionHealthy {
				t.Errorf("%s does not wait for %s to be healthy", n, dep)
			}
		}
		// The cluster (DESIGN §2: automanaged for docker-compose).
		if got := env(t, p, n, "CLUSTER_PROVIDER"); got != "automanaged" {
			t.Errorf("%s: CLUSTER_PROVIDER=%q", n, got)
		}
		if got := env(t, p, n, "CLUSTER_PEERS"); got != strings.Join(peers, ",") {
			t.Errorf("%s: CLUSTER_PEERS=%q, want %q", n, got, strings.Join(peers, ","))
		}
		_, clusterPort, _ := net.SplitHostPort(env(t, p, n, "CLUSTER_ADDR"))
		if got := env(t, p, n, "CLUSTER_ADVERTISED_ADDR"); got != n+":"+clusterPort {
			t.Errorf("%s: CLUSTER_ADVERTISED_ADDR=%q, want %s:%s", n, got, n, clusterPort)
		}
		// The stores every node shares.
		for k, want := range map[string]string{"REDIS_URL": "redis://redis:", "ELASTICSEARCH_URL": "http://search:9200", "SMTP_URL": "smtp://mailpit:1025"} {
			if got := env(t, p, n, k); !strings.HasPrefix(got, want) {
				t.Errorf("%s: %s=%q, want it to start with %s", n, k, got, want)
			}
		}
		// Every node signs with the same key: one file on one shared volume.
		keyFile := env(t, p, n, "JWT_KEY_FILE")
		if !mountsVolume(s, "jwt-keys", filepath.Dir(keyFile)) {
			t.Errorf("%s: JWT_KEY_FILE=%s is not on the shared volume jwt-keys", n, keyFile)
		}
		if !mountsVolume(s, n+"-data", env(t, p, n, "DATA_DIR")) {
			t.Errorf("%s: DATA_DIR is not on a volume of its own", n)
		}
		// X-Forwarded-For is believed from the load balancer, and only from it.
		var trusted []netip.Prefix
		for _, c := range strings.Split(env(t, p, n, "TRUSTED_PROXIES"), ",") {
			pr, err := netip.ParsePrefix(strings.TrimSpace(c))
			if err != nil {
				t.Errorf("%s: TRUSTED_PROXIES: %v", n, err)
				continue
			}
			trusted = append(trusted, pr)
		}
		if len(trusted) != 1 || !trusted[0].Contains(lbAddr) || trusted[0].Bits() != 32 {
			t.Errorf("%s: TRUSTED_PROXIES=%v, want exactly lb's address %s/32", n, trusted, lbAddr)
		}
		// Metrics listen inside the network, on a port neither published nor proxied.
		host, port, err := net.SplitHostPort(env(t, p, n, "METRICS_ADDR"))
		if err != nil || (host != "" && host != "0.0.0.0") {
			t.Errorf("%s: METRICS_ADDR=%q does not listen on the container's network", n, env(t, p, n, "METRICS_ADDR"))
		}
		if !slices.Contains(s.Expose, port) {
			t.Errorf("%s: metrics port %s is not in expose %v", n, port, s.Expose)
		}
		if strings.Contains(string(caddyfile), ":"+port) {
			t.Errorf("the Caddyfile mentions the metrics port %s", port)
		}
		if !strings.Contains(string(caddyfile), n+":8080") {
			t.Errorf("the Caddyfile does not balance to %s:8080", n)
		}
		if env(t, p, n, "SEED_PRODUCTS") != "" {
			seeders++
		}
		// Local defaults for secrets are marked so, and the paid providers stay off.
		if !strings.HasPrefix(env(t, p, n, "SANDBOX_WEBHOOK_SECRET"), "local-only-") || !strings.HasPrefix(env(t, p, n, "DEMO_PASSWORD"), "local-only-") {
			t.Errorf("%s: the default secrets are not marked local-only", n)
		}
		for _, k := range []string{"STRIPE_SECRET_KEY", "PAYPAL_SECRET"} {
			if env(t, p, n, k) != "" {
				t.Errorf("%s: %s has a default", n, k)
			}
		}
	}
	if seeders != 1 {
		t.Errorf("%d nodes seed the demo catalogue, want 1", seeders)
	}
	// Secrets given in the environment reach the nodes.
	p = loadCompose(t, "STRIPE_SECRET_KEY=sk_test_x", "PUBLIC_URL=https://shop.example")
	if env(t, p, "node2", "STRIPE_SECRET_KEY") != "sk_test_x" || env(t, p, "node3", "PUBLIC_URL") != "https://shop.example" {
		t.Error("STRIPE_SECRET_KEY and PUBLIC_URL from the environment do not reach the nodes")
	}
}

func TestComposeFilesExist(t *testing.T) {
	p := loadCompose(t)
	for name, s := range p.Services {
		if s.Build != nil {
			if _, err := os.Stat(filepath.Join(s.Build.Context, s.Build.Dockerfile)); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeBind {
				if _, err := os.Stat(v.Source); err != nil {
					t.Errorf("%s: bind mount: %v", name, err)
				}
			}
		}
	}
}

func env(t *testing.T, p *types.Project, service, name string) string {
	t.Helper()
	v, ok := p.Services[service].Environment[name]
	if !ok || v == nil {
		return ""
	}
	return *v
}

func mountsVolume(s types.ServiceConfig, volume, target string) bool {
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeVolume && v.Source == volume && v.Target == target {
			return true
		}
	}
	return false
}
