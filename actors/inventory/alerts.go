package inventory

import (
	"slices"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/emporium-shop/emporium"
	pb "github.com/emporium-shop/emporium/protos/inventorypb"
)

// Back-in-stock alerts, part of the pure core. The subscriptions live in the
// SKU's own journal, beside the stock they wait for, so that the grain that
// sees available leave 0 is the one that knows whom to tell, in the same
// decision: no second store to keep in step, no moment when a restock is
// durable and its subscribers are not.
//
// Exactly one notice per subscriber and restock follows from three facts.
// AlertsTriggered moves every waiting subscriber out of alerts in the
// append that follows the restock, so a retried restock (answered from
// state by its command id) or a replay finds nobody left to trigger. Each
// triggered alert stays owed in notices until AlertNotified records it,
// and the shell sends only what is owed, each (user, round) once per
// activation, so a new activation after a crash sends what the old one had
// not recorded. And the notice carries the key (SKU, round, user), which
// the sender uses to refuse a duplicate (see Notice.Key).

// Limits of the alerts.
const (
	// MaxAlertsPerSKU bounds the users waiting for one SKU, and so the
	// state a single grain carries and the notices one restock sends.
	MaxAlertsPerSKU = 10_000
	// endedAlertsKept is how many ended alerts the state keeps for the
	// read model to learn that they ended.
	endedAlertsKept = 256
	// MaxNoticeAttempts is how many times a notice is tried before it is
	// recorded as given up on: an alert is a courtesy, and a mail server
	// that refuses it for good must not keep the SKU busy for ever.
	MaxNoticeAttempts = 5
)

// decideAlert decides SubscribeAlert and UnsubscribeAlert.
func decideAlert(s *pb.State, cmd proto.Message, now time.Time) ([]proto.Message, error) {
	switch c := cmd.(type) {
	case *pb.SubscribeAlertRequest:
		if err := needUserID(c.UserId); err != nil {
			return nil, err
		}
		if _, ok := s.Alerts[c.UserId]; ok {
			return nil, nil
		}
		// The messages reach the API's clients as they are.
		if avail := available(s); avail > 0 {
			return nil, emporium.Errorf(emporium.ECONFLICT,
				"This variant is in stock (%d available); order it now. Alerts are for variants that are sold out.", avail)
		}
		if len(s.Alerts) >= MaxAlertsPerSKU {
			return nil, emporium.Errorf(emporium.ECONFLICT,
				"This variant has the most back-in-stock alerts it can hold (%d).", MaxAlertsPerSKU)
		}
		return []proto.Message{&pb.AlertSubscribed{
			CommandId: c.CommandId, UserId: c.UserId, ProductId: c.ProductId, At: timestamppb.New(now),
		}}, nil
	case *pb.UnsubscribeAlertRequest:
		if err := needUserID(c.UserId); err != nil {
			return nil, err
		}
		if _, ok := s.Alerts[c.UserId]; !ok {
			return nil, nil
		}
		return []proto.Message{&pb.AlertUnsubscribed{CommandId: c.CommandId, UserId: c.UserId}}, nil
	}
	return nil, emporium.Errorf(emporium.EINTERNAL, "inventory: unknown alert command %T", cmd)
}

// triggerAlerts returns the AlertsTriggered event owed by the state: when
// units are available and users wait, all of them are told, whatever made
// the units available (a stock count, a restock, a return, a reservation
// released or expired). The shell runs it after every decision, so the
// trigger lands in the same append as the change that owes it.
func triggerAlerts(s *pb.State, _ time.Time) ([]proto.Message, error) {
	avail := available(s)
	if avail <= 0 || len(s.Alerts) == 0 {
		return nil, nil
	}
	users := make([]string, 0, len(s.Alerts))
	for id := range s.Alerts {
		users = append(users, id)
	}
	// Map order is random; sorting keeps the event of a replay identical.
	slices.Sort(users)
	return []proto.Message{&pb.AlertsTriggered{Round: s.AlertRounds + 1, UserIds: users, Available: avail}}, nil
}

// noticeOutcome records a notice sent, or given up on after attempts
// tries; nil events means it is tried again.
func noticeOutcome(s *pb.State, n Notice, err error, attempts int) []proto.Message {
	if owed(s, n.UserID, n.Round) == nil {
		return nil // recorded already, by this activation or another
	}
	if err != nil && attempts < MaxNoticeAttempts {
		return nil
	}
	return []proto.Message{&pb.AlertNotified{UserId: n.UserID, Round: n.Round, Failed: err != nil}}
}

// owed returns the triggered alert of user in round that is not recorded as
// notified, or nil.
func owed(s *pb.State, user string, round uint64) *pb.Alert {
	for _, a := range s.Notices {
		if a.UserId == user && a.Round == round {
			return a
		}
	}
	return nil
}

// applyAlert folds an alert event into the state.
func applyAlert(s *pb.State, ev proto.Message) {
	if s.Alerts == nil {
		s.Alerts = map[string]*pb.Alert{}
	}
	s.AlertsVersion++
	switch e := ev.(type) {
	case *pb.AlertSubscribed:
		s.Alerts[e.UserId] = &pb.Alert{
			UserId: e.UserId, ProductId: e.ProductId, CreatedAt: e.At, Status: pb.AlertStatus_ALERT_STATUS_ACTIVE,
		}
	case *pb.AlertUnsubscribed:
		if a, ok := s.Alerts[e.UserId]; ok {
			delete(s.Alerts, e.UserId)
			a.Status = pb.AlertStatus_ALERT_STATUS_CANCELLED
			endAlert(s, a)
		}
	case *pb.AlertsTriggered:
		s.AlertRounds = e.Round
		for _, id := range e.UserIds {
			if a, ok := s.Alerts[id]; ok {
				delete(s.Alerts, id)
				a.Status, a.Round = pb.AlertStatus_ALERT_STATUS_TRIGGERED, e.Round
				s.Notices = append(s.Notices, a)
			}
		}
	case *pb.AlertNotified:
		for i, a := range s.Notices {
			if a.UserId == e.UserId && a.Round == e.Round {
				s.Notices = slices.Delete(s.Notices, i, i+1)
				a.Status = pb.AlertStatus_ALERT_STATUS_NOTIFIED
				endAlert(s, a)
				break
			}
		}
	}
}

// endAlert adds a to the bounded list of ended alerts.
func endAlert(s *pb.State, a *pb.Alert) {
	s.Ended = append(s.Ended, a)
	if over := len(s.Ended) - endedAlertsKept; over > 0 {
		s.Ended = append(s.Ended[:0:0], s.Ended[over:]...)
	}
}

// Notice is one back-in-stock notice owed to a user: a mail and a live
// push, sent by the node's Notify.
type Notice struct {
	SKU       string
	ProductID string
	UserID    string
	// Round is the restock that triggered the alert.
	Round uint64
	// Available is what the SKU has now, as far as the grain knows.
	Available int64
	// Seq is the grain's journal seq when the notice was sent, for the push.
	Seq uint64
}

// Key identifies the notice for ever: the same (SKU, round, user) is the
// same notice, however often a crash makes the grain send it again. A
// sender that remembers keys sends each notice once.
func (n Notice) Key() string {
	return "stock-alert:" + n.SKU + ":" + strconv.FormatUint(n.Round, 10) + ":" + n.UserID
}

// notices returns the notices the state owes, oldest first.
func notices(s *pb.State, seq uint64) []Notice {
	out := make([]Notice, len(s.Notices))
	for i, a := range s.Notices {
		out[i] = Notice{SKU: s.Sku, ProductID: a.ProductId, UserID: a.UserId, Round: a.Round,
			Available: max(available(s), 0), Seq: seq}
	}
	return out
}

// alertsDue answers, when the state owes notices or a trigger, a moment in
// the past from which that work is due (the oldest subscription's), so
// that the sweeper wakes the SKU.
func alertsDue(s *pb.State) (time.Time, bool) {
	var due time.Time
	consider := func(a *pb.Alert) {
		if at := a.CreatedAt.AsTime(); due.IsZero() || at.Before(due) {
			due = at
		}
	}
	for _, a := range s.Notices {
		consider(a)
	}
	if available(s) > 0 {
		for _, a := range s.Alerts {
			consider(a)
		}
	}
	return due, !due.IsZero()
}

// alertAnswer renders the state as the answer to an alert command for user.
func alertAnswer(s *pb.State, seq uint64, user string, created bool) *pb.AlertAnswer {
	out := &pb.AlertAnswer{Stock: stock(s, seq, ""), Created: created}
	if a, ok := s.Alerts[user]; ok {
		out.Alert = proto.CloneOf(a)
	}
	return out
}

func needUserID(id string) error {
	if id == "" || len(id) > 128 {
		return emporium.Invalidf("user_id", emporium.FieldRequired, "user_id is required (1-128 characters)")
	}
	return nil
}
