package actors

import (
	"context"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/stretchr/testify/assert"
)

func TestWithinTakesTheNearerDeadline(t *testing.T) {
	c := &cluster.Cluster{Config: &cluster.Config{RequestTimeoutTime: 5 * time.Second}}
	timeout := func(ctx context.Context) time.Duration {
		cfg := &cluster.GrainCallConfig{}
		Within(ctx, c)(cfg)
		return cfg.Timeout
	}
	assert.Equal(t, 5*time.Second, timeout(context.Background()), "no deadline: the cluster's request timeout")

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	got := timeout(ctx)
	assert.True(t, got > 900*time.Millisecond && got <= time.Second, "a nearer deadline bounds the call: %v", got)

	far, cancelFar := context.WithTimeout(context.Background(), time.Hour)
	defer cancelFar()
	assert.Equal(t, 5*time.Second, timeout(far), "a farther deadline does not lengthen it")

	done, cancelDone := context.WithCancel(context.Background())
	cancelDone()
	assert.Equal(t, time.Nanosecond, timeout(done), "a context that is done leaves no time")
}
