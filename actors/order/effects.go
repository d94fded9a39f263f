package order

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/cluster"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/payments"
	cartpb "github.com/emporium-shop/emporium/protos/cartpb"
	inventorypb "github.com/emporium-shop/emporium/protos/inventorypb"
	pb "github.com/emporium-shop/emporium/protos/orderpb"
)

// effects runs the outside effect of each saga step: calls to the SKUs'
// InventoryGrains and the buyer's CartGrain (none of which ever calls an
// OrderGrain, so no call waits on a grain that waits on it), to the payment
// provider, and to the mailer. It runs in a goroutine of its own, on a copy
// of the state, and touches nothing of the activation. Every call is
// idempotent: stock calls by order id, cart calls by a command id derived
// from the order, provider calls by a key derived from the order and the
// step (payments.Key), so running a step twice has the effect of once.
type effects struct {
	cfg     *Config
	cluster *cluster.Cluster
	now     func() time.Time
	// seq is the order's seq when the step started.
	seq uint64
}

func (g *grain) effects(ctx cluster.GrainContext) effects {
	return effects{cfg: g.Config, cluster: cluster.GetCluster(ctx.ActorSystem()), now: g.Now, seq: g.Entity.Seq}
}

// run runs step's effect for the order in state, the attempts-th time.
func (fx effects) run(step pb.Step, s *pb.State, attempts int) outcome {
	switch step {
	case pb.Step_STEP_RESERVE:
		ttl := ReservationTTL.Milliseconds()
		return reserveOutcome(fx.eachSKU(s, func(c *inventorypb.InventoryGrainGrainClient, qty int64, o cluster.GrainCallOption) error {
			_, err := c.Reserve(&inventorypb.ReserveRequest{OrderId: s.Id, Quantity: qty, TtlMs: ttl}, o)
			return err
		}), fx.now())
	case pb.Step_STEP_COMMIT:
		return commitOutcome(fx.eachSKU(s, func(c *inventorypb.InventoryGrainGrainClient, _ int64, o cluster.GrainCallOption) error {
			_, err := c.Commit(&inventorypb.CommitRequest{OrderId: s.Id}, o)
			return err
		}), fx.now())
	case pb.Step_STEP_RETURN_STOCK:
		return returnOutcome(fx.eachSKU(s, func(c *inventorypb.InventoryGrainGrainClient, _ int64, o cluster.GrainCallOption) error {
			_, err := c.Return(&inventorypb.ReturnRequest{OrderId: s.Id}, o)
			return err
		}), fx.now())
	case pb.Step_STEP_AUTHORIZE:
		a, err := fx.authorize(s)
		return authorizationOutcome(s, a, err, fx.now())
	case pb.Step_STEP_CONFIRM_PAYMENT:
		return fx.confirm(s)
	case pb.Step_STEP_CAPTURE:
		return fx.capture(s)
	case pb.Step_STEP_VOID:
		return fx.void(s)
	case pb.Step_STEP_REFUND:
		return fx.refund(s)
	case pb.Step_STEP_ADJUST_REFUND:
		return fx.refundAdjustment(s, adjustmentDue(s))
	case pb.Step_STEP_ADJUST_RETURN:
		a := adjustmentDue(s)
		return adjustmentReturnOutcome(a.GetId(), fx.returnUnits(s, a), fx.now())
	case pb.Step_STEP_CHECKOUT_CART:
		return cartOutcome(fx.checkOutCart(s), fx.now())
	case pb.Step_STEP_NOTIFY:
		kind := mailDue(s)
		if kind == "" {
			// Nothing owed (a state the step should not start in): the
			// buyer's mail of the order's outcome, as before vendors had any.
			kind = MailConfirmed
			if s.Outcome == emporium.OrderCancelled {
				kind = MailCancelled
			}
		}
		out := notifyOutcome(kind, fx.notify(kind, s), attempts, fx.now())
		if vendor, ok := VendorOfMail(kind); ok && out.retry == nil {
			fx.announce(vendor, s)
		}
		return out
	}
	return outcome{retry: emporium.Errorf(emporium.EINTERNAL, "order: no effect for step %s", step)}
}

// eachSKU calls every SKU of the order at once, with the units the order
// holds of it, and collects their answers.
func (fx effects) eachSKU(s *pb.State, call func(*inventorypb.InventoryGrainGrainClient, int64, cluster.GrainCallOption) error) skuErrors {
	units := map[string]int64{}
	for _, l := range s.Lines {
		units[l.Sku] += l.Quantity
	}
	return fx.callSKUs(units, call)
}

// callSKUs calls the grain of every SKU in units at once, with its units,
// and collects their answers.
func (fx effects) callSKUs(units map[string]int64, call func(*inventorypb.InventoryGrainGrainClient, int64, cluster.GrainCallOption) error) skuErrors {
	errs := make(skuErrors, len(units))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for sku, qty := range units {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), fx.cfg.StepTimeout)
			defer cancel()
			err := call(inventorypb.GetInventoryGrainGrainClient(fx.cluster, sku), qty, actors.Within(ctx, fx.cluster))
			mu.Lock()
			errs[sku] = emporium.GrainCall("order.stock", err)
			mu.Unlock()
		})
	}
	wg.Wait()
	return errs
}

// provider returns the order's payment provider. One the node no longer
// has (a configuration change) is a final refusal.
func (fx effects) provider(s *pb.State) (payments.Provider, error) {
	p, ok := fx.cfg.Payments[s.Payment.GetProvider()]
	if !ok {
		return nil, emporium.Errorf(emporium.EINVALID, "the payment provider %q is not configured", s.Payment.GetProvider())
	}
	return p, nil
}

// call runs a provider call under ProviderTimeout and counts its failures.
func call[T any](fx effects, s *pb.State, op string, fn func(ctx context.Context, p payments.Provider) (T, error)) (T, error) {
	var zero T
	p, err := fx.provider(s)
	if err != nil {
		return zero, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), fx.cfg.ProviderTimeout)
	defer cancel()
	out, err := fn(ctx, p)
	if err != nil {
		fx.cfg.Metrics.providerError(p.Name(), op)
	}
	return out, err
}

func (fx effects) authorize(s *pb.State) (payments.Authorization, error) {
	return call(fx, s, "authorize", func(ctx context.Context, p payments.Provider) (payments.Authorization, error) {
		return p.Authorize(ctx, payments.AuthorizeRequest{
			Key:       payments.Key(s.Id, payments.StepAuthorize),
			OrderID:   s.Id,
			Amount:    money(s.Total),
			Method:    s.Payment.GetMethod(),
			ReturnURL: s.Payment.GetReturnUrl(),
		})
	})
}

func (fx effects) confirm(s *pb.State) outcome {
	a, err := call(fx, s, "confirm", func(ctx context.Context, p payments.Provider) (payments.Authorization, error) {
		return p.Confirm(ctx, payments.ConfirmRequest{
			Key:       confirmKey(s),
			PaymentID: s.Payment.GetPaymentId(),
		})
	})
	return authorizationOutcome(s, a, err, fx.now())
}

func (fx effects) capture(s *pb.State) outcome {
	c, err := call(fx, s, "capture", func(ctx context.Context, p payments.Provider) (payments.Capture, error) {
		return p.Capture(ctx, payments.CaptureRequest{
			Key:       payments.Key(s.Id, payments.StepCapture),
			PaymentID: s.Payment.GetPaymentId(),
			Amount:    money(s.Total),
		})
	})
	return captureOutcome(c, err, fx.now())
}

// void cancels the order's authorisation. When the authorisation was
// started but its answer was lost (a crash, a timeout, a cancellation that
// overtook it), the same Authorize is sent again first: the provider
// answers the first result, which names the payment to void (or says it
// was declined, leaving nothing to void).
func (fx effects) void(s *pb.State) outcome {
	paymentID := s.Payment.GetPaymentId()
	if paymentID == "" {
		a, err := fx.authorize(s)
		if err != nil {
			return voidOutcome(err, fx.now())
		}
		if a.Status == payments.StatusDeclined || a.PaymentID == "" {
			return voidOutcome(nil, fx.now())
		}
		paymentID = a.PaymentID
	}
	_, err := call(fx, s, "void", func(ctx context.Context, p payments.Provider) (struct{}, error) {
		return struct{}{}, p.Void(ctx, payments.VoidRequest{Key: payments.Key(s.Id, payments.StepVoid), PaymentID: paymentID})
	})
	return voidOutcome(err, fx.now())
}

// refund gives back what was captured and not refunded yet, as the order's
// next refund (its key numbers it, so a retry is the same refund).
func (fx effects) refund(s *pb.State) outcome {
	p := s.Payment
	amount := payments.Money{Amount: p.Captured.GetAmount() - p.Refunded.GetAmount(), Currency: p.Captured.GetCurrency()}
	r, err := call(fx, s, "refund", func(ctx context.Context, prov payments.Provider) (payments.Refund, error) {
		return prov.Refund(ctx, payments.RefundRequest{
			Key:       payments.RefundKey(s.Id, int(p.Refunds)+1),
			PaymentID: p.PaymentId,
			Amount:    amount,
			Reason:    s.FailureReason,
		})
	})
	return refundOutcome(r, err, fx.now())
}

// refundAdjustment refunds an adjustment's amount, under a key of its own
// (payments.AdjustmentKey), so that a retry is the same refund.
func (fx effects) refundAdjustment(s *pb.State, a *pb.Adjustment) outcome {
	r, err := call(fx, s, "refund", func(ctx context.Context, prov payments.Provider) (payments.Refund, error) {
		return prov.Refund(ctx, payments.RefundRequest{
			Key:       payments.AdjustmentKey(s.Id, a.GetId()),
			PaymentID: s.Payment.GetPaymentId(),
			Amount:    money(a.GetAmount()),
			Reason:    a.GetReason(),
		})
	})
	return adjustmentRefundOutcome(a.GetId(), r, err, fx.now())
}

// returnUnits puts the units of an adjustment's cancelled lines back on
// hand, each SKU's under the adjustment's command id.
func (fx effects) returnUnits(s *pb.State, a *pb.Adjustment) skuErrors {
	units := map[string]int64{}
	for _, l := range s.Lines {
		if slices.Contains(a.GetLines(), l.LineId) {
			units[l.Sku] += l.Quantity
		}
	}
	return fx.callSKUs(units, func(c *inventorypb.InventoryGrainGrainClient, qty int64, o cluster.GrainCallOption) error {
		_, err := c.ReturnUnits(&inventorypb.ReturnUnitsRequest{
			CommandId: "order:" + s.Id + ":" + a.GetId(), OrderId: s.Id, Quantity: qty}, o)
		return err
	})
}

// checkOutCart takes the ordered units out of the buyer's cart.
func (fx effects) checkOutCart(s *pb.State) error {
	items := make([]*cartpb.OrderedItem, len(s.Lines))
	for i, l := range s.Lines {
		items[i] = &cartpb.OrderedItem{Sku: l.Sku, Quantity: l.Quantity}
	}
	ctx, cancel := context.WithTimeout(context.Background(), fx.cfg.StepTimeout)
	defer cancel()
	_, err := cartpb.GetCartGrainGrainClient(fx.cluster, s.BuyerId).CheckOut(
		&cartpb.CheckOutRequest{CommandId: "order:" + s.Id, Items: items}, actors.Within(ctx, fx.cluster))
	return emporium.GrainCall("order.checkOutCart", err)
}

func (fx effects) notify(kind string, s *pb.State) error {
	if fx.cfg.Notify == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return fx.cfg.Notify(ctx, kind, s)
}

// announce pushes a vendor's new order to their live connections, in the
// attempt of the vendor's mail whose outcome the journal records: a push is
// repeated only when a crash or a lost write makes the mail's step run
// again, as the mail is.
func (fx effects) announce(vendorID string, s *pb.State) {
	if fx.cfg.VendorOrderCreated == nil {
		return
	}
	if vo, ok := VendorOrderOf(s, fx.seq, vendorID); ok {
		fx.cfg.VendorOrderCreated(vendorID, vo)
	}
}

// confirmKey is the idempotency key of the buyer's n-th confirmation: each
// asks the provider anew.
func confirmKey(s *pb.State) string {
	return payments.Key(s.Id, payments.StepConfirm) + ":" + strconv.Itoa(int(s.Payment.GetConfirms()))
}

func money(m *pb.Money) payments.Money {
	return payments.Money{Amount: m.GetAmount(), Currency: m.GetCurrency()}
}
