package sqlitestore

import (
	"context"
	"database/sql"
)

// eachRow calls scan for every row of rows and closes them. err is the
// query's error, taken as it comes so that a call reads
// rows, err := db.Query(...); return eachRow(rows, err, ...). It returns the
// first error: the query's, scan's, or the rows'.
func eachRow(rows *sql.Rows, err error, scan func(*sql.Rows) error) error {
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// readRows runs a read (bounded and mapped as read does) and calls scan for
// each of its rows.
func (s *Store) readRows(ctx context.Context, op, query string, args []any, scan func(*sql.Rows) error) error {
	return s.read(ctx, op, func(ctx context.Context) error {
		rows, err := s.query(ctx, query, args...)
		return eachRow(rows, err, scan)
	})
}
