package bench

import "syscall"

// childAttr makes the kernel stop a child process if the benchmark dies
// without stopping it.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
