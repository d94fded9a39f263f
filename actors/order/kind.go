// Package order is the OrderGrain: one virtual actor per order, the single
// writer of that order's checkout saga and life (DESIGN §4), and the order
// service (emporium.Orders) over it.
//
// The rules are a pure core: core.go decides requests and says which step
// of the saga comes next from the state alone; outcomes.go turns what a
// step's effect answered into events. kind.go declares the kind to the shell
// (actors.Spec); grain.go holds the requests and drives the saga; effects.go
// runs each step's outside effect (stock grains, the payment provider, the
// cart, mail) off the grain's mailbox, reporting back as a message, so that
// the order answers while a provider is slow. service.go places orders from
// carts and presents them; recovery.go wakes orders a dead node left
// half-done.
package order

import (
	"context"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/payments"
	pb "github.com/emporium-shop/emporium/protos/orderpb"
)

// Kind is the cluster kind name of the OrderGrain.
const Kind = "OrderGrain"

// Spec declares the OrderGrain to the shell; its Stream and Replay serve
// audits and tests.
var Spec = actors.Spec[*pb.State, Config]{
	Kind:         Kind,
	StreamPrefix: "order-",
	New:          newState,
	Apply:        apply,
	Fence:        func() proto.Message { return &pb.Fenced{} },
	Remembered:   func(s *pb.State) *[]string { return &s.RecentCommands },
}

// Config is what the OrderGrain needs from the node.
type Config struct {
	actors.GrainConfig
	// Payments are the payment providers by name; required.
	Payments map[string]payments.Provider
	// Views receives each order's read model (ViewCollection); nil keeps
	// none.
	Views actors.Views
	// Notify sends the mail of kind about the order: the buyer's
	// (MailConfirmed, MailCancelled), or a vendor's new order
	// (MailVendorOrder followed by the vendor's id; see VendorOfMail). It
	// runs off the grain's mailbox; an error is retried a few times. Nil
	// sends nothing.
	Notify func(ctx context.Context, kind string, order *pb.State) error
	// Changed, when set, is called with the order after each durable
	// change, on the grain's goroutine: hand it on (a live push, a local
	// waiter) and return at once. It must not change the order. visible
	// says whether the change shows in the order as the API presents it
	// (more than its seq and update time): only those are worth a push.
	Changed func(order *pb.Order, visible bool)
	// VendorOrderCreated, when set, is called once a vendor's mail of a
	// new order (MailVendorOrder) was sent or given up on, with the
	// vendor's part of the order, off the grain's mailbox: a live push to
	// the vendor. It is called again only when the mail's step runs again
	// after a crash.
	VendorOrderCreated func(vendorID string, order emporium.VendorOrder)
	// ProviderTimeout bounds one provider call, and StepTimeout one call to
	// another grain; both stay under the cluster request timeout.
	ProviderTimeout time.Duration
	StepTimeout     time.Duration
	// RetryMin and RetryMax bound the pause before a step whose outcome was
	// unknown runs again (doubling from RetryMin).
	RetryMin, RetryMax time.Duration
	// Metrics, when set, counts orders and steps.
	Metrics *Metrics
	// Crash, when set, is asked at each crash point of an order's saga
	// (before and after each effect and each journal write) and, when it
	// answers true, the activation stops there at once, as a node dying
	// would: the crash tests' hook. Nil in production.
	Crash func(orderID, point string) bool
}

func (c *Config) withDefaults() {
	if c.ProviderTimeout == 0 {
		c.ProviderTimeout = 3 * time.Second
	}
	if c.StepTimeout == 0 {
		c.StepTimeout = 3 * time.Second
	}
	if c.RetryMin == 0 {
		c.RetryMin = 50 * time.Millisecond
	}
	if c.RetryMax == 0 {
		c.RetryMax = 5 * time.Second
	}
}

// NewKind returns the cluster kind that activates OrderGrains with cfg. It
// panics without a payment provider, a wiring mistake to find at start-up.
func NewKind(cfg Config) *cluster.Kind {
	if len(cfg.Payments) == 0 {
		panic("order.NewKind: Config.Payments is required")
	}
	cfg.withDefaults()
	idle, hook := Spec.Configure(&cfg)
	return pb.NewOrderGrainKind(func() pb.OrderGrain { return actors.Bind(&grain{}) }, idle, hook)
}
