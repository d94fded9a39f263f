package sqlitestore

import "context"

// PlantEvent stores an event row as it is, bypassing Append's checks, for
// tests that need data the store's own methods never write (an event of a
// type this binary does not link).
func (s *Store) PlantEvent(ctx context.Context, stream string, seq uint64, typ string, data []byte) error {
	return s.submit(ctx, "sqlitestore.PlantEvent", func(tx *writeTx) error {
		_, err := tx.ExecContext(tx.ctx, `INSERT INTO journal (stream, seq, type, data, at) VALUES (?, ?, ?, ?, ?)`,
			stream, int64(seq), typ, data, s.now().UnixNano())
		return err
	})
}
