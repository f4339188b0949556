// Package overlay is the overlayfs storage driver: an image volume is an
// unpacked tree used read-only as the lower layer of every instance made
// from it; an instance volume is an upper and a work directory, mounted on
// its rootfs directory by lodged. Creating an instance is two mkdirs on any
// filesystem; snapshots, restores and copies copy the upper only.
//
// The mount is made in the host's mount namespace and outlives lodged, so a
// running container (which liblxc bind-mounts from it) is unaffected when
// lodged dies; Mount is idempotent and is called again at start and before
// file access.
package overlay

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"lodge/storage"
)

// A container or snapshot volume directory holds:
//
//	upper/  the changes (whiteouts and opaque xattrs included)
//	work/   overlayfs's work directory (containers only)
//	rootfs/ the mount point
//	lower   a file naming the image volume used as lower layer; empty
//	        for a volume made from no image (CreateEmptyContainer), whose
//	        lower layer is then its own empty directory:
//	empty/  (only then) that empty lower layer
const lowerFile = "lower"

// emptyLower is the lower layer of a volume made from no image: overlayfs
// needs one, and a read-only mount (a snapshot) needs two.
const emptyLower = "empty"

// deletedMark in an image volume says the image is gone from the store and
// the volume stays only while instances still use it as their lower layer.
const deletedMark = ".deleted"

// Driver is an overlay pool rooted at one directory.
type Driver struct {
	l storage.Layout
	// mountMu keeps two concurrent Mounts (a start and a file access) from
	// stacking two overlays on one mount point.
	mountMu sync.Mutex
}

// New opens (creating if needed) an overlay pool at root.
func New(root string) (*Driver, error) {
	l := storage.Layout{Root: root}
	if err := l.Init(); err != nil {
		return nil, err
	}
	return &Driver{l: l}, nil
}

// Info implements storage.Driver.
func (d *Driver) Info() storage.Info {
	return storage.Info{Name: "overlay", CheapClone: true, Snapshots: true, Source: d.l.Root, Root: d.l.Root}
}

// Path implements storage.Driver.
func (d *Driver) Path(vol storage.Volume) string { return d.l.Path(vol) }

// Exists implements storage.Driver.
func (d *Driver) Exists(vol storage.Volume) bool { return d.l.Exists(vol) }

// CreateImage implements storage.Driver: the tree is unpacked into a staging
// directory renamed into place when complete.
func (d *Driver) CreateImage(ctx context.Context, vol storage.Volume, fill func(dir string) error) error {
	if err := vol.Validate(); err != nil {
		return err
	}
	if d.Exists(vol) {
		// A deleted image re-imported: its volume is still here and identical.
		if _, err := os.Lstat(filepath.Join(d.Path(vol), deletedMark)); err == nil {
			return d.l.Remove(filepath.Join(d.Path(vol), deletedMark))
		}
		return fmt.Errorf("volume %s: %w", vol, storage.ErrExists)
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
	if err := os.Rename(tmp, d.Path(vol)); err != nil {
		d.l.Remove(tmp)
		return fmt.Errorf("volume %s: %w", vol, err)
	}
	return nil
}

func (d *Driver) lowerOf(vol storage.Volume) (string, error) {
	b, err := os.ReadFile(filepath.Join(d.Path(vol), lowerFile))
	if err != nil {
		return "", fmt.Errorf("volume %s: lower layer: %w", vol, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// imageRootfs is the lower layer for image fingerprint fp.
func (d *Driver) imageRootfs(fp string) string {
	return filepath.Join(d.Path(storage.Volume{Kind: storage.KindImage, Name: fp}), "rootfs")
}

// build makes a container or snapshot volume in a staging directory from an
// optional upper to copy, then renames it into place.
func (d *Driver) build(ctx context.Context, dst storage.Volume, lower, upperFrom string) error {
	tmp, err := d.l.Staging(dst)
	if err != nil {
		return fmt.Errorf("volume %s: %w", dst, err)
	}
	fail := func(err error) error {
		d.l.Remove(tmp)
		return fmt.Errorf("volume %s: %w", dst, err)
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return fail(err)
	}
	upper := filepath.Join(tmp, "upper")
	if lower == "" {
		if err := os.Mkdir(filepath.Join(tmp, emptyLower), 0o755); err != nil {
			return fail(err)
		}
	}
	if upperFrom != "" {
		if err := storage.CopyTree(ctx, upperFrom, upper); err != nil {
			return fail(err)
		}
	} else if lower == "" {
		if err := os.Mkdir(upper, 0o755); err != nil {
			return fail(err)
		}
		if err := os.Chmod(upper, 0o755); err != nil {
			return fail(err)
		}
	} else {
		// The merged root takes the upper's owner and mode: copy the image's,
		// so an id-shifted image gives an id-shifted root.
		fi, err := os.Stat(d.imageRootfs(lower))
		if err != nil {
			return fail(err)
		}
		if err := os.Mkdir(upper, fi.Mode().Perm()); err != nil {
			return fail(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if err := os.Chown(upper, int(st.Uid), int(st.Gid)); err != nil {
			return fail(err)
		}
		if err := os.Chmod(upper, fi.Mode().Perm()); err != nil {
			return fail(err)
		}
	}
	for _, sub := range []string{"work", "rootfs"} {
		if err := os.Mkdir(filepath.Join(tmp, sub), 0o700); err != nil {
			return fail(err)
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, lowerFile), []byte(lower+"\n"), 0o600); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, d.Path(dst)); err != nil {
		return fail(err)
	}
	return nil
}

// Clone implements storage.Driver: from an image, an empty upper; from a
// container or snapshot, a copy of its upper over the same image.
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
	if src.Kind == storage.KindImage {
		return d.build(ctx, dst, src.Name, "")
	}
	lower, err := d.lowerOf(src)
	if err != nil {
		return err
	}
	return d.build(ctx, dst, lower, filepath.Join(d.Path(src), "upper"))
}

// Mount implements storage.Driver. A container is mounted read-write; a
// snapshot read-only, with its upper as an extra lower layer.
func (d *Driver) Mount(ctx context.Context, vol storage.Volume) error {
	if !d.Exists(vol) {
		return fmt.Errorf("volume %s: %w", vol, storage.ErrNotFound)
	}
	if vol.Kind == storage.KindImage {
		return nil
	}
	d.mountMu.Lock()
	defer d.mountMu.Unlock()
	dir := d.Path(vol)
	target := filepath.Join(dir, "rootfs")
	if storage.IsMountpoint(target) {
		return nil
	}
	lower, err := d.lowerOf(vol)
	if err != nil {
		return err
	}
	lowerDir := d.imageRootfs(lower)
	if lower == "" {
		lowerDir = filepath.Join(dir, emptyLower)
	}
	if _, err := os.Stat(lowerDir); err != nil {
		return fmt.Errorf("volume %s: image layer %s: %w", vol, lower, err)
	}
	var opts string
	var flags uintptr
	if vol.IsSnapshot() {
		opts = fmt.Sprintf("lowerdir=%s:%s", filepath.Join(dir, "upper"), lowerDir)
		flags = unix.MS_RDONLY
	} else {
		opts = fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lowerDir, filepath.Join(dir, "upper"), filepath.Join(dir, "work"))
	}
	if err := unix.Mount("overlay", target, "overlay", flags, opts); err != nil {
		return fmt.Errorf("volume %s: mount overlay on %s: %w", vol, target, err)
	}
	return nil
}

// Unmount implements storage.Driver. The mount is detached, so a shell
// with its cwd inside does not block a delete; a running container holds
// its own reference, which is why callers stop it first.
func (d *Driver) Unmount(ctx context.Context, vol storage.Volume) error {
	if vol.Kind == storage.KindImage {
		return nil
	}
	target := filepath.Join(d.Path(vol), "rootfs")
	for storage.IsMountpoint(target) {
		if err := unix.Unmount(target, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("volume %s: unmount %s: %w", vol, target, err)
		}
	}
	return nil
}

// Delete implements storage.Driver. An image volume still used as a lower
// layer is only marked and goes with its last user.
func (d *Driver) Delete(ctx context.Context, vol storage.Volume) error {
	if err := vol.Validate(); err != nil {
		return err
	}
	if vol.Kind == storage.KindImage {
		if !d.Exists(vol) {
			return nil
		}
		if d.imageUsers(vol.Name) > 0 {
			return os.WriteFile(filepath.Join(d.Path(vol), deletedMark), nil, 0o600)
		}
		return d.l.RemoveVolume(vol)
	}
	var lowers []string
	vols := []storage.Volume{vol}
	if !vol.IsSnapshot() {
		snaps, _ := os.ReadDir(d.l.SnapshotsDir(vol))
		for _, s := range snaps {
			if !strings.HasPrefix(s.Name(), ".") {
				vols = append(vols, vol.Snapshot(s.Name()))
			}
		}
	}
	for _, v := range vols {
		if l, err := d.lowerOf(v); err == nil {
			lowers = append(lowers, l)
		}
		if err := d.Unmount(ctx, v); err != nil {
			return err
		}
	}
	if err := d.l.RemoveVolume(vol); err != nil {
		return err
	}
	for _, l := range lowers {
		d.collectImage(l)
	}
	return nil
}

// imageUsers counts container and snapshot volumes whose lower is fp.
func (d *Driver) imageUsers(fp string) int {
	n := 0
	var files []string
	m, _ := filepath.Glob(filepath.Join(d.l.Root, "containers", "*", lowerFile))
	files = append(files, m...)
	m, _ = filepath.Glob(filepath.Join(d.l.Root, "containers-snapshots", "*", "*", lowerFile))
	files = append(files, m...)
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && strings.TrimSpace(string(b)) == fp {
			n++
		}
	}
	return n
}

// collectImage removes a deleted image's volume once nothing uses it.
func (d *Driver) collectImage(fp string) {
	vol := storage.Volume{Kind: storage.KindImage, Name: fp}
	if vol.Validate() != nil || vol.IsSnapshot() {
		return // a lower file naming no image volume of this pool
	}
	if _, err := os.Lstat(filepath.Join(d.Path(vol), deletedMark)); err != nil {
		return
	}
	if d.imageUsers(fp) == 0 {
		d.l.RemoveVolume(vol)
	}
}

// Usage implements storage.Driver: what the upper holds (an instance's or
// snapshot's own changes); for an image, its tree.
func (d *Driver) Usage(ctx context.Context, vol storage.Volume) (int64, error) {
	if !d.Exists(vol) {
		return -1, fmt.Errorf("volume %s: %w", vol, storage.ErrNotFound)
	}
	if vol.Kind == storage.KindImage {
		return storage.TreeUsage(filepath.Join(d.Path(vol), "rootfs"))
	}
	return storage.TreeUsage(filepath.Join(d.Path(vol), "upper"))
}

// Snapshot implements storage.Driver by copying the upper (reflinked where
// the filesystem can).
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
	lower, err := d.lowerOf(vol)
	if err != nil {
		return err
	}
	return d.build(ctx, sv, lower, filepath.Join(d.Path(vol), "upper"))
}

// Restore implements storage.Driver: the snapshot's upper is copied beside
// the volume's and swapped in; the work directory is emptied. The volume
// must not be mounted by a running container.
func (d *Driver) Restore(ctx context.Context, vol storage.Volume, snap string) error {
	sv := vol.Snapshot(snap)
	if !d.Exists(sv) {
		return fmt.Errorf("snapshot %s: %w", sv, storage.ErrNotFound)
	}
	lower, err := d.lowerOf(sv)
	if err != nil {
		return err
	}
	if err := d.Unmount(ctx, vol); err != nil {
		return err
	}
	dir := d.Path(vol)
	tmp := filepath.Join(dir, ".tmp-upper")
	if err := d.l.Remove(tmp); err != nil {
		return fmt.Errorf("restore %s: %w", sv, err)
	}
	if err := storage.CopyTree(ctx, filepath.Join(d.Path(sv), "upper"), tmp); err != nil {
		d.l.Remove(tmp)
		return fmt.Errorf("restore %s: %w", sv, err)
	}
	old := filepath.Join(dir, ".tmp-old-upper")
	if err := d.l.Remove(old); err != nil {
		d.l.Remove(tmp)
		return fmt.Errorf("restore %s: %w", sv, err)
	}
	if err := os.Rename(filepath.Join(dir, "upper"), old); err != nil {
		d.l.Remove(tmp)
		return fmt.Errorf("restore %s: %w", sv, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "upper")); err != nil {
		os.Rename(old, filepath.Join(dir, "upper"))
		d.l.Remove(tmp)
		return fmt.Errorf("restore %s: %w", sv, err)
	}
	d.l.Remove(old)
	if err := d.l.Remove(filepath.Join(dir, "work")); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(dir, "work"), 0o700); err != nil {
		return err
	}
	if lower == "" {
		if err := os.MkdirAll(filepath.Join(dir, emptyLower), 0o755); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, lowerFile), []byte(lower+"\n"), 0o600)
}

// Rename implements storage.Driver; the volume is unmounted first (its
// instance is stopped) since the mount point moves.
func (d *Driver) Rename(ctx context.Context, vol storage.Volume, newName string) error {
	if err := d.Unmount(ctx, vol); err != nil {
		return err
	}
	if !vol.IsSnapshot() {
		snaps, _ := os.ReadDir(d.l.SnapshotsDir(vol))
		for _, s := range snaps {
			if err := d.Unmount(ctx, vol.Snapshot(s.Name())); err != nil {
				return err
			}
		}
	}
	return storage.RenameDirs(d.l, vol, newName, d.Exists)
}

// Cleanup removes staging directories a crash left behind, unmounting
// first anything mounted in them.
func (d *Driver) Cleanup() {
	for _, m := range d.l.Leftovers() {
		if storage.IsMountpoint(filepath.Join(m, "rootfs")) {
			unix.Unmount(filepath.Join(m, "rootfs"), unix.MNT_DETACH)
		}
		d.l.Remove(m)
	}
	m, _ := filepath.Glob(filepath.Join(d.l.Root, "containers", "*", ".tmp-*"))
	for _, p := range m {
		d.l.Remove(p)
	}
}

// Volumes implements storage.Driver.
func (d *Driver) Volumes(kind storage.Kind) ([]storage.Volume, error) { return d.l.Volumes(kind) }

// CreateVolume implements storage.Driver.
func (d *Driver) CreateVolume(ctx context.Context, vol storage.Volume) error {
	return d.l.CreateDir(vol)
}

// CreateEmptyContainer implements storage.Driver: an empty upper over an
// empty lower layer of its own, so that the whole tree lives in the upper.
func (d *Driver) CreateEmptyContainer(ctx context.Context, vol storage.Volume) error {
	if err := d.l.CheckNew(vol); err != nil {
		return err
	}
	if vol.Kind != storage.KindContainer || vol.IsSnapshot() {
		return fmt.Errorf("volume %s: only an instance's volume is made empty", vol)
	}
	return d.build(ctx, vol, "", "")
}

// TreeView implements storage.TreeViewer: a staging directory beside the
// volume whose rootfs is a bind of the volume's mounted rootfs (Cleanup
// unmounts and removes what a crash leaves).
func (d *Driver) TreeView(ctx context.Context, vol storage.Volume) (string, func(), error) {
	if err := d.Mount(ctx, vol); err != nil {
		return "", nil, err
	}
	tmp, err := d.l.Staging(vol)
	if err != nil {
		return "", nil, fmt.Errorf("volume %s: %w", vol, err)
	}
	view := filepath.Join(tmp, "rootfs")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return "", nil, fmt.Errorf("volume %s: %w", vol, err)
	}
	if err := os.Mkdir(view, 0o755); err != nil {
		d.l.Remove(tmp)
		return "", nil, fmt.Errorf("volume %s: %w", vol, err)
	}
	if err := unix.Mount(filepath.Join(d.Path(vol), "rootfs"), view, "", unix.MS_BIND, ""); err != nil {
		d.l.Remove(tmp)
		return "", nil, fmt.Errorf("volume %s: bind its rootfs for a view: %w", vol, err)
	}
	return tmp, func() {
		for storage.IsMountpoint(view) {
			if err := unix.Unmount(view, unix.MNT_DETACH); err != nil {
				return // left for Cleanup; never remove through a mount
			}
		}
		d.l.Remove(tmp)
	}, nil
}

// Reset implements storage.Driver: a fresh volume over image img is built
// beside this one and swapped in; the snapshots stay.
func (d *Driver) Reset(ctx context.Context, vol, img storage.Volume) error {
	if !d.Exists(vol) {
		return fmt.Errorf("volume %s: %w", vol, storage.ErrNotFound)
	}
	if !d.Exists(img) {
		return fmt.Errorf("volume %s: %w", img, storage.ErrNotFound)
	}
	if err := d.Unmount(ctx, vol); err != nil {
		return err
	}
	old, _ := d.lowerOf(vol)
	fresh := storage.Volume{Kind: vol.Kind, Name: "0reset-" + vol.Name}
	if err := d.l.Remove(d.Path(fresh)); err != nil {
		return fmt.Errorf("reset %s: %w", vol, err)
	}
	if err := d.build(ctx, fresh, img.Name, ""); err != nil {
		return err
	}
	dir := d.Path(vol)
	trash := filepath.Join(filepath.Dir(dir), ".tmp-old-"+filepath.Base(dir))
	if err := d.l.Remove(trash); err != nil {
		d.l.Remove(d.Path(fresh))
		return fmt.Errorf("reset %s: %w", vol, err)
	}
	if err := os.Rename(dir, trash); err != nil {
		d.l.Remove(d.Path(fresh))
		return fmt.Errorf("reset %s: %w", vol, err)
	}
	if err := os.Rename(d.Path(fresh), dir); err != nil {
		os.Rename(trash, dir)
		d.l.Remove(d.Path(fresh))
		return fmt.Errorf("reset %s: %w", vol, err)
	}
	d.l.Remove(trash)
	if old != "" && old != img.Name {
		d.collectImage(old)
	}
	return nil
}
