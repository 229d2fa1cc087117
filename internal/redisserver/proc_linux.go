package redisserver

import "syscall"

// sysProcAttr makes the kernel stop redis-server if the process that
// started it dies without stopping it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
