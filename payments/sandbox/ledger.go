package sandbox

import (
	"context"
	"slices"
	"strings"
	"time"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/payments"
)

// ledgerBatch is how many payments the ledger reads at a time.
const ledgerBatch = 200

// Payment is one payment of the ledger, for audits and tests: what was
// asked, what is held, taken and given back, and every operation applied.
type Payment struct {
	ID      string
	OrderID string
	Method  string
	// Status is the payment's state; a refunded payment stays captured,
	// with Refunded saying how much went back.
	Status      payments.Status
	DeclineCode string
	Currency    string
	// Amount is the amount the authorization asked for.
	Amount int64
	// Authorized is the amount held (zero when declined, waiting for
	// approval or voided).
	Authorized int64
	// Captured is the amount taken.
	Captured int64
	// Refunded is the sum of the refunds.
	Refunded int64
	// Operations are the effects applied to the payment, in order, each
	// with the key that made it; a key appears at most once.
	Operations []Operation
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Operation is one effect applied to a payment.
type Operation struct {
	// Kind is OpAuthorize, OpConfirm, OpCapture, OpVoid or OpRefund.
	Kind string
	// Key is the idempotency key of the call that applied it.
	Key string
	// ID is the capture's or refund's id.
	ID     string
	Amount int64
	Reason string
	// Status is the payment's status after the operation.
	Status payments.Status
	At     time.Time
}

// Request is the record of one idempotency key.
type Request struct {
	Key string
	// Op is the operation the key was first used for.
	Op string
	// Done reports whether the key has an answer; a key without one is
	// held by a call in flight until LeaseUntil, or was abandoned.
	Done       bool
	LeaseUntil time.Time
	// Executions counts the calls that ran the operation for the key: 1,
	// plus one per retry that took over an abandoned call. Replays of an
	// answered key do not count.
	Executions int
	CreatedAt  time.Time
}

// Ledger returns every payment the sandbox holds, by id. It reads the
// whole collection and is meant for tests and invariant checks.
func (s *Sandbox) Ledger(ctx context.Context) ([]Payment, error) {
	const op = "sandbox.Ledger"
	projections := s.store.Projections()
	var ledger []Payment
	err := projections.EachID(ctx, PaymentsCollection, ledgerBatch, func(ids []string) error {
		var docs []paymentDoc
		if err := projections.GetMany(ctx, PaymentsCollection, ids, &docs); err != nil {
			return err
		}
		for i := range docs {
			ledger = append(ledger, docs[i].payment())
		}
		return nil
	})
	if err != nil {
		return nil, emporium.Wrap(op, err)
	}
	slices.SortFunc(ledger, func(a, b Payment) int { return strings.Compare(a.ID, b.ID) })
	return ledger, nil
}

// Payment returns one payment of the ledger; ENOTFOUND when there is no
// such payment.
func (s *Sandbox) Payment(ctx context.Context, id string) (Payment, error) {
	var doc paymentDoc
	if _, err := s.paymentDocs().Get(ctx, id, &doc); err != nil {
		return Payment{}, emporium.Wrap("sandbox.Payment", err)
	}
	doc.ID = id
	return doc.payment(), nil
}

// Request returns the record of an idempotency key; ENOTFOUND when the key
// was never used.
func (s *Sandbox) Request(ctx context.Context, key string) (Request, error) {
	var doc requestDoc
	if _, err := s.requestDocs().Get(ctx, key, &doc); err != nil {
		return Request{}, emporium.Wrap("sandbox.Request", err)
	}
	return Request{Key: key, Op: doc.Op, Done: doc.State == stateDone, LeaseUntil: doc.LeaseUntil.UTC(),
		Executions: doc.Executions, CreatedAt: doc.CreatedAt.UTC()}, nil
}

// payment converts a stored payment for the ledger.
func (p *paymentDoc) payment() Payment {
	ops := make([]Operation, len(p.Operations))
	for i, o := range p.Operations {
		ops[i] = Operation{Kind: o.Kind, Key: o.Key, ID: o.ID, Amount: o.Amount, Reason: o.Reason, Status: o.Status, At: o.At.UTC()}
	}
	return Payment{
		ID: p.ID, OrderID: p.OrderID, Method: p.Method, Status: p.Status, DeclineCode: p.DeclineCode,
		Currency: p.Currency, Amount: p.Amount, Authorized: p.Authorized, Captured: p.Captured, Refunded: p.Refunded,
		Operations: ops, CreatedAt: p.CreatedAt.UTC(), UpdatedAt: p.UpdatedAt.UTC(),
	}
}
