package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/emporium-shop/emporium/node"
	"github.com/emporium-shop/emporium/persistence/sqlitestore"
)

// backupCmd copies the embedded store, consistently, while a node may be
// serving it, and the signing keys beside it.
func backupCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("emporium backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: emporium backup [node settings] DIR\n\n"+
			"Copies the embedded store of DATA_DIR into DIR/%s/%s, a consistent copy taken while the node\n"+
			"may be serving, and the signing keys into DIR/keys. DIR must not hold a backup already. To restore,\n"+
			"stop the node, replace DATA_DIR/%s and DATA_DIR/keys with the copies, then run 'emporium reindex'\n"+
			"before starting the node (the search index is not part of the backup).\n"+
			"With MONGODB_URI the store is MongoDB: back it up with mongodump or your provider's snapshots.\n\nFlags:\n",
			sqlitestore.Dir, sqlitestore.File, sqlitestore.Dir)
		fs.PrintDefaults()
	}
	var cfg node.Config
	if err := parseSettings(&cfg, fs, args, getenv); err != nil {
		return ignoreHelp(err)
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "emporium backup: name the directory to write the backup to, e.g. emporium backup ./backup-2026-12-05")
		return errUsage
	}
	if cfg.MongoURI != "" {
		return fmt.Errorf("backup: MONGODB_URI is set, so the store is MongoDB: back it up with mongodump or your provider's snapshots")
	}
	dir := fs.Arg(0)
	start := time.Now()
	dest := filepath.Join(dir, sqlitestore.Dir, sqlitestore.File)
	if err := sqlitestore.Backup(ctx, cfg.DataDir, dest); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	keys, err := copyKeys(cfg, dir)
	if err != nil {
		return fmt.Errorf("backup: the store is copied to %s, but not the keys: %w", dest, err)
	}
	info, _ := os.Stat(dest)
	size := int64(0)
	if info != nil {
		size = info.Size()
	}
	fmt.Fprintf(stdout, "backed up the store to %s (%d bytes) and %d key file(s) in %s\n",
		dest, size, keys, time.Since(start).Round(time.Millisecond))
	return nil
}

// copyKeys copies the files of the key directory (JWT_KEY_FILE's) into
// dir/keys, and returns how many. A store restored without them would
// still work, but every token issued before would be refused.
func copyKeys(cfg node.Config, dir string) (int, error) {
	src := filepath.Dir(cfg.JWTKeyPath())
	entries, err := os.ReadDir(src)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	dst := filepath.Join(dir, "keys")
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return n, err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o600); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
