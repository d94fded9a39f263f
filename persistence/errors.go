package persistence

import (
	"fmt"

	emporium "github.com/emporium-shop/emporium"
)

// The errors every backend returns, so that callers see one vocabulary
// whatever the store: a lost race is ECONFLICT, a caller's mistake
// EINVALID, broken data EINTERNAL, a store that cannot answer EUNAVAILABLE.

// Conflict returns the typed optimistic-concurrency error of operation op.
func Conflict(op, format string, args ...any) error {
	return &emporium.Error{Code: emporium.ECONFLICT, Message: fmt.Sprintf(format, args...), Op: op}
}

// Invalid returns the error of operation op for a caller's mistake.
func Invalid(op, format string, args ...any) error {
	return &emporium.Error{Code: emporium.EINVALID, Message: fmt.Sprintf(format, args...), Op: op}
}

// NotFound returns the error of operation op for a missing document.
func NotFound(op, collection, id string) error {
	return &emporium.Error{Code: emporium.ENOTFOUND, Message: fmt.Sprintf("%s %q does not exist", collection, id), Op: op}
}

// Corrupt returns the error of operation op for data in the store that
// breaks the store's own rules; retrying cannot help, an operator must look.
func Corrupt(op string, err error, format string, args ...any) error {
	return &emporium.Error{Code: emporium.EINTERNAL, Message: fmt.Sprintf(format, args...), Op: op, Err: err}
}

// Closed is what every write returns once the store is closing.
func Closed(op string) error {
	return &emporium.Error{Code: emporium.EUNAVAILABLE, Message: "the store is closed", Op: op}
}

// Abandoned is returned to a caller that stopped waiting for its write.
func Abandoned(op string, err error) error {
	return &emporium.Error{
		Code:    emporium.EUNAVAILABLE,
		Message: "stopped waiting for the write; it may still be stored, so reload before retrying",
		Op:      op,
		Err:     err,
	}
}
