package actors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/remote"
)

// requestContext is the cluster context through which every typed grain
// client of a member sends its requests. It does what Proto.Actor's default
// context does (find the grain's PID, send, retry after a timeout or a dead
// letter), with two fixes:
//
//   - Retries wait 50 ms, then 200 ms, so that the identity lookup can
//     learn that an activation stopped. Proto.Actor's default waits 50 and
//     200 nanoseconds (time.Duration(i*i*50)), so a request that arrives
//     while its grain passivates spends its three tries on the stopped
//     activation within microseconds and fails.
//   - Each call gets its own configuration. The default context applies a
//     call's options to one configuration shared by every call of the
//     process, so one caller's timeout became everyone's (and raced).
type requestContext struct {
	cluster *cluster.Cluster
}

// retryBackoff is the RetryAction of every request: it counts the attempt
// and waits before the next one.
func retryBackoff(attempt int) int {
	attempt++
	time.Sleep(time.Duration(attempt*attempt) * 50 * time.Millisecond)
	return attempt
}

// newRequestContext is the member's cluster.ContextProducer.
func newRequestContext(c *cluster.Cluster) cluster.Context {
	return &requestContext{cluster: c}
}

// config returns a fresh call configuration with opts applied.
func (rc *requestContext) config(opts []cluster.GrainCallOption) *cluster.GrainCallConfig {
	cfg := &cluster.GrainCallConfig{
		RetryCount:  3,
		Context:     rc.cluster.ActorSystem.Root,
		Timeout:     rc.cluster.Config.RequestTimeoutTime,
		RetryAction: retryBackoff,
	}
	for _, o := range opts {
		o(cfg)
	}
	return cfg
}

// Request sends message to the grain and waits for its answer, retrying
// after a timeout or a dead letter until the tries or the call's timeout
// run out.
func (rc *requestContext) Request(identity, kind string, message any, opts ...cluster.GrainCallOption) (any, error) {
	cfg := rc.config(opts)
	deadline := time.Now().Add(cfg.Timeout)
	for attempt := 0; attempt < cfg.RetryCount; {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("request failed: %w", errTimeout)
		}
		pid := rc.pid(identity, kind)
		if pid == nil {
			attempt = cfg.RetryAction(attempt)
			continue
		}
		resp, err := cfg.Context.RequestFuture(pid, message, left).Result()
		if resp != nil {
			return resp, nil
		}
		switch {
		case errors.Is(err, actor.ErrTimeout), errors.Is(err, remote.ErrTimeout),
			errors.Is(err, actor.ErrDeadLetter), errors.Is(err, remote.ErrDeadLetter):
			rc.cluster.PidCache.Remove(identity, kind)
			attempt = cfg.RetryAction(attempt)
		default:
			return nil, err
		}
	}
	return nil, fmt.Errorf("have reached max retries: %v", cfg.RetryCount)
}

// errTimeout is the cause of a request whose timeout ran out between tries.
var errTimeout = errors.New("the grain did not answer in time")

// RequestFuture sends message to the grain and returns the future of its
// answer, without retries once sent.
func (rc *requestContext) RequestFuture(identity, kind string, message any, opts ...cluster.GrainCallOption) (*actor.Future, error) {
	cfg := rc.config(opts)
	for attempt := 0; attempt < cfg.RetryCount; {
		if pid := rc.pid(identity, kind); pid != nil {
			return cfg.Context.RequestFuture(pid, message, cfg.Timeout), nil
		}
		attempt = cfg.RetryAction(attempt)
	}
	return nil, fmt.Errorf("have reached max retries: %v", cfg.RetryCount)
}

// pid returns the grain's PID from the cache, or asks the identity lookup.
func (rc *requestContext) pid(identity, kind string) *actor.PID {
	if pid, ok := rc.cluster.PidCache.Get(identity, kind); ok && pid != nil {
		return pid
	}
	pid := rc.cluster.Get(identity, kind)
	if pid != nil {
		rc.cluster.PidCache.Set(identity, kind, pid)
	}
	return pid
}

// Within returns the call option that bounds a grain call made for ctx (an
// HTTP request, a background mail): the call, retries included, waits until
// ctx's deadline or the cluster's request timeout, whichever comes first, so
// no grain call outlives the request it serves. A ctx that is already done
// leaves the call a nanosecond, so it fails at once rather than reaching the
// grain after its caller has gone.
func Within(ctx context.Context, c *cluster.Cluster) cluster.GrainCallOption {
	t := c.Config.RequestTimeoutTime
	if d, ok := ctx.Deadline(); ok {
		t = min(t, time.Until(d))
	}
	if ctx.Err() != nil || t <= 0 {
		t = time.Nanosecond
	}
	return cluster.WithTimeout(t)
}
