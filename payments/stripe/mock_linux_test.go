package stripe_test

import (
	"os/exec"
	"syscall"
)

// orphanProof makes the kernel kill stripe-mock when the test binary dies,
// even without running its clean-up (a -timeout panic, a kill), so that no
// stripe-mock outlives its tests.
func orphanProof(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
