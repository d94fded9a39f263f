package persistence

import (
	"context"
	"sync/atomic"
)

// UseMongoDBStrategies makes a freshly opened store read and write as it
// does on MongoDB (conditional filters, indexed journal queries, no key
// locks) even on FerretDB, so that those code paths run in tests without a
// MongoDB server. Concurrent conditional writes are then not atomic on
// FerretDB, so only sequential tests may use it.
func UseMongoDBStrategies(s *Store) {
	s.ferret = false
	s.locks = nil
}

// FailProjectionWrites makes the next n projection write attempts of s fail
// with err before they reach the server, and returns how many attempts were
// made in all.
func FailProjectionWrites(s *Store, n int, err error) (attempts *atomic.Int64) {
	attempts = new(atomic.Int64)
	write := s.projections.write
	s.projections.write = func(ctx context.Context, batch []*projection) ([]*projection, error) {
		if attempts.Add(1) <= int64(n) {
			return batch, err
		}
		return write(ctx, batch)
	}
	return attempts
}
