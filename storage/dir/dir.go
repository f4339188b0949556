// Package dir is the plain-directory storage driver: image volumes are
// unpacked trees and instance volumes are copies of them. It works on any
// filesystem; cp's reflink makes clones cheap where the filesystem can.
package dir

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"lodge/storage"
)

// Driver is a dir pool rooted at one directory.
type Driver struct {
	l storage.Layout
}

// New opens (creating if needed) a dir pool at root.
func New(root string) (*Driver, error) {
	l := storage.Layout{Root: root}
	if err := l.Init(); err != nil {
		return nil, err
	}
	return &Driver{l: l}, nil
}

// Info implements storage.Driver.
func (d *Driver) Info() storage.Info {
	return storage.Info{Name: "dir", Snapshots: true, Source: d.l.Root, Root: d.l.Root}
}

// Path implements storage.Driver.
func (d *Driver) Path(vol storage.Volume) string { return d.l.Path(vol) }

// Exists implements storage.Driver.
func (d *Driver) Exists(vol storage.Volume) bool { return d.l.Exists(vol) }

// CreateImage implements storage.Driver: fill populates a staging directory
// that is renamed into place only when complete, so a crash or a failed
// unpack never leaves a half-filled image volume behind.
func (d *Driver) CreateImage(ctx context.Context, vol storage.Volume, fill func(dir string) error) error {
	if err := d.l.CheckNew(vol); err != nil {
		return err
	}
	tmp, err := d.l.Staging(vol)
	if err != nil {
		return fmt.Errorf("volume %s: %w", vol, err)
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return fmt.Errorf("volume %s: %w", vol, err)
	}
	if err := fill(tmp); err != nil {
		d.l.Remove(tmp)
		return err
	}
	return d.place(tmp, vol)
}

func (d *Driver) place(tmp string, vol storage.Volume) error {
	if err := os.Rename(tmp, d.Path(vol)); err != nil {
		d.l.Remove(tmp)
		return fmt.Errorf("volume %s: %w", vol, err)
	}
	return nil
}

// copyInto copies src's tree to a staging path and renames it to dst.
func (d *Driver) copyInto(ctx context.Context, src, dst storage.Volume) error {
	tmp, err := d.l.Staging(dst)
	if err != nil {
		return fmt.Errorf("volume %s: %w", dst, err)
	}
	if err := storage.CopyTree(ctx, d.Path(src), tmp); err != nil {
		d.l.Remove(tmp)
		return fmt.Errorf("volume %s from %s: %w", dst, src, err)
	}
	if err := os.Chmod(tmp, 0o700); err != nil {
		d.l.Remove(tmp)
		return err
	}
	return d.place(tmp, dst)
}

// Clone implements storage.Driver with cp -a, which keeps owners, modes,
// device nodes, hardlinks and xattrs, and reflinks on filesystems that can.
func (d *Driver) Clone(ctx context.Context, src, dst storage.Volume) error {
	if err := dst.Validate(); err != nil {
		return err
	}
	if !d.Exists(src) {
		return fmt.Errorf("volume %s: %w", src, storage.ErrNotFound)
	}
	if d.Exists(dst) {
		return fmt.Errorf("volume %s: %w", dst, storage.ErrExists)
	}
	return d.copyInto(ctx, src, dst)
}

// Delete implements storage.Driver; deleting a missing volume is not an
// error. Nothing is followed out of the pool (storage.RemoveBeneath).
func (d *Driver) Delete(ctx context.Context, vol storage.Volume) error {
	return d.l.RemoveVolume(vol)
}

// Usage implements storage.Driver by walking the tree.
func (d *Driver) Usage(ctx context.Context, vol storage.Volume) (int64, error) {
	if !d.Exists(vol) {
		return -1, fmt.Errorf("volume %s: %w", vol, storage.ErrNotFound)
	}
	return storage.TreeUsage(d.Path(vol))
}

// Mount implements storage.Driver: a directory needs no mounting.
func (d *Driver) Mount(ctx context.Context, vol storage.Volume) error {
	if !d.Exists(vol) {
		return fmt.Errorf("volume %s: %w", vol, storage.ErrNotFound)
	}
	return nil
}

// Unmount implements storage.Driver.
func (d *Driver) Unmount(ctx context.Context, vol storage.Volume) error { return nil }

// Snapshot implements storage.Driver with a full copy.
func (d *Driver) Snapshot(ctx context.Context, vol storage.Volume, snap string) error {
	sv := vol.Snapshot(snap)
	if err := sv.Validate(); err != nil {
		return err
	}
	if !d.Exists(vol) {
		return fmt.Errorf("volume %s: %w", vol, storage.ErrNotFound)
	}
	if d.Exists(sv) {
		return fmt.Errorf("snapshot %s: %w", sv, storage.ErrExists)
	}
	return d.copyInto(ctx, vol, sv)
}

// Restore implements storage.Driver: the snapshot is copied beside the
// volume and swapped in, so a failure leaves the volume as it was.
func (d *Driver) Restore(ctx context.Context, vol storage.Volume, snap string) error {
	sv := vol.Snapshot(snap)
	if !d.Exists(sv) {
		return fmt.Errorf("snapshot %s: %w", sv, storage.ErrNotFound)
	}
	tmp, err := d.l.Staging(vol)
	if err != nil {
		return err
	}
	if err := storage.CopyTree(ctx, d.Path(sv), tmp); err != nil {
		d.l.Remove(tmp)
		return fmt.Errorf("restore %s: %w", sv, err)
	}
	return d.swap(d.Path(vol), tmp)
}

// swap replaces dir by tmp: the old tree is moved aside (a staging name,
// so a crash leaves it for Cleanup) before tmp takes its place.
func (d *Driver) swap(dir, tmp string) error {
	old := filepath.Join(filepath.Dir(dir), ".tmp-old-"+filepath.Base(dir))
	if err := d.l.Remove(old); err != nil {
		d.l.Remove(tmp)
		return err
	}
	if err := os.Rename(dir, old); err != nil && !os.IsNotExist(err) {
		d.l.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.Rename(old, dir)
		d.l.Remove(tmp)
		return err
	}
	return d.l.Remove(old)
}

// Rename implements storage.Driver.
func (d *Driver) Rename(ctx context.Context, vol storage.Volume, newName string) error {
	return storage.RenameDirs(d.l, vol, newName, d.Exists)
}

// Cleanup removes staging directories a crash left behind.
func (d *Driver) Cleanup() {
	for _, m := range d.l.Leftovers() {
		d.l.Remove(m)
	}
}

// Volumes implements storage.Driver.
func (d *Driver) Volumes(kind storage.Kind) ([]storage.Volume, error) { return d.l.Volumes(kind) }

// CreateVolume implements storage.Driver.
func (d *Driver) CreateVolume(ctx context.Context, vol storage.Volume) error {
	return d.l.CreateDir(vol)
}

// CreateEmptyContainer implements storage.Driver: a directory holding an
// empty rootfs.
func (d *Driver) CreateEmptyContainer(ctx context.Context, vol storage.Volume) error {
	if err := d.l.CheckNew(vol); err != nil {
		return err
	}
	if vol.Kind != storage.KindContainer || vol.IsSnapshot() {
		return fmt.Errorf("volume %s: only an instance's volume is made empty", vol)
	}
	tmp, err := d.l.Staging(vol)
	if err != nil {
		return fmt.Errorf("volume %s: %w", vol, err)
	}
	if err := storage.MakeEmptyTree(tmp); err != nil {
		d.l.Remove(tmp)
		return fmt.Errorf("volume %s: %w", vol, err)
	}
	return d.place(tmp, vol)
}

// Reset implements storage.Driver: a copy of the image swapped in.
func (d *Driver) Reset(ctx context.Context, vol, img storage.Volume) error {
	if !d.Exists(vol) {
		return fmt.Errorf("volume %s: %w", vol, storage.ErrNotFound)
	}
	if !d.Exists(img) {
		return fmt.Errorf("volume %s: %w", img, storage.ErrNotFound)
	}
	tmp, err := d.l.Staging(vol)
	if err != nil {
		return err
	}
	if err := storage.CopyTree(ctx, d.Path(img), tmp); err != nil {
		d.l.Remove(tmp)
		return fmt.Errorf("reset %s: %w", vol, err)
	}
	return d.swap(d.Path(vol), tmp)
}
