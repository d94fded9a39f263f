package order

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/asynkron/protoactor-go/cluster"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/payments"
	pb "github.com/emporium-shop/emporium/protos/orderpb"
)

// Webhooks receives payment providers' notifications
// (emporium.PaymentWebhooks): it verifies a delivery with its provider's
// verifier, then hands the event to the order it names, which applies it
// once and never backwards.
type Webhooks struct {
	Cluster *cluster.Cluster
	// Verifiers are the providers' verifiers by provider name.
	Verifiers map[string]payments.WebhookVerifier
	Logger    *slog.Logger
	// Now is the clock of signature tolerances; nil is the wall clock.
	Now func() time.Time
}

var _ emporium.PaymentWebhooks = (*Webhooks)(nil)

// Deliver verifies and applies one delivery. An event about no order of
// ours, or saying nothing about a payment's state, is acknowledged and
// ignored: the provider would only send it again.
func (w *Webhooks) Deliver(ctx context.Context, provider string, header http.Header, body []byte) error {
	const op = "order.Webhooks.Deliver"
	v, ok := w.Verifiers[provider]
	if !ok {
		return &emporium.Error{Code: emporium.ENOTFOUND, Op: op, Message: "There is no payment provider " + provider + "."}
	}
	now := time.Now()
	if w.Now != nil {
		now = w.Now()
	}
	ev, err := v.VerifyWebhook(header, body, now)
	if err != nil {
		return emporium.Wrap(op, err)
	}
	if ev.Status == "" || !validID(ev.OrderID) {
		return nil
	}
	req := &pb.PaymentEventRequest{EventId: provider + ":" + ev.ID, Provider: provider, PaymentId: ev.PaymentID,
		Status: string(ev.Status), DeclineCode: ev.DeclineCode}
	_, err = pb.GetOrderGrainGrainClient(w.Cluster, ev.OrderID).PaymentEvent(req, actors.Within(ctx, w.Cluster))
	if err = emporium.GrainCall(op, err); err != nil && !emporium.IsCode(err, emporium.ENOTFOUND) {
		return err
	}
	if err != nil {
		w.Logger.Info("webhook about an unknown order ignored", slog.String("provider", provider), slog.String("order", ev.OrderID))
	}
	return nil
}
