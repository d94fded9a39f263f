package mongostore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/persistence"
	"github.com/emporium-shop/emporium/persistence/ferrettest"
	"github.com/emporium-shop/emporium/persistence/mongostore"
	"github.com/emporium-shop/emporium/persistence/persistencetest"
)

// openFerret starts FerretDB for the test and opens a store on it, both
// stopped when the test ends.
func openFerret(t testing.TB, cfg persistence.Config) *mongostore.Store {
	t.Helper()
	srv := ferrettest.Start(t, t.TempDir())
	cfg.URI = srv.URI
	return persistencetest.OpenConfig(t, cfg).(*mongostore.Store)
}

func TestOpenUnreachableURIExplainsTheSetting(t *testing.T) {
	t.Parallel()
	const uri = "mongodb://alice:s3cr%40t@127.0.0.1:1/?serverSelectionTimeoutMS=300"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	started := time.Now()
	s, err := mongostore.Open(ctx, persistence.Config{URI: uri})
	took := time.Since(started)

	require.Error(t, err)
	require.Nil(t, s)
	assert.Less(t, took, 5*time.Second, "Open took too long to give up")
	assert.Equal(t, emporium.EUNAVAILABLE, emporium.ErrorCode(err))
	msg := err.Error()
	assert.Contains(t, msg, "cannot reach MongoDB at MONGODB_URI=mongodb://alice:xxxxx@127.0.0.1:1/?serverSelectionTimeoutMS=300")
	assert.Contains(t, msg, "server selection timed out after")
	assert.Contains(t, msg, "unset MONGODB_URI to use the embedded store")
	for _, secret := range []string{"s3cr", "s3cr%40t", "s3cr@t"} {
		assert.NotContains(t, msg, secret, "the password leaked")
	}
}

func TestOpenBadURIDoesNotLeakThePassword(t *testing.T) {
	t.Parallel()
	for _, uri := range []string{
		"mongodb://alice:hunter2@db.example:27017/?authMechanism=NOPE",
		"postgres://alice:hunter2@db.example/",
		"mongodb://alice:hunter2@db.example:notaport/",
	} {
		_, err := mongostore.Open(t.Context(), persistence.Config{URI: uri})
		require.Error(t, err, uri)
		assert.NotContains(t, err.Error(), "hunter2", uri)
	}
}

func TestOpenNeedsAURI(t *testing.T) {
	t.Parallel()
	_, err := mongostore.Open(t.Context(), persistence.Config{DataDir: t.TempDir()})
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err))
	assert.ErrorContains(t, err, "MONGODB_URI")
}

// TestOpenTwiceOnOneDatabase opens the same database twice, as a restarted
// node or a second member of a cluster does: creating the indexes again
// is harmless, and each store sees what the other wrote.
func TestOpenTwiceOnOneDatabase(t *testing.T) {
	t.Parallel()
	srv := ferrettest.Start(t, t.TempDir())
	cfg := persistencetest.MongoConfig(t, srv.URI)
	a := persistencetest.OpenConfig(t, cfg)
	b := persistencetest.OpenConfig(t, cfg)
	assert.Equal(t, "mongodb", a.Backend())
	require.NoError(t, a.Ping(t.Context()))
	require.NoError(t, b.Ping(t.Context()))

	_, err := a.Documents("docs").Put(t.Context(), "d", 0, map[string]string{"by": "a"})
	require.NoError(t, err)
	var got struct{ By string }
	v, err := b.Documents("docs").Get(t.Context(), "d", &got)
	require.NoError(t, err)
	assert.EqualValues(t, 1, v)
	assert.Equal(t, "a", got.By)
}
