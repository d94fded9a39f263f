package actorstest

import (
	"testing"
	"time"
)

// WaitFor polls cond until it holds, and fails the test when timeout passes
// first, saying what it waited for. Tests wait on conditions, never on sleeps.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
