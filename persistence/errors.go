package persistence

import (
	"context"
	"errors"
	"fmt"

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

// conflict returns the typed optimistic-concurrency error of operation op.
func conflict(op, format string, args ...any) error {
	return &emporium.Error{Code: emporium.ECONFLICT, Message: fmt.Sprintf(format, args...), Op: op}
}

// invalid returns the error of operation op for a caller's mistake.
func invalid(op, format string, args ...any) error {
	return &emporium.Error{Code: emporium.EINVALID, Message: fmt.Sprintf(format, args...), Op: op}
}

// corrupt returns the error of operation op for data in the store that
// breaks the store's own rules; retrying cannot help, an operator must look.
func corrupt(op string, err error, format string, args ...any) error {
	return &emporium.Error{Code: emporium.EINTERNAL, Message: fmt.Sprintf(format, args...), Op: op, Err: err}
}

// closedError is what every write returns once the store is closing.
func closedError(op string) error {
	return &emporium.Error{Code: emporium.EUNAVAILABLE, Message: "the store is closed", Op: op}
}

// abandoned is returned to a caller that stopped waiting for its write.
func abandoned(op string, err error) error {
	return &emporium.Error{
		Code:    emporium.EUNAVAILABLE,
		Message: "stopped waiting for the write; it may still be stored, so reload before retrying",
		Op:      op,
		Err:     err,
	}
}
