package node

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/gateway"
	"github.com/emporium-shop/emporium/persistence/persistencetest"
)

// TestIdempotencyRecordsExpireAfterADay: the sweep deletes the records of
// keys first sent more than a day ago, through the declared index on their
// claim time, and keeps the younger ones.
func TestIdempotencyRecordsExpireAfterADay(t *testing.T) {
	ctx := t.Context()
	store := persistencetest.Open(t)
	require.NoError(t, store.Projections().EnsureIndex(ctx, gateway.IdempotencyCollection, idempotencyTimeField))
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	at := now
	claims := &actors.DocumentClaims{Collection: func(c string) actors.ClaimDocuments { return store.Documents(c) }, Now: func() time.Time { return at }}
	for i, age := range []time.Duration{25 * time.Hour, 48 * time.Hour, time.Hour, 23 * time.Hour} {
		at = now.Add(-age)
		require.NoError(t, claims.Claim(ctx, gateway.IdempotencyCollection, []string{"old1", "old2", "new1", "new2"}[i], "hash"))
	}

	deleted, err := expireIdempotency(ctx, store, now)
	require.NoError(t, err)
	assert.Equal(t, 2, deleted)
	for _, key := range []string{"old1", "old2"} {
		_, _, err := claims.Owner(ctx, gateway.IdempotencyCollection, key)
		assert.True(t, emporium.IsCode(err, emporium.ENOTFOUND), "%s expired: %v", key, err)
	}
	for _, key := range []string{"new1", "new2"} {
		_, _, err := claims.Owner(ctx, gateway.IdempotencyCollection, key)
		assert.NoError(t, err, "%s is younger than a day", key)
	}
	again, err := expireIdempotency(ctx, store, now)
	require.NoError(t, err)
	assert.Zero(t, again)
}
