// Package dir is the plain-directory storage driver: image volumes are
// unpacked trees and instance volumes are copies of them. It works on any
// filesystem; cp's reflink makes clones cheap where the filesystem can.
package dir

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"lodge/storage"
)

// Driver is a dir pool rooted at one directory.
type Driver struct {
	root string
}

// New opens (creating if needed) a dir pool at root.
func New(root string) (*Driver, error) {
	for _, k := range []storage.Kind{storage.KindImage, storage.KindContainer, storage.KindCustom} {
		if err := os.MkdirAll(filepath.Join(root, string(k)), 0o711); err != nil {
			return nil, fmt.Errorf("storage pool %s: %w", root, err)
		}
	}
	return &Driver{root: root}, nil
}

// Info implements storage.Driver.
func (d *Driver) Info() storage.Info { return storage.Info{Name: "dir"} }

// Path implements storage.Driver.
func (d *Driver) Path(vol storage.Volume) string {
	return filepath.Join(d.root, string(vol.Kind), vol.Name)
}

// Exists implements storage.Driver.
func (d *Driver) Exists(vol storage.Volume) bool {
	_, err := os.Lstat(d.Path(vol))
	return err == nil
}

// CreateImage implements storage.Driver: fill populates a staging directory
// that is renamed into place only when complete, so a crash or a failed
// unpack never leaves a half-filled image volume behind.
func (d *Driver) CreateImage(ctx context.Context, vol storage.Volume, fill func(dir string) error) error {
	dst := d.Path(vol)
	if d.Exists(vol) {
		return fmt.Errorf("volume %s/%s: %w", vol.Kind, vol.Name, storage.ErrExists)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dst), ".tmp-"+vol.Name+"-")
	if err != nil {
		return fmt.Errorf("volume %s/%s: %w", vol.Kind, vol.Name, err)
	}
	if err := os.Chmod(tmp, 0o700); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	if err := fill(tmp); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("volume %s/%s: %w", vol.Kind, vol.Name, err)
	}
	return nil
}

// Clone implements storage.Driver with cp -a, which keeps owners, modes,
// device nodes, hardlinks and xattrs, and reflinks on filesystems that can.
func (d *Driver) Clone(ctx context.Context, src, dst storage.Volume) error {
	if !d.Exists(src) {
		return fmt.Errorf("volume %s/%s: %w", src.Kind, src.Name, storage.ErrNotFound)
	}
	if d.Exists(dst) {
		return fmt.Errorf("volume %s/%s: %w", dst.Kind, dst.Name, storage.ErrExists)
	}
	target := d.Path(dst)
	tmp := filepath.Join(filepath.Dir(target), ".tmp-"+dst.Name)
	os.RemoveAll(tmp)
	out, err := exec.CommandContext(ctx, "cp", "-a", "--reflink=auto", d.Path(src), tmp).CombinedOutput()
	if err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("volume %s/%s: copy from %s/%s: %v: %s", dst.Kind, dst.Name, src.Kind, src.Name, err, strings.TrimSpace(string(out)))
	}
	if err := os.Chmod(tmp, 0o700); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	if err := os.Rename(tmp, target); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("volume %s/%s: %w", dst.Kind, dst.Name, err)
	}
	return nil
}

// Delete implements storage.Driver; deleting a missing volume is not an error.
func (d *Driver) Delete(ctx context.Context, vol storage.Volume) error {
	if vol.Name == "" || strings.Contains(vol.Name, "/") || vol.Name == "." || vol.Name == ".." {
		return fmt.Errorf("volume %q: invalid name", vol.Name)
	}
	if err := os.RemoveAll(d.Path(vol)); err != nil {
		return fmt.Errorf("volume %s/%s: delete: %w", vol.Kind, vol.Name, err)
	}
	return nil
}

// Usage implements storage.Driver; a dir pool has no cheap way to know.
func (d *Driver) Usage(ctx context.Context, vol storage.Volume) (int64, error) { return -1, nil }

// Cleanup removes staging directories a crash left behind.
func (d *Driver) Cleanup() {
	for _, k := range []storage.Kind{storage.KindImage, storage.KindContainer, storage.KindCustom} {
		matches, _ := filepath.Glob(filepath.Join(d.root, string(k), ".tmp-*"))
		for _, m := range matches {
			os.RemoveAll(m)
		}
	}
}
