package sandbox

import (
	"context"
	"time"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/payments"
)

// States of a request document.
const (
	// stateInFlight: a call holds the key until LeaseUntil.
	stateInFlight = "in_flight"
	// stateDone: the key's answer is stored; replays answer it.
	stateDone = "done"
)

// claimAttempts bounds how often a call re-reads a key whose document
// changed under it before it gives up with ECONFLICT.
const claimAttempts = 3

// releaseTimeout bounds the write that gives a key back after a failure,
// which runs even when the caller's context has ended.
const releaseTimeout = 5 * time.Second

// requestDoc is the record of one idempotency key (Stripe's rules): the
// operation and the hash of the parameters it was first used with, and,
// once the call finished, its answer.
type requestDoc struct {
	Op    string `bson:"op"`
	Hash  string `bson:"hash"`
	State string `bson:"state"`
	// LeaseUntil is when a call in flight stops blocking duplicates: a
	// retry after it takes the call over.
	LeaseUntil time.Time `bson:"lease_until"`
	// Executions counts the calls that ran the operation for the key: 1,
	// plus one per takeover.
	Executions int       `bson:"executions"`
	CreatedAt  time.Time `bson:"created_at"`
	Answer     answer    `bson:"answer"`
}

// answer is what a call answered: the fields of the result of whichever
// operation it was, or a refusal. Refusals (a capture of a voided payment,
// an over-refund, ...) are answers too: a replay gets the same refusal, as
// at Stripe.
type answer struct {
	PaymentID   string          `bson:"payment_id,omitempty"`
	Status      payments.Status `bson:"status,omitempty"`
	Amount      int64           `bson:"amount,omitempty"`
	Currency    string          `bson:"currency,omitempty"`
	DeclineCode string          `bson:"decline_code,omitempty"`
	ApprovalURL string          `bson:"approval_url,omitempty"`
	CaptureID   string          `bson:"capture_id,omitempty"`
	RefundID    string          `bson:"refund_id,omitempty"`
	Refusal     *refusal        `bson:"refusal,omitempty"`
}

// refusal is a final error answer, stored so that it can be replayed.
type refusal struct {
	Code    string                `bson:"code"`
	Message string                `bson:"message"`
	Fields  []emporium.FieldError `bson:"fields,omitempty"`
}

// refuse returns the answer that refuses a request with err's code,
// message and fields.
func refuse(err *emporium.Error) answer {
	return answer{Refusal: &refusal{Code: err.Code, Message: err.Message, Fields: err.Fields}}
}

// err returns the answer's refusal as an error of operation op, nil when
// the answer is not a refusal.
func (a answer) err(op string) error {
	if a.Refusal == nil {
		return nil
	}
	return &emporium.Error{Code: a.Refusal.Code, Message: a.Refusal.Message, Fields: a.Refusal.Fields, Op: op}
}

// run answers the call of operation op with idempotency key and parameter
// hash: the stored answer when the key was answered before, otherwise the
// answer of exec, stored for later replays. fresh reports whether this
// call ran exec rather than replayed.
//
// exec must be idempotent by key: it runs again when a retry takes over a
// call that died (after the lease), and must then find its effect done and
// answer it. It returns refusals as answers and only failures that leave
// the outcome open (the store did not answer) as errors; those give the
// key back at once, so that the caller's retry runs exec again.
func (s *Sandbox) run(ctx context.Context, op, key, hash string, exec func(ctx context.Context) (answer, error)) (a answer, fresh bool, err error) {
	docs := s.requestDocs()
	doc, version, replay, err := s.claim(ctx, op, key, hash)
	if err != nil {
		return answer{}, false, err
	}
	if replay {
		return doc.Answer, false, nil
	}
	a, err = exec(ctx)
	if err != nil {
		s.release(ctx, key, version, doc)
		return answer{}, false, err
	}
	doc.State, doc.Answer = stateDone, a
	// If the answer cannot be stored, it is still the answer: the effect
	// is durable, and the retry that takes the key over after the lease
	// finds it done and answers the same.
	_, _ = docs.Put(ctx, key, version, doc)
	return a, true, nil
}

// claim takes key for a call of op with the parameters' hash: it answers
// the request document the call now holds and its version, or the
// document with the stored answer (replay) when the key was answered
// before. The key used with other parameters is EIDEMPOTENCY; held by a
// call in flight within its lease, ECONFLICT.
func (s *Sandbox) claim(ctx context.Context, op, key, hash string) (doc requestDoc, version int64, replay bool, err error) {
	docs := s.requestDocs()
	for range claimAttempts {
		now := s.now()
		doc = requestDoc{Op: op, Hash: hash, State: stateInFlight, LeaseUntil: now.Add(s.cfg.Lease), Executions: 1, CreatedAt: now}
		version, err = docs.Put(ctx, key, 0, doc)
		if err == nil {
			return doc, version, false, nil
		}
		if !emporium.IsCode(err, emporium.ECONFLICT) {
			return requestDoc{}, 0, false, err
		}
		var held requestDoc
		version, err = docs.Get(ctx, key, &held)
		if emporium.IsCode(err, emporium.ENOTFOUND) {
			continue // removed meanwhile: claim it afresh
		}
		if err != nil {
			return requestDoc{}, 0, false, err
		}
		if held.Op != op || held.Hash != hash {
			return requestDoc{}, 0, false, emporium.Errorf(emporium.EIDEMPOTENCY,
				"The idempotency key %q was already used with other parameters.", key)
		}
		if held.State == stateDone {
			return held, version, true, nil
		}
		if now.Before(held.LeaseUntil) {
			return requestDoc{}, 0, false, inFlight(key)
		}
		// The call holding the key died (or gave it back): take it over.
		held.LeaseUntil = now.Add(s.cfg.Lease)
		held.Executions++
		version, err = docs.Put(ctx, key, version, held)
		if err == nil {
			return held, version, false, nil
		}
		if !emporium.IsCode(err, emporium.ECONFLICT) {
			return requestDoc{}, 0, false, err
		}
		// Another retry took it over, or the call finished: look again.
	}
	return requestDoc{}, 0, false, inFlight(key)
}

// inFlight is the ECONFLICT of a key another call holds.
func inFlight(key string) error {
	return emporium.Errorf(emporium.ECONFLICT,
		"A request with the idempotency key %q is in progress; retry it later.", key)
}

// release gives the key held at version back after exec failed without an
// answer, by ending its lease now, so that the caller's retry need not
// wait for the lease. It runs even when ctx has ended (that is often why
// exec failed); if it fails too, the lease ends on its own.
func (s *Sandbox) release(ctx context.Context, key string, version int64, doc requestDoc) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	doc.LeaseUntil = s.now()
	_, _ = s.requestDocs().Put(ctx, key, version, doc)
}
