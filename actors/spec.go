package actors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium"
)

// Spec declares one event-sourced grain kind: what the shell needs to load,
// persist, deduplicate and passivate its grains. A kind declares it once, as
// a package variable beside its pure core, and its grain embeds Activation,
// which supplies Init, Terminate and ReceiveDefault from it; so a grain file
// holds only its commands. S is the kind's state, C its configuration (a
// struct embedding GrainConfig, or GrainConfig itself).
type Spec[S proto.Message, C any] struct {
	// Kind is the cluster kind name, e.g. "InventoryGrain".
	Kind string
	// StreamPrefix starts the journal stream of every grain of the kind; the
	// grain's identity follows it.
	StreamPrefix string
	// New returns the state of a grain that has no events yet.
	New func(id string) S
	// Apply folds one event into the state. It never refuses an event.
	Apply func(S, proto.Message)
	// Fence returns the marker event that settles an unknown outcome; its
	// Apply must change nothing.
	Fence func() proto.Message
	// Remembered returns the state's list of the command ids applied lately
	// (its recent_commands field). The shell keeps it: it adds the command
	// id of every event it applies, keeping the last CommandsKept, and
	// answers a command whose id is in it from the state.
	Remembered func(S) *[]string
	// Retried, when set, replaces the look-up in Remembered for a kind whose
	// state remembers more of a command than its id (the category it acted
	// on, the reason it gave): it reports whether cmd, whose id is valid, was
	// applied before, or refuses an id reused for another request. The kind's
	// Apply then keeps those records itself.
	Retried func(S, proto.Message) (bool, error)
	// Authorize, when set, refuses a caller who may not send cmd, before a
	// retry is answered from the state: a command id reused by another
	// caller must reveal nothing (a product to a vendor who does not own
	// it). decide checks the caller too, for commands that are new.
	Authorize func(S, proto.Message) error
	// Expire, when set, returns the events of what ran out by now (held
	// reservations, sessions past their lifetime). The shell persists them
	// before every decision, command or query, so that no answer counts what
	// has expired.
	Expire func(S, time.Time) []proto.Message
}

// CommandsKept is how many command ids a grain remembers. Proto.Actor
// retries a timed-out request within about 15 s (5 s, 3 tries), so the last
// few hundred ids answer every retry while keeping a busy grain's snapshot
// small.
const CommandsKept = 256

// MaxCommandIDLen bounds a command id.
const MaxCommandIDLen = 128

// commandIDCarrier is a request or event with a command id: protoc-gen-go
// generates GetCommandId for every message with a command_id field.
type commandIDCarrier interface{ GetCommandId() string }

// NeedCommandID refuses a missing or overlong command id.
func NeedCommandID(id string) error {
	if id != "" && len(id) <= MaxCommandIDLen {
		return nil
	}
	e := emporium.Errorf(emporium.EINVALID,
		"command_id is required (1-%d characters) so a retry is not applied twice", MaxCommandIDLen)
	e.Fields = []emporium.FieldError{{Field: "command_id", Code: "required", Message: e.Message}}
	return e
}

// Remember adds id to the command ids in list, keeping the last
// CommandsKept. An id already there is not added twice.
func Remember(list *[]string, id string) {
	if id == "" {
		return
	}
	for _, seen := range *list {
		if seen == id {
			return
		}
	}
	*list = KeepLast(append(*list, id), CommandsKept)
}

// KeepLast returns the last n elements of list, in a new array when it
// drops some, so that a state never shares its memory with a dropped tail.
func KeepLast[T any](list []T, n int) []T {
	if over := len(list) - n; over > 0 {
		return append(list[:0:0], list[over:]...)
	}
	return list
}

// Stream returns the journal stream of the grain with identity id.
func (k *Spec[S, C]) Stream(id string) string { return k.StreamPrefix + id }

// Fold applies events to s as the shell does (remembering their command
// ids) and returns s; tests build states with it.
func (k *Spec[S, C]) Fold(s S, events ...proto.Message) S {
	e := k.entity("", nil)
	for _, ev := range events {
		e.apply(s, ev)
	}
	return s
}

// Dedup is the shell's check before it decides cmd, as a pure function: it
// reports a retry (a command id the state remembers), or refuses a
// missing or reused id. A request without a command id passes.
func (k *Spec[S, C]) Dedup(s S, cmd proto.Message) (retry bool, err error) {
	c, ok := cmd.(commandIDCarrier)
	if !ok {
		return false, nil
	}
	e := k.entity("", nil)
	err = e.dedup(s, cmd, c.GetCommandId())
	if errors.Is(err, errRetried) {
		return true, nil
	}
	return false, err
}

// Replay rebuilds the state of grain id from its whole journal, ignoring
// snapshots, the way an audit or a test checks what a grain holds.
func (k *Spec[S, C]) Replay(ctx context.Context, journal Journal, id string) (S, error) {
	e := k.entity(id, nil)
	state := k.New(id)
	_, err := journal.Load(ctx, k.Stream(id), 0, func(_ uint64, _ time.Time, ev proto.Message) error {
		e.apply(state, ev)
		return nil
	})
	if err != nil {
		return state, emporium.Wrap("actors.Replay", err)
	}
	return state, nil
}

// entity returns the Entity of grain id, persisting through base's stores
// (none when base is nil).
func (k *Spec[S, C]) entity(id string, base *GrainConfig) Entity[S] {
	e := Entity[S]{
		Stream: k.Stream(id),
		kindRules: kindRules[S]{
			newState:   func() S { return k.New(id) },
			applyEvent: k.Apply,
			fenceEvent: k.Fence,
			remembered: k.Remembered,
			retried:    k.Retried,
			authorize:  k.Authorize,
			expire:     k.Expire,
		},
	}
	if base != nil {
		e.Journal, e.Snapshots = base.Journal, base.Snapshots
		e.SnapshotEvery, e.IOTimeout, e.Logger = base.SnapshotEvery, base.IOTimeout, base.Logger
	}
	return e
}

// Configure prepares cfg for the kind's activations: it fills the defaults,
// registers the kind's metrics, and returns the idle timeout and the props
// option to pass to the generated kind constructor, e.g.
//
//	idle, hook := Spec.Configure(&cfg)
//	return pb.NewInventoryGrainKind(func() pb.InventoryGrain { return actors.Bind(&grain{}) }, idle, hook)
//
// A generated kind keeps its grain factory in a package variable, which a
// second cluster member in the same process (a multi-member test) would
// overwrite; so the factory builds an empty grain, the hook stores the
// configuration under the new activation's PID, and Activation.Init takes
// it from there.
func (k *Spec[S, C]) Configure(cfg *C) (time.Duration, actor.PropsOption) {
	base := baseOf(cfg)
	base.WithDefaults()
	base.Activations.Register(k.Kind)
	onInit := actor.WithOnInit(func(ctx actor.Context) { k.Store(ctx.Self(), cfg) })
	methods := grainMethods(k.Kind)
	if methods == nil {
		return base.IdleTimeout, onInit
	}
	// A request for a method a newer build added is answered with an error
	// rather than left to time out (wire.go).
	return base.IdleTimeout, func(p *actor.Props) {
		onInit(p)
		actor.WithReceiverMiddleware(methods)(p)
	}
}

// Store stores cfg for the activation at pid, as Configure's hook does; for
// tests that drive a grain's methods without spawning it through its kind.
func (k *Spec[S, C]) Store(pid *actor.PID, cfg *C) {
	bindings.Store(pid, &binding[S, C]{spec: k, cfg: cfg})
}

// binding is what an activation receives from its kind.
type binding[S proto.Message, C any] struct {
	spec *Spec[S, C]
	cfg  *C
}

// bindings holds the binding of each activation from its spawn to its Init.
var bindings sync.Map // *actor.PID -> *binding[S, C]

// take returns the binding stored for the activation at pid, once. It
// panics when there is none: a kind built without Configure is a bug to
// find at once.
func take[S proto.Message, C any](pid *actor.PID) *binding[S, C] {
	b, ok := bindings.LoadAndDelete(pid)
	if !ok {
		panic("actors: grain activation without the configuration of its kind")
	}
	return b.(*binding[S, C])
}

// baseOf returns the GrainConfig in cfg. It panics when C embeds none, a
// declaration mistake to find at start-up.
func baseOf[C any](cfg *C) *GrainConfig {
	b, ok := any(cfg).(interface{ grainConfig() *GrainConfig })
	if !ok {
		panic(fmt.Sprintf("actors: %T does not embed actors.GrainConfig", cfg))
	}
	return b.grainConfig()
}

// grainConfig lets Spec find the GrainConfig a kind's configuration embeds.
func (c *GrainConfig) grainConfig() *GrainConfig { return c }
