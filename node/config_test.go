package node

import (
	"bytes"
	"flag"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFlagsWinOverEnvironment(t *testing.T) {
	env := map[string]string{"HTTP_ADDR": ":9000", "DATA_DIR": "/env/data", "SHUTDOWN_TIMEOUT": "5s"}
	var c Config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	require.NoError(t, c.Parse(fs, []string{"--data-dir", "/flag/data"}, func(k string) string { return env[k] }))
	assert.Equal(t, ":9000", c.HTTPAddr, "from the environment")
	assert.Equal(t, "/flag/data", c.DataDir, "the flag wins")
	assert.Equal(t, 5*time.Second, c.ShutdownTimeout)
	assert.Equal(t, "emporium", c.MongoDatabase, "the default")
	require.NoError(t, c.Validate())
}

func TestBindNamesMalformedValues(t *testing.T) {
	env := map[string]string{"SWEEP_INTERVAL": "often", "CLUSTER_HEALTH_PORT": "http"}
	var c Config
	err := c.Parse(flag.NewFlagSet("serve", flag.ContinueOnError), nil, func(k string) string { return env[k] })
	require.Error(t, err)
	assert.Contains(t, err.Error(), `SWEEP_INTERVAL="often"`)
	assert.Contains(t, err.Error(), `CLUSTER_HEALTH_PORT="http"`)

	// A flag that overrides a malformed variable makes it harmless.
	var d Config
	err = d.Parse(flag.NewFlagSet("serve", flag.ContinueOnError),
		[]string{"--sweep-interval", "10s", "--cluster-health-port", "7000"}, func(k string) string { return env[k] })
	require.NoError(t, err)
	assert.Equal(t, 10*time.Second, d.SweepInterval)
}

func TestLogValueMasksSecrets(t *testing.T) {
	c := DefaultConfig()
	c.MongoURI = "mongodb://shop:s3cret-pw@db.example:27017/emporium?authSource=admin&authMechanismProperties=AWS_SESSION_TOKEN:tok-secret"
	c.RedisURL = "redis://:r3dis-pw@cache.example:6379/0?password=also-secret"
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("starting", slog.Any("settings", &c))
	out := buf.String()
	assert.NotContains(t, out, "s3cret-pw")
	assert.NotContains(t, out, "r3dis-pw")
	assert.NotContains(t, out, "also-secret")
	assert.NotContains(t, out, "tok-secret")
	assert.Contains(t, out, "db.example:27017", "the address stays visible")
	assert.Contains(t, out, "cache.example:6379")
}

// TestShutdownDrainFitsTheShutdown: the drain is part of the graceful
// shutdown, so it cannot be negative or use up SHUTDOWN_TIMEOUT.
func TestShutdownDrainFitsTheShutdown(t *testing.T) {
	c := DefaultConfig()
	assert.Zero(t, c.ShutdownDrain, "no drain by default: a lone node has no load balancer to wait for")
	refusedNamed(t, &c, "SHUTDOWN_DRAIN", &c.ShutdownDrain, -time.Second, c.ShutdownTimeout, 2*c.ShutdownTimeout)
	c.ShutdownDrain = 5 * time.Second
	require.NoError(t, c.Validate())
}

// refusedNamed asserts that c, with setting (the field the env var name
// sets) at each of bad, is refused with the env var named.
func refusedNamed(t *testing.T, c *Config, name string, setting *time.Duration, bad ...time.Duration) {
	t.Helper()
	for _, d := range bad {
		*setting = d
		err := c.Validate()
		require.Error(t, err, "%s=%s", name, d)
		assert.Contains(t, err.Error(), name)
	}
}

// TestMemberDeadAfterIsLongEnoughToBeat: members beat every sixth of it, so
// a value too short for a beat is refused, named.
func TestMemberDeadAfterIsLongEnoughToBeat(t *testing.T) {
	c := DefaultConfig()
	assert.Equal(t, time.Minute, c.DeadAfter)
	refusedNamed(t, &c, "MEMBER_DEAD_AFTER", &c.DeadAfter, 0, -time.Minute, 10*time.Millisecond)
	c.DeadAfter = 15 * time.Second
	require.NoError(t, c.Validate())
}
