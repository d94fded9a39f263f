package actors

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/automanaged"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/test"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/remote"
)

// Cluster providers a node can use (CLUSTER_PROVIDER).
const (
	// ProviderLocal is a single member on its own: the laptop default.
	ProviderLocal = "local"
	// ProviderAutomanaged finds members from a fixed peer list
	// (CLUSTER_PEERS), each member answering health checks on its own port.
	ProviderAutomanaged = "automanaged"
	// ProviderTest joins the members of one process through a shared
	// in-memory agent (ClusterConfig.Agent); for tests.
	ProviderTest = "test"
)

// ClusterConfig says how a node joins the Proto.Actor cluster.
type ClusterConfig struct {
	// Name is the cluster's name; members of different names never meet.
	Name string
	// Provider is one of ProviderLocal, ProviderAutomanaged, ProviderTest.
	Provider string
	// Addr is the host:port the member's remote listens on; port 0 picks a
	// free one.
	Addr string
	// AdvertisedAddr is the address other members dial, when it differs
	// from Addr (containers, NAT).
	AdvertisedAddr string
	// Peers are the automanaged health endpoints (host:port) of all members.
	Peers []string
	// HealthPort is the port of this member's automanaged health endpoint.
	HealthPort int
	// Agent joins in-process members for ProviderTest.
	Agent *test.InMemAgent
	// RequestTimeout bounds one grain request attempt; timed-out requests
	// are retried by Proto.Actor, so grains deduplicate commands.
	RequestTimeout time.Duration
	// Logger receives Proto.Actor's logs, at Warn and above only.
	Logger *slog.Logger
	// Clock times the member's topology changes (Topology); nil means the
	// wall clock.
	Clock Clock
}

// StartMember starts an actor system and joins the cluster as a member that
// hosts kinds. It waits until the member sees itself in the member list:
// Proto.Actor's consensus check never reports success (DESIGN §2), so the
// member list is the signal.
func StartMember(cfg ClusterConfig, kinds ...*cluster.Kind) (c *cluster.Cluster, err error) {
	if cfg.Name == "" {
		cfg.Name = "emporium"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 5 * time.Second
	}
	host, portText, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("cluster: CLUSTER_ADDR=%q is not host:port: %w", cfg.Addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("cluster: CLUSTER_ADDR=%q has no numeric port", cfg.Addr)
	}
	provider, err := newProvider(cfg)
	if err != nil {
		return nil, err
	}

	quiet := cfg.Logger.Handler()
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(warnOnly{quiet})
	}))
	// The guard keeps a message of a type this build lacks (a newer member's,
	// during a rolling upgrade) from crashing the member (wire.go).
	remoteOpts := []remote.ConfigOption{remote.WithServerOptions(guardUnknownTypes(system, cfg.Logger))}
	if cfg.AdvertisedAddr != "" {
		remoteOpts = append(remoteOpts, remote.WithAdvertisedHost(cfg.AdvertisedAddr))
	}
	config := cluster.Configure(cfg.Name, provider, disthash.New(),
		remote.Configure(host, port, remoteOpts...),
		cluster.WithKinds(kinds...),
		cluster.WithRequestTimeout(cfg.RequestTimeout),
		cluster.WithClusterContextProducer(newRequestContext),
	)
	c = cluster.New(system, config)
	topology := NewTopology(system, cfg.Clock)
	system.EventStream.Subscribe(func(ev any) {
		if tp, ok := ev.(*cluster.ClusterTopology); ok {
			topology.Observe(tp.Members, system.Address())
		}
	})

	if err := startMember(c); err != nil {
		return nil, fmt.Errorf("cluster: cannot start member at CLUSTER_ADDR=%s with CLUSTER_PROVIDER=%s: %w", cfg.Addr, cfg.Provider, err)
	}
	if err := waitForSelf(c, 10*time.Second); err != nil {
		stopQuietly(c)
		if cfg.Provider == ProviderAutomanaged {
			return nil, fmt.Errorf("%w; check that CLUSTER_PEERS lists this member's own health endpoint and that CLUSTER_HEALTH_PORT=%d is free", err, cfg.HealthPort)
		}
		return nil, err
	}
	return c, nil
}

// startMember runs Proto.Actor's StartMember, which panics when it cannot
// listen or its provider fails, and returns that as an error after stopping
// whatever had started.
func startMember(c *cluster.Cluster) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
			stopQuietly(c)
		}
	}()
	c.StartMember()
	return nil
}

// stopQuietly stops a member that failed to start; what it had not started
// yet may panic on the way, which changes nothing.
func stopQuietly(c *cluster.Cluster) {
	defer func() { _ = recover() }()
	c.Shutdown(false)
}

// Joined reports whether the member sees itself in the cluster's member
// list (as its Topology saw the list last: Proto.Actor's MemberList is not
// safe to read while it changes).
func Joined(c *cluster.Cluster) bool {
	return TopologyOf(c.ActorSystem).Joined()
}

// Members returns the cluster's members as c saw them last, read from its
// Topology for the reason Joined gives.
func Members(c *cluster.Cluster) []*cluster.Member {
	return TopologyOf(c.ActorSystem).Members()
}

func waitForSelf(c *cluster.Cluster, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !Joined(c) {
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster: member %s did not see itself in the member list within %s", c.ActorSystem.Address(), timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

func newProvider(cfg ClusterConfig) (cluster.ClusterProvider, error) {
	switch cfg.Provider {
	case ProviderLocal, "":
		return test.NewTestProvider(test.NewInMemAgent()), nil
	case ProviderTest:
		if cfg.Agent == nil {
			return nil, fmt.Errorf("cluster: provider %q needs an in-memory agent", ProviderTest)
		}
		return test.NewTestProvider(cfg.Agent), nil
	case ProviderAutomanaged:
		if len(cfg.Peers) == 0 {
			return nil, fmt.Errorf("cluster: CLUSTER_PROVIDER=automanaged needs CLUSTER_PEERS (the host:port health endpoints of every member)")
		}
		if cfg.HealthPort == 0 {
			return nil, fmt.Errorf("cluster: CLUSTER_PROVIDER=automanaged needs CLUSTER_HEALTH_PORT")
		}
		return automanaged.NewWithConfig(2*time.Second, cfg.HealthPort, cfg.Peers...), nil
	default:
		return nil, fmt.Errorf("cluster: CLUSTER_PROVIDER=%q is not one of local, automanaged", cfg.Provider)
	}
}
