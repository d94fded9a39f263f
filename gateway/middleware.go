package gateway

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	emporium "github.com/emporium-shop/emporium"
)

// requestState is what the middleware learns about a request while it is
// served: its id, the route pattern that matched, what was written, and the
// error a handler returned. The outermost middleware puts it in the context
// and the inner ones fill it in, because values that inner layers put in a
// context of their own never travel back out.
type requestState struct {
	id      string
	pattern string
	status  int
	bytes   int64
	err     error
}

type stateKey struct{}

func stateOf(ctx context.Context) *requestState {
	st, _ := ctx.Value(stateKey{}).(*requestState)
	return st
}

// RequestID returns the id of the request ctx belongs to, or "" outside a
// request served by the gateway.
func RequestID(ctx context.Context) string {
	if st := stateOf(ctx); st != nil {
		return st.id
	}
	return ""
}

// maxRequestIDLength bounds a client's X-Request-ID: long enough for any
// tracing id, short enough not to bloat every log line.
const maxRequestIDLength = 128

// withRequestID gives the request an id: the client's X-Request-ID when it
// is sane, or a fresh random one. A client's value ends up in logs and
// responses, so anything that could forge log lines or carry a payload is
// replaced rather than trusted.
func (s *Server) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if !saneRequestID(id) {
			id = rand.Text()
			r.Header.Set("X-Request-ID", id)
		}
		w.Header().Set("X-Request-ID", id)
		ctx := context.WithValue(r.Context(), stateKey{}, &requestState{id: id})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// saneRequestID reports whether id is 1 to 128 characters of A-Z, a-z, 0-9,
// '.', '_' and '-'.
func saneRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// requestIDHandler adds the request id of the context to every record, so
// a log line written with a request's context can be traced to it.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, rec slog.Record) error {
	if id := RequestID(ctx); id != "" {
		rec.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, rec)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

// withAccessLog writes one log line per request and counts it in the
// metrics. It logs the path but never the query string, which can carry
// tokens (websocket tickets, email links). Server errors are logged at
// error level with their full cause; the client saw only a generic message.
func (s *Server) withAccessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		st := stateOf(r.Context())
		next.ServeHTTP(&responseWriter{ResponseWriter: w, st: st}, r)
		if st.status == 0 {
			// The handler wrote nothing; net/http answers 200 then.
			st.status = http.StatusOK
		}
		elapsed := time.Since(start)
		route := routeLabel(st.pattern)
		s.metrics.observe(route, r.Method, st.status, elapsed)

		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("route", route),
			slog.String("path", r.URL.Path),
			slog.Int("status", st.status),
			slog.Int64("bytes", st.bytes),
			slog.Duration("duration", elapsed),
		}
		level := slog.LevelInfo
		if st.status >= http.StatusInternalServerError {
			level = slog.LevelError
		}
		if st.err != nil {
			code := emporium.ErrorCode(st.err)
			attrs = append(attrs, slog.String("code", code))
			// Judged by the code, not the status: a handler can fail after
			// it started a 200 response.
			if problemFor(code).Status >= http.StatusInternalServerError {
				level = slog.LevelError
				attrs = append(attrs, slog.String("error", st.err.Error()))
			}
		}
		s.log.LogAttrs(r.Context(), level, "http request", attrs...)
	})
}

// responseWriter records the status and size of the response in the
// request's state. It passes Flush and Hijack through, which streaming
// responses and websocket upgrades need.
type responseWriter struct {
	http.ResponseWriter
	st *requestState
}

func (w *responseWriter) WriteHeader(status int) {
	// 1xx responses are informational and may precede the real one.
	if w.st.status == 0 && status >= 200 {
		w.st.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if w.st.status == 0 {
		w.st.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.st.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush sends what was written so far, for streamed responses.
func (w *responseWriter) Flush() {
	if w.st.status == 0 {
		w.st.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack hands the connection to the caller, as a websocket upgrade needs.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && w.st.status == 0 {
		w.st.status = http.StatusSwitchingProtocols
	}
	return conn, rw, err
}

// withRecovery turns a panic into a 500 problem. The panic value and stack
// go to the log, never to the client. http.ErrAbortHandler is let through:
// it is how a handler asks net/http to drop the connection.
func (s *Server) withRecovery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.ErrorContext(r.Context(), "panic serving request",
				slog.String("panic", fmt.Sprint(v)),
				slog.String("stack", string(debug.Stack())))
			err := &emporium.Error{Code: emporium.EINTERNAL, Op: "gateway: panic", Err: fmt.Errorf("%v", v)}
			if st := stateOf(r.Context()); st != nil && st.status != 0 {
				// Part of the response is out; the best left is to log it.
				st.err = err
				return
			}
			Error(w, r, err)
		}()
		next.ServeHTTP(w, r)
	})
}

// withSecurityHeaders sets the headers every response carries. The API
// serves JSON, never pages, so the content security policy allows nothing
// and no page may frame a response. Responses to authenticated requests are
// personal, so no cache may keep them.
func withSecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if r.Header.Get("Authorization") != "" {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// withBodyLimit caps the request body. A body declared larger than the
// limit is refused at once; one that turns out larger while it is read
// fails the read with *http.MaxBytesError, which Decode turns into the same
// 413 problem.
func (s *Server) withBodyLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.maxBodyBytes {
			Error(w, r, tooLarge(s.maxBodyBytes))
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, s.maxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

func tooLarge(limit int64) error {
	return emporium.Errorf(emporium.ETOOLARGE, "The request body is larger than the limit of %d bytes.", limit)
}
