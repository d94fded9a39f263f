package sqlitestore

import (
	"context"
	"database/sql"
	"errors"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/emporium-shop/emporium/persistence"
)

// Documents is a collection of versioned state documents on SQLite
// (persistence.Documents). Each write checks the version and writes in one
// statement of the batch's transaction, so it is atomic.
type Documents struct {
	store *Store
	name  string
}

// Get implements persistence.Documents.
func (d *Documents) Get(ctx context.Context, id string, into any) (int64, error) {
	const op = "sqlitestore.Documents.Get"
	return d.store.getRow(ctx, op, d.name, id, into)
}

// Put implements persistence.Documents.
func (d *Documents) Put(ctx context.Context, id string, expectedVersion int64, doc any) (int64, error) {
	const op = "sqlitestore.Documents.Put"
	if id == "" {
		return 0, persistence.Invalid(op, "the %s id is empty", d.name)
	}
	if expectedVersion < 0 {
		return 0, persistence.Invalid(op, "version %d of %s %q is negative", expectedVersion, d.name, id)
	}
	version := expectedVersion + 1
	body, err := persistence.EncodeDocument(doc, id, "version", version)
	if err != nil {
		return 0, persistence.Invalid(op, "%s %q cannot be encoded: %v", d.name, id, err)
	}
	r := row{id: id, n: version, body: body}
	err = d.store.submit(ctx, op, func(tx *writeTx) error {
		t, err := tx.table(d.name)
		if err != nil {
			return err
		}
		cols, marks, values := t.columns(r)
		if expectedVersion == 0 {
			res, err := tx.exec(`INSERT INTO `+t.name()+` (`+cols+`) VALUES (`+marks+`) ON CONFLICT (id) DO NOTHING`, values...)
			if err != nil {
				return err
			}
			if affected(res) == 0 {
				return persistence.Conflict(op, "%s %q already exists", d.name, id)
			}
			return nil
		}
		// Replace by id and version: values are (id, n, body, fields...),
		// the statement wants the new columns, then id and the old version.
		res, err := tx.exec(`UPDATE `+t.name()+` SET (`+cols+`) = (`+marks+`) WHERE id = ? AND n = ?`,
			append(values, id, expectedVersion)...)
		if err != nil {
			return err
		}
		if affected(res) == 1 {
			return nil
		}
		return d.versionConflict(tx, op, t, id, expectedVersion, true)
	})
	if err != nil {
		return 0, err
	}
	return version, nil
}

// Delete implements persistence.Documents.
func (d *Documents) Delete(ctx context.Context, id string, expectedVersion int64) error {
	const op = "sqlitestore.Documents.Delete"
	if expectedVersion <= 0 {
		return persistence.Invalid(op, "deleting %s %q needs the version it is at", d.name, id)
	}
	return d.store.submit(ctx, op, func(tx *writeTx) error {
		t, err := tx.table(d.name)
		if err != nil {
			return err
		}
		res, err := tx.exec(`DELETE FROM `+t.name()+` WHERE id = ? AND n = ?`, id, expectedVersion)
		if err != nil {
			return err
		}
		if affected(res) == 1 {
			return nil
		}
		return d.versionConflict(tx, op, t, id, expectedVersion, false)
	})
}

// versionConflict explains why a write at version matched nothing: the
// document is missing (ECONFLICT for a replace, whose caller saw it, and
// ENOTFOUND for a delete) or at another version (ECONFLICT).
func (d *Documents) versionConflict(tx *writeTx, op string, t *table, id string, version int64, replace bool) error {
	var current int64
	err := tx.queryRow(`SELECT n FROM `+t.name()+` WHERE id = ?`, id).Scan(&current)
	switch {
	case errors.Is(err, sql.ErrNoRows) && replace:
		return persistence.Conflict(op, "%s %q was deleted; reload and decide again", d.name, id)
	case errors.Is(err, sql.ErrNoRows):
		return persistence.NotFound(op, d.name, id)
	case err != nil:
		return err
	}
	return persistence.Conflict(op, "%s %q is at version %d, not %d; reload and decide again", d.name, id, current, version)
}

// getRow reads one document by id: it decodes the body into into (unless
// into is nil) and answers the counter (version or seq). A missing
// document, or collection, is ENOTFOUND.
func (s *Store) getRow(ctx context.Context, op, collection, id string, into any) (int64, error) {
	t := s.tables.get(collection)
	if t == nil {
		return 0, persistence.NotFound(op, collection, id)
	}
	var (
		n    int64
		body []byte
	)
	err := s.read(ctx, op, func(ctx context.Context) error {
		return s.queryRow(ctx, `SELECT n, body FROM `+t.name()+` WHERE id = ?`, id).Scan(&n, &body)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return 0, persistence.NotFound(op, collection, id)
	}
	if err != nil {
		return 0, err
	}
	if into != nil {
		if err := bson.Unmarshal(body, into); err != nil {
			return 0, persistence.Corrupt(op, err, "cannot decode %s %q", collection, id)
		}
	}
	return n, nil
}

// affected returns the rows a statement changed; SQLite always knows.
func affected(res sql.Result) int64 {
	n, _ := res.RowsAffected()
	return n
}
