//go:build !linux

package stripe_test

import "os/exec"

// orphanProof does nothing where the kernel cannot kill a child with its
// parent; TestMain's clean-up stops stripe-mock.
func orphanProof(*exec.Cmd) {}
