// Package actors holds what every grain kind shares: the declaration of a
// kind (Spec), the event-sourced shell around its pure core (Activation and
// Entity: loading, conditional appends, fencing, reloads, deduplication by
// command id, expiry before each decision), the cluster member and its view
// of membership changes (StartMember, Topology), the clock, the way a
// grain's error crosses the cluster, and the activation metrics. Each grain
// kind lives in its own package below (inventory/, cart/, order/, ...), with
// a pure core (decide/apply), a kind.go declaring its Spec, and a grain.go
// holding its commands.
package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/emporium-shop/emporium"
)

// Clock tells the time and runs timers. Grains take it injected so that
// tests can move time instead of waiting for it.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has passed.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a timer started by a Clock.
type Timer interface {
	// Stop prevents the timer from firing; it reports whether it did.
	Stop() bool
}

// SystemClock is the wall clock, in UTC.
type SystemClock struct{}

// Now returns the current time in UTC.
func (SystemClock) Now() time.Time { return time.Now().UTC() }

// AfterFunc runs f after d of wall-clock time.
func (SystemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// GrainError turns an error of a grain method into the response that crosses
// the cluster: the reason is the emporium error code, the message is the one
// meant for the API caller. Internal errors are logged here, where the cause is
// known, and cross the cluster with a generic message only.
func GrainError(logger *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	code, message := emporium.ErrorCode(err), emporium.ErrorMessage(err)
	switch code {
	case emporium.EINTERNAL, emporium.EUNAVAILABLE:
		// The cause names stores and addresses: log it here, send a
		// message that says only what the caller can do.
		logger.Error("grain request failed", slog.String("code", code), slog.Any("error", err))
		message = emporium.ErrorMessage(&emporium.Error{Code: code})
	}
	resp := cluster.NewGrainErrorResponse(code, message)
	resp.Metadata = emporium.Metadata(err) // field errors and retry hint
	return resp
}

// Activations tracks the grain activations live on this node: it counts
// them for Prometheus and can passivate them all when the node stops (an
// actor system's shutdown does not stop its actors, so Terminate would never
// run). One Activations is shared by all the grain kinds of a node.
type Activations struct {
	active      *prometheus.GaugeVec
	activations *prometheus.CounterVec

	mu   sync.Mutex
	live map[*actor.PID]string // pid -> kind
	// kinds are the kinds registered, so that a count shows each, at zero
	// when none is live.
	kinds map[string]struct{}
}

// NewActivations creates the tracker and registers its metrics with reg
// (when reg is not nil).
func NewActivations(reg prometheus.Registerer) *Activations {
	a := &Activations{
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "emporium_grain_active",
			Help: "Grain activations currently live on this node, by kind.",
		}, []string{"kind"}),
		activations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "emporium_grain_activations_total",
			Help: "Grain activations started on this node, by kind.",
		}, []string{"kind"}),
		live:  map[*actor.PID]string{},
		kinds: map[string]struct{}{},
	}
	if reg != nil {
		reg.MustRegister(a.active, a.activations)
	}
	return a
}

// Register makes kind's metrics visible (at zero) before its first
// activation, so dashboards and alerts see the series from the start.
func (a *Activations) Register(kind string) {
	if a == nil {
		return
	}
	a.active.WithLabelValues(kind)
	a.activations.WithLabelValues(kind)
	a.mu.Lock()
	a.kinds[kind] = struct{}{}
	a.mu.Unlock()
}

// Activated records that the grain at pid, of kind, started on this node.
func (a *Activations) Activated(kind string, pid *actor.PID) {
	if a == nil {
		return
	}
	a.active.WithLabelValues(kind).Inc()
	a.activations.WithLabelValues(kind).Inc()
	a.mu.Lock()
	a.live[pid] = kind
	a.mu.Unlock()
}

// Deactivated records that the grain at pid stopped.
func (a *Activations) Deactivated(kind string, pid *actor.PID) {
	if a == nil {
		return
	}
	a.active.WithLabelValues(kind).Dec()
	a.mu.Lock()
	delete(a.live, pid)
	a.mu.Unlock()
}

// Live returns the number of grain activations live on this node.
func (a *Activations) Live() int {
	if a == nil {
		return 0
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.live)
}

// PassivateAll stops every live activation after the messages already in its
// mailbox, and waits until each has run its Terminate or ctx ends.
func (a *Activations) PassivateAll(ctx context.Context, system *actor.ActorSystem) error {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	pids := make([]*actor.PID, 0, len(a.live))
	for pid := range a.live {
		pids = append(pids, pid)
	}
	a.mu.Unlock()
	futures := make([]*actor.Future, len(pids))
	for i, pid := range pids {
		futures[i] = system.Root.PoisonFuture(pid)
	}
	done := make(chan error, 1)
	go func() {
		var err error
		for _, f := range futures {
			err = errors.Join(err, f.Wait())
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("passivating %d grains: %w", len(pids), err)
		}
	case <-ctx.Done():
		return fmt.Errorf("passivating %d grains: %w", len(pids), ctx.Err())
	}
	return nil
}
