// Package sandbox is the built-in payment provider (DESIGN §4, §8): a
// stateful stand-in for a card processor, the default provider, with
// deterministic test tokens (payments.TokenVisa, TokenDeclined, ...) for
// every outcome the checkout saga must handle.
//
// It behaves like an external service. Its ledger lives in the store
// (collections named sandbox_*), so it survives a restart and is the same
// for every node of a cluster: a double charge cannot hide behind a restart
// or a second node. Every call is keyed and follows Stripe's idempotency
// rules: a replay of a key with the same parameters answers the first
// result without a second effect, the key with other parameters is
// EIDEMPOTENCY, and a duplicate that arrives while the first is still
// running is ECONFLICT.
//
// Each effect happens at most once, even when a process dies mid-call: a
// payment's id is derived from its authorization key, so authorizing
// twice cannot create two payments, and every change of a payment is a
// write conditional on the version read, recorded with the key that made
// it, so a retry that takes over an abandoned call finds the change done
// and answers it.
package sandbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/emporium-shop/emporium/payments"
	"github.com/emporium-shop/emporium/persistence"
)

// Name is the provider's name, as clients choose it.
const Name = "sandbox"

// Collections of the sandbox's ledger.
const (
	// PaymentsCollection holds one document per payment, with every
	// operation applied to it.
	PaymentsCollection = "sandbox_payments"
	// RequestsCollection holds one document per idempotency key: the hash
	// of the request that first used it and, once answered, its answer.
	RequestsCollection = "sandbox_requests"
)

// Defaults of Config.
const (
	// DefaultLease is how long a call may hold its key before a retry may
	// take it over.
	DefaultLease = 30 * time.Second
	// DefaultTimeoutDelay is how long a payments.TokenTimeout call waits
	// before it answers that its outcome is unknown.
	DefaultTimeoutDelay = 100 * time.Millisecond
	// DefaultApprovalPath is the approval link of a
	// payments.TokenRequiresApproval payment, with {id} standing for the
	// order id: in the sandbox, the buyer confirming is the approval.
	DefaultApprovalPath = "/v1/orders/{id}/payment/confirm"
)

// Store is where the sandbox keeps its ledger; a persistence.Store is one.
// Documents hold the payments and the keys; Projections serve only the
// ledger audit, which walks the payments.
type Store interface {
	Documents(collection string) persistence.Documents
	Projections() persistence.Projections
}

// Config tunes a Sandbox; the zero value takes the defaults.
type Config struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Lease is how long a call in flight holds its key: a duplicate
	// within the lease is ECONFLICT, and a retry after it takes the call
	// over (the call's process died). Zero means DefaultLease.
	Lease time.Duration
	// TimeoutDelay is how long a payments.TokenTimeout authorization waits
	// before failing with EUNAVAILABLE, never longer than its context
	// allows. Zero means DefaultTimeoutDelay; negative means no wait.
	TimeoutDelay time.Duration
	// ApprovalURL returns the approval link of an order's payment that
	// waits for the buyer; nil means DefaultApprovalPath with the order
	// id.
	ApprovalURL func(orderID string) string
	// WebhookSecret signs and verifies the sandbox's webhook deliveries
	// (Sandbox-Signature). Empty refuses every delivery.
	WebhookSecret string
}

// Sandbox is the sandbox provider. It implements payments.Provider and
// payments.WebhookVerifier, and is safe for concurrent use by any number
// of processes sharing its store.
type Sandbox struct {
	store Store
	cfg   Config
}

// The interfaces a Sandbox implements.
var (
	_ payments.Provider        = (*Sandbox)(nil)
	_ payments.WebhookVerifier = (*Sandbox)(nil)
)

// New returns a sandbox provider keeping its ledger in store, which must
// not be nil.
func New(store Store, cfg Config) *Sandbox {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	switch {
	case cfg.TimeoutDelay == 0:
		cfg.TimeoutDelay = DefaultTimeoutDelay
	case cfg.TimeoutDelay < 0:
		cfg.TimeoutDelay = 0
	}
	if cfg.ApprovalURL == nil {
		cfg.ApprovalURL = func(orderID string) string {
			return strings.ReplaceAll(DefaultApprovalPath, "{id}", orderID)
		}
	}
	return &Sandbox{store: store, cfg: cfg}
}

// Name implements payments.Provider.
func (s *Sandbox) Name() string { return Name }

// now is the sandbox's clock in UTC, at the millisecond the store keeps.
func (s *Sandbox) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

// paymentsDocs and requestDocs are the ledger's collections.
func (s *Sandbox) paymentDocs() persistence.Documents { return s.store.Documents(PaymentsCollection) }
func (s *Sandbox) requestDocs() persistence.Documents { return s.store.Documents(RequestsCollection) }

// derivedID returns an id with prefix derived from an idempotency key: the
// same key always names the same payment, capture or refund, which is
// what makes a repeated effect land on the object the first one made.
func derivedID(prefix, key string) string {
	sum := sha256.Sum256([]byte(key))
	return prefix + hex.EncodeToString(sum[:12])
}

// hashRequest returns the hash of an operation's parameters, which a key
// is bound to: the same key with another hash is EIDEMPOTENCY.
func hashRequest(op string, params ...string) string {
	h := sha256.New()
	h.Write([]byte(op))
	for _, p := range params {
		// Length-prefixed, so that no two parameter lists hash alike.
		h.Write([]byte{0})
		h.Write([]byte(strconv.Itoa(len(p))))
		h.Write([]byte{':'})
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// wait sleeps for d or until ctx ends, whichever comes first.
func wait(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
