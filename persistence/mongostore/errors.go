package mongostore

import (
	"context"
	"errors"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	emporium "github.com/emporium-shop/emporium"
)

// failure turns an error from the driver into Emporium's error for
// operation op. Trouble reaching the server (timeouts, network errors, a
// closed client) is EUNAVAILABLE so that callers retry later; anything else
// is EINTERNAL. Either way the write may or may not have happened.
func failure(op string, err error) error {
	if err == nil {
		return nil
	}
	var e *emporium.Error
	if errors.As(err, &e) && e.Op == op {
		return err
	}
	if unreachable(err) {
		return &emporium.Error{Code: emporium.EUNAVAILABLE, Message: "the store is unreachable or too slow", Op: op, Err: err}
	}
	return &emporium.Error{Code: emporium.EINTERNAL, Message: "the store failed", Op: op, Err: err}
}

// unreachable reports whether err means the server could not be reached or
// did not answer in time, as opposed to the server refusing the operation.
func unreachable(err error) bool {
	var sse topology.ServerSelectionError
	return errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled) ||
		errors.Is(err, mongo.ErrClientDisconnected) ||
		errors.As(err, &sse) ||
		mongo.IsTimeout(err) ||
		mongo.IsNetworkError(err)
}
