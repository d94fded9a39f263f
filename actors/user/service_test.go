package user_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/actorstest"
	"github.com/emporium-shop/emporium/actors/session"
	"github.com/emporium-shop/emporium/actors/user"
	"github.com/emporium-shop/emporium/auth"
	"github.com/emporium-shop/emporium/mail"
	"github.com/emporium-shop/emporium/persistence"
	pb "github.com/emporium-shop/emporium/protos/userpb"
	"github.com/emporium-shop/emporium/ratelimit"
)

var (
	member *cluster.Cluster
	store  persistence.Store
	clock  = actorstest.NewClock(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	mr     *miniredis.Miniredis
	outbox *mail.Outbox
	svc    *user.Service
	claims *actors.DocumentClaims
	// journal is the UserGrain's: the store's, with failures tests inject.
	journal *faultyJournal
)

func TestMain(m *testing.M) {
	os.Exit(actorstest.Main(m, "user", func(s persistence.Store, logger *slog.Logger, cleanup func(func())) (err error) {
		store = s
		claims = &actors.DocumentClaims{Collection: func(c string) actors.ClaimDocuments { return store.Documents(c) }, Now: clock.Now}
		journal = &faultyJournal{Journal: store.Journal()}
		member, err = actors.StartMember(actors.ClusterConfig{Provider: actors.ProviderLocal, Addr: "127.0.0.1:0", Logger: logger},
			user.NewKind(user.Config{Journal: journal, Snapshots: store.Snapshots(), Clock: clock, Logger: logger},
				user.WithClaims(claims), user.WithViews(store.Projections())),
			session.NewKind(session.Config{Journal: store.Journal(), Snapshots: store.Snapshots(), Clock: clock, Logger: logger}))
		if err != nil {
			return err
		}
		cleanup(func() { member.Shutdown(false) })

		mr = miniredis.NewMiniRedis()
		if err := mr.Start(); err != nil {
			return err
		}
		cleanup(mr.Close)
		mr.SetTime(clock.Now())
		mr.ClockTTL(true)
		rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
		cleanup(func() { _ = rdb.Close() })
		limiter := ratelimit.New(rdb, "emporium:rl:")
		limiter.Clock = clock.Now

		key, err := auth.GenerateKey()
		if err != nil {
			return err
		}
		keys, err := auth.NewKeySet(key)
		if err != nil {
			return err
		}
		issuer, err := auth.NewIssuer(auth.IssuerConfig{Keys: keys, Issuer: "https://shop.test", Audience: "emporium-api", Now: clock.Now})
		if err != nil {
			return err
		}
		outbox = mail.NewOutbox(nil, 1000)
		svc, err = user.NewService(user.ServiceConfig{
			Cluster:   member,
			Claims:    claims,
			Tokens:    &auth.OneTime{Client: rdb, Prefix: "emporium:"},
			Mailer:    outbox,
			Issuer:    issuer,
			Limiter:   limiter.Counters(),
			PublicURL: "https://shop.test",
			Clock:     clock,
			Logger:    logger,
		})
		if err != nil {
			return err
		}
		cleanup(svc.Wait)
		return nil
	}))
}

// advance moves the shared clock and Redis's with it.
func advance(d time.Duration) {
	clock.Advance(d)
	mr.SetTime(clock.Now())
}

var seq atomic.Int64

// newUser returns a fresh username and email.
func newUser(prefix string) (username, email string) {
	n := seq.Add(1)
	return fmt.Sprintf("%s_%d", prefix, n), fmt.Sprintf("%s.%d@example.com", prefix, n)
}

const password = "correct horse battery"

var client = emporium.Client{IP: "203.0.113.7", UserAgent: "test-agent"}

var tokenPattern = regexp.MustCompile(`[?&]token=([A-Za-z0-9_-]+)`)

// mailToken waits for the next mail to addr and returns it and its token.
func mailToken(t *testing.T, addr string) (mail.Message, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	m, err := outbox.Wait(ctx, addr)
	require.NoError(t, err)
	match := tokenPattern.FindStringSubmatch(m.Text)
	require.NotNil(t, match, "a link with a token in %q", m.Text)
	return m, match[1]
}

// verifiedUser signs up and verifies a user and logs in.
func verifiedUser(t *testing.T, prefix string) (email string, tokens emporium.Tokens, p emporium.Principal) {
	t.Helper()
	ctx := t.Context()
	username, email := newUser(prefix)
	require.NoError(t, svc.Signup(ctx, emporium.Signup{Username: username, Email: email, Password: password, Client: client}))
	_, tok := mailToken(t, email)
	require.NoError(t, svc.VerifyEmail(ctx, tok))
	login, err := svc.Login(ctx, email, password, client)
	require.NoError(t, err)
	require.NotNil(t, login.Tokens)
	p, err = svc.Authenticate(ctx, login.Tokens.AccessToken)
	require.NoError(t, err)
	return email, *login.Tokens, p
}

func code(t *testing.T, err error) string {
	t.Helper()
	require.Error(t, err)
	return emporium.ErrorCode(err)
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestGrainReplay checks that the journal holds what the grain answers.
func TestGrainReplay(t *testing.T) {
	_, _, p := verifiedUser(t, "replay")
	pid := member.Get(p.UserID, user.Kind)
	require.NoError(t, member.ActorSystem.Root.PoisonFuture(pid).Wait())
	acc, err := pb.GetUserGrainGrainClient(member, p.UserID).Get(&pb.GetRequest{})
	require.NoError(t, err)
	assert.True(t, acc.EmailVerified)
	st, err := user.Spec.Replay(t.Context(), store.Journal(), p.UserID)
	require.NoError(t, err)
	assert.Equal(t, acc.Username, st.Username)
	assert.True(t, st.EmailVerified)

	_, err = pb.GetUserGrainGrainClient(member, "nobody").Get(&pb.GetRequest{})
	assert.Equal(t, emporium.ENOTFOUND, emporium.ErrorCode(emporium.GrainCall("get", err)))
}
