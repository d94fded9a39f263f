package node

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A shutdown step that waits longer than it should is named in a warning
// with its time; one that waits by design (the readiness drain) only when
// it overruns that.
func TestCloseWarnsOfASlowStep(t *testing.T) {
	var log bytes.Buffer
	n := New(Config{}, slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelWarn})))
	pause := func(d time.Duration) func(context.Context) error {
		return func(context.Context) error { time.Sleep(d); return nil }
	}
	n.onClose("quick", pause(0))
	n.onClose("grains", pause(1100*time.Millisecond))
	n.onCloseWaiting("readiness", 2*time.Second, pause(1100*time.Millisecond))
	require.NoError(t, n.Close(t.Context()))

	assert.Contains(t, log.String(), `msg="slow shutdown step" step=grains took=1.1`)
	assert.NotContains(t, log.String(), "step=readiness", "within its drain")
	assert.NotContains(t, log.String(), "step=quick")
}
