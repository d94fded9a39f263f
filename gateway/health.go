package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
)

// health is the body of /healthz.
type health struct {
	Status string `json:"status"`
}

// healthz answers while the process can serve HTTP. It checks nothing else:
// an orchestrator restarts a process whose liveness fails, and restarting
// does not bring a database back.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	return Respond(w, http.StatusOK, health{Status: "ok"})
}

// readiness is the body of /readyz: the overall status and each check's.
type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

const (
	checkOK          = "ok"
	checkUnavailable = "unavailable"
	// statusDraining is the status of a node in an orderly stop.
	statusDraining = "draining"
)

// Drain makes /readyz fail from now on, whatever its checks say, so that a
// load balancer stops sending this node new requests while it finishes the
// ones it has: the first step of a node's orderly stop (SIGTERM). Requests
// that still arrive are served as before.
func (s *Server) Drain() { s.draining.Store(true) }

// Draining reports whether Drain was called.
func (s *Server) Draining() bool { return s.draining.Load() }

// readyz runs every check at once under one timeout and answers 200 when
// all pass, 503 otherwise. Causes are logged, not sent: they name hosts and
// drivers, and /readyz is reachable by anyone who can reach the node.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if s.Draining() {
		// The checks are not run: whatever they say, the node is leaving.
		report := readiness{Status: statusDraining, Checks: make(map[string]string, len(s.checks))}
		for _, c := range s.checks {
			report.Checks[c.Name] = statusDraining
		}
		return Respond(w, http.StatusServiceUnavailable, report)
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.checkTimeout)
	defer cancel()

	type result struct {
		name string
		err  error
	}
	// Buffered so that a check that ignores ctx and answers late does not
	// block its goroutine forever once nobody listens.
	results := make(chan result, len(s.checks))
	for _, c := range s.checks {
		go func() {
			results <- result{c.Name, runCheck(ctx, c)}
		}()
	}

	report := readiness{Status: "ready", Checks: make(map[string]string, len(s.checks))}
	for _, c := range s.checks {
		// Pessimistic until the check answers: one that never does is down.
		report.Checks[c.Name] = checkUnavailable
	}
	for pending := len(s.checks); pending > 0; pending-- {
		select {
		case res := <-results:
			if res.err != nil {
				s.log.WarnContext(r.Context(), "readiness check failed", slog.String("check", res.name), slog.String("error", res.err.Error()))
				continue
			}
			report.Checks[res.name] = checkOK
		case <-ctx.Done():
			s.log.WarnContext(r.Context(), "readiness checks timed out", slog.Duration("timeout", s.checkTimeout), slog.Int("unanswered", pending))
			pending = 0
		}
	}

	status := http.StatusOK
	for _, state := range report.Checks {
		if state != checkOK {
			report.Status = checkUnavailable
			status = http.StatusServiceUnavailable
		}
	}
	return Respond(w, status, report)
}

// runCheck runs c, turning a panic into a failure: the check runs on a
// goroutine of its own, where the recovery middleware cannot catch it.
func runCheck(ctx context.Context, c Check) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("check panicked: %v", v)
		}
	}()
	return c.Check(ctx)
}
