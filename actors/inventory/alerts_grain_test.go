package inventory_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors/actorstest"
	"github.com/emporium-shop/emporium/actors/inventory"
	pb "github.com/emporium-shop/emporium/protos/inventorypb"
)

// TestRestockNotifiesEverySubscriberOnce subscribes users to a sold-out
// SKU, restocks it, retries the restock and passivates the grain: each user
// is notified once, and the subscriptions are gone.
func TestRestockNotifiesEverySubscriberOnce(t *testing.T) {
	sku := newSKU(t, 0)
	users := []string{"u1", "u2", "u3"}
	for _, u := range users {
		a, err := grain(sku).SubscribeAlert(&pb.SubscribeAlertRequest{CommandId: "sub-" + u, UserId: u, ProductId: "p1"})
		require.NoError(t, err)
		assert.True(t, a.Created)
		require.NotNil(t, a.Alert)
	}
	again, err := grain(sku).SubscribeAlert(&pb.SubscribeAlertRequest{CommandId: "sub-u1", UserId: "u1", ProductId: "p1"})
	require.NoError(t, err)
	assert.False(t, again.Created, "a retried subscribe answers the subscription it made")
	assert.NotNil(t, again.Alert)

	restock := &pb.RestockRequest{CommandId: "delivery-1", Quantity: 5}
	_, err = grain(sku).Restock(restock)
	require.NoError(t, err)
	_, err = grain(sku).Restock(restock) // a retry
	require.NoError(t, err)

	for _, u := range users {
		key := "stock-alert:" + sku + ":1:" + u
		actorstest.WaitFor(t, 5*time.Second, "the notice of "+u, func() bool { return notices.count(key) > 0 })
	}
	st := replay(t, store, sku)
	actorstest.WaitFor(t, 5*time.Second, "the notices recorded", func() bool {
		st = replay(t, store, sku)
		return len(st.Notices) == 0
	})
	assert.Empty(t, st.Alerts)
	assert.Len(t, st.Ended, 3)

	// A new activation owes nothing, and a sale and a second restock tell
	// nobody.
	passivate(t, sku)
	_, err = grain(sku).SetStock(&pb.SetStockRequest{CommandId: "count-2", OnHand: 0})
	require.NoError(t, err)
	_, err = grain(sku).Restock(&pb.RestockRequest{CommandId: "delivery-2", Quantity: 1})
	require.NoError(t, err)
	time.Sleep(100 * time.Millisecond)
	for _, u := range users {
		assert.Equal(t, 1, notices.count("stock-alert:"+sku+":1:"+u))
		assert.Zero(t, notices.count("stock-alert:"+sku+":2:"+u))
	}
}

// TestFailedNoticeIsRetried fails a notice twice: it is sent on the third
// try, once.
func TestFailedNoticeIsRetried(t *testing.T) {
	sku := newSKU(t, 0)
	_, err := grain(sku).SubscribeAlert(&pb.SubscribeAlertRequest{CommandId: "s1", UserId: "u1", ProductId: "p1"})
	require.NoError(t, err)
	key := "stock-alert:" + sku + ":1:u1"
	notices.fail(key, 2)
	_, err = grain(sku).SetStock(&pb.SetStockRequest{CommandId: "c2", OnHand: 3})
	require.NoError(t, err)
	actorstest.WaitFor(t, 10*time.Second, "the retried notice", func() bool {
		clock.Advance(time.Second)
		return notices.count(key) == 1
	})
	actorstest.WaitFor(t, 5*time.Second, "the notice recorded", func() bool { return len(replay(t, store, sku).Notices) == 0 })
	assert.Equal(t, 1, notices.count(key))
}

func TestSubscribingToAnInStockSKUIsAConflict(t *testing.T) {
	sku := newSKU(t, 2)
	_, err := grain(sku).SubscribeAlert(&pb.SubscribeAlertRequest{CommandId: "s1", UserId: "u1", ProductId: "p1"})
	require.Error(t, err)
	assert.Equal(t, emporium.ECONFLICT, emporium.ErrorCode(err))
	assert.Empty(t, replay(t, store, sku).Alerts)
}

// passivate stops the SKU's activation the way the idle timeout does.
func passivate(t *testing.T, sku string) {
	t.Helper()
	pid := member.Get(sku, inventory.Kind)
	require.NotNil(t, pid)
	require.NoError(t, member.ActorSystem.Root.PoisonFuture(pid).Wait())
}

// TestSweeperWakesASKUThatOwesNotices: a notice failed and its activation
// stopped before the retry; the sweeper wakes the SKU and the notice goes.
func TestSweeperWakesASKUThatOwesNotices(t *testing.T) {
	sku := newSKU(t, 0)
	_, err := grain(sku).SubscribeAlert(&pb.SubscribeAlertRequest{CommandId: "s1", UserId: "u1", ProductId: "p1"})
	require.NoError(t, err)
	key := "stock-alert:" + sku + ":1:u1"
	notices.fail(key, 1)
	_, err = grain(sku).Restock(&pb.RestockRequest{CommandId: "r1", Quantity: 1})
	require.NoError(t, err)
	actorstest.WaitFor(t, 5*time.Second, "the failed try", func() bool {
		notices.mu.Lock()
		defer notices.mu.Unlock()
		return notices.failing[key] == 0
	})
	time.Sleep(50 * time.Millisecond) // let the activation take the report
	passivate(t, sku)
	require.NoError(t, store.Projections().Flush(context.Background()))
	require.Len(t, replay(t, store, sku).Notices, 1, "the notice is owed")
	assert.Zero(t, notices.count(key))

	sweeper := &inventory.Sweeper{Cluster: member, Lister: store.Projections(), Clock: clock, Logger: slog.Default()}
	woken, err := sweeper.SweepOnce(context.Background())
	require.NoError(t, err)
	assert.GreaterOrEqual(t, woken, 1)
	actorstest.WaitFor(t, 5*time.Second, "the notice sent", func() bool { return notices.count(key) == 1 })
	actorstest.WaitFor(t, 5*time.Second, "the notice recorded", func() bool { return len(replay(t, store, sku).Notices) == 0 })
	require.NoError(t, store.Projections().Flush(context.Background()))
	assert.Nil(t, readView(t, sku).NextExpiry, "nothing is due any more")
}
