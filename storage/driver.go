// Package storage defines storage pools: the Driver interface each pool
// backend implements and the Volume it manages.
package storage

import (
	"context"
	"fmt"
	"strings"

	"lodge/errdefs"
)

var (
	ErrNotFound = errdefs.ErrNotFound
	ErrExists   = errdefs.ErrExists
)

// Kind of a volume.
type Kind string

const (
	KindImage     Kind = "images"
	KindContainer Kind = "containers"
	KindCustom    Kind = "custom"
)

// Volume names one volume in a pool. A snapshot of a container volume is
// named "parent/snap", as in LXD.
type Volume struct {
	Kind Kind
	Name string
}

// Snapshot names snapshot snap of v.
func (v Volume) Snapshot(snap string) Volume { return Volume{Kind: v.Kind, Name: v.Name + "/" + snap} }

// IsSnapshot tells whether v names a snapshot.
func (v Volume) IsSnapshot() bool { return strings.Contains(v.Name, "/") }

// Split returns the parent volume and snapshot name ("" when v is not a snapshot).
func (v Volume) Split() (Volume, string) {
	p, s, _ := strings.Cut(v.Name, "/")
	return Volume{Kind: v.Kind, Name: p}, s
}

func (v Volume) String() string { return string(v.Kind) + "/" + v.Name }

// Validate refuses names that would escape the pool's directories.
func (v Volume) Validate() error {
	parts := strings.Split(v.Name, "/")
	if len(parts) > 2 {
		return fmt.Errorf("volume %q: invalid name", v.Name)
	}
	for _, p := range parts {
		if p == "" || p == "." || p == ".." || strings.HasPrefix(p, ".") {
			return fmt.Errorf("volume %q: invalid name", v.Name)
		}
	}
	return nil
}

// Info describes a driver's capabilities.
type Info struct {
	Name       string // driver name: dir, btrfs, overlay
	CheapClone bool
	Snapshots  bool
	// Source is where the pool's data lives (directory, loop file, device).
	Source string
	// Root is the directory holding the pool's top-level directories and
	// its marker (the source, or where lodged mounts it).
	Root string
}

// Quotaer is a driver that can limit a container volume's size.
type Quotaer interface {
	// SetQuota limits vol to bytes (0 removes the limit).
	SetQuota(ctx context.Context, vol Volume, bytes int64) error
}

// TreeViewer is a driver whose volume directories hold more than the
// volume's tree (overlay: upper/, work/ and the lower layer's name beside
// the mounted rootfs). TreeView mounts vol and returns a directory that
// holds only its tree (rootfs/, the mounted one), for tools that take a
// whole volume directory (a migration's rsync); release undoes it. On the
// other drivers Path(vol) is that directory already. A crash leaves the
// view to the driver's Cleanup.
type TreeViewer interface {
	TreeView(ctx context.Context, vol Volume) (dir string, release func(), err error)
}

// Driver is one storage pool. Container volumes hold the instance's tree in
// Path(vol)/rootfs once mounted.
type Driver interface {
	Info() Info
	// Path is where the volume's tree lives when mounted (the rootfs parent for containers).
	Path(vol Volume) string
	Exists(vol Volume) bool
	// CreateImage makes the image volume for fingerprint name, calling fill to populate
	// a staging directory; the volume appears atomically only if fill succeeds.
	CreateImage(ctx context.Context, vol Volume, fill func(dir string) error) error
	// Clone creates container dst as a copy (or cheap clone) of src: an
	// image, a container or a snapshot. Snapshots of src are not copied.
	Clone(ctx context.Context, src, dst Volume) error
	// Delete removes a volume; for a container also its snapshots. Deleting
	// a missing volume is not an error.
	Delete(ctx context.Context, vol Volume) error
	// Usage returns bytes used by the volume (for a snapshot: what it holds
	// apart from its parent, where the driver can tell), or -1 if unknown.
	Usage(ctx context.Context, vol Volume) (int64, error)
	// Mount makes Path(vol)/rootfs usable on the host; idempotent. Mounts
	// outlive lodged, so running containers keep theirs.
	Mount(ctx context.Context, vol Volume) error
	// Unmount undoes Mount; only call it when no container runs on vol.
	Unmount(ctx context.Context, vol Volume) error
	// Snapshot makes a read-only snapshot vol/snap of a container volume.
	Snapshot(ctx context.Context, vol Volume, snap string) error
	// Restore replaces vol's content by snapshot snap's; vol must be unmounted
	// by the caller's instance being stopped.
	Restore(ctx context.Context, vol Volume, snap string) error
	// Rename renames a container volume (with its snapshots) or, when both
	// are snapshots of the same parent, a snapshot.
	Rename(ctx context.Context, vol Volume, newName string) error
	// Volumes lists the volumes of a kind, snapshots included.
	Volumes(kind Kind) ([]Volume, error)
	// CreateVolume makes an empty custom volume; its tree is Path(vol).
	CreateVolume(ctx context.Context, vol Volume) error
	// Reset replaces a container volume's content by a fresh clone of image
	// volume img, keeping its snapshots (rebuild); vol must be unmounted.
	Reset(ctx context.Context, vol, img Volume) error
	// CreateEmptyContainer makes a container volume from no image, for a
	// tree that arrives from elsewhere (a migration, a backup): once
	// mounted, Path(vol)/rootfs is an empty directory owned by root
	// (mode 0755) for the caller to fill, and Path(vol) is 0700 so that no
	// other user reaches the files (setuid ones among them) while they
	// still carry their source's owners. It snapshots, clones, restores
	// and deletes as any container volume.
	CreateEmptyContainer(ctx context.Context, vol Volume) error
}
