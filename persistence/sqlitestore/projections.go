package sqlitestore

import (
	"context"
	"database/sql"
	"math/bits"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/emporium-shop/emporium/persistence"
)

// Projections are the read models on SQLite (persistence.Projections): the
// shared write queue, whose batches become one op of the store's writer,
// and queries that each read through an index.
type Projections struct {
	*persistence.ProjectionQueue
	store *Store
}

func newProjections(s *Store, gc persistence.GroupCommit) *Projections {
	p := &Projections{store: s}
	p.ProjectionQueue = persistence.NewProjectionQueue(s.log, gc, p.writeBatch)
	return p
}

// writeBatch stores a batch of projections as one op of the writer: an
// upsert each that replaces only a document with a lower seq. A failure
// fails the whole op, which rolls back, so the batch is retried whole.
func (p *Projections) writeBatch(ctx context.Context, batch []*persistence.Projection) ([]*persistence.Projection, error) {
	const op = "sqlitestore.Projections.Flush"
	err := p.store.submitNow(ctx, op, func(tx *writeTx) error {
		for _, q := range batch {
			t, err := tx.table(q.Collection)
			if err != nil {
				return err
			}
			cols, marks, values := t.columns(row{id: q.ID, n: int64(q.Seq), body: q.Doc})
			stmt := `INSERT INTO ` + t.name() + ` (` + cols + `) VALUES (` + marks + `)
				ON CONFLICT (id) DO UPDATE SET ` + t.assignments() + ` WHERE excluded.n > ` + t.name() + `.n`
			if _, err := tx.exec(stmt, values...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return batch, err
	}
	return nil, nil
}

// Get implements persistence.Projections.
func (p *Projections) Get(ctx context.Context, collection, id string, into any) (uint64, error) {
	const op = "sqlitestore.Projections.Get"
	n, err := p.store.getRow(ctx, op, collection, id, into)
	return uint64(n), err
}

// maxParams bounds the ids of one IN list, below SQLite's limit on bound
// parameters.
const maxParams = 500

// GetMany implements persistence.Projections: primary-key lookups, a few
// hundred ids a statement.
func (p *Projections) GetMany(ctx context.Context, collection string, ids []string, into any) error {
	const op = "sqlitestore.Projections.GetMany"
	if err := persistence.CheckSliceTarget(op, into); err != nil {
		return err
	}
	ids = persistence.Unique(ids)
	t := p.store.tables.get(collection)
	if t == nil || len(ids) == 0 {
		return persistence.DecodeInto(op, collection, nil, into)
	}
	byID := make(map[string]bson.Raw, len(ids))
	for start := 0; start < len(ids); start += maxParams {
		chunk := ids[start:min(start+maxParams, len(ids))]
		// The list is padded, with its last id, to a power of two, so
		// that a table needs at most a few prepared statements.
		size := min(maxParams, 1<<bits.Len(uint(len(chunk)-1)))
		args := make([]any, size)
		for i := range args {
			args[i] = chunk[min(i, len(chunk)-1)]
		}
		stmt := `SELECT id, body FROM ` + t.name() + ` WHERE id IN (?` + strings.Repeat(", ?", size-1) + `)`
		err := p.store.readRows(ctx, op, stmt, args, func(rows *sql.Rows) error {
			var id string
			var body []byte
			if err := rows.Scan(&id, &body); err != nil {
				return err
			}
			byID[id] = body
			return nil
		})
		if err != nil {
			return err
		}
	}
	raws := make([]bson.Raw, 0, len(byID))
	for _, id := range ids {
		if raw, ok := byID[id]; ok {
			raws = append(raws, raw)
		}
	}
	return persistence.DecodeInto(op, collection, raws, into)
}

// List implements persistence.Projections through the index on (field,
// -_id).
func (p *Projections) List(ctx context.Context, collection, field string, value any, beforeID string, limit int, into any) error {
	const op = "sqlitestore.Projections.List"
	if err := persistence.CheckSliceTarget(op, into); err != nil {
		return err
	}
	if field == "" || limit <= 0 {
		return persistence.Invalid(op, "listing %s needs a field and a positive limit", collection)
	}
	t, err := p.indexed(op, collection, field)
	if err != nil {
		return err
	}
	param, err := paramValue(op, value)
	if err != nil {
		return err
	}
	stmt, args := listQuery(t, field, param, beforeID, limit)
	var raws []bson.Raw
	err = p.store.readRows(ctx, op, stmt, args, func(rows *sql.Rows) error {
		var body []byte
		if err := rows.Scan(&body); err != nil {
			return err
		}
		raws = append(raws, body)
		return nil
	})
	if err != nil {
		return err
	}
	return persistence.DecodeInto(op, collection, raws, into)
}

// listQuery is List's statement.
func listQuery(t *table, field string, value any, beforeID string, limit int) (string, []any) {
	stmt := `SELECT body FROM ` + t.name() + ` WHERE ` + ident(columnPrefix+field) + ` = ?`
	args := []any{value}
	if beforeID != "" {
		stmt += ` AND id < ?`
		args = append(args, beforeID)
	}
	return stmt + ` ORDER BY id DESC LIMIT ?`, append(args, limit)
}

// DueBefore implements persistence.Projections through the index on field.
func (p *Projections) DueBefore(ctx context.Context, collection, field string, t time.Time, limit int) ([]string, error) {
	const op = "sqlitestore.Projections.DueBefore"
	if field == "" || limit <= 0 {
		return nil, persistence.Invalid(op, "finding due %s needs a field and a positive limit", collection)
	}
	tbl, err := p.indexed(op, collection, field)
	if err != nil {
		return nil, err
	}
	stmt, args := dueQuery(tbl, field, t, limit)
	return p.ids(ctx, op, stmt, args...)
}

// dueQuery is DueBefore's statement.
func dueQuery(t *table, field string, due time.Time, limit int) (string, []any) {
	col := ident(columnPrefix + field)
	return `SELECT id FROM ` + t.name() + ` WHERE ` + col + ` <= ? ORDER BY ` + col + ` LIMIT ?`,
		[]any{due.UnixMilli(), limit}
}

// EnsureIndex implements persistence.Projections: it creates the
// collection's table if need be, a column for each field that has none
// (filled from the documents already stored) and the index, in one
// transaction of the writer.
func (p *Projections) EnsureIndex(ctx context.Context, collection string, keys ...string) error {
	const op = "sqlitestore.Projections.EnsureIndex"
	if collection == "" || len(keys) == 0 {
		return persistence.Invalid(op, "an index needs a collection and at least one key")
	}
	var cols []string
	for i, k := range keys {
		name, order := strings.TrimPrefix(k, "-"), ""
		if name != k {
			order = " DESC"
		}
		switch name {
		case "":
			return persistence.Invalid(op, "index key %d of %s is empty", i, collection)
		case "_id":
			cols = append(cols, "id"+order)
		case "seq", "version":
			cols = append(cols, "n"+order)
		default:
			cols = append(cols, ident(columnPrefix+name)+order)
		}
	}
	index := ident(indexPrefix + collection + ":" + strings.Join(keys, ","))
	return p.store.submit(ctx, op, func(tx *writeTx) error {
		t, err := tx.table(collection)
		if err != nil {
			return err
		}
		for _, k := range keys {
			name := strings.TrimPrefix(k, "-")
			if name == "_id" || name == "seq" || name == "version" || t.has(name) {
				continue
			}
			if t, err = tx.addColumn(t, name); err != nil {
				return err
			}
		}
		_, err = tx.exec(`CREATE INDEX IF NOT EXISTS ` + index + ` ON ` + t.name() + ` (` + strings.Join(cols, ", ") + `)`)
		if err != nil {
			return err
		}
		if first := strings.TrimPrefix(keys[0], "-"); first != "_id" && first != "seq" && first != "version" {
			tx.tables[collection] = t.withLead(first)
		}
		return nil
	})
}

// SetMark implements persistence.Projections: the mark lives in the
// field's column, not in the document, and a later Put of the document
// clears it, since the new document has no such field.
func (p *Projections) SetMark(ctx context.Context, collection, field string, marks ...persistence.Mark) error {
	const op = "sqlitestore.Projections.SetMark"
	if field == "" || field == "_id" || field == "seq" {
		return persistence.Invalid(op, "the mark field of %s must be named, and neither _id nor seq", collection)
	}
	for _, m := range marks {
		if m.ID == "" || m.Seq == 0 || m.Seq > 1<<63-1 {
			return persistence.Invalid(op, "a mark of %s needs an id and a seq from 1 to 2^63-1", collection)
		}
	}
	if len(marks) == 0 {
		return nil
	}
	t, err := p.indexed(op, collection, field)
	if err != nil {
		return err
	}
	stmt := `UPDATE ` + t.name() + ` SET ` + ident(columnPrefix+field) + ` = ? WHERE id = ? AND n = ?`
	return p.store.submit(ctx, op, func(tx *writeTx) error {
		for _, m := range marks {
			if _, err := tx.exec(stmt, int64(m.Seq), m.ID, int64(m.Seq)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Unmarked implements persistence.Projections through the index on
// (field, _id).
func (p *Projections) Unmarked(ctx context.Context, collection, field, afterID string, limit int) ([]string, error) {
	const op = "sqlitestore.Projections.Unmarked"
	if field == "" || limit <= 0 {
		return nil, persistence.Invalid(op, "finding unmarked %s needs a field and a positive limit", collection)
	}
	t, err := p.indexed(op, collection, field)
	if err != nil {
		return nil, err
	}
	stmt, args := unmarkedQuery(t, field, afterID, limit)
	return p.ids(ctx, op, stmt, args...)
}

// unmarkedQuery is Unmarked's statement.
func unmarkedQuery(t *table, field, afterID string, limit int) (string, []any) {
	stmt := `SELECT id FROM ` + t.name() + ` WHERE ` + ident(columnPrefix+field) + ` IS NULL`
	var args []any
	if afterID != "" {
		stmt += ` AND id > ?`
		args = append(args, afterID)
	}
	return stmt + ` ORDER BY id LIMIT ?`, append(args, limit)
}

// EachID implements persistence.Projections by pages in _id order, each
// its own short read, so that a walk of a large collection never holds a
// connection while fn runs.
func (p *Projections) EachID(ctx context.Context, collection string, batch int, fn func(ids []string) error) error {
	const op = "sqlitestore.Projections.EachID"
	if batch <= 0 {
		return persistence.Invalid(op, "walking %s needs a positive batch size", collection)
	}
	t := p.store.tables.get(collection)
	if t == nil {
		return nil
	}
	after := ""
	for {
		ids, err := p.ids(ctx, op, `SELECT id FROM `+t.name()+` WHERE id > ? ORDER BY id LIMIT ?`, after, batch)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		if err := fn(ids); err != nil {
			return err
		}
		after = ids[len(ids)-1]
	}
}

// Count implements persistence.Projections.
func (p *Projections) Count(ctx context.Context, collection string) (int, error) {
	const op = "sqlitestore.Projections.Count"
	t := p.store.tables.get(collection)
	if t == nil {
		return 0, nil
	}
	var n int
	err := p.store.read(ctx, op, func(ctx context.Context) error {
		return p.store.queryRow(ctx, `SELECT count(*) FROM `+t.name()).Scan(&n)
	})
	return n, err
}

// indexed returns the table of collection when a declared index starts
// with field, and EINVALID otherwise: a query on a field without such an
// index would scan the collection.
func (p *Projections) indexed(op, collection, field string) (*table, error) {
	t := p.store.tables.get(collection)
	if t == nil || !t.leadsIndex(field) {
		return nil, persistence.Invalid(op, "%s has no index on %s; declare one with EnsureIndex at start-up", collection, field)
	}
	return t, nil
}

// ids runs a query of ids.
func (p *Projections) ids(ctx context.Context, op, stmt string, args ...any) ([]string, error) {
	var ids []string
	err := p.store.readRows(ctx, op, stmt, args, func(rows *sql.Rows) error {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		ids = append(ids, id)
		return nil
	})
	return ids, err
}
