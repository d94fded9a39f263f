package main

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func noenv(string) string { return "" }

func TestServeHelpListsEverySetting(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), []string{"serve", "--help"}, noenv, strings.NewReader(""), &stdout, &stderr)
	require.NoError(t, err)
	for _, name := range []string{"HTTP_ADDR", "-http-addr", "DATA_DIR", "MONGODB_URI", "REDIS_URL",
		"CLUSTER_PROVIDER", "CLUSTER_ADDR", "CLUSTER_PEERS", "LOG_LEVEL", "SHUTDOWN_TIMEOUT", "ELASTICSEARCH_URL", "SEED_PRODUCTS", "-seed", "METRICS_ADDR", "-metrics-addr", "DEMO_PASSWORD"} {
		assert.Contains(t, stderr.String(), name)
	}
}

func TestUsageErrors(t *testing.T) {
	var stdout, stderr bytes.Buffer
	assert.ErrorIs(t, run(t.Context(), nil, noenv, strings.NewReader(""), &stdout, &stderr), errUsage)
	assert.Contains(t, stderr.String(), "Commands:")

	stderr.Reset()
	assert.ErrorIs(t, run(t.Context(), []string{"serv"}, noenv, strings.NewReader(""), &stdout, &stderr), errUsage)
	assert.Contains(t, stderr.String(), `unknown command "serv"`)

	stderr.Reset()
	assert.ErrorIs(t, run(t.Context(), []string{"serve", "--no-such-flag"}, noenv, strings.NewReader(""), &stdout, &stderr), errUsage)
	assert.Contains(t, stderr.String(), "no-such-flag")
}

func TestBadSettingsAreNamed(t *testing.T) {
	env := map[string]string{"SHUTDOWN_TIMEOUT": "soon", "LOG_FORMAT": "xml"}
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), []string{"serve"}, func(k string) string { return env[k] }, strings.NewReader(""), &stdout, &stderr)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `SHUTDOWN_TIMEOUT="soon"`)

	delete(env, "SHUTDOWN_TIMEOUT")
	err = run(t.Context(), []string{"serve"}, func(k string) string { return env[k] }, strings.NewReader(""), &stdout, &stderr)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `LOG_FORMAT="xml"`)
}

// TestServeProcess runs the real binary the way an operator does: embedded
// stores, ready within 20 s, and a clean exit 0 on SIGTERM within 15 s.
func TestServeProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "emporium")
	build := exec.Command("go", "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))

	addr := freeAddr(t)
	cmd := exec.Command(bin, "serve", "--http-addr", addr)
	cmd.Env = append(os.Environ(), "DATA_DIR="+t.TempDir(), "MONGODB_URI=", "METRICS_ADDR=127.0.0.1:0", "LOG_FORMAT=json")
	if os.Getenv("MONGODB_URI") != "" {
		cmd.Env = append(cmd.Env, "MONGODB_URI="+os.Getenv("MONGODB_URI"))
	}
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	}()

	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("emporium exited before it was ready: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready within 20s\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		require.NoError(t, err, "exit status\n%s", logs.String())
	case <-time.After(15 * time.Second):
		t.Fatalf("no exit within 15s of SIGTERM\n%s", logs.String())
	}
	assert.Contains(t, logs.String(), `"msg":"stopped"`)
	assert.False(t, strings.Contains(logs.String(), `"level":"ERROR"`), "errors logged:\n%s", logs.String())
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

func TestAdminCreateUser(t *testing.T) {
	env := map[string]string{"DATA_DIR": t.TempDir(), "LOG_LEVEL": "warn"}
	getenv := func(k string) string { return env[k] }
	var stdout, stderr bytes.Buffer
	args := []string{"admin", "create-user", "--username", "root_admin", "--email", "root@example.com", "--role", "admin"}
	err := run(t.Context(), args, getenv, strings.NewReader("a long admin passphrase\n"), &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	assert.Contains(t, stdout.String(), "root@example.com")
	assert.Contains(t, stdout.String(), "admin")

	stdout.Reset()
	err = run(t.Context(), args, getenv, strings.NewReader("a long admin passphrase\n"), &stdout, &stderr)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "username", "the operator learns what is taken")

	err = run(t.Context(), args[:4], getenv, strings.NewReader("x\n"), &stdout, &stderr)
	assert.ErrorIs(t, err, errUsage, "--email is required")
	err = run(t.Context(), []string{"admin", "create-user", "--username", "u_2", "--email", "u2@example.com"}, getenv, strings.NewReader(""), &stdout, &stderr)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "standard input")
}

// TestSeedThenReindex loads a small demo catalogue and rebuilds the search
// index from the store, as an operator does, checking what each reports.
func TestSeedThenReindex(t *testing.T) {
	dir := t.TempDir()
	env := func(k string) string {
		switch k {
		case "DATA_DIR":
			return dir
		case "REDIS_URL":
			return os.Getenv("REDIS_URL")
		}
		return ""
	}
	var stdout, stderr bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"seed", "--products", "12"}, env, strings.NewReader(""), &stdout, &stderr), stderr.String())
	assert.Contains(t, stdout.String(), "seeded 12 demo products")
	passwordFile := filepath.Join(dir, "demo-vendor-password")
	assert.Contains(t, stdout.String(), "password in "+passwordFile, "the output names the demo password's file")
	password, err := os.ReadFile(passwordFile)
	require.NoError(t, err)
	assert.NotContains(t, stdout.String()+stderr.String(), strings.TrimSpace(string(password)), "and never shows the password")
	assert.Contains(t, stderr.String(), "100%", "the progress bar reaches the end")

	stdout.Reset()
	stderr.Reset()
	require.NoError(t, run(t.Context(), []string{"reindex"}, env, strings.NewReader(""), &stdout, &stderr), stderr.String())
	assert.Contains(t, stdout.String(), "reindexed 12 products")
	assert.DirExists(t, filepath.Join(dir, "search"))
	assert.NoDirExists(t, filepath.Join(dir, "search.rebuild"))

	stderr.Reset()
	assert.ErrorIs(t, run(t.Context(), []string{"seed", "--products", "0"}, env, strings.NewReader(""), &stdout, &stderr), errUsage)
	assert.Contains(t, stderr.String(), "--products must be between")
}
