//go:build linux && cgo

package lxc

// helper_c.c holds forkstart and forkexecd: they run in a constructor,
// before the Go runtime starts, when lodged is re-executed for them.

// #cgo pkg-config: lxc
import "C"
