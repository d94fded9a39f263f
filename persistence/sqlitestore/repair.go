package sqlitestore

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Overwrite stores body (a document as persistence.EncodeDocument makes
// it) as the document id of collection with counter n, whatever is stored,
// and Remove deletes the document whatever its version. Both bypass the
// conditional writes every other method makes: they exist so that tests
// can plant the state a crash or a bug would leave, and for an operator's
// repair of a read model. Grains never use them.
func (s *Store) Overwrite(ctx context.Context, collection, id string, n int64, body bson.Raw) error {
	return s.submit(ctx, "sqlitestore.Store.Overwrite", func(tx *writeTx) error {
		t, err := tx.table(collection)
		if err != nil {
			return err
		}
		cols, marks, values := t.columns(row{id: id, n: n, body: body})
		_, err = tx.exec(`INSERT OR REPLACE INTO `+t.name()+` (`+cols+`) VALUES (`+marks+`)`, values...)
		return err
	})
}

// Remove deletes the document id of collection, whatever its version; see
// Overwrite.
func (s *Store) Remove(ctx context.Context, collection, id string) error {
	return s.submit(ctx, "sqlitestore.Store.Remove", func(tx *writeTx) error {
		t, err := tx.table(collection)
		if err != nil {
			return err
		}
		_, err = tx.exec(`DELETE FROM `+t.name()+` WHERE id = ?`, id)
		return err
	})
}
