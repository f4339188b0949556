// Package storage defines storage pools: the Driver interface each pool
// backend implements and the Volume it manages.
package storage

import (
	"context"
	"errors"
)

var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
)

// Kind of a volume.
type Kind string

const (
	KindImage     Kind = "images"
	KindContainer Kind = "containers"
	KindCustom    Kind = "custom"
)

// Volume names one volume in a pool.
type Volume struct {
	Kind Kind
	Name string
}

// Info describes a driver's capabilities.
type Info struct {
	Name       string // driver name: dir, btrfs, overlay
	CheapClone bool
	Snapshots  bool
}

// Driver is one storage pool.
type Driver interface {
	Info() Info
	// Path is where the volume's tree lives when mounted (the rootfs parent for containers).
	Path(vol Volume) string
	Exists(vol Volume) bool
	// CreateImage makes the image volume for fingerprint name, calling fill to populate
	// a staging directory; the volume appears atomically only if fill succeeds.
	CreateImage(ctx context.Context, vol Volume, fill func(dir string) error) error
	// Clone creates dst as a copy (or cheap clone) of src.
	Clone(ctx context.Context, src, dst Volume) error
	Delete(ctx context.Context, vol Volume) error
	// Usage returns bytes used by the volume, or -1 if unknown cheaply.
	Usage(ctx context.Context, vol Volume) (int64, error)
}
