package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	emporium "github.com/emporium-shop/emporium"
)

// failure turns an error of SQLite or database/sql into Emporium's error
// for operation op. A store that cannot answer in time (a read past its
// deadline, a lock held too long, a closed store) is EUNAVAILABLE, so that
// callers retry later and the API answers 503; anything else is EINTERNAL.
// Errors that are already Emporium's pass unchanged.
func failure(op string, err error) error {
	if err == nil {
		return nil
	}
	var e *emporium.Error
	if errors.As(err, &e) {
		return err
	}
	if unavailable(err) {
		return &emporium.Error{Code: emporium.EUNAVAILABLE, Message: "the store did not answer in time", Op: op, Err: err, RetryAfter: time.Second}
	}
	return &emporium.Error{Code: emporium.EINTERNAL, Message: "the store failed", Op: op, Err: err}
}

// unavailable reports whether err means the store could not serve the
// operation now, as opposed to refusing it.
func unavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, sql.ErrConnDone) || err.Error() == "sql: database is closed" {
		return true
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_INTERRUPT:
			return true
		}
	}
	return false
}
