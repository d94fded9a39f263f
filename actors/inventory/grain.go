package inventory

import (
	"context"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium/actors"
	pb "github.com/emporium-shop/emporium/protos/inventorypb"
)

// ViewCollection is the read-model collection the grain projects each SKU's
// stock into; the sweeper queries its next_expiry field.
const ViewCollection = "inventory"

// grain is one activation of an InventoryGrain.
type grain struct {
	actors.Activation[*pb.State, Config]
	timer actors.Timer
	// projected and inStock remember whether this activation projected its
	// read model yet, and the in-stock flag it last projected.
	projected, inStock bool
	// alertsProjected is the alerts_version last projected, and
	// alertsOnce whether any was.
	alertsProjected uint64
	alertsOnce      bool
	// sending are the notices whose effect runs now, by key; attempts
	// counts the runs of each notice in this activation; noticeTimer
	// retries the notices that failed.
	sending     map[string]bool
	attempts    map[string]int
	noticeTimer actors.Timer
}

// noticeDone is a notice effect's report to its activation. Like
// expireTick it is local and never crosses the cluster.
type noticeDone struct {
	notice Notice
	err    error
}

// noticeRetry wakes the activation to send the notices that failed.
type noticeRetry struct{}

// expireTick is the timer's message to its own activation. It is a local
// message only and never crosses the cluster.
type expireTick struct{}

// Started releases what expired while no activation held the SKU (the
// shell expires before every decision, a query too) and arms the timer.
func (g *grain) Started(ctx cluster.GrainContext) {
	if err := g.Query(ctx); err != nil {
		g.Log.Warn("inventory: releasing expired reservations failed", slog.Any("error", err))
	}
	g.arm(ctx, 0)
	// A crash may have left a trigger owed or notices unsent.
	g.settleAlerts(ctx)
}

// Stopping stops the timers.
func (g *grain) Stopping(cluster.GrainContext) {
	if g.timer != nil {
		g.timer.Stop()
	}
	if g.noticeTimer != nil {
		g.noticeTimer.Stop()
	}
}

// Receive dispatches the grain's own messages: the expiry timer, the
// notices' reports and their retry timer.
func (g *grain) Receive(ctx cluster.GrainContext) {
	switch m := ctx.Message().(type) {
	case *expireTick:
		g.onExpireTick(ctx)
	case *noticeDone:
		g.onNoticeDone(ctx, m)
	case *noticeRetry:
		g.noticeTimer = nil
		g.settleAlerts(ctx)
	}
}

// SetStock sets the units on hand.
func (g *grain) SetStock(req *pb.SetStockRequest, ctx cluster.GrainContext) (*pb.Stock, error) {
	return g.command(ctx, req, "")
}

// Restock adds units on hand.
func (g *grain) Restock(req *pb.RestockRequest, ctx cluster.GrainContext) (*pb.Stock, error) {
	return g.command(ctx, req, "")
}

// Reserve holds units for an order.
func (g *grain) Reserve(req *pb.ReserveRequest, ctx cluster.GrainContext) (*pb.Stock, error) {
	return g.command(ctx, req, req.OrderId)
}

// Release gives an order's reservation back.
func (g *grain) Release(req *pb.ReleaseRequest, ctx cluster.GrainContext) (*pb.Stock, error) {
	return g.command(ctx, req, req.OrderId)
}

// Commit turns an order's reservation into a sale.
func (g *grain) Commit(req *pb.CommitRequest, ctx cluster.GrainContext) (*pb.Stock, error) {
	return g.command(ctx, req, req.OrderId)
}

// Return gives an order's units back.
func (g *grain) Return(req *pb.ReturnRequest, ctx cluster.GrainContext) (*pb.Stock, error) {
	return g.command(ctx, req, req.OrderId)
}

// ReturnUnits puts units of an order's sale back on hand.
func (g *grain) ReturnUnits(req *pb.ReturnUnitsRequest, ctx cluster.GrainContext) (*pb.Stock, error) {
	return g.command(ctx, req, req.OrderId)
}

// GetAvailability answers the current stock, after what expired is
// released.
func (g *grain) GetAvailability(_ *pb.GetAvailabilityRequest, ctx cluster.GrainContext) (*pb.Stock, error) {
	defer g.arm(ctx, 0)
	if err := g.Query(ctx); err != nil {
		return nil, err
	}
	g.settleAlerts(ctx)
	return stock(g.Entity.State, g.Entity.Seq, ""), nil
}

// SubscribeAlert subscribes a user to the SKU's return.
func (g *grain) SubscribeAlert(req *pb.SubscribeAlertRequest, ctx cluster.GrainContext) (*pb.AlertAnswer, error) {
	return g.alertCommand(ctx, req, req.UserId)
}

// UnsubscribeAlert ends a user's subscription.
func (g *grain) UnsubscribeAlert(req *pb.UnsubscribeAlertRequest, ctx cluster.GrainContext) (*pb.AlertAnswer, error) {
	return g.alertCommand(ctx, req, req.UserId)
}

// alertCommand decides and persists an alert command and answers user's
// subscription as it is after it.
func (g *grain) alertCommand(ctx cluster.GrainContext, cmd proto.Message, user string) (*pb.AlertAnswer, error) {
	defer g.arm(ctx, 0)
	created := false
	err := g.Command(ctx, cmd, func(s *pb.State, now time.Time) ([]proto.Message, error) {
		events, err := decide(s, cmd, now)
		_, created = cmd.(*pb.SubscribeAlertRequest)
		created = created && len(events) > 0
		return events, err
	})
	if err != nil {
		return nil, err
	}
	return alertAnswer(g.Entity.State, g.Entity.Seq, user, created), nil
}

func (g *grain) onExpireTick(ctx cluster.GrainContext) {
	if !g.Loaded() {
		return
	}
	if err := g.Query(ctx); err != nil {
		// A store outage only delays expiry: try again after a while
		// rather than at an expiry already due.
		g.Log.Warn("inventory: expiring reservations failed", slog.Any("error", err))
		g.arm(ctx, g.Config.IOTimeout)
		return
	}
	g.arm(ctx, 0)
	g.settleAlerts(ctx) // a reservation that expired may have freed units
}

// command decides cmd and persists its events (after what expired), re-arms
// the expiry timer, and answers the stock with orderID's reservation.
func (g *grain) command(ctx cluster.GrainContext, cmd proto.Message, orderID string) (*pb.Stock, error) {
	defer g.arm(ctx, 0)
	err := g.Command(ctx, cmd, func(s *pb.State, now time.Time) ([]proto.Message, error) {
		return decide(s, cmd, now)
	})
	if err != nil {
		return nil, err
	}
	g.settleAlerts(ctx)
	return stock(g.Entity.State, g.Entity.Seq, orderID), nil
}

// settleAlerts persists the trigger the state owes, if any, and starts the
// effect of every notice owed that is not running. The trigger is its own
// append after the change that owes it, rather than a step of every
// command, so that the commands of a SKU nobody waits for cost no more;
// a crash between the two leaves the trigger owed, and the next
// activation's Started persists it.
func (g *grain) settleAlerts(ctx cluster.GrainContext) {
	if !g.Loaded() {
		return
	}
	if s := g.Entity.State; len(s.Alerts) > 0 && available(s) > 0 {
		if err := g.Command(ctx, nil, triggerAlerts); err != nil {
			g.Log.Warn("inventory: triggering back-in-stock alerts failed; retrying", slog.Any("error", err))
			g.retryNotices(ctx)
			return
		}
	}
	if g.Config.Notify == nil {
		return
	}
	if g.sending == nil {
		g.sending, g.attempts = map[string]bool{}, map[string]int{}
	}
	system, self, notify := ctx.ActorSystem(), ctx.Self(), g.Config.Notify
	for _, n := range notices(g.Entity.State, g.Entity.Seq) {
		if g.sending[n.Key()] {
			continue
		}
		g.sending[n.Key()] = true
		go func() {
			c, cancel := context.WithTimeout(context.Background(), noticeTimeout)
			defer cancel()
			system.Root.Send(self, &noticeDone{notice: n, err: notify(c, n)})
		}()
	}
}

// noticeTimeout bounds one notice's effect (a mail and a push).
const noticeTimeout = 30 * time.Second

// onNoticeDone records a notice sent (or given up on) and retries it
// later otherwise.
func (g *grain) onNoticeDone(ctx cluster.GrainContext, d *noticeDone) {
	key := d.notice.Key()
	delete(g.sending, key)
	g.attempts[key]++
	attempts := g.attempts[key]
	if d.err != nil {
		g.Log.Warn("inventory: a back-in-stock notice failed", slog.String("user", d.notice.UserID),
			slog.Int("attempt", attempts), slog.Any("error", d.err))
	}
	err := g.Command(ctx, nil, func(s *pb.State, _ time.Time) ([]proto.Message, error) {
		return noticeOutcome(s, d.notice, d.err, attempts), nil
	})
	if err != nil || owed(g.Entity.State, d.notice.UserID, d.notice.Round) != nil {
		g.retryNotices(ctx)
		return
	}
	delete(g.attempts, key)
}

// retryNotices settles the alerts again after a pause.
func (g *grain) retryNotices(ctx cluster.GrainContext) {
	if g.noticeTimer != nil {
		return
	}
	system, self := ctx.ActorSystem(), ctx.Self()
	g.noticeTimer = g.Config.Clock.AfterFunc(g.Config.NoticeRetry, func() {
		system.Root.Send(self, &noticeRetry{})
	})
}

// View is the read-model document of one SKU's stock.
type View struct {
	SKU        string     `bson:"sku"`
	OnHand     int64      `bson:"on_hand"`
	Reserved   int64      `bson:"reserved"`
	Available  int64      `bson:"available"`
	Sold       int64      `bson:"sold"`
	NextExpiry *time.Time `bson:"next_expiry"`
}

// Project writes the SKU's read model and tells StockChanged when the
// in-stock flag moved.
func (g *grain) Project(state *pb.State, seq uint64) {
	if g.Config.Views == nil {
		return
	}
	s := stock(state, seq, "")
	v := View{SKU: s.Sku, OnHand: s.OnHand, Reserved: s.Reserved, Available: s.Available, Sold: s.Sold}
	if at, ok := nextExpiry(state); ok {
		v.NextExpiry = &at
	}
	if at, ok := alertsDue(state); ok && (v.NextExpiry == nil || at.Before(*v.NextExpiry)) {
		// Notices owed are work due too: the sweeper wakes a SKU whose
		// activation stopped (passivated, or its node died) before they
		// were recorded.
		v.NextExpiry = &at
	}
	g.Config.Views.Put(ViewCollection, g.ID(), seq, v)
	inStock := v.Available > 0
	if g.Config.StockChanged != nil && (!g.projected || inStock != g.inStock) {
		g.Config.StockChanged(g.ID())
	}
	g.projected, g.inStock = true, inStock
	if !g.alertsOnce || state.AlertsVersion != g.alertsProjected {
		g.projectAlerts(state, seq)
		g.alertsOnce, g.alertsProjected = true, state.AlertsVersion
	}
}

// AlertCollection is the read model of alerts, one document per (user,
// SKU) that the grain knows: active, or ended lately. A user's active
// alerts are listed by the active_user field, which is empty once the
// alert ended.
const AlertCollection = "stock_alerts"

// AlertView is the read-model document of one user's alert on a SKU.
type AlertView struct {
	UserID     string    `bson:"user_id"`
	ActiveUser string    `bson:"active_user"`
	SKU        string    `bson:"sku"`
	ProductID  string    `bson:"product_id"`
	Status     string    `bson:"status"`
	CreatedAt  time.Time `bson:"created_at"`
}

// AlertID is the id of user's alert document for sku.
func AlertID(user, sku string) string { return user + "|" + sku }

// projectAlerts writes the alert documents: every active one, every one
// triggered and not yet notified, and the ones that ended lately. Ended
// documents stay (inactive); they are small, and a user who subscribes
// again gets the same document back. A user can be in more than one list
// (subscribed again after an alert ended); the newest wins, since the
// puts of one projection share a seq.
func (g *grain) projectAlerts(state *pb.State, seq uint64) {
	latest := map[string]*pb.Alert{}
	for _, list := range [][]*pb.Alert{state.Ended, state.Notices} {
		for _, a := range list {
			latest[a.UserId] = a
		}
	}
	for id, a := range state.Alerts {
		latest[id] = a
	}
	for _, a := range latest {
		v := AlertView{UserID: a.UserId, SKU: state.Sku, ProductID: a.ProductId, Status: AlertStatusWord(a.Status),
			CreatedAt: a.CreatedAt.AsTime()}
		if a.Status == pb.AlertStatus_ALERT_STATUS_ACTIVE {
			v.ActiveUser = a.UserId
		}
		g.Config.Views.Put(AlertCollection, AlertID(a.UserId, state.Sku), seq, v)
	}
}

// AlertStatusWord is the API's word for an alert status.
func AlertStatusWord(st pb.AlertStatus) string {
	switch st {
	case pb.AlertStatus_ALERT_STATUS_ACTIVE:
		return "active"
	case pb.AlertStatus_ALERT_STATUS_TRIGGERED:
		return "triggered"
	case pb.AlertStatus_ALERT_STATUS_NOTIFIED:
		return "notified"
	case pb.AlertStatus_ALERT_STATUS_CANCELLED:
		return "cancelled"
	}
	return "unknown"
}

// arm sets the expiry timer for the earliest held reservation, or after
// delay when it is not zero.
func (g *grain) arm(ctx cluster.GrainContext, delay time.Duration) {
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
	if !g.Loaded() {
		return
	}
	if delay == 0 {
		next, ok := nextExpiry(g.Entity.State)
		if !ok {
			return
		}
		delay = max(next.Sub(g.Now()), time.Millisecond)
	}
	system, self := ctx.ActorSystem(), ctx.Self()
	g.timer = g.Config.Clock.AfterFunc(delay, func() {
		system.Root.Send(self, &expireTick{})
	})
}

var _ pb.InventoryGrain = (*grain)(nil)
