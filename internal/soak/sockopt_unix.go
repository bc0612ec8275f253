//go:build unix

package soak

import "syscall"

// setRecvBuffer returns a dialer Control that sets SO_RCVBUF before the
// connection is made, so the TCP window the server sees stays small.
func setRecvBuffer(n int) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
		})
		if err != nil {
			return err
		}
		return serr
	}
}
