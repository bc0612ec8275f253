// Package layers holds no code. Its test keeps Mosaic's import graph
// pointing one way, as the README's package map draws it:
//
//	cmd → internal/server → internal/api → internal/entry, internal/tlog → internal/storage
//
// with the followers (index, monitor, audit) reading the log and never read
// by it, and pkg/ (the public Go API) free of anything internal.
package layers
