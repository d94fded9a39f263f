package session_test

import (
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/actorstest"
	"github.com/emporium-shop/emporium/actors/session"
	"github.com/emporium-shop/emporium/auth"
	"github.com/emporium-shop/emporium/persistence"
	pb "github.com/emporium-shop/emporium/protos/sessionpb"
)

var (
	member *cluster.Cluster
	store  persistence.Store
	clock  = actorstest.NewClock(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
)

func TestMain(m *testing.M) {
	os.Exit(actorstest.Main(m, "session", func(s persistence.Store, logger *slog.Logger, cleanup func(func())) (err error) {
		store = s
		member, err = actors.StartMember(actors.ClusterConfig{Provider: actors.ProviderLocal, Addr: "127.0.0.1:0", Logger: logger},
			session.NewKind(session.Config{Journal: store.Journal(), Snapshots: store.Snapshots(), Clock: clock, Logger: logger}))
		if err != nil {
			return err
		}
		cleanup(func() { member.Shutdown(false) })
		return nil
	}))
}

func sessions(user string) *pb.SessionGrainGrainClient {
	return pb.GetSessionGrainGrainClient(member, user)
}

func token(t *testing.T) string {
	t.Helper()
	_, hash, err := auth.NewToken()
	require.NoError(t, err)
	return hash
}

// TestRefreshReuseRevokesDurably rotates a session's token, presents an old
// one, and checks that the revocation survives passivation: the refusal was
// persisted before the grain answered.
func TestRefreshReuseRevokesDurably(t *testing.T) {
	user := "user-reuse"
	h0 := token(t)
	_, err := sessions(user).Open(&pb.OpenRequest{SessionId: "s1", TokenHash: h0, Device: "Firefox"})
	require.NoError(t, err)
	hashes := []string{h0}
	for range 3 {
		next := token(t)
		clock.Advance(time.Minute)
		_, err := sessions(user).Refresh(&pb.RefreshRequest{SessionId: "s1", TokenHash: hashes[len(hashes)-1], NewTokenHash: next})
		require.NoError(t, err)
		hashes = append(hashes, next)
	}

	_, err = sessions(user).Refresh(&pb.RefreshRequest{SessionId: "s1", TokenHash: hashes[1], NewTokenHash: token(t)})
	require.True(t, emporium.IsCode(err, emporium.EUNAUTHENTICATED), "reuse: %v", err)

	pid := member.Get(user, session.Kind)
	require.NoError(t, member.ActorSystem.Root.PoisonFuture(pid).Wait())
	_, err = sessions(user).Refresh(&pb.RefreshRequest{SessionId: "s1", TokenHash: hashes[3], NewTokenHash: token(t)})
	assert.True(t, emporium.IsCode(err, emporium.EUNAUTHENTICATED), "the newest token died with its family: %v", err)
	list, err := sessions(user).List(&pb.ListRequest{})
	require.NoError(t, err)
	assert.Empty(t, list.Sessions)

	replayed, err := session.Spec.Replay(t.Context(), store.Journal(), user)
	require.NoError(t, err)
	assert.Empty(t, replayed.Sessions)
	require.NotEmpty(t, replayed.Revoked)
	assert.Equal(t, session.ReasonReuse, replayed.Revoked[len(replayed.Revoked)-1].Reason)
}

func TestRevokeAllEndsEverySession(t *testing.T) {
	user := "user-all"
	for i := range 3 {
		_, err := sessions(user).Open(&pb.OpenRequest{SessionId: fmt.Sprint("s", i), TokenHash: token(t), Device: "phone"})
		require.NoError(t, err)
	}
	list, err := sessions(user).List(&pb.ListRequest{CurrentSessionId: "s1"})
	require.NoError(t, err)
	require.Len(t, list.Sessions, 3)

	for range 2 { // a retry is answered from state
		res, err := sessions(user).RevokeAll(&pb.RevokeAllRequest{CommandId: "reset-1", Reason: "password_reset"})
		require.NoError(t, err)
		assert.Equal(t, int32(3), int32(res.Revoked))
	}
	st, err := sessions(user).Check(&pb.CheckRequest{SessionId: "s1"})
	require.NoError(t, err)
	assert.False(t, st.Live)
}
