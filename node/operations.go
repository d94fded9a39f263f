package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	memberpb "github.com/emporium-shop/emporium/protos/memberpb"
	"github.com/emporium-shop/emporium/search"
)

// The operator's side of a node: its orderly stop, what it tells others
// about itself, and GET /v1/admin/cluster.

// memberStatusTimeout bounds the wait for each member's answer to
// ClusterStatus; a member slower than that is listed as unreachable.
const memberStatusTimeout = 2 * time.Second

// dependencyTimeout bounds each check of ClusterStatus's dependencies.
const dependencyTimeout = 2 * time.Second

// drain is the first step of Close: readiness fails from now on, and the
// node goes on serving for SHUTDOWN_DRAIN (or until ctx ends), the time load
// balancers need to see it and send new requests elsewhere.
func (n *Node) drain(ctx context.Context) error {
	n.draining.Store(true)
	if n.gateway != nil {
		n.gateway.Drain()
	}
	if n.Config.ShutdownDrain <= 0 {
		return nil
	}
	n.Logger.Info("draining: readiness fails; still serving", slog.Duration("for", n.Config.ShutdownDrain))
	timer := time.NewTimer(n.Config.ShutdownDrain)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("draining for SHUTDOWN_DRAIN=%s: %w", n.Config.ShutdownDrain, ctx.Err())
	}
}

// leave takes the member out of the cluster with nothing acknowledged left
// behind. It runs once the HTTP server has drained and the background loops
// have stopped, so only this node's grains still call grains. It first
// tells the others that it leaves (the gossip state Proto.Actor's own
// Shutdown sets, set here before the grains passivate rather than after),
// so that they route its grains elsewhere while it passivates them instead
// of when it is gone. Then every grain passivates (its Terminate saves a
// snapshot), the projections queued are written, so that the members taking
// the grains over read current read models, and the member shuts down.
// Requests from members that had not heard yet may activate a grain here
// meanwhile, so the passivation and the flush run again at the end.
func (n *Node) leave(ctx context.Context, c *cluster.Cluster) error {
	if n.Config.ClusterProvider != actors.ProviderLocal {
		c.Gossip.SetState(cluster.GracefullyLeftKey, &emptypb.Empty{})
	}
	grains := n.Activations.Counts()
	var phases []any
	start, last := time.Now(), time.Now()
	phase := func(name string, perr error) error {
		now := time.Now()
		phases = append(phases, slog.Duration(name, now.Sub(last)))
		last = now
		return perr
	}
	err := phase("passivate", n.Activations.PassivateAll(ctx, c.ActorSystem))
	err = errors.Join(err, phase("flush", n.flushProjections(ctx)))
	err = errors.Join(err, phase("shutdown", leaveCluster(ctx, c, n.Config.ClusterProvider)))
	err = errors.Join(err, phase("passivate_again", n.Activations.PassivateAll(ctx, c.ActorSystem)))
	flushErr := phase("flush_again", n.flushProjections(ctx))
	err = errors.Join(err, flushErr)
	if took := time.Since(start); took > slowLeave {
		n.Logger.Warn("leaving the cluster was slow", append(phases, slog.Duration("took", took), slog.Any("grains", grains))...)
	}
	// Whatever else failed, once the projections queued are written nobody
	// needs to repair after this node.
	n.stopHeartbeat(ctx, flushErr)
	return err
}

// slowLeave is how long leaving the cluster may take before the node says
// where the time went (the kill test reads it).
const slowLeave = 3 * time.Second

// flushProjections writes the projections queued on this node.
func (n *Node) flushProjections(ctx context.Context) error {
	if err := n.Store.Projections().Flush(ctx); err != nil {
		return fmt.Errorf("writing the queued projections: %w", err)
	}
	return nil
}

// memberStatus is this member's answer to MemberStatusRequest: counters
// only, so the status actor never waits.
func (n *Node) memberStatus() *memberpb.MemberStatus {
	st := &memberpb.MemberStatus{
		Id:            n.Cluster.ActorSystem.ID,
		Address:       n.Cluster.ActorSystem.Address(),
		Version:       Version,
		Draining:      n.draining.Load(),
		Grains:        n.Activations.Counts(),
		SearchBackend: n.searchBackend(),
	}
	if n.Indexer != nil {
		st.SearchCursor = n.Indexer.FeedCursor()
	}
	return st
}

// searchBackend names the node's search index.
func (n *Node) searchBackend() string {
	if n.Config.ElasticURL != "" {
		return "elasticsearch"
	}
	return "bleve"
}

// ClusterStatus implements emporium.ClusterAdmin: it asks every member of
// the member list for its status and checks the store, Redis and the search
// index, all at once.
func (n *Node) ClusterStatus(ctx context.Context, p emporium.Principal) (emporium.ClusterStatus, error) {
	const op = "node.ClusterStatus"
	if !p.HasRole(emporium.RoleAdmin) {
		return emporium.ClusterStatus{}, &emporium.Error{Code: emporium.EFORBIDDEN, Op: op, Message: "Only administrators may see the cluster."}
	}
	if n.Cluster == nil {
		return emporium.ClusterStatus{}, &emporium.Error{Code: emporium.EUNAVAILABLE, Op: op, Message: "This node is not in a cluster yet."}
	}
	deps := make(chan func(*emporium.ClusterStatus), 3)
	check := func(backend string, fn func(context.Context) error, set func(*emporium.ClusterStatus, emporium.Dependency)) {
		cctx, cancel := context.WithTimeout(ctx, dependencyTimeout)
		defer cancel()
		d := emporium.Dependency{Backend: backend, Status: emporium.DependencyOK}
		if err := fn(cctx); err != nil {
			n.Logger.Warn("cluster status: a dependency failed its check", slog.String("backend", backend), slog.Any("error", err))
			d.Status = emporium.DependencyUnavailable
		}
		deps <- func(st *emporium.ClusterStatus) { set(st, d) }
	}
	go check(n.Store.Backend(), n.Store.Ping, func(st *emporium.ClusterStatus, d emporium.Dependency) { st.Store = d })
	go check(n.redisBackend(), func(ctx context.Context) error { return n.Redis.Ping(ctx).Err() },
		func(st *emporium.ClusterStatus, d emporium.Dependency) { st.Redis = d })
	go check(n.searchBackend(), n.pingSearch, func(st *emporium.ClusterStatus, d emporium.Dependency) { st.Search = d })

	self := n.Cluster.ActorSystem.Address()
	st := emporium.ClusterStatus{Node: self, CheckedAt: time.Now().UTC()}
	for _, r := range actors.AskMembers(n.Cluster, memberStatusTimeout) {
		m := emporium.ClusterMember{ID: r.ID, Address: r.Address, Self: r.Address == self,
			Status: emporium.MemberUnreachable, Grains: map[string]int64{}}
		if r.Err != nil {
			n.Logger.Warn("cluster status: a member did not answer", slog.String("member", r.Address), slog.Any("error", r.Err))
		} else {
			m.Status, m.Version, m.Grains = emporium.MemberServing, r.Status.Version, r.Status.Grains
			if r.Status.Draining {
				m.Status = emporium.MemberDraining
			}
			if m.Grains == nil {
				m.Grains = map[string]int64{}
			}
			m.Search = &emporium.MemberSearch{Backend: r.Status.SearchBackend, FeedCursor: r.Status.SearchCursor}
		}
		st.Members = append(st.Members, m)
	}
	slices.SortFunc(st.Members, func(a, b emporium.ClusterMember) int { return strings.Compare(a.Address, b.Address) })
	st.Members = st.Members[:min(len(st.Members), emporium.MaxClusterMembers)]
	for range 3 {
		(<-deps)(&st)
	}
	return st, nil
}

// redisBackend names the node's Redis.
func (n *Node) redisBackend() string {
	if n.Config.RedisURL == "" {
		return "miniredis"
	}
	return "redis"
}

// searchPing is the smallest query: one product, newest first.
var searchPing = search.Query{Sort: search.SortNewest, Limit: 1}

// pingSearch checks that the search index answers a query.
func (n *Node) pingSearch(ctx context.Context) error {
	if n.Index == nil {
		return errors.New("no search index")
	}
	_, err := n.Index.Search(ctx, searchPing)
	return err
}

// registerClusterMetrics exports the member's view of the cluster: how many
// members it sees and whether it is draining (the grains it holds, by kind,
// are emporium_grain_active).
func (n *Node) registerClusterMetrics(c *cluster.Cluster) {
	n.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "emporium_cluster_members",
			Help: "Members in this node's cluster member list, itself included.",
		}, func() float64 { return float64(len(actors.Members(c))) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "emporium_node_draining",
			Help: "1 once this node has begun an orderly stop (its readiness fails), else 0.",
		}, func() float64 {
			if n.draining.Load() {
				return 1
			}
			return 0
		}),
	)
}
