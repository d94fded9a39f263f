package session

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium/actors"
	pb "github.com/emporium-shop/emporium/protos/sessionpb"
)

// TestRandomCommandsKeepInvariants drives the core with random commands, as
// clients, thieves and Proto.Actor's retries would send them: logins, refreshes
// with the newest, an older or an unknown token, exact repeats of earlier
// commands, logouts, "log out everywhere", reads, and time passing (sometimes
// past lifetimes). After each it checks that at most MaxSessions are live, that
// no revoked session ever refreshes or reopens, that a refusal writes only
// revocations, and that memory stays bounded; at the end, that replaying the
// events gives the same state.
func TestRandomCommandsKeepInvariants(t *testing.T) {
	var reuses, evictions, expiries, graceRetries int
	for seed := range uint64(16) {
		r := rand.New(rand.NewPCG(seed, 7))
		s := newState("user-r")
		var journal []proto.Message
		dead := map[string]bool{}       // sessions revoked at some point
		issued := map[string][]string{} // session -> hashes handed out, oldest first
		var ids []string
		var sent []proto.Message
		now := t0
		fresh := 0
		newHash := func() string { fresh++; return fmt.Sprintf("h%d-%d", seed, fresh) }
		revokeAllRate := int(seed % 3) // 0 for a third of the seeds, so that sessions pile up
		for step := range 600 {
			switch k := r.IntN(100); {
			case k < 2:
				now = now.Add(time.Duration(1+r.IntN(3)) * time.Hour)
			case k < 40:
				now = now.Add(time.Duration(r.IntN(20)) * time.Second)
			default:
				now = now.Add(time.Duration(r.IntN(120)) * time.Second)
			}
			pick := func() string { return ids[r.IntN(len(ids))] }
			var cmd proto.Message
			switch k := r.IntN(100); {
			case k < 10 && len(sent) > 0:
				cmd = sent[max(0, len(sent)-1-r.IntN(5))] // a retry of a recent command
			case k < 45 || len(ids) == 0:
				id := fmt.Sprintf("s%d", step)
				ttl := int64(0)
				if r.IntN(3) == 0 {
					ttl = int64(r.IntN(3*3600)) * 1000
				}
				h := newHash()
				cmd = &pb.OpenRequest{SessionId: id, TokenHash: h, Device: "d", TtlMs: ttl}
				ids = append(ids, id)
				issued[id] = append(issued[id], h)
			case k < 47:
				cmd = &pb.OpenRequest{SessionId: pick(), TokenHash: newHash()} // same id, other hash
			case k < 85:
				id := pick()
				hs := issued[id]
				from := hs[len(hs)-1]
				switch m := r.IntN(10); {
				case m < 1:
					from = "unknown"
				case m < 3:
					from = hs[r.IntN(len(hs))]
				}
				to := newHash()
				cmd = refresh(id, from, to)
				issued[id] = append(issued[id], to)
			case k < 92:
				cmd = &pb.RevokeRequest{SessionId: pick()}
			case k < 92+revokeAllRate:
				cmd = &pb.RevokeAllRequest{CommandId: fmt.Sprintf("c%d", r.IntN(4)), Reason: "logout_all"}
			case k < 96:
				cmd = &pb.CheckRequest{SessionId: pick()}
			default:
				cmd = &pb.ListRequest{CurrentSessionId: pick()}
			}
			// Session ids are fresh random ids, and a revoked one is
			// remembered only among the last revokedKept: an Open of an id
			// revoked longer ago (which the shell never sends) is not sent.
			if c, ok := cmd.(*pb.OpenRequest); ok && dead[c.SessionId] && findRevoked(s, c.SessionId) == nil {
				cmd = &pb.ListRequest{}
			}
			sent = append(sent, cmd)

			var before proto.Message
			if step%8 == 0 { // cloning is the slowest part of the test under -race
				before = proto.Clone(s)
			}
			d := decideAsShell(s, cmd, now)
			if before != nil && !proto.Equal(before, s) {
				t.Fatalf("seed %d step %d: decide changed the state", seed, step)
			}
			if d.err != nil {
				for _, ev := range d.events {
					_, ok := ev.(*pb.SessionRevoked)
					require.True(t, ok, "seed %d step %d: a refusal wrote %T", seed, step, ev)
				}
			}
			if c, ok := cmd.(*pb.RefreshRequest); ok && d.err == nil {
				require.False(t, dead[c.SessionId], "seed %d step %d: revoked session %s refreshed", seed, step, c.SessionId)
				info, err := sessionInfo(s, c.SessionId)
				require.NoError(t, err)
				require.True(t, info.ExpiresAt.AsTime().After(now))
				if len(d.events) == 0 {
					graceRetries++
				}
			}
			for _, ev := range d.events {
				switch e := ev.(type) {
				case *pb.SessionOpened:
					require.False(t, dead[e.SessionId], "seed %d step %d: revoked session %s reopened", seed, step, e.SessionId)
				case *pb.SessionRefreshed:
					require.False(t, dead[e.SessionId], "seed %d step %d: revoked session %s refreshed", seed, step, e.SessionId)
					require.Contains(t, s.Sessions, e.SessionId)
				case *pb.SessionRevoked:
					dead[e.SessionId] = true
					switch e.Reason {
					case ReasonReuse:
						reuses++
					case ReasonEvicted:
						evictions++
					case ReasonExpired:
						expiries++
					}
				case *pb.AllSessionsRevoked:
					for id := range s.Sessions {
						dead[id] = true
					}
				}
				Spec.Fold(s, ev)
				journal = append(journal, ev)
			}

			// Plain checks: testify's helpers dominate the run time here.
			if len(s.Sessions) > MaxSessions || len(sessionList(s, "", now).Sessions) > MaxSessions {
				t.Fatalf("seed %d step %d: %d sessions", seed, step, len(s.Sessions))
			}
			if len(s.Revoked) > revokedKept || len(s.RevokeAll) > actors.CommandsKept {
				t.Fatalf("seed %d step %d: %d revoked, %d revoke-all kept", seed, step, len(s.Revoked), len(s.RevokeAll))
			}
			for id, sess := range s.Sessions {
				if dead[id] {
					t.Fatalf("seed %d step %d: revoked session %s is back", seed, step, id)
				}
				if len(sess.OlderHashes) > olderHashesKept {
					t.Fatalf("seed %d step %d: session %s keeps %d hashes", seed, step, id, len(sess.OlderHashes))
				}
				if sessionStatus(s, id, now).Live != live(sess, now) {
					t.Fatalf("seed %d step %d: Check disagrees with the lifetime of %s", seed, step, id)
				}
			}
		}
		replayed := newState("user-r")
		for _, ev := range journal {
			Spec.Fold(replayed, ev)
		}
		require.True(t, proto.Equal(s, replayed), "seed %d: replay differs", seed)
	}
	// The run is not vacuous: every path the invariants guard was taken.
	t.Logf("reuses %d, evictions %d, expiries %d, grace retries %d", reuses, evictions, expiries, graceRetries)
	assert.Positive(t, reuses)
	assert.Positive(t, evictions)
	assert.Positive(t, expiries)
	assert.Positive(t, graceRetries)
}
