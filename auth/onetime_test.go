package auth_test

import (
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/auth"
)

func TestOneTime(t *testing.T) {
	m := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = client.Close() })
	store := &auth.OneTime{Client: client, Prefix: "test:"}
	ctx := t.Context()

	plain, hash, err := store.Issue(ctx, auth.TokenVerify, []byte("user-1"), time.Hour)
	require.NoError(t, err)
	assert.Equal(t, auth.HashToken(plain), hash)
	assert.True(t, m.Exists("test:tok:verify:"+hash), "only the hash is a key")
	assert.False(t, m.Exists("test:tok:verify:"+plain))

	got, err := store.Get(ctx, auth.TokenVerify, hash)
	require.NoError(t, err)
	assert.Equal(t, "user-1", string(got))
	_, err = store.Get(ctx, auth.TokenReset, hash)
	assert.ErrorIs(t, err, auth.ErrNoToken, "a token of one kind opens no other")

	got, err = store.Take(ctx, auth.TokenVerify, hash)
	require.NoError(t, err)
	assert.Equal(t, "user-1", string(got))
	_, err = store.Take(ctx, auth.TokenVerify, hash)
	assert.ErrorIs(t, err, auth.ErrNoToken, "a token works once")

	require.NoError(t, store.Put(ctx, auth.TokenMFA, "h", []byte("v"), time.Minute))
	m.FastForward(time.Minute + time.Second)
	_, err = store.Get(ctx, auth.TokenMFA, "h")
	assert.ErrorIs(t, err, auth.ErrNoToken, "a token expires")

	require.NoError(t, store.Put(ctx, auth.TokenReset, "h", []byte("v"), time.Minute))
	require.NoError(t, store.Delete(ctx, auth.TokenReset, "h"))
	_, err = store.Get(ctx, auth.TokenReset, "h")
	assert.ErrorIs(t, err, auth.ErrNoToken)

	m.Close()
	_, err = store.Get(ctx, auth.TokenReset, "h")
	assert.Equal(t, emporium.EUNAVAILABLE, emporium.ErrorCode(err))
}
