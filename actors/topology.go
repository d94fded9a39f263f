package actors

import (
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/extensions"
)

// While the cluster's members change, two members may briefly route one
// identity to two activations, and one may write after the other loaded.
// A command that writes nothing checks the journal's tail before it answers
// for that reason, always; a query does so only for settleWindow after its
// member saw the topology change, which bounds the window in which a query
// may answer a state another activation has moved past, without a store
// read per query in a steady cluster.
const settleWindow = 10 * time.Second

// Topology is one member's memory of when it last saw the cluster's
// topology change, read on the member's clock. StartMember registers it with
// the member's actor system, and every activation of that member finds it
// there (TopologyOf).
type Topology struct {
	clock Clock
	// at is when the topology last changed, in Unix nanoseconds of the
	// clock; zero before any change.
	at atomic.Int64
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

// Changed opens the settle window. StartMember calls it on every topology
// change its member sees; tests call it to stage one.
func (t *Topology) Changed() { t.at.Store(t.clock.Now().UnixNano()) }

// Unsettled reports whether the topology changed within the settle window.
// A nil Topology is always settled.
func (t *Topology) Unsettled() bool {
	if t == nil {
		return false
	}
	at := t.at.Load()
	return at != 0 && t.clock.Now().Sub(time.Unix(0, at)) < settleWindow
}
