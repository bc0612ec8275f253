//go:build !linux

package soak

import "syscall"

// childAttr is the default elsewhere: stop is the only way mosaicd ends.
func childAttr() *syscall.SysProcAttr { return nil }
