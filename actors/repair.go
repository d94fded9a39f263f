package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/emporium-shop/emporium"
)

// A read model is written after its events are durable, from a queue
// (persistence.Projections: Put only queues). A member killed with -9, or
// a machine that lost power, loses what its queue held: the events are in
// the journal, and the read model stays behind until the grain is
// activated again, since every activation projects its state afresh. For
// a SKU nobody orders, or a product nobody edits, that may be never.
//
// ViewRepair closes that gap without a cost per request. Every member
// keeps its heartbeat in one shared document while it runs, and takes it
// out when it stops in order, after its last projections are written. A
// member that finds another's heartbeat older than DeadAfter knows that one
// stopped without flushing: it asks the journal which streams were written
// from Lookback before that heartbeat until now, compares each with its
// read model, wakes the grains whose read model is behind (or missing),
// and then takes the dead member's heartbeat out. A single node restarted
// after a crash finds the heartbeat of its previous run the same way.
//
// The journal query reads the whole journal (no index serves it): it runs
// once per member that died, not per request. Waking a grain that was not
// behind after all (another member's projection still queued, a kind that
// writes its read model only when readers would see a difference) costs
// one activation or one message.

// RepairTarget is a grain kind whose read model ViewRepair keeps: one
// document per grain in Collection, its id the grain's identity and its seq
// the seq of the grain's stream it was projected at.
type RepairTarget struct {
	Kind         string
	StreamPrefix string
	Collection   string
	// Sparse says that a grain may rightly have no document (an account
	// with no store): a missing one is then not behind.
	Sparse bool
}

// AppendLog is what ViewRepair reads of the journal
// (persistence.Journal).
type AppendLog interface {
	Appended(ctx context.Context, after, until time.Time) (map[string]uint64, error)
}

// ViewReader reads read models with their seq (persistence.Projections).
type ViewReader interface {
	GetMany(ctx context.Context, collection string, ids []string, into any) error
}

// VersionedDocuments keeps documents written only over the version read
// (persistence.Documents).
type VersionedDocuments interface {
	Get(ctx context.Context, id string, into any) (version int64, err error)
	Put(ctx context.Context, id string, expectedVersion int64, doc any) (version int64, err error)
}

// ViewRepairConfig configures a ViewRepair.
type ViewRepairConfig struct {
	// Member is this member's id (its actor system's), Address its cluster
	// address, for the logs of whoever repairs after it.
	Member, Address string
	Targets         []RepairTarget
	Journal         AppendLog
	Views           ViewReader
	// Heartbeats holds the heartbeat document.
	Heartbeats VersionedDocuments
	// Wake activates the grain of kind with identity, wherever the cluster
	// places it, and returns when it has.
	Wake   func(ctx context.Context, kind, identity string) error
	Clock  Clock
	Logger *slog.Logger
	// Every is how often the member beats and looks for dead members (10 s).
	Every time.Duration
	// DeadAfter is how old a heartbeat is when its member is taken for
	// dead (1 min): well past Every and any clock skew between members.
	DeadAfter time.Duration
	// Lookback is how long before a dead member's last heartbeat the
	// journal is read (1 min): its queue may have held writes that old
	// while the store was slow.
	Lookback time.Duration
	// Wakers bounds the grains woken at once (8).
	Wakers int
}

// heartbeatsID is the id of the one heartbeat document.
const heartbeatsID = "heartbeats"

// heartbeats is the stored heartbeat document: each running member's last
// beat.
type heartbeats struct {
	Members map[string]heartbeat `bson:"members"`
}

type heartbeat struct {
	Address string    `bson:"address"`
	AliveAt time.Time `bson:"alive_at"`
	// RepairedBy is the member that took the repair after this dead one on
	// itself, at RepairFrom: the others leave it alone until DeadAfter
	// after that, when the repairer may have died too.
	RepairedBy string    `bson:"repaired_by,omitempty"`
	RepairFrom time.Time `bson:"repair_from,omitempty"`
}

// ViewRepair repairs the read models of members that died (see above).
type ViewRepair struct {
	cfg ViewRepairConfig
	log *slog.Logger

	mu sync.Mutex
	// unfinished holds, per dead member, the grains whose wake failed and
	// how often: the next try wakes those again without reading the
	// journal, and after maxTries the repair gives them up.
	unfinished map[string]*unfinished
}

// unfinished is a repair whose wakes did not all succeed.
type unfinished struct {
	grains []woken
	tries  int
}

// maxTries is how many times a repair tries to wake a grain before it
// gives the grain up, logged as an error: a grain that cannot activate
// (its stream unreadable) answers every request unavailable anyway, and
// its read model heals when it is mended.
const maxTries = 5

// NewViewRepair returns a ViewRepair with cfg, defaults filled in.
func NewViewRepair(cfg ViewRepairConfig) *ViewRepair {
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Every = cmp0(cfg.Every, 10*time.Second)
	cfg.DeadAfter = cmp0(cfg.DeadAfter, time.Minute)
	cfg.Lookback = cmp0(cfg.Lookback, time.Minute)
	if cfg.Wakers <= 0 {
		cfg.Wakers = 8
	}
	return &ViewRepair{cfg: cfg, log: cfg.Logger.With(slog.String("component", "view repair")), unfinished: map[string]*unfinished{}}
}

func cmp0(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Run beats every Every until ctx ends, and repairs after the dead members
// it takes on in a goroutine of its own, so that a long journal scan never
// delays a beat (a member that stopped beating would be taken for dead).
// Failures are logged and tried again: a dead member's heartbeat stays
// until its repair succeeded.
func (r *ViewRepair) Run(ctx context.Context) {
	var (
		wg        sync.WaitGroup
		repairing atomic.Bool
	)
	defer wg.Wait()
	for {
		dead, err := r.beat(ctx, !repairing.Load())
		if err != nil && ctx.Err() == nil {
			r.log.Warn("view repair: the heartbeat failed; beating again", slog.Any("error", err))
		}
		if len(dead) > 0 {
			repairing.Store(true)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer repairing.Store(false)
				if err := r.repairAll(ctx, dead); err != nil && ctx.Err() == nil {
					r.log.Warn("view repair: a repair failed; trying again at a later beat", slog.Any("error", err))
				}
			}()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(r.cfg.Every):
		}
	}
}

// Beat beats once and repairs after the dead members it took on, at once:
// what Run does at each beat, for tests.
func (r *ViewRepair) Beat(ctx context.Context) error {
	dead, err := r.beat(ctx, true)
	if err != nil {
		return err
	}
	return r.repairAll(ctx, dead)
}

// beat records this member's heartbeat and renews the repairs it has taken
// on, so that nobody takes over a repair still running. With take set, it
// takes on, in the same write, the repair after every member whose
// heartbeat is older than DeadAfter and whose repair no live member holds
// (its repairer's claim is not older than DeadAfter), and returns them with
// those it holds from before (a repair that failed). The write is
// conditional, so one member repairs after each dead one.
func (r *ViewRepair) beat(ctx context.Context, take bool) (map[string]heartbeat, error) {
	now := r.cfg.Clock.Now()
	var dead map[string]heartbeat
	err := r.update(ctx, func(h *heartbeats) {
		dead = map[string]heartbeat{}
		for id, b := range h.Members {
			mine := b.RepairedBy == r.cfg.Member
			held := b.RepairedBy != "" && !mine && now.Sub(b.RepairFrom) <= r.cfg.DeadAfter
			if id == r.cfg.Member || now.Sub(b.AliveAt) <= r.cfg.DeadAfter || held || !take && !mine {
				continue
			}
			b.RepairedBy, b.RepairFrom = r.cfg.Member, now
			h.Members[id] = b
			if take {
				dead[id] = b
			}
		}
		h.Members[r.cfg.Member] = heartbeat{Address: r.cfg.Address, AliveAt: now}
	})
	if err != nil {
		return nil, err
	}
	return dead, nil
}

// repairAll repairs after each dead member and takes its heartbeat out.
func (r *ViewRepair) repairAll(ctx context.Context, dead map[string]heartbeat) error {
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(dead)) {
		woke, err := r.repair(ctx, id, dead[id])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		err = r.update(ctx, func(h *heartbeats) {
			if h.Members[id].RepairedBy == r.cfg.Member {
				delete(h.Members, id)
			}
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// A warning: a member died without stopping in order.
		r.log.Warn("view repair: a member stopped without writing its last read models; its grains whose read model was behind are woken",
			slog.String("member", id), slog.String("address", dead[id].Address), slog.Time("alive_at", dead[id].AliveAt), slog.Int("woken", woke))
	}
	return errors.Join(errs...)
}

// Stop takes this member's heartbeat out: call it after the member's last
// projections are written, when it stops in order.
func (r *ViewRepair) Stop(ctx context.Context) error {
	return r.update(ctx, func(h *heartbeats) { delete(h.Members, r.cfg.Member) })
}

// update applies change to the heartbeat document and writes it over the
// version it read, reading again when another member wrote meanwhile.
func (r *ViewRepair) update(ctx context.Context, change func(*heartbeats)) error {
	const op = "actors.ViewRepair.update"
	for {
		var h heartbeats
		version, err := r.cfg.Heartbeats.Get(ctx, heartbeatsID, &h)
		if emporium.IsCode(err, emporium.ENOTFOUND) {
			version, err = 0, nil
		}
		if err != nil {
			return emporium.Wrap(op, err)
		}
		if h.Members == nil {
			h.Members = map[string]heartbeat{}
		}
		change(&h)
		_, err = r.cfg.Heartbeats.Put(ctx, heartbeatsID, version, h)
		if !emporium.IsCode(err, emporium.ECONFLICT) {
			return emporium.Wrap(op, err)
		}
		if ctx.Err() != nil {
			return emporium.Wrap(op, ctx.Err())
		}
	}
}

// repair wakes the grains whose read model is behind their stream among
// the streams written from Lookback before the dead member's last beat
// until now, and reports how many it woke. After a try whose wakes did not
// all succeed, it wakes those again, up to maxTries, then gives them up.
func (r *ViewRepair) repair(ctx context.Context, member string, b heartbeat) (woke int, err error) {
	const op = "actors.ViewRepair.repair"
	r.mu.Lock()
	u := r.unfinished[member]
	r.mu.Unlock()
	if u == nil {
		behind, err := r.findBehind(ctx, b)
		if err != nil {
			return 0, emporium.Wrap(op, err)
		}
		u = &unfinished{grains: behind}
	}
	failed, err := r.wake(ctx, u.grains)
	woke = len(u.grains) - len(failed)
	u.grains, u.tries = failed, u.tries+1
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case len(failed) == 0:
		delete(r.unfinished, member)
		return woke, nil
	case u.tries >= maxTries:
		delete(r.unfinished, member)
		r.log.Error("view repair: gave up waking grains after a member died; their read models stay behind until they activate",
			slog.String("member", member), slog.Int("grains", len(failed)), slog.Int("tries", u.tries), slog.Any("error", err))
		return woke, nil
	default:
		r.unfinished[member] = u
		return woke, emporium.Wrap(op, err)
	}
}

// findBehind returns the grains whose read model is behind their stream,
// among the streams written from Lookback before b's beat until now.
func (r *ViewRepair) findBehind(ctx context.Context, b heartbeat) ([]woken, error) {
	streams, err := r.cfg.Journal.Appended(ctx, b.AliveAt.Add(-r.cfg.Lookback), r.cfg.Clock.Now())
	if err != nil {
		return nil, err
	}
	var behind []woken
	for _, t := range r.cfg.Targets {
		seqs := map[string]uint64{}
		for stream, seq := range streams {
			if id, ok := strings.CutPrefix(stream, t.StreamPrefix); ok && id != "" {
				seqs[id] = seq
			}
		}
		ids, err := r.behind(ctx, t, seqs)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			behind = append(behind, woken{kind: t.Kind, id: id})
		}
	}
	return behind, nil
}

// woken is one grain to wake.
type woken struct{ kind, id string }

// behind returns the identities among seqs whose read model in t's
// collection is at an older seq, or missing where t is not Sparse.
func (r *ViewRepair) behind(ctx context.Context, t RepairTarget, seqs map[string]uint64) ([]string, error) {
	ids := slices.Sorted(maps.Keys(seqs))
	var out []string
	// In chunks: on FerretDB GetMany reads whole documents (product pages),
	// and a window may name thousands.
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		var docs []struct {
			ID  string `bson:"_id"`
			Seq int64  `bson:"seq"`
		}
		if err := r.cfg.Views.GetMany(ctx, t.Collection, chunk, &docs); err != nil {
			return nil, err
		}
		stored := make(map[string]uint64, len(docs))
		for _, d := range docs {
			stored[d.ID] = uint64(d.Seq)
		}
		for _, id := range chunk {
			seq, found := stored[id]
			if found && seq < seqs[id] || !found && !t.Sparse {
				out = append(out, id)
			}
		}
	}
	return out, nil
}

// wake wakes the grains, Wakers at a time, until ctx ends, and returns
// those it did not wake, with the first errors.
func (r *ViewRepair) wake(ctx context.Context, grains []woken) (failed []woken, err error) {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	fail := func(g woken, err error) {
		mu.Lock()
		defer mu.Unlock()
		failed = append(failed, g)
		if len(errs) < 3 {
			errs = append(errs, fmt.Errorf("waking %s %s: %w", g.kind, g.id, err))
		}
	}
	slots := make(chan struct{}, r.cfg.Wakers)
	for _, g := range grains {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			fail(g, ctx.Err())
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			if err := r.cfg.Wake(ctx, g.kind, g.id); err != nil {
				fail(g, err)
			}
		}()
	}
	wg.Wait()
	if len(failed) > 0 {
		errs = append(errs, fmt.Errorf("%d of %d grains not woken", len(failed), len(grains)))
	}
	return failed, errors.Join(errs...)
}

// Wake activates the grain of kind with identity in cluster c, wherever c
// places it, and returns when its activation has loaded and queued its
// read model (for a kind with one): ViewRepair's Wake. The read model is
// stored a few milliseconds later, unless the member hosting the grain
// dies meanwhile, which the repair after that member covers when the
// grain's last append falls in its window.
func Wake(c *cluster.Cluster, kind, identity string) error {
	res, err := c.Request(identity, kind, &emptypb.Empty{})
	if err != nil {
		return err
	}
	if e, ok := res.(*cluster.GrainErrorResponse); ok {
		return e
	}
	return nil
}
