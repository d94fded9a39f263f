package sqlitestore_test

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/wrapperspb"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/persistence"
	"github.com/emporium-shop/emporium/persistence/sqlitestore"
)

// open opens the store under dataDir for the test, closing it when the
// test ends.
func open(t *testing.T, dataDir string) *sqlitestore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := sqlitestore.Open(ctx, persistence.Config{DataDir: dataDir})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close(context.Background())) })
	return s
}

func TestOpenNeedsADataDir(t *testing.T) {
	t.Parallel()
	_, err := sqlitestore.Open(t.Context(), persistence.Config{})
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err))
	assert.ErrorContains(t, err, "DATA_DIR")
}

// TestOpenRefusesADataDirInUse opens one data directory twice: the second
// Open is refused while the first store is open (the directory lock), with
// a message that says what to do, and succeeds once it is closed.
func TestOpenRefusesADataDirInUse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := t.Context()
	first, err := sqlitestore.Open(ctx, persistence.Config{DataDir: dir})
	require.NoError(t, err)
	assert.Equal(t, "sqlite", first.Backend())
	require.NoError(t, first.Ping(ctx))
	_, err = first.Journal().Append(ctx, "s", 0, wrapperspb.String("first"))
	require.NoError(t, err)

	_, err = sqlitestore.Open(ctx, persistence.Config{DataDir: dir})
	assert.Equal(t, emporium.ECONFLICT, emporium.ErrorCode(err))
	assert.ErrorContains(t, err, "in use by another process")
	assert.ErrorContains(t, err, "give this one a DATA_DIR of its own")
	require.NoError(t, first.Ping(ctx), "a refused Open disturbed the open store")

	require.NoError(t, first.Close(ctx))
	second := open(t, dir)
	_, err = second.Journal().Append(ctx, "s", 1, wrapperspb.String("second"))
	require.NoError(t, err, "the store opened after the first closed does not hold its data")
}

// TestOpenRefusesALegacyDataDir opens a data directory written by the
// embedded store of earlier releases (FerretDB, under mongo/): it is
// refused with a message that says how to start afresh, and nothing is
// created. Once the store exists, an old mongo/ kept beside it is no
// obstacle.
func TestOpenRefusesALegacyDataDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	legacy := filepath.Join(dir, "mongo")
	require.NoError(t, os.MkdirAll(legacy, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(legacy, "emporium.sqlite"), []byte("old"), 0o600))

	_, err := sqlitestore.Open(t.Context(), persistence.Config{DataDir: dir})
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err))
	msg := err.Error()
	assert.Contains(t, msg, legacy, "the message names the old data")
	assert.Contains(t, msg, "cannot read")
	assert.Contains(t, msg, "mv "+legacy+" "+legacy+".old", "the message says how to move it away")
	assert.Contains(t, msg, "new DATA_DIR")
	assert.Contains(t, msg, "seed anew")
	_, statErr := os.Stat(filepath.Join(dir, sqlitestore.Dir))
	assert.True(t, os.IsNotExist(statErr), "a refused Open created the store")

	// Moved away as told, the directory opens; the old data may then come
	// back beside the new store.
	require.NoError(t, os.Rename(legacy, legacy+".old"))
	s := open(t, dir)
	require.NoError(t, s.Close(t.Context()))
	require.NoError(t, os.Rename(legacy+".old", legacy))
	open(t, dir)
}

// TestOpenRefusesAnotherSchemaVersion opens a store file whose tables
// another release laid out: it is refused rather than misread.
func TestOpenRefusesAnotherSchemaVersion(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := open(t, dir)
	require.NoError(t, s.Close(t.Context()))

	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: s.Path()}).String())
	require.NoError(t, err)
	_, err = db.ExecContext(t.Context(), `PRAGMA user_version = 99`)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	_, err = sqlitestore.Open(t.Context(), persistence.Config{DataDir: dir})
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err))
	assert.ErrorContains(t, err, "schema version 99")
}

// TestStoreFileIsPrivate checks that only the owner may read the store,
// which holds password hashes and tokens.
func TestStoreFileIsPrivate(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	_, err := s.Journal().Append(t.Context(), "s", 0, wrapperspb.String("a"))
	require.NoError(t, err)
	for _, path := range []string{s.Path(), s.Path() + "-wal", filepath.Dir(s.Path())} {
		info, err := os.Stat(path)
		require.NoError(t, err)
		assert.Zero(t, info.Mode().Perm()&0o077, "%s is open to others: %v", path, info.Mode())
	}
}
