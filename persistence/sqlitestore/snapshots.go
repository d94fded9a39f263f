package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"math"

	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium/persistence"
)

// Snapshots keeps the latest snapshot of each stream on SQLite
// (persistence.Snapshots).
type Snapshots struct {
	store *Store
}

// Save implements persistence.Snapshots: one upsert that replaces only an
// older snapshot, atomic whoever else saves.
func (s *Snapshots) Save(ctx context.Context, stream string, seq uint64, state proto.Message) error {
	const op = "sqlitestore.Snapshots.Save"
	if stream == "" {
		return persistence.Invalid(op, "the stream name is empty")
	}
	if state == nil || !state.ProtoReflect().IsValid() {
		return persistence.Invalid(op, "the snapshot of stream %q is nil", stream)
	}
	if seq > math.MaxInt64 {
		return persistence.Invalid(op, "seq %d of stream %q is out of range", seq, stream)
	}
	data, err := proto.Marshal(state)
	if err != nil {
		return persistence.Corrupt(op, err, "cannot encode the snapshot of stream %q", stream)
	}
	typ, at := string(proto.MessageName(state)), s.store.now().UnixNano()
	return s.store.submit(ctx, op, func(tx *writeTx) error {
		_, err := tx.exec(`INSERT INTO snapshots (stream, seq, type, data, at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (stream) DO UPDATE SET seq = excluded.seq, type = excluded.type, data = excluded.data, at = excluded.at
			WHERE excluded.seq > snapshots.seq`, stream, int64(seq), typ, data, at)
		return err
	})
}

// Load implements persistence.Snapshots.
func (s *Snapshots) Load(ctx context.Context, stream string, into proto.Message) (uint64, bool, error) {
	const op = "sqlitestore.Snapshots.Load"
	if stream == "" {
		return 0, false, persistence.Invalid(op, "the stream name is empty")
	}
	if into == nil || !into.ProtoReflect().IsValid() {
		return 0, false, persistence.Invalid(op, "no message to load the snapshot of stream %q into", stream)
	}
	var (
		seq  int64
		typ  string
		data []byte
	)
	err := s.store.read(ctx, op, func(ctx context.Context) error {
		return s.store.queryRow(ctx, `SELECT seq, type, data FROM snapshots WHERE stream = ?`, stream).Scan(&seq, &typ, &data)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if want := string(proto.MessageName(into)); typ != want {
		return 0, false, persistence.Corrupt(op, nil, "the snapshot of stream %q is a %s, not a %s", stream, typ, want)
	}
	if err := proto.Unmarshal(data, into); err != nil {
		return 0, false, persistence.Corrupt(op, err, "cannot decode the snapshot of stream %q", stream)
	}
	return uint64(seq), true, nil
}
