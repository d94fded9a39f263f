//go:build !unix

package sqlitestore

import "os"

// lockDir does nothing where flock is missing: the operator keeps one node
// per DATA_DIR.
func lockDir(string) (*os.File, error) { return nil, nil }

func unlockDir(*os.File) {}
