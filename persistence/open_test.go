package persistence_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/persistence"
)

func TestOpenUnreachableURIExplainsTheSetting(t *testing.T) {
	t.Parallel()
	const uri = "mongodb://alice:s3cr%40t@127.0.0.1:1/?serverSelectionTimeoutMS=300"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	started := time.Now()
	s, err := persistence.Open(ctx, persistence.Config{URI: uri})
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
		_, err := persistence.Open(t.Context(), persistence.Config{URI: uri})
		require.Error(t, err, uri)
		assert.NotContains(t, err.Error(), "hunter2", uri)
	}
}

func TestOpenEmbeddedNeedsADataDir(t *testing.T) {
	t.Parallel()
	_, err := persistence.Open(t.Context(), persistence.Config{})
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err))
}

func TestOpenEmbeddedTwiceOnOneDirectoryIsRefused(t *testing.T) {
	t.Parallel()
	cfg := persistence.Config{DataDir: t.TempDir()}
	s, err := persistence.Open(t.Context(), cfg)
	require.NoError(t, err)
	defer s.Close(context.Background())
	assert.True(t, s.Embedded())
	require.NoError(t, s.Ping(t.Context()))

	_, err = persistence.Open(t.Context(), cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "already open")
}

func TestRedactURI(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"mongodb://db.example:27017", "mongodb://db.example:27017"},
		{"mongodb://alice@db.example/", "mongodb://alice@db.example/"},
		{"mongodb://alice:secret@db.example:27017/shop", "mongodb://alice:xxxxx@db.example:27017/shop"},
		{"mongodb+srv://alice:secret@cluster0.example/?retryWrites=true", "mongodb+srv://alice:xxxxx@cluster0.example/?retryWrites=true"},
		{"mongodb://alice:se@cr/et@a:1,b:2/?replicaSet=rs", "mongodb://alice:xxxxx@a:1,b:2/?replicaSet=rs"},
		{"mongodb://alice:p%40ss@h/", "mongodb://alice:xxxxx@h/"},
		{
			"mongodb://h/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:tok&tlsCertificateKeyFilePassword=pw",
			"mongodb://h/?authMechanism=MONGODB-AWS&authMechanismProperties=xxxxx&tlsCertificateKeyFilePassword=xxxxx",
		},
		{"not a uri with secret", "xxxxx"},
	}
	for _, tt := range tests {
		got := persistence.RedactURI(tt.in)
		assert.Equal(t, tt.want, got, tt.in)
		for _, secret := range []string{"secret", "se@cr", "tok", "pw", "p%40ss"} {
			if strings.Contains(tt.in, secret) {
				assert.NotContains(t, got, secret, tt.in)
			}
		}
	}
}
