// Package session is the SessionGrain: one grain per user owns all of that
// user's login sessions, each a refresh-token family with rotation and reuse
// detection (DESIGN §4, §9). The rules are a pure core (core.go: decide,
// apply and the answers); the actor shell persists the events between them.
package session

import (
	"cmp"
	"crypto/subtle"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	pb "github.com/emporium-shop/emporium/protos/sessionpb"
)

// The pure core of the SessionGrain: decide turns a command into events
// (or an error, or both) without changing anything, apply folds an event into
// the state without checking anything. The actor shell persists the events
// between the two. Nothing here does I/O, reads the clock or draws random
// numbers: the shell passes now, and it generates session ids and refresh
// tokens itself, sending only the tokens' hashes (auth.HashToken). The core
// never sees a plain token.
//
// A session is one refresh-token family (OWASP, RFC 6819 §5.2.2.3): only its
// current hash refreshes, each refresh rotates it, and presenting a hash the
// session rotated away is reuse, which revokes the session.

// Limits and policy of the core.
const (
	// DefaultTTL is a session's absolute lifetime when Open names no ttl.
	// Refreshing does not extend it.
	DefaultTTL = 30 * 24 * time.Hour
	// MaxTTL is the longest absolute lifetime Open accepts.
	MaxTTL = 90 * 24 * time.Hour
	// MaxSessions is how many live sessions one user may have; opening one
	// more revokes the least recently used first.
	MaxSessions = 50
	// RetryGrace is how long after a rotation the same refresh (same
	// token_hash, same new_token_hash) is answered from state as a retry
	// instead of being reuse. Proto.Actor retries a timed-out request within
	// about 15 s (5 s, 3 tries).
	RetryGrace = 30 * time.Second
	// MaxDevice is how many characters of the user agent are kept.
	MaxDevice = 200

	// olderHashesKept is how many rotated-away hashes a session remembers
	// for reuse detection. With 15-minute access tokens that is five hours
	// of continuous use; an older token is merely unknown.
	olderHashesKept = 20
	// revokedKept is how many revoked sessions are remembered, for an
	// idempotent Revoke and a plain "invalid" answer to their tokens.
	revokedKept = 100
	// maxIDLen bounds session ids, command ids and hashes (auth.HashToken
	// gives 64 hex characters).
	maxIDLen = 128
)

// Reasons a SessionRevoked event carries. RevokeAll carries its caller's.
const (
	ReasonLogout  = "logout"
	ReasonEvicted = "evicted"
	ReasonReuse   = "reuse_detected"
	ReasonExpired = "expired"
)

// decision is what decide returns: the events to persist and the error to
// answer with. Unlike the inventory core, a command can yield both, and the
// shell must handle them in this order:
//
//  1. persist events whenever there are any, even when err is set: a reused
//     refresh token yields SessionRevoked{reuse_detected} AND the
//     unauthenticated error, and the revocation must be durable although the
//     call fails;
//  2. then, if err is set, answer err (if persisting failed, answer that
//     failure instead: the call fails either way, and the next presentation
//     of the reused token is detected again);
//  3. otherwise answer from the state after the events (sessionInfo,
//     revokeResult, revokeAllResult, sessionList, sessionStatus).
//
// No events and no error means the command has nothing left to do: it was
// applied before (a retry) or asks for what already holds.
type decision struct {
	events []proto.Message
	err    error
}

// newState returns the state of a user who never had a session.
func newState(userID string) *pb.State {
	return &pb.State{UserId: userID, Sessions: map[string]*pb.Session{}}
}

// live reports whether sess can be used at now.
func live(sess *pb.Session, now time.Time) bool {
	return sess.ExpiresAt.AsTime().After(now)
}

// expireDue returns a SessionRevoked{expired} event for every session whose
// absolute lifetime ended at or before now, in id order so that a replay is
// identical. The shell persists them before every decision (Spec.Expire).
func expireDue(s *pb.State, now time.Time) []proto.Message {
	var due []string
	for id, sess := range s.Sessions {
		if !live(sess, now) {
			due = append(due, id)
		}
	}
	slices.Sort(due)
	events := make([]proto.Message, len(due))
	for i, id := range due {
		events[i] = &pb.SessionRevoked{SessionId: id, Reason: ReasonExpired, At: s.Sessions[id].ExpiresAt}
	}
	return events
}

// nextExpiry returns the earliest expiry of a session, and false when the
// user has none.
func nextExpiry(s *pb.State) (time.Time, bool) {
	var next time.Time
	for _, sess := range s.Sessions {
		if at := sess.ExpiresAt.AsTime(); next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next, !next.IsZero()
}

// decide checks cmd against the state at now and returns what carries it
// out; see decision for how the shell uses the answer. Sessions whose
// lifetime ran out are revoked by the shell before any decision
// (Spec.Expire: expireDue), so cmd is decided against the state after them:
// an expired session is gone, not refreshable, and takes no room. Reads
// (List, Check) never yield events of their own.
func decide(s *pb.State, cmd proto.Message, now time.Time) decision {
	var events []proto.Message
	var err error
	switch c := cmd.(type) {
	case *pb.ListRequest:
		return decision{}
	case *pb.CheckRequest:
		return decision{err: needID("session_id", c.SessionId)}
	case *pb.OpenRequest:
		events, err = decideOpen(s, c, now)
	case *pb.RefreshRequest:
		events, err = decideRefresh(s, c, now)
	case *pb.RevokeRequest:
		events, err = decideRevoke(s, c, now)
	case *pb.RevokeAllRequest:
		events, err = decideRevokeAll(s, c, now)
	default:
		err = emporium.Errorf(emporium.EINTERNAL, "session: unknown command %T", cmd)
	}
	return decision{events: events, err: err}
}

// retried tells the shell whether a command with a command id (RevokeAll)
// was applied before: its record answers the retry, and the same id with
// another reason is refused.
func retried(s *pb.State, cmd proto.Message) (bool, error) {
	c, ok := cmd.(*pb.RevokeAllRequest)
	if !ok {
		return false, nil
	}
	r := findRevokeAll(s, c.CommandId)
	if r == nil {
		return false, nil
	}
	if r.Reason != c.Reason {
		return false, emporium.Errorf(emporium.ECONFLICT,
			"command %s already revoked all sessions with reason %s, not %s", c.CommandId, r.Reason, c.Reason)
	}
	return true, nil
}

func decideOpen(s *pb.State, c *pb.OpenRequest, now time.Time) ([]proto.Message, error) {
	if err := needID("session_id", c.SessionId); err != nil {
		return nil, err
	}
	if err := needID("token_hash", c.TokenHash); err != nil {
		return nil, err
	}
	// Compare before converting: a huge ttl_ms would overflow a Duration.
	if c.TtlMs < 0 || c.TtlMs > MaxTTL.Milliseconds() {
		return nil, emporium.Invalidf("ttl_ms", emporium.FieldOutOfRange, "ttl_ms must be between 0 and %d", MaxTTL.Milliseconds())
	}
	ttl := time.Duration(c.TtlMs) * time.Millisecond
	if ttl == 0 {
		ttl = DefaultTTL
	}
	ip, err := cleanIP(c.Ip)
	if err != nil {
		return nil, err
	}
	if sess, ok := s.Sessions[c.SessionId]; ok {
		if sameHash(sess.TokenHash, c.TokenHash) {
			return nil, nil // a retry: answered from state
		}
		return nil, emporium.Errorf(emporium.ECONFLICT, "session %s is already open with another token", c.SessionId)
	}
	// Only the last revokedKept revoked ids are remembered: the shell must
	// draw every session id afresh (crypto/rand), never reuse one.
	if r := findRevoked(s, c.SessionId); r != nil {
		return nil, emporium.Errorf(emporium.ECONFLICT, "session %s was revoked (%s); a revoked session is not reopened", c.SessionId, r.Reason)
	}
	var events []proto.Message
	for _, id := range leastRecentlyUsed(s, len(s.Sessions)-MaxSessions+1) {
		events = append(events, &pb.SessionRevoked{SessionId: id, Reason: ReasonEvicted, At: timestamppb.New(now)})
	}
	return append(events, &pb.SessionOpened{
		SessionId: c.SessionId,
		TokenHash: c.TokenHash,
		Device:    cleanDevice(c.Device),
		Ip:        ip,
		CreatedAt: timestamppb.New(now),
		ExpiresAt: timestamppb.New(now.Add(ttl)),
	}), nil
}

func decideRefresh(s *pb.State, c *pb.RefreshRequest, now time.Time) ([]proto.Message, error) {
	// session_id and token_hash come from the client's token: anything wrong
	// with them is the same "invalid refresh token". new_token_hash comes
	// from the shell itself.
	if !validID(c.SessionId) || !validID(c.TokenHash) {
		return nil, invalidToken()
	}
	if err := needID("new_token_hash", c.NewTokenHash); err != nil {
		return nil, err
	}
	sess, ok := s.Sessions[c.SessionId]
	if !ok {
		// Unknown, revoked, evicted or expired: all look alike.
		return nil, invalidToken()
	}
	if sameHash(sess.TokenHash, c.TokenHash) {
		if knownHash(sess, c.NewTokenHash) != unknownHash {
			return nil, emporium.Invalidf("new_token_hash", emporium.FieldNotNew, "new_token_hash must be the hash of a new token")
		}
		return []proto.Message{&pb.SessionRefreshed{
			SessionId:    c.SessionId,
			NewTokenHash: c.NewTokenHash,
			At:           timestamppb.New(now),
		}}, nil
	}
	i := knownHash(sess, c.TokenHash)
	if i == unknownHash {
		return nil, invalidToken() // never a hash of this session
	}
	// An older hash. The one exception is the exact repeat of the latest
	// rotation, shortly after it: the caller retrying a call whose answer was
	// lost, holding the very token that rotation installed.
	previous := i == len(sess.OlderHashes)-1
	if previous && sameHash(sess.TokenHash, c.NewTokenHash) && !now.After(sess.LastUsedAt.AsTime().Add(RetryGrace)) {
		return nil, nil
	}
	return []proto.Message{&pb.SessionRevoked{
		SessionId: c.SessionId,
		Reason:    ReasonReuse,
		At:        timestamppb.New(now),
	}}, invalidToken()
}

func decideRevoke(s *pb.State, c *pb.RevokeRequest, now time.Time) ([]proto.Message, error) {
	if err := needID("session_id", c.SessionId); err != nil {
		return nil, err
	}
	if len(c.TokenHash) > maxIDLen {
		return nil, emporium.Invalidf("token_hash", emporium.FieldTooLong, "token_hash must be at most %d characters", maxIDLen)
	}
	if sess, ok := s.Sessions[c.SessionId]; ok {
		if c.TokenHash != "" && knownHash(sess, c.TokenHash) == unknownHash {
			// The token does not belong to the session: to its presenter
			// the session does not exist.
			return nil, notFound(c.SessionId)
		}
		return []proto.Message{&pb.SessionRevoked{
			SessionId: c.SessionId,
			Reason:    ReasonLogout,
			At:        timestamppb.New(now),
		}}, nil
	}
	if findRevoked(s, c.SessionId) != nil {
		return nil, nil // already ended: what was asked holds
	}
	return nil, notFound(c.SessionId)
}

// reasonPattern is what a RevokeAll reason looks like: a short code.
var reasonPattern = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)

// decideRevokeAll decides a RevokeAll the shell found new (retried).
func decideRevokeAll(s *pb.State, c *pb.RevokeAllRequest, now time.Time) ([]proto.Message, error) {
	if !reasonPattern.MatchString(c.Reason) {
		return nil, emporium.Invalidf("reason", emporium.FieldInvalid, "reason must be 1-64 characters of a-z, 0-9 and _")
	}
	return []proto.Message{&pb.AllSessionsRevoked{
		CommandId: c.CommandId,
		Reason:    c.Reason,
		At:        timestamppb.New(now),
	}}, nil
}

// apply folds one event into the state. Events are facts: apply never
// refuses one, so replaying a journal always gives the same state.
func apply(s *pb.State, ev proto.Message) {
	if s.Sessions == nil {
		s.Sessions = map[string]*pb.Session{}
	}
	switch e := ev.(type) {
	case *pb.SessionOpened:
		s.Sessions[e.SessionId] = &pb.Session{
			Id:         e.SessionId,
			TokenHash:  e.TokenHash,
			Device:     e.Device,
			Ip:         e.Ip,
			CreatedAt:  e.CreatedAt,
			LastUsedAt: e.CreatedAt,
			ExpiresAt:  e.ExpiresAt,
		}
	case *pb.SessionRefreshed:
		sess, ok := s.Sessions[e.SessionId]
		if !ok {
			return
		}
		sess.OlderHashes = actors.KeepLast(append(sess.OlderHashes, sess.TokenHash), olderHashesKept)
		sess.TokenHash = e.NewTokenHash
		sess.LastUsedAt = e.At
	case *pb.SessionRevoked:
		revoke(s, e.SessionId, e.Reason, e.At)
	case *pb.AllSessionsRevoked:
		ids := make([]string, 0, len(s.Sessions))
		for id := range s.Sessions {
			ids = append(ids, id)
		}
		slices.Sort(ids) // the order of the revoked list must replay alike
		for _, id := range ids {
			revoke(s, id, e.Reason, e.At)
		}
		s.RevokeAll = actors.KeepLast(append(s.RevokeAll, &pb.RevokeAllRecord{
			CommandId: e.CommandId, Reason: e.Reason, At: e.At, Revoked: int32(len(ids)),
		}), actors.CommandsKept)
	case *pb.Fenced:
		// Only takes its seq.
	}
}

// revoke moves a session from the live ones to the bounded list of revoked
// ones, forgetting its hashes.
func revoke(s *pb.State, id, reason string, at *timestamppb.Timestamp) {
	if _, ok := s.Sessions[id]; !ok {
		return
	}
	delete(s.Sessions, id)
	s.Revoked = actors.KeepLast(append(s.Revoked, &pb.RevokedSession{SessionId: id, Reason: reason, At: at}), revokedKept)
}

// leastRecentlyUsed returns the ids of the n sessions used least recently
// (ties: opened first, then by id), or none when n <= 0.
func leastRecentlyUsed(s *pb.State, n int) []string {
	if n <= 0 {
		return nil
	}
	all := make([]*pb.Session, 0, len(s.Sessions))
	for _, sess := range s.Sessions {
		all = append(all, sess)
	}
	slices.SortFunc(all, byRecency)
	ids := make([]string, 0, n)
	for _, sess := range all[:min(n, len(all))] {
		ids = append(ids, sess.Id)
	}
	return ids
}

// byRecency orders sessions from the least to the most recently used.
func byRecency(a, b *pb.Session) int {
	return cmp.Or(
		a.LastUsedAt.AsTime().Compare(b.LastUsedAt.AsTime()),
		a.CreatedAt.AsTime().Compare(b.CreatedAt.AsTime()),
		strings.Compare(a.Id, b.Id),
	)
}

// What knownHash answers besides the index of an older hash.
const (
	currentHash = -1
	unknownHash = -2
)

// knownHash tells where hash is among the session's hashes: currentHash,
// the index of an older one in OlderHashes, or unknownHash. Every stored hash
// is compared, each in constant time.
func knownHash(sess *pb.Session, hash string) int {
	found := unknownHash
	if sameHash(sess.TokenHash, hash) {
		found = currentHash
	}
	for i, h := range sess.OlderHashes {
		if sameHash(h, hash) {
			found = i
		}
	}
	return found
}

// sameHash compares two token hashes in time that does not depend on where
// they differ.
func sameHash(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func findRevoked(s *pb.State, id string) *pb.RevokedSession {
	for i := len(s.Revoked) - 1; i >= 0; i-- {
		if s.Revoked[i].SessionId == id {
			return s.Revoked[i]
		}
	}
	return nil
}

func findRevokeAll(s *pb.State, commandID string) *pb.RevokeAllRecord {
	for i := len(s.RevokeAll) - 1; i >= 0; i-- {
		if s.RevokeAll[i].CommandId == commandID {
			return s.RevokeAll[i]
		}
	}
	return nil
}

// Answers, rendered from the state after the command's events. They share
// nothing with the state (a local grain call hands the answer over without
// copying it). Each returns an internal error when the state does not hold
// what the command should have left there, which only a bug in the shell can
// cause.

// sessionInfo answers Open and Refresh.
func sessionInfo(s *pb.State, id string) (*pb.SessionInfo, error) {
	sess, ok := s.Sessions[id]
	if !ok {
		return nil, missing("session", id)
	}
	return info(sess, ""), nil
}

// revokeResult answers Revoke.
func revokeResult(s *pb.State, id string) (*pb.RevokeResult, error) {
	r := findRevoked(s, id)
	if r == nil {
		return nil, missing("revoked session", id)
	}
	return &pb.RevokeResult{SessionId: r.SessionId, Reason: r.Reason, RevokedAt: proto.CloneOf(r.At)}, nil
}

// revokeAllResult answers RevokeAll.
func revokeAllResult(s *pb.State, commandID string) (*pb.RevokeAllResult, error) {
	r := findRevokeAll(s, commandID)
	if r == nil {
		return nil, missing("RevokeAll command", commandID)
	}
	return &pb.RevokeAllResult{CommandId: r.CommandId, Reason: r.Reason, RevokedAt: proto.CloneOf(r.At), Revoked: r.Revoked}, nil
}

// sessionList answers List: the sessions live at now, most recently used
// first, with current marked.
func sessionList(s *pb.State, current string, now time.Time) *pb.SessionList {
	all := make([]*pb.Session, 0, len(s.Sessions))
	for _, sess := range s.Sessions {
		if live(sess, now) {
			all = append(all, sess)
		}
	}
	slices.SortFunc(all, func(a, b *pb.Session) int { return byRecency(b, a) })
	out := &pb.SessionList{Sessions: make([]*pb.SessionInfo, len(all))}
	for i, sess := range all {
		out.Sessions[i] = info(sess, current)
	}
	return out
}

// sessionStatus answers Check: whether the session is live at now.
func sessionStatus(s *pb.State, id string, now time.Time) *pb.SessionStatus {
	sess, ok := s.Sessions[id]
	return &pb.SessionStatus{Live: ok && live(sess, now)}
}

func info(sess *pb.Session, current string) *pb.SessionInfo {
	return &pb.SessionInfo{
		Id:         sess.Id,
		Device:     sess.Device,
		Ip:         sess.Ip,
		CreatedAt:  proto.CloneOf(sess.CreatedAt),
		LastUsedAt: proto.CloneOf(sess.LastUsedAt),
		ExpiresAt:  proto.CloneOf(sess.ExpiresAt),
		Current:    current != "" && sess.Id == current,
	}
}

// cleanDevice makes a user agent safe to keep and show: valid UTF-8, no
// control or format characters (which could reorder what a user reads),
// trimmed, and at most MaxDevice characters.
func cleanDevice(device string) string {
	device = strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(device, "\uFFFD"))
	device = strings.TrimSpace(device)
	if utf8.RuneCountInString(device) > MaxDevice {
		device = strings.TrimSpace(string([]rune(device)[:MaxDevice]))
	}
	return device
}

// cleanIP checks an optional client address and returns its canonical form
// (an IPv4-mapped IPv6 address as IPv4, without zone).
func cleanIP(ip string) (string, error) {
	ip = strings.TrimSpace(ip)
	if ip == "" {
		return "", nil
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil || len(ip) > 64 {
		return "", emporium.Invalidf("ip", emporium.FieldInvalid, "ip must be an IPv4 or IPv6 address")
	}
	return addr.Unmap().WithZone("").String(), nil
}

func validID(id string) bool { return id != "" && len(id) <= maxIDLen }

func needID(field, id string) error {
	if !validID(id) {
		return emporium.Invalidf(field, emporium.FieldRequired, "%s is required (1-%d characters)", field, maxIDLen)
	}
	return nil
}

// invalidToken is the one answer to a refresh token that does not refresh,
// whatever the reason: it never says which part was wrong.
func invalidToken() error {
	return emporium.Errorf(emporium.EUNAUTHENTICATED, "invalid refresh token")
}

func notFound(id string) error {
	return emporium.Errorf(emporium.ENOTFOUND, "session %s not found", id)
}

func missing(what, id string) error {
	return emporium.Errorf(emporium.EINTERNAL, "session: %s %s is not in the state after the command", what, id)
}
