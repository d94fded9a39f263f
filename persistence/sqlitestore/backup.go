package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	emporium "github.com/emporium-shop/emporium"
)

// Backup writes a consistent copy of the store under dataDir to the file
// dest, which must not exist, while a node may be serving the store: it
// runs SQLite's VACUUM INTO on a read transaction of its own, which sees
// one committed state of the whole file and never blocks the node's writer.
// The copy is a complete store file: to restore it, stop the node and put
// it in place of DATA_DIR/store/emporium.db (see the README).
func Backup(ctx context.Context, dataDir, dest string) error {
	const op = "sqlitestore.Backup"
	src := filepath.Join(dataDir, Dir, File)
	if _, err := os.Stat(src); err != nil {
		return &emporium.Error{Code: emporium.ENOTFOUND, Message: "there is no embedded store at " + src, Op: op, Err: err}
	}
	if _, err := os.Stat(dest); err == nil {
		return &emporium.Error{Code: emporium.ECONFLICT, Message: dest + " exists; a backup never overwrites a file", Op: op}
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o700); err != nil {
		return &emporium.Error{Code: emporium.EINVALID, Message: "cannot create the directory of " + dest, Op: op, Err: err}
	}
	// The copy holds what the store holds (password hashes, tokens'
	// hashes): only its owner may read it. VACUUM INTO fills an empty file
	// and keeps its mode.
	f, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return &emporium.Error{Code: emporium.EINVALID, Message: "cannot create " + dest, Op: op, Err: err}
	}
	f.Close()
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout))
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: src, RawQuery: q.Encode()}).String())
	if err != nil {
		return failure(op, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, dest); err != nil {
		_ = os.Remove(dest)
		return failure(op, fmt.Errorf("copy %s to %s: %w", src, dest, err))
	}
	return nil
}
