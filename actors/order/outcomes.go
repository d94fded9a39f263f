package order

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/payments"
	pb "github.com/emporium-shop/emporium/protos/orderpb"
)

// The outcome functions turn what a step's effect answered into the events
// that record it: pure, like decide, so that every path of the saga is
// tested without actors, stores or providers. An outcome is either events
// (the step finished, well or badly) or a retry: the effect's answer left
// its result unknown (a timeout, a busy grain, a provider that did not
// answer), and the same idempotent step runs again after a pause.

// outcome is the result of one run of a step's effect.
type outcome struct {
	events []proto.Message
	// retry, when not nil, is why the step runs again.
	retry error
}

// transient reports whether err leaves the outcome unknown, so that the
// step must be retried rather than taken as an answer.
func transient(err error) bool {
	switch emporium.ErrorCode(err) {
	case emporium.EUNAVAILABLE, emporium.ECONFLICT, emporium.ERATELIMITED, emporium.EINTERNAL:
		return true
	}
	return false
}

// skuErrors maps each SKU to its grain's answer (nil for success).
type skuErrors map[string]error

// with returns the sorted SKUs whose answer has one of codes.
func (e skuErrors) with(codes ...string) []string {
	var out []string
	for sku, err := range e {
		if err != nil && slices.Contains(codes, emporium.ErrorCode(err)) {
			out = append(out, sku)
		}
	}
	slices.Sort(out)
	return out
}

// retryable returns the first transient error, if any.
func (e skuErrors) retryable() error {
	for _, err := range e {
		if err != nil && transient(err) {
			return err
		}
	}
	return nil
}

func reserveOutcome(errs skuErrors, now time.Time) outcome {
	at := timestamppb.New(now)
	if skus := errs.with(emporium.EOUTOFSTOCK); len(skus) > 0 {
		tb := failed(emporium.ReasonOutOfStock, "Not enough stock of "+strings.Join(skus, ", ")+".", at)
		tb.OutOfStockSkus = skus
		return outcome{events: []proto.Message{tb}}
	}
	if skus := errs.with(emporium.ECONFLICT, emporium.EEXPIRED); len(skus) > 0 {
		// The SKU's grain let this order's hold go already (it expired
		// while the order was down) and does not renew it.
		return outcome{events: []proto.Message{failed(emporium.ReasonReservationExpired,
			"The stock held for the order ran out: "+strings.Join(skus, ", ")+".", at)}}
	}
	if skus := errs.with(emporium.EINVALID, emporium.ENOTFOUND); len(skus) > 0 {
		return outcome{events: []proto.Message{failed(emporium.ReasonNotPurchasable,
			"These SKUs cannot be ordered: "+strings.Join(skus, ", ")+".", at)}}
	}
	if err := errs.retryable(); err != nil {
		return outcome{retry: err}
	}
	return outcome{events: []proto.Message{&pb.StockReserved{At: at}}}
}

func commitOutcome(errs skuErrors, now time.Time) outcome {
	at := timestamppb.New(now)
	if skus := errs.with(emporium.EEXPIRED, emporium.ENOTFOUND); len(skus) > 0 {
		return outcome{events: []proto.Message{failed(emporium.ReasonReservationExpired,
			"The stock held for the order ran out before payment: "+strings.Join(skus, ", ")+".", at)}}
	}
	if err := errs.retryable(); err != nil {
		return outcome{retry: err}
	}
	for sku, err := range errs {
		if err != nil {
			return outcome{retry: fmt.Errorf("committing %s: %w", sku, err)}
		}
	}
	return outcome{events: []proto.Message{&pb.StockCommitted{At: at}}}
}

// returnOutcome records the stock given back; nothing but a transient
// failure stops it, since Return refuses nothing else.
func returnOutcome(errs skuErrors, now time.Time) outcome {
	for sku, err := range errs {
		if err != nil {
			return outcome{retry: fmt.Errorf("returning %s: %w", sku, err)}
		}
	}
	return outcome{events: []proto.Message{&pb.StockReturned{At: timestamppb.New(now)}}}
}

// authorizationOutcome records a provider's answer to Authorize or
// Confirm.
func authorizationOutcome(s *pb.State, a payments.Authorization, err error, now time.Time) outcome {
	at := timestamppb.New(now)
	if err != nil {
		if transient(err) {
			return outcome{retry: err}
		}
		// The provider refused the request itself (a payment method it does
		// not know, say): it holds nothing, so there is nothing to void.
		tb := failed(emporium.ReasonPaymentError, "The payment provider refused the payment: "+emporium.ErrorMessage(err), at)
		tb.PaymentDeclined = true
		return outcome{events: []proto.Message{tb}}
	}
	switch a.Status {
	case payments.StatusAuthorized:
		return outcome{events: []proto.Message{&pb.PaymentAuthorized{PaymentId: a.PaymentID, Amount: s.Total, At: at}}}
	case payments.StatusRequiresApproval:
		deadline := s.Payment.GetApprovalDeadline()
		if deadline == nil {
			deadline = timestamppb.New(now.Add(ApprovalWindow))
		}
		return outcome{events: []proto.Message{&pb.PaymentApprovalRequired{
			PaymentId: a.PaymentID, ApprovalUrl: a.ApprovalURL, Deadline: deadline, At: at}}}
	case payments.StatusDeclined, payments.StatusVoided:
		return outcome{events: []proto.Message{declined(a.PaymentID, a.DeclineCode, at)}}
	}
	return outcome{retry: fmt.Errorf("the provider answered status %q", a.Status)}
}

func captureOutcome(c payments.Capture, err error, now time.Time) outcome {
	at := timestamppb.New(now)
	if err != nil {
		if transient(err) {
			return outcome{retry: err}
		}
		return outcome{events: []proto.Message{failed(emporium.ReasonPaymentError,
			"The payment could not be captured: "+emporium.ErrorMessage(err), at)}}
	}
	return outcome{events: []proto.Message{&pb.PaymentCaptured{CaptureId: c.CaptureID,
		Amount: &pb.Money{Amount: c.Amount.Amount, Currency: c.Amount.Currency}, At: at}}}
}

// voidOutcome records a void. A provider that refuses it for good (the
// authorisation expired there, or never existed) leaves nothing held, so
// the order goes on.
func voidOutcome(err error, now time.Time) outcome {
	if err != nil && transient(err) {
		return outcome{retry: err}
	}
	return outcome{events: []proto.Message{&pb.PaymentVoided{At: timestamppb.New(now)}}}
}

func refundOutcome(r payments.Refund, err error, now time.Time) outcome {
	if err != nil {
		// A refund refused for good would leave money with the shop: keep
		// trying (the order stays visible to the recovery loop and in the
		// metrics) rather than end the order as if it were repaid.
		return outcome{retry: err}
	}
	return outcome{events: []proto.Message{&pb.PaymentRefunded{RefundId: r.RefundID,
		Amount: &pb.Money{Amount: r.Amount.Amount, Currency: r.Amount.Currency}, At: timestamppb.New(now)}}}
}

// adjustmentRefundOutcome records the refund of adjustment id; a failure
// keeps trying, as refundOutcome does.
func adjustmentRefundOutcome(id string, r payments.Refund, err error, now time.Time) outcome {
	if err != nil {
		return outcome{retry: err}
	}
	return outcome{events: []proto.Message{&pb.AdjustmentRefunded{Id: id, RefundId: r.RefundID,
		Amount: &pb.Money{Amount: r.Amount.Amount, Currency: r.Amount.Currency}, At: timestamppb.New(now)}}}
}

// adjustmentReturnOutcome records adjustment id's units back on hand once
// every SKU took them.
func adjustmentReturnOutcome(id string, errs skuErrors, now time.Time) outcome {
	for sku, err := range errs {
		if err != nil {
			return outcome{retry: fmt.Errorf("returning units of %s: %w", sku, err)}
		}
	}
	return outcome{events: []proto.Message{&pb.AdjustmentReturned{Id: id, At: timestamppb.New(now)}}}
}

// cartOutcome records the units taken out of the cart. Only a transient
// failure retries: the order is paid for, and a cart that refuses for good
// must not hold it back.
func cartOutcome(err error, now time.Time) outcome {
	if err != nil && transient(err) {
		return outcome{retry: err}
	}
	return outcome{events: []proto.Message{&pb.CartCheckedOut{At: timestamppb.New(now)}}}
}

// notifyOutcome records a mail sent, or given up on after attempts tries:
// a mail is a courtesy, the order is what counts.
func notifyOutcome(kind string, err error, attempts int, now time.Time) outcome {
	if err != nil && attempts < maxNotifyAttempts {
		return outcome{retry: err}
	}
	return outcome{events: []proto.Message{&pb.Notified{Kind: kind, Failed: err != nil, At: timestamppb.New(now)}}}
}

// maxNotifyAttempts is how many times a mail is tried.
const maxNotifyAttempts = 5
