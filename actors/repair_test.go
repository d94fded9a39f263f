package actors_test

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/actorstest"
	"github.com/emporium-shop/emporium/persistence"
)

// memDocs is a versioned document store that can make the next Puts lose
// to another writer.
type memDocs struct {
	mu        sync.Mutex
	raw       bson.Raw
	version   int64
	conflicts int
}

func (d *memDocs) Get(_ context.Context, _ string, into any) (int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.version == 0 {
		return 0, emporium.Errorf(emporium.ENOTFOUND, "no document")
	}
	return d.version, bson.Unmarshal(d.raw, into)
}

func (d *memDocs) Put(_ context.Context, _ string, expected int64, doc any) (int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conflicts > 0 || expected != d.version {
		d.conflicts = max(d.conflicts-1, 0)
		d.version++ // somebody else wrote
		return 0, emporium.Errorf(emporium.ECONFLICT, "version moved")
	}
	raw, err := bson.Marshal(doc)
	if err != nil {
		return 0, err
	}
	d.raw, d.version = raw, d.version+1
	return d.version, nil
}

func (d *memDocs) members(t *testing.T) map[string]time.Time {
	var h struct {
		Members map[string]struct {
			AliveAt time.Time `bson:"alive_at"`
		} `bson:"members"`
	}
	_, err := d.Get(t.Context(), "heartbeats", &h)
	require.NoError(t, err)
	out := map[string]time.Time{}
	for id, m := range h.Members {
		out[id] = m.AliveAt
	}
	return out
}

// memLog answers Appended from a fixed map, remembering the span asked.
type memLog struct {
	streams      map[string]uint64
	after, until time.Time
	calls        int
}

func (l *memLog) Appended(_ context.Context, after, until time.Time) (map[string]uint64, error) {
	l.after, l.until = after, until
	l.calls++
	return l.streams, nil
}

// memViews holds read models' seqs by collection and id.
type memViews map[string]map[string]int64

func (v memViews) GetMany(_ context.Context, collection string, ids []string, into any) error {
	var raws []bson.Raw
	for _, id := range ids {
		if seq, ok := v[collection][id]; ok {
			raw, _ := bson.Marshal(bson.D{{Key: "_id", Value: id}, {Key: "seq", Value: seq}})
			raws = append(raws, raw)
		}
	}
	return persistence.DecodeInto("memViews.GetMany", collection, raws, into)
}

// inventoryTarget is the target the tests repair, with the names the
// inventory kind has.
var inventoryTarget = actors.RepairTarget{Kind: "InventoryGrain", StreamPrefix: "inventory-", Collection: "inventory"}

// newRepairClock is the clock the tests start at.
func newRepairClock() *actorstest.Clock {
	return actorstest.NewClock(time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC))
}

// repairAs returns member's ViewRepair with cfg's other settings, logging
// nowhere.
func repairAs(member string, cfg actors.ViewRepairConfig) *actors.ViewRepair {
	cfg.Member, cfg.Address = member, member+":6330"
	cfg.Logger = slog.New(slog.DiscardHandler)
	return actors.NewViewRepair(cfg)
}

func TestViewRepairWakesWhatADeadMemberLeftBehind(t *testing.T) {
	clock := newRepairClock()
	docs := &memDocs{}
	log := &memLog{streams: map[string]uint64{
		"inventory-behind": 3, "inventory-missing": 1, "inventory-current": 2,
		"user-vendor": 5, "user-shopper": 2, "cart-u1": 9,
	}}
	views := memViews{
		"inventory": {"behind": 2, "current": 2},
		"vendors":   {"vendor": 4},
	}
	var mu sync.Mutex
	var woke []string
	wakeErr := errors.New("member unreachable")
	failWakes := true
	repair := func(member string) *actors.ViewRepair {
		return repairAs(member, actors.ViewRepairConfig{
			Targets: []actors.RepairTarget{
				inventoryTarget,
				{Kind: "UserGrain", StreamPrefix: "user-", Collection: "vendors", Sparse: true},
			},
			Journal: log, Views: views, Heartbeats: docs, Clock: clock,
			Wake: func(_ context.Context, kind, id string) error {
				mu.Lock()
				defer mu.Unlock()
				woke = append(woke, kind+"/"+id)
				if failWakes {
					return wakeErr
				}
				return nil
			},
			DeadAfter: time.Minute, Lookback: 30 * time.Second,
		})
	}
	dead, alive, other := repair("dead"), repair("alive"), repair("other")
	ctx := t.Context()
	require.NoError(t, dead.Beat(ctx))
	diedAt := clock.Now()
	clock.Advance(30 * time.Second)
	docs.conflicts = 2 // the first writes lose to another member's
	require.NoError(t, alive.Beat(ctx))
	assert.Len(t, docs.members(t), 2, "both beat; the conflicts were read again")
	assert.Empty(t, woke, "a heartbeat younger than DeadAfter is a live member's")

	clock.Advance(31 * time.Second)
	err := alive.Beat(ctx)
	require.Error(t, err, "a wake failed")
	assert.Contains(t, docs.members(t), "dead", "a failed repair keeps the heartbeat, to try again")
	assert.Equal(t, diedAt.Add(-30*time.Second), log.after, "the journal is read from Lookback before the last beat")
	assert.Equal(t, clock.Now(), log.until, "until now")
	assert.ElementsMatch(t, []string{"InventoryGrain/behind", "InventoryGrain/missing", "UserGrain/vendor"}, woke,
		"behind or missing; a sparse kind's missing document is nothing to repair; kinds not targeted are left alone")

	woke = nil
	require.NoError(t, other.Beat(ctx))
	assert.Empty(t, woke, "another member leaves a repair one has taken on alone")

	failWakes = false
	clock.Advance(10 * time.Second)
	calls := log.calls
	require.NoError(t, alive.Beat(ctx))
	assert.Len(t, woke, 3, "tried again")
	assert.Equal(t, calls, log.calls, "the grains not woken are known: the journal is not read again")
	assert.NotContains(t, docs.members(t), "dead", "repaired: its heartbeat is out")
	assert.Equal(t, clock.Now(), docs.members(t)["alive"])

	woke = nil
	clock.Advance(10 * time.Second)
	require.NoError(t, alive.Beat(ctx))
	require.NoError(t, other.Beat(ctx))
	assert.Empty(t, woke, "each dead member is repaired once")

	// A repairer that dies before it finished: once its repair is
	// DeadAfter old, another member takes it on, and the repairer's own.
	require.NoError(t, repair("dead2").Beat(ctx))
	clock.Advance(50 * time.Second)
	require.NoError(t, other.Beat(ctx))
	require.NoError(t, alive.Beat(ctx))
	clock.Advance(11 * time.Second)
	failWakes = true
	require.Error(t, alive.Beat(ctx), "alive takes dead2 on, fails, and dies")
	clock.Advance(30 * time.Second)
	woke, failWakes = nil, false
	require.NoError(t, other.Beat(ctx))
	assert.Empty(t, woke, "dead2's repair is alive's for DeadAfter")
	clock.Advance(31 * time.Second)
	require.NoError(t, other.Beat(ctx))
	assert.Len(t, woke, 6, "other repaired after dead2 and after alive")
	assert.Equal(t, []string{"other"}, slices.Collect(maps.Keys(docs.members(t))))

	require.NoError(t, other.Stop(ctx))
	assert.Empty(t, docs.members(t), "an orderly stop takes the heartbeat out")
}

// A repair that outlasts DeadAfter (a long journal scan) stays its
// repairer's: Run keeps beating meanwhile and renews the claim, so no other
// member takes it over and the repairer is not taken for dead.
func TestViewRepairKeepsALongRepairItsOwn(t *testing.T) {
	clock := newRepairClock()
	docs := &memDocs{}
	log := &memLog{streams: map[string]uint64{"inventory-a": 1}}
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) }) // a failed wait must not leave Run blocked
	var woken sync.Map
	repair := func(member string, wake func()) *actors.ViewRepair {
		return repairAs(member, actors.ViewRepairConfig{
			Targets: []actors.RepairTarget{inventoryTarget},
			Journal: log, Views: memViews{}, Heartbeats: docs, Clock: clock,
			Wake: func(context.Context, string, string) error {
				woken.Store(member, true)
				wake()
				return nil
			},
			Every: 5 * time.Millisecond, DeadAfter: time.Minute,
		})
	}
	ctx := t.Context()
	require.NoError(t, repair("dead", func() {}).Beat(ctx))
	clock.Advance(61 * time.Second)

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); repair("slow", func() { <-release }).Run(runCtx) }()
	actorstest.WaitFor(t, 5*time.Second, "the slow member woke a grain", func() bool { _, ok := woken.Load("slow"); return ok })

	clock.Advance(61 * time.Second) // the claim would be stale without renewal
	actorstest.WaitFor(t, 5*time.Second, "the claim renewed and the member beat", func() bool {
		return docs.members(t)["slow"].Equal(clock.Now())
	})
	require.NoError(t, repair("other", func() {}).Beat(ctx))
	_, otherWoke := woken.Load("other")
	assert.False(t, otherWoke, "the repair is the slow member's while it runs")

	once.Do(func() { close(release) })
	actorstest.WaitFor(t, 5*time.Second, "the dead member's heartbeat out", func() bool {
		_, ok := docs.members(t)["dead"]
		return !ok
	})
	stop()
	<-done
}

// A grain that never wakes (its stream unreadable) is given up after a few
// tries, so that the repair ends: the heartbeat goes and nobody scans the
// journal for it again.
func TestViewRepairGivesUpAGrainThatNeverWakes(t *testing.T) {
	clock := newRepairClock()
	docs := &memDocs{}
	log := &memLog{streams: map[string]uint64{"inventory-broken": 4, "inventory-fine": 2}}
	var mu sync.Mutex
	wakes := map[string]int{}
	repair := func(member string) *actors.ViewRepair {
		return repairAs(member, actors.ViewRepairConfig{
			Targets: []actors.RepairTarget{inventoryTarget},
			Journal: log, Views: memViews{}, Heartbeats: docs, Clock: clock,
			Wake: func(_ context.Context, _, id string) error {
				mu.Lock()
				defer mu.Unlock()
				wakes[id]++
				if id == "broken" {
					return emporium.Errorf(emporium.EUNAVAILABLE, "InventoryGrain broken is unavailable; retry")
				}
				return nil
			},
			DeadAfter: time.Minute,
		})
	}
	ctx := t.Context()
	require.NoError(t, repair("dead").Beat(ctx))
	clock.Advance(61 * time.Second)
	alive := repair("alive")
	for try := 1; try < 5; try++ {
		require.Error(t, alive.Beat(ctx), "try %d", try)
		assert.Contains(t, docs.members(t), "dead")
		clock.Advance(10 * time.Second)
	}
	require.NoError(t, alive.Beat(ctx), "the fifth try gives the grain up")
	assert.NotContains(t, docs.members(t), "dead")
	assert.Equal(t, map[string]int{"broken": 5, "fine": 1}, wakes)
	assert.Equal(t, 1, log.calls, "one journal scan")
}
