package actors

import (
	"slices"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/extensions"
)

// While the cluster's members change, members learn of the change at
// different moments, and one identity can briefly have two activations: the
// member whose view is behind routes to (or activates) the identity where it
// used to live, the others where it lives now (DESIGN §2). Writes are safe
// (every append names the seq it expects), but a read from a state that
// another activation has written past is not. Three rules close that:
//
//   - A command that writes nothing checks the journal's tail before it
//     answers, always (Entity).
//   - An activation on a member that no longer places its identity there (a
//     stray: activated by a member whose view is behind, or not yet stopped
//     by the move) checks the tail before every answer and stops after it, so
//     that no stale route reaches it twice and no stray lives on to write
//     later (Activation).
//   - A state confirmed against the journal before the member's view settled
//     (settleWindow after the last change it saw) may have missed a stray's
//     write, so a query checks the tail until the state has been confirmed
//     once after that point (Suspect). In a steady cluster a query reads no
//     store; after a change, each activation reads its tail on every query
//     for the window and once after it.
//
// settleWindow bounds how long after this member saw a change a stray may
// still write: the other members' views converge within a few seconds (the
// automanaged provider polls every 2 s), and a stray answers one request and
// stops.
const settleWindow = 10 * time.Second

// Topology is one member's memory of the cluster's topology: when it last
// changed, read on the member's clock, and which member each identity is
// placed on. StartMember registers it with the member's actor system, and
// every activation of that member finds it there (TopologyOf).
type Topology struct {
	clock Clock
	// at is when the topology last changed, in Unix nanoseconds of the
	// clock; zero before any change.
	at atomic.Int64
	// ring is the placement of identities on the members the member saw
	// last; nil before the first topology (every identity is at home).
	ring atomic.Pointer[Ring]
	// members is the cluster's members as the member saw them last, a
	// slice nobody changes; nil before the first topology. Proto.Actor's
	// MemberList reads its own set without a lock (Length, Members,
	// ContainsMemberID race with every topology update), so everything
	// outside Proto.Actor asks here.
	members atomic.Pointer[[]*cluster.Member]
}

// Ring is the placement of identities on members at one topology: the same
// rendezvous hash Proto.Actor's disthash identity lookup places grains by.
// A Ring does not change; a new topology makes a new one.
type Ring struct {
	rdv  *cluster.Rendezvous
	self string
}

// Places reports whether the ring places the identity of kind on the member
// the ring belongs to. A nil ring, or one without members of the kind,
// places it anywhere.
func (r *Ring) Places(kind, identity string) bool {
	if r == nil {
		return true
	}
	owner := r.rdv.GetByClusterIdentity(&cluster.ClusterIdentity{Kind: kind, Identity: identity})
	return owner == "" || owner == r.self
}

var topologyID = extensions.NextExtensionID()

// NewTopology returns the Topology of the member whose actor system is
// system, reading clock (nil: the wall clock), and registers it there.
func NewTopology(system *actor.ActorSystem, clock Clock) *Topology {
	if clock == nil {
		clock = SystemClock{}
	}
	t := &Topology{clock: clock}
	system.Extensions.Register(t)
	return t
}

// TopologyOf returns the Topology registered with system, or nil when none
// is (an actor system that is no cluster member, in tests).
func TopologyOf(system *actor.ActorSystem) *Topology {
	if system == nil || system.Extensions == nil {
		return nil
	}
	t, _ := system.Extensions.Get(topologyID).(*Topology)
	return t
}

// ExtensionID implements extensions.Extension.
func (t *Topology) ExtensionID() extensions.ExtensionID { return topologyID }

// Changed opens the settle window; tests call it to stage a change.
func (t *Topology) Changed() { t.at.Store(t.clock.Now().UnixNano()) }

// Observe records a new topology: members are all the cluster's members as
// the member whose address is self now sees them. StartMember calls it on
// every topology its member sees. A topology without self (the member is
// leaving, or it is known by another address) places nothing: no
// activation is taken for a stray then, as before this member had a ring.
func (t *Topology) Observe(members []*cluster.Member, self string) {
	var ring *Ring
	if slices.ContainsFunc(members, func(m *cluster.Member) bool { return m.Address() == self }) {
		rdv := cluster.NewRendezvous()
		rdv.UpdateMembers(members)
		ring = &Ring{rdv: rdv, self: self}
	}
	members = slices.Clone(members)
	t.members.Store(&members)
	t.ring.Store(ring)
	t.Changed()
}

// Members returns the cluster's members as the member saw them last: none
// before the first topology (a nil Topology too). The slice is the
// caller's.
func (t *Topology) Members() []*cluster.Member {
	if t == nil {
		return nil
	}
	if m := t.members.Load(); m != nil {
		return slices.Clone(*m)
	}
	return nil
}

// Joined reports whether the member sees itself among the cluster's
// members.
func (t *Topology) Joined() bool { return t.Ring() != nil }

// Ring returns the placement the member saw last, or nil before any (a
// nil Topology too): then every identity is at home.
func (t *Topology) Ring() *Ring {
	if t == nil {
		return nil
	}
	return t.ring.Load()
}

// Mark is the time, on the member's clock, to remember with a state just
// confirmed against the journal; Suspect takes it. Take it before the
// store call that confirms.
func (t *Topology) Mark() int64 {
	if t == nil {
		return 0
	}
	return t.clock.Now().UnixNano()
}

// Suspect reports whether a state confirmed against the journal at mark may
// miss another activation's write: the member saw a change, and mark is
// before the end of its settle window. A nil Topology suspects nothing.
func (t *Topology) Suspect(mark int64) bool {
	if t == nil {
		return false
	}
	at := t.at.Load()
	return at != 0 && mark < at+settleWindow.Nanoseconds()
}
