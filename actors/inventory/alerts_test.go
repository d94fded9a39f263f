package inventory

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/emporium-shop/emporium"
	pb "github.com/emporium-shop/emporium/protos/inventorypb"
)

func subscribedEv(cmd, user string) *pb.AlertSubscribed {
	return &pb.AlertSubscribed{CommandId: cmd, UserId: user, ProductId: "p1", At: timestamppb.New(t0)}
}

func TestDecideAlerts(t *testing.T) {
	soldOut := []proto.Message{&pb.StockSet{CommandId: "c1", OnHand: 0}}
	inStock := []proto.Message{&pb.StockSet{CommandId: "c1", OnHand: 2}}
	allHeld := append(inStock, reservedEv("o1", 2, t0.Add(time.Hour)))
	waiting := append(soldOut, subscribedEv("a1", "u1"))
	tests := []struct {
		name    string
		given   []proto.Message
		cmd     proto.Message
		want    []proto.Message
		errCode string
	}{
		{"subscribe sold out", soldOut, &pb.SubscribeAlertRequest{CommandId: "a1", UserId: "u1", ProductId: "p1"},
			[]proto.Message{subscribedEv("a1", "u1")}, ""},
		{"subscribe never stocked", nil, &pb.SubscribeAlertRequest{CommandId: "a1", UserId: "u1", ProductId: "p1"},
			[]proto.Message{subscribedEv("a1", "u1")}, ""},
		{"subscribe all reserved", allHeld, &pb.SubscribeAlertRequest{CommandId: "a1", UserId: "u1", ProductId: "p1"},
			[]proto.Message{subscribedEv("a1", "u1")}, ""},
		{"subscribe in stock", inStock, &pb.SubscribeAlertRequest{CommandId: "a1", UserId: "u1"}, nil, emporium.ECONFLICT},
		{"subscribe again, another command", waiting, &pb.SubscribeAlertRequest{CommandId: "a2", UserId: "u1"}, nil, ""},
		{"subscribe retried", waiting, &pb.SubscribeAlertRequest{CommandId: "a1", UserId: "u1"}, nil, ""},
		{"subscribe without command id", soldOut, &pb.SubscribeAlertRequest{UserId: "u1"}, nil, emporium.EINVALID},
		{"subscribe without user", soldOut, &pb.SubscribeAlertRequest{CommandId: "a1"}, nil, emporium.EINVALID},
		{"unsubscribe", waiting, &pb.UnsubscribeAlertRequest{CommandId: "d1", UserId: "u1"},
			[]proto.Message{&pb.AlertUnsubscribed{CommandId: "d1", UserId: "u1"}}, ""},
		{"unsubscribe another user", waiting, &pb.UnsubscribeAlertRequest{CommandId: "d1", UserId: "u2"}, nil, ""},
		{"unsubscribe nobody", soldOut, &pb.UnsubscribeAlertRequest{CommandId: "d1", UserId: "u1"}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := given(tt.given...)
			before := proto.CloneOf(s)
			got, err := decideAsShell(s, tt.cmd, t0)
			if tt.errCode != "" {
				require.Error(t, err)
				assert.Equal(t, tt.errCode, emporium.ErrorCode(err))
			} else {
				require.NoError(t, err)
			}
			assert.Empty(t, cmpEvents(tt.want, got))
			assert.True(t, proto.Equal(before, s), "decide changed the state")
		})
	}
}

func cmpEvents(want, got []proto.Message) string {
	if len(want) != len(got) {
		return "lengths differ"
	}
	for i := range want {
		if !proto.Equal(want[i], got[i]) {
			return "event differs: " + protocmpString(want[i], got[i])
		}
	}
	return ""
}

func protocmpString(a, b proto.Message) string {
	return fmt.Sprint(a, " vs ", b)
}

// TestRestockTriggersEverySubscriberOnce walks the life of a round: the
// trigger lists every waiting user, applying it ends their subscriptions,
// nothing triggers again until someone subscribes anew, and each notice is
// recorded once.
func TestRestockTriggersEverySubscriberOnce(t *testing.T) {
	s := given(&pb.StockSet{CommandId: "c1", OnHand: 0}, subscribedEv("a1", "u2"), subscribedEv("a2", "u1"))
	ev, err := triggerAlerts(s, t0)
	require.NoError(t, err)
	assert.Empty(t, ev, "nothing is available: nothing triggers")

	apply(s, &pb.Restocked{CommandId: "r1", Quantity: 3})
	ev, err = triggerAlerts(s, t0)
	require.NoError(t, err)
	require.Len(t, ev, 1)
	assert.True(t, proto.Equal(&pb.AlertsTriggered{Round: 1, UserIds: []string{"u1", "u2"}, Available: 3}, ev[0]))
	apply(s, ev[0])
	assert.Empty(t, s.Alerts)
	require.Len(t, s.Notices, 2)
	ev, _ = triggerAlerts(s, t0)
	assert.Empty(t, ev, "a round triggers once")

	owedNow := notices(s, 7)
	require.Len(t, owedNow, 2)
	assert.Equal(t, Notice{SKU: "SKU-1", ProductID: "p1", UserID: "u1", Round: 1, Available: 3, Seq: 7}, owedNow[0])
	assert.Equal(t, "stock-alert:SKU-1:1:u1", owedNow[0].Key())

	// A failed notice is tried again, up to MaxNoticeAttempts, then
	// recorded as given up on; a sent one is recorded once.
	assert.Empty(t, noticeOutcome(s, owedNow[0], errors.New("smtp down"), 1))
	failed := noticeOutcome(s, owedNow[0], errors.New("smtp down"), MaxNoticeAttempts)
	require.Len(t, failed, 1)
	assert.True(t, failed[0].(*pb.AlertNotified).Failed)
	sent := noticeOutcome(s, owedNow[1], nil, 1)
	require.Len(t, sent, 1)
	apply(s, sent[0])
	assert.Empty(t, noticeOutcome(s, owedNow[1], nil, 1), "a notice is recorded once")
	require.Len(t, s.Notices, 1)
	require.Len(t, s.Ended, 1)
	assert.Equal(t, pb.AlertStatus_ALERT_STATUS_NOTIFIED, s.Ended[0].Status)

	// Sold out again, a new subscriber waits for round 2; u1 is not
	// subscribed any more.
	apply(s, &pb.StockSet{CommandId: "c2", OnHand: 0})
	apply(s, subscribedEv("a3", "u3"))
	apply(s, &pb.StockSet{CommandId: "c3", OnHand: 1})
	ev, _ = triggerAlerts(s, t0)
	require.Len(t, ev, 1)
	assert.True(t, proto.Equal(&pb.AlertsTriggered{Round: 2, UserIds: []string{"u3"}, Available: 1}, ev[0]))
}

func TestUnsubscribedUserIsNotTriggered(t *testing.T) {
	s := given(subscribedEv("a1", "u1"), &pb.AlertUnsubscribed{CommandId: "d1", UserId: "u1"},
		&pb.StockSet{CommandId: "c1", OnHand: 4})
	ev, _ := triggerAlerts(s, t0)
	assert.Empty(t, ev)
	require.Len(t, s.Ended, 1)
	assert.Equal(t, pb.AlertStatus_ALERT_STATUS_CANCELLED, s.Ended[0].Status)
}

func TestAlertAnswer(t *testing.T) {
	s := given(subscribedEv("a1", "u1"))
	a := alertAnswer(s, 1, "u1", true)
	assert.True(t, a.Created)
	require.NotNil(t, a.Alert)
	assert.Equal(t, "p1", a.Alert.ProductId)
	assert.Nil(t, alertAnswer(s, 1, "u2", false).Alert)
}

func TestEndedAlertsAreBounded(t *testing.T) {
	s := given()
	for i := range endedAlertsKept + 10 {
		u := fmt.Sprint("u", i)
		apply(s, subscribedEv(fmt.Sprint("a", i), u))
		apply(s, &pb.AlertUnsubscribed{CommandId: fmt.Sprint("d", i), UserId: u})
	}
	assert.Len(t, s.Ended, endedAlertsKept)
	assert.Empty(t, s.Alerts)
}

func TestAlertsDue(t *testing.T) {
	s := given(subscribedEv("a1", "u1"))
	_, due := alertsDue(s)
	assert.False(t, due, "waiting for stock is no work")
	apply(s, &pb.StockSet{CommandId: "c1", OnHand: 1})
	at, due := alertsDue(s)
	assert.True(t, due, "a trigger owed is work due")
	assert.Equal(t, t0, at)
	ev, _ := triggerAlerts(s, t0)
	apply(s, ev[0])
	_, due = alertsDue(s)
	assert.True(t, due, "notices owed are work due")
	apply(s, &pb.AlertNotified{UserId: "u1", Round: 1})
	_, due = alertsDue(s)
	assert.False(t, due)
}
