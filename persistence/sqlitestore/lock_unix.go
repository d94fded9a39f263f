//go:build unix

package sqlitestore

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockFile is the file whose lock marks a store directory as served.
const lockFile = "LOCK"

// lockDir takes an exclusive, non-blocking lock on dir for this process.
// SQLite itself would let two processes share the file safely, but a node
// keeps caches of what it wrote, and two nodes on one DATA_DIR would each
// run every grain: the lock says so at start instead. The operating system
// releases it when the process ends, however it ends.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return f, nil
}

// unlockDir releases the lock taken by lockDir.
func unlockDir(f *os.File) {
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	_ = f.Close()
}
