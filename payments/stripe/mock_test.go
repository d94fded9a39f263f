package stripe_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// stripe-mock, pinned as a go tool in go.mod, serves Stripe's API from its
// OpenAPI spec: it validates every request and answers canned objects. The
// package's tests share one, started by TestMain.
var (
	// mockURL is the base URL of the running stripe-mock.
	mockURL string
	// mockSkip says why stripe-mock could not be built; tests that need
	// it skip with it.
	mockSkip string
	// mockErr says why a built stripe-mock did not start; tests that need
	// it fail with it.
	mockErr error
)

// Bounds of starting stripe-mock.
const (
	mockBuildTimeout = 5 * time.Minute
	mockStartTimeout = 30 * time.Second
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "stripe-mock-")
	if err != nil {
		mockErr = err
		return m.Run()
	}
	defer func() { _ = os.RemoveAll(dir) }()
	bin := filepath.Join(dir, "stripe-mock")
	if err := buildMock(bin); err != nil {
		mockSkip = "stripe-mock cannot be built here (go build github.com/stripe/stripe-mock): " + err.Error()
		return m.Run()
	}
	url, stop, err := startMock(bin)
	if err != nil {
		mockErr = err
		return m.Run()
	}
	defer stop()
	mockURL = url
	return m.Run()
}

// buildMock builds the stripe-mock of go.mod's tool directive into bin.
func buildMock(bin string) error {
	ctx, cancel := context.WithTimeout(context.Background(), mockBuildTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, goCommand(), "build", "-o", bin, "github.com/stripe/stripe-mock").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// goCommand is the go command running the tests, or the one on PATH.
func goCommand() string {
	if goroot := os.Getenv("GOROOT"); goroot != "" {
		if p := filepath.Join(goroot, "bin", "go"); fileExists(p) {
			return p
		}
	}
	return "go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// startMock starts stripe-mock on ports the system picks, HTTP and HTTPS
// alike (its HTTPS default is a fixed port, which parallel test binaries
// would fight over), and waits until it says where it listens.
func startMock(bin string) (url string, stop func(), err error) {
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:", "-https-addr", "127.0.0.1:")
	orphanProof(cmd)
	r, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = w.Close()
	}
	found := make(chan string, 1)
	go func() {
		const prefix = "Listening for HTTP at address: "
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), prefix); ok {
				found <- "http://" + strings.TrimSpace(addr)
			}
		}
		// stripe-mock ended; its output ends with it.
		close(found)
	}()
	select {
	case url, ok := <-found:
		if !ok {
			stop()
			return "", nil, errors.New("stripe-mock exited before it listened")
		}
		return url, stop, nil
	case <-time.After(mockStartTimeout):
		stop()
		return "", nil, fmt.Errorf("stripe-mock did not listen within %v", mockStartTimeout)
	}
}

// needMock skips the test when stripe-mock cannot be built, and fails it
// when it was built but did not start.
func needMock(t *testing.T) string {
	t.Helper()
	if mockSkip != "" {
		t.Skip(mockSkip)
	}
	if mockErr != nil {
		t.Fatalf("stripe-mock: %v", mockErr)
	}
	return mockURL
}
