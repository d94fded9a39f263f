package sandbox

import (
	"context"
	"slices"
	"strconv"
	"time"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/payments"
)

// Kinds of operation on a payment, as the ledger records them.
const (
	OpAuthorize = "authorize"
	OpConfirm   = "confirm"
	OpCapture   = "capture"
	OpVoid      = "void"
	OpRefund    = "refund"
)

// changeAttempts bounds how often an operation re-reads a payment that
// another operation changed between its read and its write.
const changeAttempts = 8

// paymentDoc is a stored payment: its amounts, its status and every
// operation applied to it, each with the key that made it, which is how a
// repeated operation recognises its own effect.
type paymentDoc struct {
	ID          string          `bson:"_id,omitempty"`
	OrderID     string          `bson:"order_id"`
	Method      string          `bson:"method"`
	Currency    string          `bson:"currency"`
	Amount      int64           `bson:"amount"`
	Authorized  int64           `bson:"authorized"`
	Captured    int64           `bson:"captured"`
	Refunded    int64           `bson:"refunded"`
	Status      payments.Status `bson:"status"`
	DeclineCode string          `bson:"decline_code,omitempty"`
	ApprovalURL string          `bson:"approval_url,omitempty"`
	Operations  []operationDoc  `bson:"operations"`
	CreatedAt   time.Time       `bson:"created_at"`
	UpdatedAt   time.Time       `bson:"updated_at"`
}

// operationDoc is one operation applied to a payment.
type operationDoc struct {
	Kind   string          `bson:"kind"`
	Key    string          `bson:"key"`
	ID     string          `bson:"id,omitempty"`
	Amount int64           `bson:"amount,omitempty"`
	Reason string          `bson:"reason,omitempty"`
	Status payments.Status `bson:"status"`
	At     time.Time       `bson:"at"`
}

// operation returns the operation of kind that key made, if any.
func (p *paymentDoc) operation(kind, key string) (operationDoc, bool) {
	i := slices.IndexFunc(p.Operations, func(o operationDoc) bool { return o.Kind == kind && o.Key == key })
	if i < 0 {
		return operationDoc{}, false
	}
	return p.Operations[i], true
}

// authorization answers p as an Authorization with the given status.
func (p *paymentDoc) authorization(status payments.Status) answer {
	a := answer{PaymentID: p.ID, Status: status, Amount: p.Amount, Currency: p.Currency}
	switch status {
	case payments.StatusDeclined:
		a.DeclineCode = p.DeclineCode
	case payments.StatusRequiresApproval:
		a.ApprovalURL = p.ApprovalURL
	}
	return a
}

// asAuthorization, asCapture and asRefund convert an answer to the
// result of its operation.
func (a answer) asAuthorization() payments.Authorization {
	return payments.Authorization{PaymentID: a.PaymentID, Status: a.Status, Amount: a.money(),
		DeclineCode: a.DeclineCode, ApprovalURL: a.ApprovalURL}
}

func (a answer) asCapture() payments.Capture {
	return payments.Capture{PaymentID: a.PaymentID, CaptureID: a.CaptureID, Amount: a.money()}
}

func (a answer) asRefund() payments.Refund {
	return payments.Refund{RefundID: a.RefundID, Amount: a.money()}
}

func (a answer) money() payments.Money { return payments.Money{Amount: a.Amount, Currency: a.Currency} }

// outcomes maps each test token to the status and decline code an
// authorization with it gets.
var outcomes = map[string]struct {
	status  payments.Status
	decline string
}{
	payments.TokenVisa:              {payments.StatusAuthorized, ""},
	payments.TokenTimeout:           {payments.StatusAuthorized, ""},
	payments.TokenDeclined:          {payments.StatusDeclined, payments.DeclinePaymentDeclined},
	payments.TokenInsufficientFunds: {payments.StatusDeclined, payments.DeclineInsufficientFunds},
	payments.TokenRequiresApproval:  {payments.StatusRequiresApproval, ""},
}

// CheckMethod refuses, before any order is placed, a payment method that
// is not one of the sandbox's test tokens (the order service asks).
func (s *Sandbox) CheckMethod(method string) error {
	if _, known := outcomes[method]; !known {
		return emporium.InvalidFields(unknownToken())
	}
	return nil
}

func unknownToken() emporium.FieldError {
	return emporium.Field("payment.token", emporium.FieldUnknown,
		"the sandbox knows the tokens %s, %s, %s, %s and %s", payments.TokenVisa, payments.TokenDeclined,
		payments.TokenInsufficientFunds, payments.TokenTimeout, payments.TokenRequiresApproval)
}

// Authorize implements payments.Provider. The payment's id is derived from
// the key, so that however often the call runs, one payment exists.
// payments.TokenTimeout authorizes, then fails the first call with
// EUNAVAILABLE after Config.TimeoutDelay (or when ctx ends, if sooner), as
// a provider whose answer was lost: the retry answers the authorization.
func (s *Sandbox) Authorize(ctx context.Context, req payments.AuthorizeRequest) (payments.Authorization, error) {
	const op = "sandbox.Authorize"
	outcome, known := outcomes[req.Method]
	var fields []emporium.FieldError
	fields = payments.CheckKey(fields, req.Key, maxKey)
	if req.OrderID == "" {
		fields = append(fields, emporium.Field("order_id", emporium.FieldRequired, "an order id is required"))
	}
	fields = payments.CheckMoney(fields, req.Amount)
	if !known {
		fields = append(fields, unknownToken())
	}
	if len(fields) > 0 {
		return payments.Authorization{}, withOp(op, emporium.InvalidFields(fields...))
	}
	hash := hashRequest(OpAuthorize, req.OrderID, strconv.FormatInt(req.Amount.Amount, 10), req.Amount.Currency, req.Method, req.ReturnURL)
	created := false
	a, fresh, err := s.run(ctx, OpAuthorize, req.Key, hash, func(ctx context.Context) (answer, error) {
		now := s.now()
		p := paymentDoc{
			ID: derivedID("pay_", req.Key), OrderID: req.OrderID, Method: req.Method,
			Currency: req.Amount.Currency, Amount: req.Amount.Amount,
			Status: outcome.status, DeclineCode: outcome.decline,
			CreatedAt: now, UpdatedAt: now,
		}
		switch outcome.status {
		case payments.StatusAuthorized:
			p.Authorized = p.Amount
		case payments.StatusRequiresApproval:
			p.ApprovalURL = s.cfg.ApprovalURL(req.OrderID)
		}
		p.Operations = []operationDoc{{Kind: OpAuthorize, Key: req.Key, Amount: p.Amount, Status: p.Status, At: now}}
		docs := s.paymentDocs()
		_, err := docs.Put(ctx, p.ID, 0, &p)
		if err == nil {
			created = true
			return p.authorization(p.Status), nil
		}
		if !emporium.IsCode(err, emporium.ECONFLICT) {
			return answer{}, err
		}
		// A call that died after creating the payment: answer what it
		// created, as it was created.
		var held paymentDoc
		if _, err := docs.Get(ctx, p.ID, &held); err != nil {
			return answer{}, err
		}
		if held.OrderID != p.OrderID || held.Amount != p.Amount || held.Currency != p.Currency || held.Method != p.Method {
			return refuse(emporium.Errorf(emporium.EIDEMPOTENCY,
				"The idempotency key %q was already used with other parameters.", req.Key)), nil
		}
		held.ID = p.ID
		if first, ok := held.operation(OpAuthorize, req.Key); ok {
			return held.authorization(first.Status), nil
		}
		return held.authorization(held.Status), nil
	})
	if err != nil {
		return payments.Authorization{}, withOp(op, err)
	}
	if err := a.err(op); err != nil {
		return payments.Authorization{}, err
	}
	if fresh && created && req.Method == payments.TokenTimeout {
		wait(ctx, s.cfg.TimeoutDelay)
		return payments.Authorization{}, &emporium.Error{Code: emporium.EUNAVAILABLE, Op: op,
			Message: "The payment provider did not answer in time; the outcome is unknown: retry with the same idempotency key."}
	}
	return a.asAuthorization(), nil
}

// Confirm implements payments.Provider: a payment that waits for the
// buyer's approval is authorized (in the sandbox, the buyer coming back is
// the approval); any other payment is answered as it is.
func (s *Sandbox) Confirm(ctx context.Context, req payments.ConfirmRequest) (payments.Authorization, error) {
	const op = "sandbox.Confirm"
	fields := payments.CheckPaymentID(payments.CheckKey(nil, req.Key, maxKey), req.PaymentID)
	if len(fields) > 0 {
		return payments.Authorization{}, withOp(op, emporium.InvalidFields(fields...))
	}
	a, _, err := s.run(ctx, OpConfirm, req.Key, hashRequest(OpConfirm, req.PaymentID), func(ctx context.Context) (answer, error) {
		return s.change(ctx, req.PaymentID, func(p *paymentDoc, now time.Time) (answer, bool) {
			if p.Status != payments.StatusRequiresApproval {
				return p.authorization(p.Status), false
			}
			p.Status, p.Authorized = payments.StatusAuthorized, p.Amount
			p.Operations = append(p.Operations, operationDoc{Kind: OpConfirm, Key: req.Key, Status: p.Status, At: now})
			return p.authorization(p.Status), true
		})
	})
	if err != nil {
		return payments.Authorization{}, withOp(op, err)
	}
	if err := a.err(op); err != nil {
		return payments.Authorization{}, err
	}
	return a.asAuthorization(), nil
}

// Capture implements payments.Provider: an authorized payment is captured
// once, for at most the authorized amount. A second capture with another
// key, or a capture of a payment that is not authorized, is ECONFLICT.
func (s *Sandbox) Capture(ctx context.Context, req payments.CaptureRequest) (payments.Capture, error) {
	const op = "sandbox.Capture"
	fields := payments.CheckMoney(payments.CheckPaymentID(payments.CheckKey(nil, req.Key, maxKey), req.PaymentID), req.Amount)
	if len(fields) > 0 {
		return payments.Capture{}, withOp(op, emporium.InvalidFields(fields...))
	}
	hash := hashRequest(OpCapture, req.PaymentID, strconv.FormatInt(req.Amount.Amount, 10), req.Amount.Currency)
	a, _, err := s.run(ctx, OpCapture, req.Key, hash, func(ctx context.Context) (answer, error) {
		return s.change(ctx, req.PaymentID, func(p *paymentDoc, now time.Time) (answer, bool) {
			if done, ok := p.operation(OpCapture, req.Key); ok {
				return answer{PaymentID: p.ID, CaptureID: done.ID, Amount: done.Amount, Currency: p.Currency}, false
			}
			if refused := checkCapture(p, req.Amount); refused != nil {
				return refuse(refused), false
			}
			id := derivedID("cap_", req.Key)
			p.Status, p.Captured = payments.StatusCaptured, req.Amount.Amount
			p.Operations = append(p.Operations, operationDoc{Kind: OpCapture, Key: req.Key, ID: id, Amount: req.Amount.Amount, Status: p.Status, At: now})
			return answer{PaymentID: p.ID, CaptureID: id, Amount: req.Amount.Amount, Currency: p.Currency}, true
		})
	})
	if err != nil {
		return payments.Capture{}, withOp(op, err)
	}
	if err := a.err(op); err != nil {
		return payments.Capture{}, err
	}
	return a.asCapture(), nil
}

// checkCapture returns why p cannot be captured for amount, nil when it
// can.
func checkCapture(p *paymentDoc, amount payments.Money) *emporium.Error {
	switch {
	case p.Status == payments.StatusCaptured:
		return emporium.Errorf(emporium.ECONFLICT, "Payment %s is already captured.", p.ID)
	case p.Status != payments.StatusAuthorized:
		return emporium.Errorf(emporium.ECONFLICT, "Payment %s is %s, not authorized.", p.ID, p.Status)
	case amount.Currency != p.Currency:
		return emporium.Invalidf("amount.currency", emporium.FieldCurrencyMismatch,
			"payment %s is in %s, not %s", p.ID, p.Currency, amount.Currency)
	case amount.Amount > p.Authorized:
		return emporium.Invalidf("amount", emporium.FieldOutOfRange,
			"payment %s is authorized for %d, less than %d", p.ID, p.Authorized, amount.Amount)
	}
	return nil
}

// Void implements payments.Provider: a payment not captured is voided
// (one voided already stays so, and the call succeeds); a captured one is
// ECONFLICT, since its money must be refunded instead.
func (s *Sandbox) Void(ctx context.Context, req payments.VoidRequest) error {
	const op = "sandbox.Void"
	fields := payments.CheckPaymentID(payments.CheckKey(nil, req.Key, maxKey), req.PaymentID)
	if len(fields) > 0 {
		return withOp(op, emporium.InvalidFields(fields...))
	}
	a, _, err := s.run(ctx, OpVoid, req.Key, hashRequest(OpVoid, req.PaymentID), func(ctx context.Context) (answer, error) {
		return s.change(ctx, req.PaymentID, func(p *paymentDoc, now time.Time) (answer, bool) {
			switch p.Status {
			case payments.StatusVoided:
				return answer{PaymentID: p.ID, Status: p.Status}, false
			case payments.StatusCaptured:
				return refuse(emporium.Errorf(emporium.ECONFLICT,
					"Payment %s is captured; refund it instead of voiding it.", p.ID)), false
			}
			p.Status, p.Authorized = payments.StatusVoided, 0
			p.Operations = append(p.Operations, operationDoc{Kind: OpVoid, Key: req.Key, Status: p.Status, At: now})
			return answer{PaymentID: p.ID, Status: p.Status}, true
		})
	})
	if err != nil {
		return withOp(op, err)
	}
	return a.err(op)
}

// Refund implements payments.Provider: a captured payment is refunded in
// one or more refunds that together give back at most what was captured
// (more is EINVALID). A payment not captured is ECONFLICT.
func (s *Sandbox) Refund(ctx context.Context, req payments.RefundRequest) (payments.Refund, error) {
	const op = "sandbox.Refund"
	fields := payments.CheckMoney(payments.CheckPaymentID(payments.CheckKey(nil, req.Key, maxKey), req.PaymentID), req.Amount)
	if len(fields) > 0 {
		return payments.Refund{}, withOp(op, emporium.InvalidFields(fields...))
	}
	hash := hashRequest(OpRefund, req.PaymentID, strconv.FormatInt(req.Amount.Amount, 10), req.Amount.Currency, req.Reason)
	a, _, err := s.run(ctx, OpRefund, req.Key, hash, func(ctx context.Context) (answer, error) {
		return s.change(ctx, req.PaymentID, func(p *paymentDoc, now time.Time) (answer, bool) {
			if done, ok := p.operation(OpRefund, req.Key); ok {
				return answer{PaymentID: p.ID, RefundID: done.ID, Amount: done.Amount, Currency: p.Currency}, false
			}
			switch {
			case p.Status != payments.StatusCaptured:
				return refuse(emporium.Errorf(emporium.ECONFLICT, "Payment %s is %s; only a captured payment can be refunded.", p.ID, p.Status)), false
			case req.Amount.Currency != p.Currency:
				return refuse(emporium.Invalidf("amount.currency", emporium.FieldCurrencyMismatch,
					"payment %s is in %s, not %s", p.ID, p.Currency, req.Amount.Currency)), false
			case p.Refunded+req.Amount.Amount > p.Captured:
				return refuse(emporium.Invalidf("amount", emporium.FieldOutOfRange,
					"payment %s has %d captured and %d refunded; %d more cannot be refunded",
					p.ID, p.Captured, p.Refunded, req.Amount.Amount)), false
			}
			id := derivedID("re_", req.Key)
			p.Refunded += req.Amount.Amount
			p.Operations = append(p.Operations, operationDoc{Kind: OpRefund, Key: req.Key, ID: id,
				Amount: req.Amount.Amount, Reason: req.Reason, Status: p.Status, At: now})
			return answer{PaymentID: p.ID, RefundID: id, Amount: req.Amount.Amount, Currency: p.Currency}, true
		})
	})
	if err != nil {
		return payments.Refund{}, withOp(op, err)
	}
	if err := a.err(op); err != nil {
		return payments.Refund{}, err
	}
	return a.asRefund(), nil
}

// change reads payment id, lets decide answer and change it, and writes it
// back if decide says so, conditionally on the version read: when another
// operation got there first, it reads and decides again. A missing payment
// is a refusal (ENOTFOUND).
func (s *Sandbox) change(ctx context.Context, id string, decide func(p *paymentDoc, now time.Time) (answer, bool)) (answer, error) {
	docs := s.paymentDocs()
	for range changeAttempts {
		var p paymentDoc
		version, err := docs.Get(ctx, id, &p)
		if emporium.IsCode(err, emporium.ENOTFOUND) {
			return refuse(emporium.Errorf(emporium.ENOTFOUND, "Payment %s does not exist.", id)), nil
		}
		if err != nil {
			return answer{}, err
		}
		p.ID = id
		now := s.now()
		a, write := decide(&p, now)
		if !write {
			return a, nil
		}
		p.UpdatedAt = now
		_, err = docs.Put(ctx, id, version, &p)
		if err == nil {
			return a, nil
		}
		if !emporium.IsCode(err, emporium.ECONFLICT) {
			return answer{}, err
		}
	}
	return answer{}, emporium.Errorf(emporium.EUNAVAILABLE, "Payment %s is busy; retry shortly.", id)
}

// maxKey is the longest idempotency key the provider takes (the sandbox sets none).
const maxKey = 0

// withOp names operation op on err, keeping its code, message and fields.
func withOp(op string, err error) error {
	if e, ok := err.(*emporium.Error); ok && e.Op == "" {
		e.Op = op
		return e
	}
	return emporium.Wrap(op, err)
}
