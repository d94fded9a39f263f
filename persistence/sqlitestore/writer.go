package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	emporium "github.com/emporium-shop/emporium"
)

// writeTimeout bounds one batch's transaction. SQLite interrupts the
// statement that runs when it ends, and the whole batch fails.
const writeTimeout = 30 * time.Second

// writeOp is one caller's write: it runs inside the batch's transaction.
// An op that refuses (ECONFLICT, ENOTFOUND, EINVALID: an *emporium.Error)
// must have written nothing, which every op ensures by checking before it
// writes; any other error means the op may have written part of its work,
// and the batch is run again with a savepoint around each op. An op may
// run more than once, so it keeps no state between runs but the tx's.
type writeOp func(tx *writeTx) error

// writeTx is the transaction of one batch as the ops see it: SQL, plus the
// tables as this transaction has changed them, which become everyone's
// only when it commits.
type writeTx struct {
	*sql.Tx
	ctx    context.Context
	store  *Store
	tables map[string]*table    // collections created or altered in this tx
	stmts  map[string]*sql.Stmt // statements prepared in this tx, by SQL
}

// exec runs a statement, prepared once per transaction: the ops of a batch
// mostly run the same few statements, and SQLite spends more time parsing
// a short statement than running it.
func (tx *writeTx) exec(query string, args ...any) (sql.Result, error) {
	stmt, err := tx.prepared(query)
	if err != nil {
		return nil, err
	}
	return stmt.ExecContext(tx.ctx, args...)
}

// queryRow runs a query of one row, prepared once per transaction.
func (tx *writeTx) queryRow(query string, args ...any) *sql.Row {
	stmt, err := tx.prepared(query)
	if err != nil {
		// A Row carries its error to Scan; a failed prepare is rare
		// enough to take the unprepared path and report it there.
		return tx.QueryRowContext(tx.ctx, query, args...)
	}
	return stmt.QueryRowContext(tx.ctx, args...)
}

func (tx *writeTx) prepared(query string) (*sql.Stmt, error) {
	if stmt, ok := tx.stmts[query]; ok {
		return stmt, nil
	}
	stmt, err := tx.PrepareContext(tx.ctx, query)
	if err != nil {
		return nil, err
	}
	tx.stmts[query] = stmt
	return stmt, nil
}

// submit queues fn for the next batch and waits until it is durable, or
// refused, or ctx ends. Errors name op.
func (s *Store) submit(ctx context.Context, op string, fn writeOp) error {
	return failure(op, s.commits.Submit(ctx, op, fn))
}

// submitNow is submit for an op that must not linger for company: a batch
// of projections, which has lingered in its own queue already, and the
// probe of Ping. Its batch leaves at once (persistence.Committer.SubmitNow).
func (s *Store) submitNow(ctx context.Context, op string, fn writeOp) error {
	return failure(op, s.commits.SubmitNow(ctx, op, fn))
}

// errRerun asks writeBatch to run the batch again with savepoints.
var errRerun = errors.New("an op failed part-way; run the batch again with savepoints")

// writeBatch runs a batch of ops in one transaction and returns each op's
// outcome (group commit). Ops that refuse do not keep the others from
// committing; if the commit itself fails, every op fails with its error,
// since none of them is known to be durable.
func (s *Store) writeBatch(docs []any) []error {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	errs := make([]error, len(docs))
	err := s.runBatch(ctx, docs, errs, false)
	if errors.Is(err, errRerun) {
		err = s.runBatch(ctx, docs, errs, true)
	}
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
	}
	return errs
}

// runBatch runs the ops in one transaction. Without savepoints, an op that
// fails other than by refusing rolls the whole transaction back and
// returns errRerun; with them, only that op's work is rolled back.
func (s *Store) runBatch(ctx context.Context, docs []any, errs []error, savepoints bool) error {
	sqlTx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	tx := &writeTx{Tx: sqlTx, ctx: ctx, store: s, tables: map[string]*table{}, stmts: map[string]*sql.Stmt{}}
	for i, doc := range docs {
		errs[i] = nil
		if savepoints {
			errs[i] = tx.runIsolated(doc.(writeOp))
			continue
		}
		err := doc.(writeOp)(tx)
		if err != nil && !refusal(err) {
			_ = sqlTx.Rollback()
			return errRerun
		}
		errs[i] = err
	}
	if err := sqlTx.Commit(); err != nil {
		return err
	}
	s.tables.merge(tx.tables)
	return nil
}

// runIsolated runs op inside a savepoint and rolls back what it wrote if
// it fails.
func (tx *writeTx) runIsolated(op writeOp) error {
	if _, err := tx.ExecContext(tx.ctx, `SAVEPOINT op`); err != nil {
		return err
	}
	// The tables an op changes are kept only if it succeeds.
	saved := make(map[string]*table, len(tx.tables))
	for k, v := range tx.tables {
		saved[k] = v
	}
	err := op(tx)
	if err != nil {
		tx.tables = saved
		if _, rerr := tx.ExecContext(tx.ctx, `ROLLBACK TO op`); rerr != nil {
			return errors.Join(err, rerr)
		}
	}
	if _, rerr := tx.ExecContext(tx.ctx, `RELEASE op`); rerr != nil {
		return errors.Join(err, rerr)
	}
	return err
}

// refusal reports whether err is an op's refusal, which wrote nothing.
func refusal(err error) bool {
	var e *emporium.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code {
	case emporium.ECONFLICT, emporium.ENOTFOUND, emporium.EINVALID:
		return true
	}
	return false
}
