package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/emporium-shop/emporium/persistence"
)

// Journal is the event journal on SQLite (persistence.Journal): one row
// per event, keyed by (stream, seq).
type Journal struct {
	store *Store
}

// event is one event ready to store.
type event struct {
	typ  string
	data []byte
}

// journalTailQuery finds the last seq of a stream, through the primary key
// (plan_test.go checks it, with every query of the read pool).
const journalTailQuery = `SELECT seq FROM journal WHERE stream = ? ORDER BY seq DESC LIMIT 1`

// Append implements persistence.Journal. The append checks, inside the
// batch's transaction, that the stream ends at expectedSeq, and then inserts
// its events: the check and the write are one atomic step, so of two
// writers at the same seq exactly one wins, and an expectedSeq in the
// middle of the stream is a conflict too.
func (j *Journal) Append(ctx context.Context, stream string, expectedSeq uint64, events ...proto.Message) (uint64, error) {
	const op = "sqlitestore.Journal.Append"
	if stream == "" {
		return 0, persistence.Invalid(op, "the stream name is empty")
	}
	if len(events) == 0 {
		return 0, persistence.Invalid(op, "no events to append to stream %q", stream)
	}
	n := uint64(len(events))
	if expectedSeq > math.MaxInt64-n {
		return 0, persistence.Invalid(op, "stream %q cannot grow past seq %d", stream, uint64(math.MaxInt64))
	}
	encoded := make([]event, len(events))
	for i, ev := range events {
		if ev == nil || !ev.ProtoReflect().IsValid() {
			return 0, persistence.Invalid(op, "event %d of %d for stream %q is nil", i+1, n, stream)
		}
		data, err := proto.Marshal(ev)
		if err != nil {
			return 0, persistence.Corrupt(op, err, "cannot encode event %d (%s) for stream %q", i+1, proto.MessageName(ev), stream)
		}
		encoded[i] = event{typ: string(proto.MessageName(ev)), data: data}
	}
	at := j.store.now().UnixNano()

	err := j.store.submit(ctx, op, func(tx *writeTx) error {
		var last int64
		err := tx.queryRow(journalTailQuery, stream).Scan(&last)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if last != int64(expectedSeq) {
			return persistence.Conflict(op, "stream %q is at seq %d, not %d; reload and decide again", stream, last, expectedSeq)
		}
		for i, e := range encoded {
			_, err := tx.exec(`INSERT INTO journal (stream, seq, type, data, at) VALUES (?, ?, ?, ?, ?)`,
				stream, int64(expectedSeq)+1+int64(i), e.typ, e.data, at)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return expectedSeq + n, nil
}

// storedEvent is one row of the journal as Load reads it.
type storedEvent struct {
	seq  int64
	typ  string
	data []byte
	at   int64
}

// Load implements persistence.Journal. It reads the rows first and calls
// fn after, so that a slow fn never holds a connection of the read pool.
func (j *Journal) Load(ctx context.Context, stream string, afterSeq uint64, fn func(seq uint64, at time.Time, ev proto.Message) error) (uint64, error) {
	const op = "sqlitestore.Journal.Load"
	if stream == "" {
		return 0, persistence.Invalid(op, "the stream name is empty")
	}
	if fn == nil {
		return 0, persistence.Invalid(op, "no function to receive the events of stream %q", stream)
	}
	if afterSeq >= math.MaxInt64 {
		return afterSeq, nil
	}
	var rows []storedEvent
	err := j.store.readRows(ctx, op, `SELECT seq, type, data, at FROM journal WHERE stream = ? AND seq > ? ORDER BY seq`,
		[]any{stream, int64(afterSeq)}, func(r *sql.Rows) error {
			var e storedEvent
			if err := r.Scan(&e.seq, &e.typ, &e.data, &e.at); err != nil {
				return err
			}
			rows = append(rows, e)
			return nil
		})
	if err != nil {
		return afterSeq, err
	}

	last := int64(afterSeq)
	for _, e := range rows {
		if e.seq != last+1 {
			return uint64(last), persistence.Corrupt(op, nil, "events %d to %d of stream %q are missing", last+1, e.seq-1, stream)
		}
		ev, err := decodeEvent(e.typ, e.data)
		if err != nil {
			return uint64(last), persistence.Corrupt(op, err, "cannot read event %d of stream %q", e.seq, stream)
		}
		if err := fn(uint64(e.seq), time.Unix(0, e.at).UTC(), ev); err != nil {
			return uint64(last), err
		}
		last = e.seq
	}
	return uint64(last), nil
}

// decodeEvent turns a stored event back into its message, looked up by type
// name among the linked protobuf types.
func decodeEvent(typ string, data []byte) (proto.Message, error) {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(typ))
	if err != nil {
		return nil, errors.New("unknown event type " + typ + " (is its protos package linked into this binary?)")
	}
	msg := mt.New().Interface()
	if err := proto.Unmarshal(data, msg); err != nil {
		return nil, err
	}
	return msg, nil
}

// Appended implements persistence.Journal: one scan of the journal, since
// no index covers the commit time (an index would cost every append for a
// query that runs after a crash).
func (j *Journal) Appended(ctx context.Context, after, until time.Time) (map[string]uint64, error) {
	const op = "sqlitestore.Journal.Appended"
	streams := map[string]uint64{}
	err := j.store.readRows(ctx, op, `SELECT stream, MAX(seq) FROM journal WHERE at > ? AND at <= ? GROUP BY stream`,
		[]any{after.UnixNano(), until.UnixNano()}, func(r *sql.Rows) error {
			var stream string
			var seq int64
			if err := r.Scan(&stream, &seq); err != nil {
				return err
			}
			streams[stream] = uint64(seq)
			return nil
		})
	if err != nil {
		return nil, err
	}
	return streams, nil
}
