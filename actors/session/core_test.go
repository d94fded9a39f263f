package session

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/actorstest"
	pb "github.com/emporium-shop/emporium/protos/sessionpb"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

const badToken = "invalid refresh token"

// given builds a state by applying events, the way a replay does.
func given(events ...proto.Message) *pb.State { return actorstest.Given(&Spec, "user-1", events...) }

// decideAsShell decides cmd as the shell does: what expired first, then
// the command id, then decide.
func decideAsShell(s *pb.State, cmd proto.Message, now time.Time) decision {
	events, err := actorstest.Decide(&Spec, s, cmd, now, func(s *pb.State) ([]proto.Message, error) {
		d := decide(s, cmd, now)
		return d.events, d.err
	})
	return decision{events: events, err: err}
}

func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// opened is a session opened at `at` with the default lifetime.
func opened(id, hash string, at time.Time) *pb.SessionOpened {
	return openedFor(id, hash, at, DefaultTTL)
}

func openedFor(id, hash string, at time.Time, ttl time.Duration) *pb.SessionOpened {
	return &pb.SessionOpened{SessionId: id, TokenHash: hash, Device: "Firefox", CreatedAt: ts(at), ExpiresAt: ts(at.Add(ttl))}
}

func refreshed(id, hash string, at time.Time) *pb.SessionRefreshed {
	return &pb.SessionRefreshed{SessionId: id, NewTokenHash: hash, At: ts(at)}
}

func revoked(id, reason string, at time.Time) *pb.SessionRevoked {
	return &pb.SessionRevoked{SessionId: id, Reason: reason, At: ts(at)}
}

func events(evs ...proto.Message) []proto.Message { return evs }

func TestDecide(t *testing.T) {
	open1 := events(opened("s1", "h1", t0.Add(-time.Hour)))
	rotated := append(open1, refreshed("s1", "h2", t0.Add(-10*time.Second)))
	rotatedTwice := append(rotated, refreshed("s1", "h3", t0.Add(-5*time.Second)))
	short := events(openedFor("s1", "h1", t0.Add(-time.Hour), time.Hour)) // expires at t0
	logout := append(open1, revoked("s1", ReasonLogout, t0.Add(-time.Minute)))
	allOut := append(open1, &pb.AllSessionsRevoked{CommandId: "c1", Reason: "password_reset", At: ts(t0.Add(-time.Minute))})
	expiredEv := revoked("s1", ReasonExpired, t0)
	tests := []struct {
		name    string
		given   []proto.Message
		cmd     proto.Message
		want    []proto.Message
		errCode string
		errMsg  string // the message the caller sees
		field   string // the field error, when set
	}{
		// Open
		{name: "open", cmd: &pb.OpenRequest{SessionId: "s1", TokenHash: "h1", Device: "  Firefox 140 \n", Ip: "203.0.113.9"},
			want: events(&pb.SessionOpened{SessionId: "s1", TokenHash: "h1", Device: "Firefox 140", Ip: "203.0.113.9",
				CreatedAt: ts(t0), ExpiresAt: ts(t0.Add(DefaultTTL))})},
		{name: "open with ttl and mapped ip", cmd: &pb.OpenRequest{SessionId: "s1", TokenHash: "h1", Ip: "::ffff:10.0.0.1", TtlMs: 3_600_000},
			want: events(&pb.SessionOpened{SessionId: "s1", TokenHash: "h1", Ip: "10.0.0.1", CreatedAt: ts(t0), ExpiresAt: ts(t0.Add(time.Hour))})},
		{name: "open longest ttl", cmd: &pb.OpenRequest{SessionId: "s1", TokenHash: "h1", TtlMs: MaxTTL.Milliseconds()},
			want: events(&pb.SessionOpened{SessionId: "s1", TokenHash: "h1", CreatedAt: ts(t0), ExpiresAt: ts(t0.Add(MaxTTL))})},
		{name: "open retried", given: open1, cmd: &pb.OpenRequest{SessionId: "s1", TokenHash: "h1"}},
		{name: "open same id other hash", given: open1, cmd: &pb.OpenRequest{SessionId: "s1", TokenHash: "h9"},
			errCode: emporium.ECONFLICT, errMsg: "session s1 is already open with another token"},
		{name: "open revoked id", given: logout, cmd: &pb.OpenRequest{SessionId: "s1", TokenHash: "h1"},
			errCode: emporium.ECONFLICT, errMsg: "session s1 was revoked (logout); a revoked session is not reopened"},
		{name: "open expired id", given: short, cmd: &pb.OpenRequest{SessionId: "s1", TokenHash: "h1"}, want: events(expiredEv),
			errCode: emporium.ECONFLICT, errMsg: "session s1 was revoked (expired); a revoked session is not reopened"},
		{name: "open prunes expired first", given: short, cmd: &pb.OpenRequest{SessionId: "s2", TokenHash: "h2"},
			want: events(expiredEv, &pb.SessionOpened{SessionId: "s2", TokenHash: "h2", CreatedAt: ts(t0), ExpiresAt: ts(t0.Add(DefaultTTL))})},
		{name: "open without id", cmd: &pb.OpenRequest{TokenHash: "h1"},
			errCode: emporium.EINVALID, errMsg: "session_id is required (1-128 characters)", field: "session_id"},
		{name: "open id too long", cmd: &pb.OpenRequest{SessionId: strings.Repeat("x", 129), TokenHash: "h1"},
			errCode: emporium.EINVALID, errMsg: "session_id is required (1-128 characters)", field: "session_id"},
		{name: "open without hash", cmd: &pb.OpenRequest{SessionId: "s1"},
			errCode: emporium.EINVALID, errMsg: "token_hash is required (1-128 characters)", field: "token_hash"},
		{name: "open negative ttl", cmd: &pb.OpenRequest{SessionId: "s1", TokenHash: "h1", TtlMs: -1},
			errCode: emporium.EINVALID, errMsg: "ttl_ms must be between 0 and 7776000000", field: "ttl_ms"},
		{name: "open ttl too long", cmd: &pb.OpenRequest{SessionId: "s1", TokenHash: "h1", TtlMs: MaxTTL.Milliseconds() + 1},
			errCode: emporium.EINVALID, errMsg: "ttl_ms must be between 0 and 7776000000", field: "ttl_ms"},
		{name: "open ttl that would overflow", cmd: &pb.OpenRequest{SessionId: "s1", TokenHash: "h1", TtlMs: 9_223_372_036_855},
			errCode: emporium.EINVALID, errMsg: "ttl_ms must be between 0 and 7776000000", field: "ttl_ms"},
		{name: "open bad ip", cmd: &pb.OpenRequest{SessionId: "s1", TokenHash: "h1", Ip: "example.com"},
			errCode: emporium.EINVALID, errMsg: "ip must be an IPv4 or IPv6 address", field: "ip"},

		// Refresh
		{name: "refresh", given: open1, cmd: &pb.RefreshRequest{SessionId: "s1", TokenHash: "h1", NewTokenHash: "h2"},
			want: events(refreshed("s1", "h2", t0))},
		{name: "refresh rotated", given: rotatedTwice, cmd: &pb.RefreshRequest{SessionId: "s1", TokenHash: "h3", NewTokenHash: "h4"},
			want: events(refreshed("s1", "h4", t0))},
		{name: "refresh unknown session", given: open1, cmd: &pb.RefreshRequest{SessionId: "s9", TokenHash: "h1", NewTokenHash: "h2"},
			errCode: emporium.EUNAUTHENTICATED, errMsg: badToken},
		{name: "refresh unknown hash", given: open1, cmd: &pb.RefreshRequest{SessionId: "s1", TokenHash: "h9", NewTokenHash: "h2"},
			errCode: emporium.EUNAUTHENTICATED, errMsg: badToken},
		{name: "refresh hash of another session", given: append(open1, opened("s2", "x1", t0)),
			cmd: &pb.RefreshRequest{SessionId: "s1", TokenHash: "x1", NewTokenHash: "h2"}, errCode: emporium.EUNAUTHENTICATED, errMsg: badToken},
		{name: "refresh without session id", given: open1, cmd: &pb.RefreshRequest{TokenHash: "h1", NewTokenHash: "h2"},
			errCode: emporium.EUNAUTHENTICATED, errMsg: badToken},
		{name: "refresh without token hash", given: open1, cmd: &pb.RefreshRequest{SessionId: "s1", NewTokenHash: "h2"},
			errCode: emporium.EUNAUTHENTICATED, errMsg: badToken},
		{name: "refresh token hash too long", given: open1, cmd: &pb.RefreshRequest{SessionId: "s1", TokenHash: strings.Repeat("h", 129), NewTokenHash: "h2"},
			errCode: emporium.EUNAUTHENTICATED, errMsg: badToken},
		{name: "refresh without new hash", given: open1, cmd: &pb.RefreshRequest{SessionId: "s1", TokenHash: "h1"},
			errCode: emporium.EINVALID, errMsg: "new_token_hash is required (1-128 characters)", field: "new_token_hash"},
		{name: "refresh to the same hash", given: open1, cmd: &pb.RefreshRequest{SessionId: "s1", TokenHash: "h1", NewTokenHash: "h1"},
			errCode: emporium.EINVALID, errMsg: "new_token_hash must be the hash of a new token", field: "new_token_hash"},
		{name: "refresh to an older hash", given: rotated, cmd: &pb.RefreshRequest{SessionId: "s1", TokenHash: "h2", NewTokenHash: "h1"},
			errCode: emporium.EINVALID, errMsg: "new_token_hash must be the hash of a new token", field: "new_token_hash"},
		{name: "refresh expired", given: short, cmd: &pb.RefreshRequest{SessionId: "s1", TokenHash: "h1", NewTokenHash: "h2"},
			want: events(expiredEv), errCode: emporium.EUNAUTHENTICATED, errMsg: badToken},
		{name: "refresh logged out", given: logout, cmd: &pb.RefreshRequest{SessionId: "s1", TokenHash: "h1", NewTokenHash: "h2"},
			errCode: emporium.EUNAUTHENTICATED, errMsg: badToken},
		{name: "refresh after revoke all", given: allOut, cmd: &pb.RefreshRequest{SessionId: "s1", TokenHash: "h1", NewTokenHash: "h2"},
			errCode: emporium.EUNAUTHENTICATED, errMsg: badToken},
		{name: "refresh retried within grace", given: rotated, cmd: &pb.RefreshRequest{SessionId: "s1", TokenHash: "h1", NewTokenHash: "h2"}},
		{name: "refresh retried after grace", given: append(open1, refreshed("s1", "h2", t0.Add(-RetryGrace-time.Millisecond))),
			cmd:  &pb.RefreshRequest{SessionId: "s1", TokenHash: "h1", NewTokenHash: "h2"},
			want: events(revoked("s1", ReasonReuse, t0)), errCode: emporium.EUNAUTHENTICATED, errMsg: badToken},
		{name: "refresh previous token with another new hash", given: rotated, cmd: &pb.RefreshRequest{SessionId: "s1", TokenHash: "h1", NewTokenHash: "h7"},
			want: events(revoked("s1", ReasonReuse, t0)), errCode: emporium.EUNAUTHENTICATED, errMsg: badToken},
		{name: "refresh older token replaying its rotation", given: rotatedTwice, cmd: &pb.RefreshRequest{SessionId: "s1", TokenHash: "h1", NewTokenHash: "h2"},
			want: events(revoked("s1", ReasonReuse, t0)), errCode: emporium.EUNAUTHENTICATED, errMsg: badToken},

		// Revoke
		{name: "revoke", given: open1, cmd: &pb.RevokeRequest{SessionId: "s1"}, want: events(revoked("s1", ReasonLogout, t0))},
		{name: "revoke with its token", given: rotated, cmd: &pb.RevokeRequest{SessionId: "s1", TokenHash: "h2"}, want: events(revoked("s1", ReasonLogout, t0))},
		{name: "revoke with an older token", given: rotated, cmd: &pb.RevokeRequest{SessionId: "s1", TokenHash: "h1"}, want: events(revoked("s1", ReasonLogout, t0))},
		{name: "revoke with a foreign token", given: rotated, cmd: &pb.RevokeRequest{SessionId: "s1", TokenHash: "h9"},
			errCode: emporium.ENOTFOUND, errMsg: "session s1 not found"},
		{name: "revoke retried", given: logout, cmd: &pb.RevokeRequest{SessionId: "s1"}},
		{name: "revoke retried with a token", given: logout, cmd: &pb.RevokeRequest{SessionId: "s1", TokenHash: "h1"}},
		{name: "revoke after revoke all", given: allOut, cmd: &pb.RevokeRequest{SessionId: "s1"}},
		{name: "revoke expired", given: short, cmd: &pb.RevokeRequest{SessionId: "s1"}, want: events(expiredEv)},
		{name: "revoke unknown", given: open1, cmd: &pb.RevokeRequest{SessionId: "s9"},
			errCode: emporium.ENOTFOUND, errMsg: "session s9 not found"},
		{name: "revoke without id", given: open1, cmd: &pb.RevokeRequest{},
			errCode: emporium.EINVALID, errMsg: "session_id is required (1-128 characters)", field: "session_id"},
		{name: "revoke token hash too long", given: open1, cmd: &pb.RevokeRequest{SessionId: "s1", TokenHash: strings.Repeat("h", 129)},
			errCode: emporium.EINVALID, errMsg: "token_hash must be at most 128 characters", field: "token_hash"},

		// RevokeAll
		{name: "revoke all", given: open1, cmd: &pb.RevokeAllRequest{CommandId: "c1", Reason: "password_reset"},
			want: events(&pb.AllSessionsRevoked{CommandId: "c1", Reason: "password_reset", At: ts(t0)})},
		{name: "revoke all without sessions", cmd: &pb.RevokeAllRequest{CommandId: "c1", Reason: "logout_all"},
			want: events(&pb.AllSessionsRevoked{CommandId: "c1", Reason: "logout_all", At: ts(t0)})},
		{name: "revoke all retried", given: allOut, cmd: &pb.RevokeAllRequest{CommandId: "c1", Reason: "password_reset"}},
		{name: "revoke all retried with another reason", given: allOut, cmd: &pb.RevokeAllRequest{CommandId: "c1", Reason: "logout_all"},
			errCode: emporium.ECONFLICT, errMsg: "command c1 already revoked all sessions with reason password_reset, not logout_all"},
		{name: "revoke all without command id", given: open1, cmd: &pb.RevokeAllRequest{Reason: "logout_all"},
			errCode: emporium.EINVALID, errMsg: "command_id is required (1-128 characters) so a retry is not applied twice", field: "command_id"},
		{name: "revoke all without reason", given: open1, cmd: &pb.RevokeAllRequest{CommandId: "c1"},
			errCode: emporium.EINVALID, errMsg: "reason must be 1-64 characters of a-z, 0-9 and _", field: "reason"},
		{name: "revoke all with a sentence as reason", given: open1, cmd: &pb.RevokeAllRequest{CommandId: "c1", Reason: "Password Reset"},
			errCode: emporium.EINVALID, errMsg: "reason must be 1-64 characters of a-z, 0-9 and _", field: "reason"},

		// Reads write nothing of their own; what expired is revoked before
		// them, as before every decision.
		{name: "list", given: short, cmd: &pb.ListRequest{CurrentSessionId: "s1"}, want: events(expiredEv)},
		{name: "check", given: short, cmd: &pb.CheckRequest{SessionId: "s1"}, want: events(expiredEv)},
		{name: "check without id", cmd: &pb.CheckRequest{},
			errCode: emporium.EINVALID, errMsg: "session_id is required (1-128 characters)", field: "session_id"},
		{name: "unknown command", cmd: &pb.State{}, errCode: emporium.EINTERNAL, errMsg: "An internal error occurred."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := given(tt.given...)
			before := proto.Clone(s)
			d := decideAsShell(s, tt.cmd, t0)
			if tt.errCode != "" {
				require.Error(t, d.err)
				assert.Equal(t, tt.errCode, emporium.ErrorCode(d.err), "error: %v", d.err)
				assert.Equal(t, tt.errMsg, emporium.ErrorMessage(d.err))
				if tt.field != "" {
					fields := emporium.ErrorFields(d.err)
					require.Len(t, fields, 1)
					assert.Equal(t, tt.field, fields[0].Field)
				}
			} else {
				require.NoError(t, d.err)
			}
			assert.Empty(t, actorstest.DiffEvents(tt.want, d.events))
			assert.True(t, proto.Equal(before, s), "decide changed the state")
		})
	}
}

// run decides cmd at now and applies its events, as the shell does.
func run(t *testing.T, s *pb.State, cmd proto.Message, now time.Time) decision {
	t.Helper()
	d := decideAsShell(s, cmd, now)
	for _, ev := range d.events {
		Spec.Fold(s, ev)
	}
	return d
}

func refresh(id, from, to string) *pb.RefreshRequest {
	return &pb.RefreshRequest{SessionId: id, TokenHash: from, NewTokenHash: to}
}

func TestRotationChainThenReuseRevokesTheFamily(t *testing.T) {
	s := given()
	now := t0
	require.NoError(t, run(t, s, &pb.OpenRequest{SessionId: "s1", TokenHash: "h0", Device: "phone"}, now).err)
	require.NoError(t, run(t, s, &pb.OpenRequest{SessionId: "s2", TokenHash: "other", Device: "laptop"}, now).err)
	for i := range 5 {
		now = now.Add(time.Minute)
		d := run(t, s, refresh("s1", fmt.Sprintf("h%d", i), fmt.Sprintf("h%d", i+1)), now)
		require.NoError(t, d.err)
		require.Len(t, d.events, 1)
		info, err := sessionInfo(s, "s1")
		require.NoError(t, err)
		assert.Equal(t, now, info.LastUsedAt.AsTime())
		assert.Equal(t, t0.Add(DefaultTTL), info.ExpiresAt.AsTime(), "refreshing does not extend the lifetime")
	}

	// The 2nd token (h1, issued by the first rotation) comes back: the thief
	// or the victim, either way the family ends.
	now = now.Add(time.Minute)
	d := run(t, s, refresh("s1", "h1", "stolen"), now)
	require.Error(t, d.err)
	assert.Equal(t, emporium.EUNAUTHENTICATED, emporium.ErrorCode(d.err))
	assert.Equal(t, badToken, emporium.ErrorMessage(d.err))
	assert.Empty(t, actorstest.DiffEvents(events(revoked("s1", ReasonReuse, now)), d.events), "the revocation is returned with the error")

	// The newest token no longer refreshes, and nothing is written for it.
	d = run(t, s, refresh("s1", "h5", "h6"), now.Add(time.Second))
	assert.Equal(t, emporium.EUNAUTHENTICATED, emporium.ErrorCode(d.err))
	assert.Equal(t, badToken, emporium.ErrorMessage(d.err))
	assert.Empty(t, d.events)
	assert.False(t, sessionStatus(s, "s1", now).Live)
	res, err := revokeResult(s, "s1")
	require.NoError(t, err)
	assert.Equal(t, ReasonReuse, res.Reason)

	// Only that family: the other session lives on.
	assert.True(t, sessionStatus(s, "s2", now).Live)
	list := sessionList(s, "", now)
	require.Len(t, list.Sessions, 1)
	assert.Equal(t, "s2", list.Sessions[0].Id)
	require.NoError(t, run(t, s, refresh("s2", "other", "other2"), now).err)
}

func TestLostReplyRetry(t *testing.T) {
	base := func() *pb.State {
		s := given()
		require.NoError(t, run(t, s, &pb.OpenRequest{SessionId: "s1", TokenHash: "h1"}, t0).err)
		require.NoError(t, run(t, s, refresh("s1", "h1", "h2"), t0.Add(time.Minute)).err)
		return s
	}
	rotatedAt := t0.Add(time.Minute)

	t.Run("within grace", func(t *testing.T) {
		s := base()
		for _, after := range []time.Duration{0, time.Second, RetryGrace} {
			before := proto.Clone(s)
			d := run(t, s, refresh("s1", "h1", "h2"), rotatedAt.Add(after))
			require.NoError(t, d.err, "retry %s after the rotation", after)
			assert.Empty(t, d.events, "a retry is answered from state")
			assert.True(t, proto.Equal(before, s))
			info, err := sessionInfo(s, "s1")
			require.NoError(t, err)
			assert.Equal(t, rotatedAt, info.LastUsedAt.AsTime())
		}
		// The token the lost reply carried works.
		require.NoError(t, run(t, s, refresh("s1", "h2", "h3"), rotatedAt.Add(time.Minute)).err)
	})
	t.Run("after grace is reuse", func(t *testing.T) {
		s := base()
		at := rotatedAt.Add(RetryGrace + time.Millisecond)
		d := run(t, s, refresh("s1", "h1", "h2"), at)
		assert.Equal(t, emporium.EUNAUTHENTICATED, emporium.ErrorCode(d.err))
		assert.Empty(t, actorstest.DiffEvents(events(revoked("s1", ReasonReuse, at)), d.events))
		assert.False(t, sessionStatus(s, "s1", at).Live)
		assert.Equal(t, emporium.EUNAUTHENTICATED, emporium.ErrorCode(run(t, s, refresh("s1", "h2", "h3"), at).err))
	})
	t.Run("a second refresh of the previous token is reuse even within grace", func(t *testing.T) {
		s := base()
		d := run(t, s, refresh("s1", "h1", "h2-other"), rotatedAt.Add(time.Second))
		assert.Equal(t, emporium.EUNAUTHENTICATED, emporium.ErrorCode(d.err))
		assert.Empty(t, actorstest.DiffEvents(events(revoked("s1", ReasonReuse, rotatedAt.Add(time.Second))), d.events))
	})
}

func TestOpenEvictsTheLeastRecentlyUsed(t *testing.T) {
	s := given()
	now := t0
	for i := range MaxSessions {
		now = now.Add(time.Second)
		d := run(t, s, &pb.OpenRequest{SessionId: fmt.Sprintf("s%02d", i), TokenHash: fmt.Sprintf("h%02d", i)}, now)
		require.NoError(t, d.err)
		require.Len(t, d.events, 1, "no eviction below the limit")
	}
	// s00 is the oldest but was just used: s01 is the least recently used.
	now = now.Add(time.Second)
	require.NoError(t, run(t, s, refresh("s00", "h00", "h00b"), now).err)

	// The 50th is still answered from state, without evicting anything.
	d := run(t, s, &pb.OpenRequest{SessionId: "s49", TokenHash: "h49"}, now)
	require.NoError(t, d.err)
	assert.Empty(t, d.events)

	now = now.Add(time.Second)
	d = run(t, s, &pb.OpenRequest{SessionId: "s50", TokenHash: "h50"}, now)
	require.NoError(t, d.err)
	want := events(revoked("s01", ReasonEvicted, now),
		&pb.SessionOpened{SessionId: "s50", TokenHash: "h50", CreatedAt: ts(now), ExpiresAt: ts(now.Add(DefaultTTL))})
	assert.Empty(t, actorstest.DiffEvents(want, d.events), "the eviction comes before the open")
	assert.Len(t, s.Sessions, MaxSessions)
	assert.False(t, sessionStatus(s, "s01", now).Live)
	assert.True(t, sessionStatus(s, "s00", now).Live)
	assert.Equal(t, emporium.EUNAUTHENTICATED, emporium.ErrorCode(run(t, s, refresh("s01", "h01", "x"), now).err))
	list := sessionList(s, "s50", now)
	require.Len(t, list.Sessions, MaxSessions)
	assert.Equal(t, "s50", list.Sessions[0].Id)
	assert.True(t, list.Sessions[0].Current)
	assert.Equal(t, "s00", list.Sessions[1].Id)
}

func TestRevokeAllThenRefreshFails(t *testing.T) {
	s := given()
	for i := range 3 {
		require.NoError(t, run(t, s, &pb.OpenRequest{SessionId: fmt.Sprintf("s%d", i), TokenHash: fmt.Sprintf("h%d", i)}, t0).err)
	}
	at := t0.Add(time.Hour)
	cmd := &pb.RevokeAllRequest{CommandId: "reset-1", Reason: "password_reset"}
	d := run(t, s, cmd, at)
	require.NoError(t, d.err)
	require.Len(t, d.events, 1)
	assert.Empty(t, s.Sessions)
	res, err := revokeAllResult(s, "reset-1")
	require.NoError(t, err)
	assert.Equal(t, int32(3), res.Revoked)
	assert.Equal(t, at, res.RevokedAt.AsTime())

	for i := range 3 {
		d := run(t, s, refresh(fmt.Sprintf("s%d", i), fmt.Sprintf("h%d", i), "new"), at.Add(time.Second))
		assert.Equal(t, emporium.EUNAUTHENTICATED, emporium.ErrorCode(d.err))
		assert.Equal(t, badToken, emporium.ErrorMessage(d.err))
		assert.Empty(t, d.events)
		r, err := revokeResult(s, fmt.Sprintf("s%d", i))
		require.NoError(t, err)
		assert.Equal(t, "password_reset", r.Reason)
	}

	// A new login works; a retry of the command does not end it.
	require.NoError(t, run(t, s, &pb.OpenRequest{SessionId: "s9", TokenHash: "h9"}, at.Add(time.Minute)).err)
	d = run(t, s, cmd, at.Add(2*time.Minute))
	require.NoError(t, d.err)
	assert.Empty(t, d.events)
	assert.True(t, sessionStatus(s, "s9", at.Add(2*time.Minute)).Live)
	res, err = revokeAllResult(s, "reset-1")
	require.NoError(t, err)
	assert.Equal(t, int32(3), res.Revoked, "the retry answers the first call")
}

func TestExpiry(t *testing.T) {
	s := given()
	require.NoError(t, run(t, s, &pb.OpenRequest{SessionId: "s1", TokenHash: "h1", TtlMs: time.Hour.Milliseconds()}, t0).err)
	require.NoError(t, run(t, s, &pb.OpenRequest{SessionId: "s2", TokenHash: "x1"}, t0).err)
	next, ok := nextExpiry(s)
	require.True(t, ok)
	assert.Equal(t, t0.Add(time.Hour), next)

	require.NoError(t, run(t, s, refresh("s1", "h1", "h2"), t0.Add(59*time.Minute)).err)
	end := t0.Add(time.Hour)
	assert.Empty(t, expireDue(s, end.Add(-time.Nanosecond)))
	assert.Empty(t, actorstest.DiffEvents(events(revoked("s1", ReasonExpired, end)), expireDue(s, end)))

	// Reads judge by now without writing.
	assert.False(t, sessionStatus(s, "s1", end).Live)
	assert.True(t, sessionStatus(s, "s2", end).Live)
	list := sessionList(s, "", end)
	require.Len(t, list.Sessions, 1)
	assert.Equal(t, "s2", list.Sessions[0].Id)

	// The next write revokes it, and the refresh fails.
	d := run(t, s, refresh("s1", "h2", "h3"), end.Add(time.Minute))
	assert.Equal(t, emporium.EUNAUTHENTICATED, emporium.ErrorCode(d.err))
	assert.Empty(t, actorstest.DiffEvents(events(revoked("s1", ReasonExpired, end)), d.events))
	assert.NotContains(t, s.Sessions, "s1")
	r, err := revokeResult(s, "s1")
	require.NoError(t, err)
	assert.Equal(t, ReasonExpired, r.Reason)
	next, ok = nextExpiry(s)
	require.True(t, ok)
	assert.Equal(t, t0.Add(DefaultTTL), next)

	_, ok = nextExpiry(given())
	assert.False(t, ok)
}

func TestAnswers(t *testing.T) {
	s := given(
		opened("a", "ha", t0),
		opened("b", "hb", t0.Add(time.Minute)),
		opened("c", "hc", t0.Add(2*time.Minute)),
		refreshed("a", "ha2", t0.Add(3*time.Minute)),
	)
	now := t0.Add(4 * time.Minute)
	list := sessionList(s, "b", now)
	var ids []string
	for _, info := range list.Sessions {
		ids = append(ids, info.Id)
		assert.Equal(t, info.Id == "b", info.Current)
	}
	assert.Equal(t, []string{"a", "c", "b"}, ids, "most recently used first")

	info, err := sessionInfo(s, "a")
	require.NoError(t, err)
	assert.True(t, proto.Equal(&pb.SessionInfo{Id: "a", Device: "Firefox", CreatedAt: ts(t0), LastUsedAt: ts(t0.Add(3 * time.Minute)),
		ExpiresAt: ts(t0.Add(DefaultTTL))}, info), "got %v", info)
	_, err = sessionInfo(s, "zz")
	assert.Equal(t, emporium.EINTERNAL, emporium.ErrorCode(err))
	_, err = revokeResult(s, "a")
	assert.Equal(t, emporium.EINTERNAL, emporium.ErrorCode(err))
	_, err = revokeAllResult(s, "c1")
	assert.Equal(t, emporium.EINTERNAL, emporium.ErrorCode(err))
	assert.False(t, sessionStatus(s, "zz", now).Live)

	// Revoke answers the first revocation's reason on a retry.
	require.NoError(t, run(t, s, &pb.RevokeRequest{SessionId: "b"}, now).err)
	require.NoError(t, run(t, s, &pb.RevokeRequest{SessionId: "b"}, now.Add(time.Minute)).err)
	res, err := revokeResult(s, "b")
	require.NoError(t, err)
	assert.True(t, proto.Equal(&pb.RevokeResult{SessionId: "b", Reason: ReasonLogout, RevokedAt: ts(now)}, res), "got %v", res)
}

func TestCleanDevice(t *testing.T) {
	assert.Equal(t, "Mozilla/5.0", cleanDevice("  Mozilla/5.0\r\n"))
	assert.Equal(t, "evilgood", cleanDevice("evil\u202egood\x00"), "bidi overrides and NULs are dropped")
	assert.Equal(t, "a\uFFFDb", cleanDevice("a\xffb"))
	long := cleanDevice(strings.Repeat("é", 300))
	assert.Equal(t, strings.Repeat("é", MaxDevice), long)
	assert.Equal(t, "x", cleanDevice("x"+strings.Repeat(" ", 300)+"y"), "cut at 200 characters, then trimmed again")
	assert.Empty(t, cleanDevice(" \t\u200b "))
}

func TestMemoryIsBounded(t *testing.T) {
	s := given(opened("s0", "h0", t0))
	for i := range 200 {
		Spec.Fold(s, refreshed("s0", fmt.Sprintf("h%d", i+1), t0))
	}
	assert.Len(t, s.Sessions["s0"].OlderHashes, olderHashesKept)
	assert.Equal(t, "h180", s.Sessions["s0"].OlderHashes[0])
	for i := range 300 {
		id := fmt.Sprintf("x%d", i)
		Spec.Fold(s, opened(id, id, t0))
		Spec.Fold(s, revoked(id, ReasonLogout, t0))
	}
	assert.Len(t, s.Revoked, revokedKept)
	for i := range actors.CommandsKept + 10 {
		Spec.Fold(s, &pb.AllSessionsRevoked{CommandId: fmt.Sprintf("c%d", i), Reason: "logout_all", At: ts(t0)})
	}
	assert.Len(t, s.RevokeAll, actors.CommandsKept)
	assert.Len(t, s.Revoked, revokedKept)
	assert.Empty(t, s.Sessions)
}
