package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/emporium-shop/emporium/persistence"
)

// Each collection of documents is one table:
//
//	"doc:<collection>" (id TEXT PRIMARY KEY, n INTEGER, body BLOB, "f:<field>" ...)
//
// where n is the document's version or seq and body its BSON (the form
// persistence.EncodeDocument makes). Every field an index is declared on
// (EnsureIndex) gets a column "f:<field>" that each write fills from the
// body, and the declared index is a real index on those columns. Quoted
// identifiers keep collection and field names as they are, with no mapping
// to maintain.

// tablePrefix and columnPrefix make a collection's table and a field's
// column; indexPrefix names an index.
const (
	tablePrefix  = "doc:"
	columnPrefix = "f:"
	indexPrefix  = "ix:"
)

// table is what the store knows of one collection's table.
type table struct {
	collection string
	fields     []string // the fields with a column, in column order
	leads      []string // the fields a declared index starts with
}

// name is the table's quoted SQL name.
func (t *table) name() string { return ident(tablePrefix + t.collection) }

// has reports whether field has a column.
func (t *table) has(field string) bool { return slices.Contains(t.fields, field) }

// leadsIndex reports whether a declared index starts with field, which is
// what a query by field needs to search rather than scan.
func (t *table) leadsIndex(field string) bool { return slices.Contains(t.leads, field) }

// withLead returns a copy of t in which field leads an index.
func (t *table) withLead(field string) *table {
	if t.leadsIndex(field) {
		return t
	}
	return &table{collection: t.collection, fields: t.fields, leads: append(slices.Clone(t.leads), field)}
}

// tables caches the collections' tables as committed. Only this process
// changes the schema (the directory lock sees to that), so the cache is the
// truth; a write transaction keeps its own changes apart until it commits.
type tables struct {
	mu     sync.RWMutex
	byName map[string]*table
}

// loadTables reads the document tables of the file and their columns.
func loadTables(ctx context.Context, db *sql.DB) (*tables, error) {
	var names []string
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'doc:%'`)
	err = eachRow(rows, err, func(rows *sql.Rows) error {
		var name string
		err := rows.Scan(&name)
		names = append(names, name)
		return err
	})
	if err != nil {
		return nil, err
	}
	ts := &tables{byName: map[string]*table{}}
	for _, name := range names {
		t := &table{collection: strings.TrimPrefix(name, tablePrefix)}
		cols, err := db.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, name)
		err = eachRow(cols, err, func(cols *sql.Rows) error {
			var col string
			if err := cols.Scan(&col); err != nil {
				return err
			}
			if field, ok := strings.CutPrefix(col, columnPrefix); ok {
				t.fields = append(t.fields, field)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		ts.byName[t.collection] = t
	}
	if err := loadLeads(ctx, db, ts); err != nil {
		return nil, err
	}
	return ts, nil
}

// loadLeads finds, for every document table, the fields its declared
// indexes start with.
func loadLeads(ctx context.Context, db *sql.DB, ts *tables) error {
	rows, err := db.QueryContext(ctx, `SELECT m.tbl_name, i.name FROM sqlite_master AS m, pragma_index_info(m.name) AS i
		WHERE m.type = 'index' AND m.name LIKE 'ix:%' AND i.seqno = 0`)
	return eachRow(rows, err, func(rows *sql.Rows) error {
		var tbl, col string
		if err := rows.Scan(&tbl, &col); err != nil {
			return err
		}
		t := ts.byName[strings.TrimPrefix(tbl, tablePrefix)]
		if field, ok := strings.CutPrefix(col, columnPrefix); ok && t != nil && !t.leadsIndex(field) {
			t.leads = append(t.leads, field)
		}
		return nil
	})
}

// get returns the committed table of collection, or nil when the
// collection has none yet (nothing was ever written to it).
func (ts *tables) get(collection string) *table {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	return ts.byName[collection]
}

// merge makes the tables a transaction created or altered everyone's, once
// it has committed.
func (ts *tables) merge(changed map[string]*table) {
	if len(changed) == 0 {
		return
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for name, t := range changed {
		ts.byName[name] = t
	}
}

// table returns the table of collection as this transaction sees it,
// creating it when it does not exist.
func (tx *writeTx) table(collection string) (*table, error) {
	if t, ok := tx.tables[collection]; ok {
		return t, nil
	}
	if t := tx.store.tables.get(collection); t != nil {
		return t, nil
	}
	t := &table{collection: collection}
	stmt := `CREATE TABLE IF NOT EXISTS ` + t.name() + ` (id TEXT PRIMARY KEY, n INTEGER NOT NULL, body BLOB NOT NULL)`
	if _, err := tx.ExecContext(tx.ctx, stmt); err != nil {
		return nil, fmt.Errorf("create the table of %s: %w", collection, err)
	}
	tx.tables[collection] = t
	return t, nil
}

// addColumn gives field a column in collection's table and fills it from
// every stored document.
func (tx *writeTx) addColumn(t *table, field string) (*table, error) {
	stmt := `ALTER TABLE ` + t.name() + ` ADD COLUMN ` + ident(columnPrefix+field)
	if _, err := tx.ExecContext(tx.ctx, stmt); err != nil {
		return nil, fmt.Errorf("add column %s to %s: %w", field, t.collection, err)
	}
	grown := &table{collection: t.collection, fields: append(slices.Clone(t.fields), field), leads: t.leads}
	tx.tables[t.collection] = grown

	type fill struct {
		id    string
		value any
	}
	var fills []fill
	rows, err := tx.QueryContext(tx.ctx, `SELECT id, body FROM `+t.name())
	err = eachRow(rows, err, func(rows *sql.Rows) error {
		var id string
		var body []byte
		if err := rows.Scan(&id, &body); err != nil {
			return err
		}
		if v := fieldValue(bson.Raw(body), field); v != nil {
			fills = append(fills, fill{id, v})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	update := `UPDATE ` + t.name() + ` SET ` + ident(columnPrefix+field) + ` = ? WHERE id = ?`
	for _, f := range fills {
		if _, err := tx.ExecContext(tx.ctx, update, f.value, f.id); err != nil {
			return nil, err
		}
	}
	return grown, nil
}

// row is one document as a table stores it.
type row struct {
	id   string
	n    int64
	body bson.Raw
}

// columns returns the column list and placeholders of an insert of a
// document into t, and the values in that order.
func (t *table) columns(r row) (cols, marks string, values []any) {
	var c, m strings.Builder
	c.WriteString("id, n, body")
	m.WriteString("?, ?, ?")
	values = append(make([]any, 0, 3+len(t.fields)), r.id, r.n, []byte(r.body))
	for _, f := range t.fields {
		c.WriteString(", " + ident(columnPrefix+f))
		m.WriteString(", ?")
		values = append(values, fieldValue(r.body, f))
	}
	return c.String(), m.String(), values
}

// assignments returns "col = excluded.col, ..." for every column of t but
// id: the SET clause of an upsert that replaces a whole document.
func (t *table) assignments() string {
	var b strings.Builder
	b.WriteString("n = excluded.n, body = excluded.body")
	for _, f := range t.fields {
		col := ident(columnPrefix + f)
		b.WriteString(", " + col + " = excluded." + col)
	}
	return b.String()
}

// fieldValue returns the value of field (a dotted path) in doc as SQLite
// stores it in the field's column, so that columns compare as the values
// do: strings as text, integers and times (milliseconds since the epoch,
// BSON's precision) as integers, doubles as reals, booleans as 0 and 1. A
// missing field, a null and a value of any other type (arrays, documents)
// are NULL.
func fieldValue(doc bson.Raw, field string) any {
	v, err := doc.LookupErr(strings.Split(field, ".")...)
	if err != nil {
		return nil
	}
	switch v.Type {
	case bson.TypeString:
		return v.StringValue()
	case bson.TypeInt32:
		return int64(v.Int32())
	case bson.TypeInt64:
		return v.Int64()
	case bson.TypeDouble:
		return v.Double()
	case bson.TypeDateTime:
		return v.DateTime()
	case bson.TypeBoolean:
		if v.Boolean() {
			return int64(1)
		}
		return int64(0)
	}
	return nil
}

// paramValue converts a Go value a query compares a column with, the same
// way fieldValue converts stored values.
func paramValue(op string, v any) (any, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case int:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int64:
		return x, nil
	case uint32:
		return int64(x), nil
	case float64:
		return x, nil
	case bool:
		if x {
			return int64(1), nil
		}
		return int64(0), nil
	case time.Time:
		return x.UnixMilli(), nil
	}
	return nil, persistence.Invalid(op, "cannot compare a field with a %T", v)
}

// ident quotes an SQL identifier.
func ident(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}
