package sqlitestore_test

import (
	"testing"

	"github.com/emporium-shop/emporium/persistence"
	"github.com/emporium-shop/emporium/persistence/persistencetest"
	"github.com/emporium-shop/emporium/persistence/sqlitestore"
)

// TestContract runs the persistence contract suite on the embedded store,
// all of it: its conditional writes are atomic and every query by field
// goes through a declared index.
func TestContract(t *testing.T) {
	t.Parallel()
	persistencetest.RunContract(t, backend())
}

// backend is the contract suite's view of the embedded store.
func backend() persistencetest.Backend {
	return persistencetest.Backend{
		Config: func(t *testing.T) persistence.Config { return persistence.Config{DataDir: t.TempDir()} },
		Open: func(t *testing.T, cfg persistence.Config) persistence.Store {
			return persistencetest.OpenConfig(t, cfg)
		},
		PlantEvent: func(t *testing.T, s persistence.Store, stream string, seq uint64, typ string, data []byte) {
			t.Helper()
			if err := s.(*sqlitestore.Store).PlantEvent(t.Context(), stream, seq, typ, data); err != nil {
				t.Fatalf("plant event %d of %s: %v", seq, stream, err)
			}
		},
		StrictIndexes: true,
	}
}
