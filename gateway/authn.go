package gateway

import (
	"context"
	"net/http"
	"strings"
	"unicode/utf8"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/ratelimit"
)

type principalKey struct{}

// PrincipalFrom returns the authenticated caller of the request ctx belongs
// to, and false when the request was not authenticated (the route does not
// require it, or it is not a request served by the gateway).
func PrincipalFrom(ctx context.Context) (emporium.Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(emporium.Principal)
	return p, ok
}

// WithPrincipal returns a copy of ctx that carries p, as the authentication
// of the gateway does. Tests of handlers use it to stand in for a token.
func WithPrincipal(ctx context.Context, p emporium.Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// AuthedHandlerFunc is a handler of a route that requires a signed-in
// caller. It receives the principal of the access token: handlers act for
// that principal only and never take a user id from the path or the body,
// so one user cannot reach another's objects by naming them.
type AuthedHandlerFunc func(w http.ResponseWriter, r *http.Request, p emporium.Principal) error

var (
	errNoToken = emporium.Errorf(emporium.EUNAUTHENTICATED,
		"This resource needs an access token: send it as Authorization: Bearer <token>.")
	errBadAuthorization = emporium.Errorf(emporium.EUNAUTHENTICATED,
		"The Authorization header must be one Bearer access token: Authorization: Bearer <token>.")
	errBadToken = emporium.Errorf(emporium.EUNAUTHENTICATED,
		"The access token is not valid or has expired.")
)

// Authenticated returns h as a route that requires a valid bearer access
// token. The token is verified by Config.Accounts; the principal it names
// goes to h and into the request's context (PrincipalFrom). A missing,
// malformed, invalid or expired token is a 401 unauthenticated problem with
// WWW-Authenticate: Bearer. When the account service cannot verify tokens
// at all (unavailable, internal), that is what the client is told instead,
// so an outage does not look like a logout.
//
// It panics when the gateway has no account service: mounting a route that
// needs one without it is a wiring bug.
func (s *Server) Authenticated(h AuthedHandlerFunc) HandlerFunc {
	if s.accounts == nil {
		panic("gateway: Authenticated needs Config.Accounts")
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		token, err := bearerToken(r)
		if err != nil {
			return err
		}
		p, err := s.accounts.Authenticate(r.Context(), token)
		if err != nil {
			switch emporium.ErrorCode(err) {
			case emporium.EUNAVAILABLE, emporium.EINTERNAL:
				return emporium.Wrap("gateway.Authenticated", err)
			case emporium.EUNAUTHENTICATED:
				// The service's message says what is wrong (expired, say).
				return emporium.Wrap("gateway.Authenticated", err)
			default:
				return &emporium.Error{Code: emporium.EUNAUTHENTICATED, Message: errBadToken.Message, Op: "gateway.Authenticated", Err: err}
			}
		}
		if p.UserID == "" {
			return &emporium.Error{Code: emporium.EUNAUTHENTICATED, Message: errBadToken.Message, Op: "gateway.Authenticated: token names no user"}
		}
		r = r.WithContext(WithPrincipal(r.Context(), p))
		return h(w, r, p)
	}
}

// maxTokenLength bounds the bearer token read from a request. An EdDSA
// access token with a few roles is a few hundred bytes.
const maxTokenLength = 4096

// bearerToken returns the token of the request's Authorization header,
// "Bearer <token>" (the scheme is case-insensitive, RFC 9110 §11.1).
func bearerToken(r *http.Request) (string, error) {
	values := r.Header.Values("Authorization")
	if len(values) == 0 || len(values) == 1 && strings.TrimSpace(values[0]) == "" {
		return "", errNoToken
	}
	if len(values) > 1 {
		return "", errBadAuthorization
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(values[0]), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || len(token) > maxTokenLength || strings.ContainsAny(token, " \t") {
		return "", errBadAuthorization
	}
	return token, nil
}

// maxUserAgentLength bounds the User-Agent kept with a session: enough for
// any real browser's, not enough to bloat the session list.
const maxUserAgentLength = 512

// clientOf describes the device a request came from, for the account
// service: its address behind the trusted proxies and its User-Agent.
func (s *Server) clientOf(r *http.Request) emporium.Client {
	ua := strings.ToValidUTF8(r.UserAgent(), "")
	if len(ua) > maxUserAgentLength {
		ua = ua[:maxUserAgentLength]
		for !utf8.ValidString(ua) {
			ua = ua[:len(ua)-1]
		}
	}
	return emporium.Client{IP: s.clientIP(r), UserAgent: ua}
}

// clientIP is the address of the client that sent r.
func (s *Server) clientIP(r *http.Request) string {
	return ratelimit.ClientIP(r, s.trustedProxies)
}
