package soak

import "syscall"

// childAttr makes the kernel kill mosaicd if the soak itself dies, so an
// interrupted soak leaves no server behind.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
