//go:build !unix

package soak

import "syscall"

// setRecvBuffer leaves the receive buffer as the system sets it.
func setRecvBuffer(int) func(network, address string, c syscall.RawConn) error { return nil }
