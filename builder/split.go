package builder

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"lodge/images"
)

// SplitUnified turns a unified image tarball into the two files image
// servers publish: a metadata tarball (metadata.yaml and templates/,
// xz-compressed: lxd.tar.xz) and the root filesystem as squashfs. They are
// written into dir as NAME.lxd.tar.xz and NAME.squashfs; the split image's
// fingerprint is the SHA-256 of the two concatenated, so it differs from
// the unified one's. The rootfs is unpacked on the way, so owners are kept
// only when run as root.
func SplitUnified(ctx context.Context, tarball, dir, name string) (meta, squashfs string, err error) {
	if os.Geteuid() != 0 {
		return "", "", errors.New("splitting an image unpacks its root filesystem, whose file owners only root can keep: run as root")
	}
	if _, err := exec.LookPath("mksquashfs"); err != nil {
		return "", "", errors.New("mksquashfs not found: install Debian's squashfs-tools")
	}
	work, err := os.MkdirTemp(dir, ".split-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(work)
	metaDir := filepath.Join(work, "meta")
	if err := images.ExtractMetadata(ctx, tarball, metaDir); err != nil {
		return "", "", err
	}
	rootfs := filepath.Join(work, "rootfs")
	if err := images.Unpack(ctx, tarball, rootfs); err != nil {
		return "", "", err
	}
	meta = filepath.Join(dir, name+".lxd.tar.xz")
	members := []string{"metadata.yaml"}
	if _, err := os.Stat(filepath.Join(metaDir, "templates")); err == nil {
		members = append(members, "templates")
	}
	args := append([]string{"--create", "--file", meta, "--directory", metaDir, "--numeric-owner", "--owner=0", "--group=0",
		"--sort=name", "--xz"}, members...)
	if out, err := exec.CommandContext(ctx, "tar", args...).CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("metadata tarball: tar: %v: %s", err, out)
	}
	squashfs = filepath.Join(dir, name+".squashfs")
	os.Remove(squashfs)
	// xz, as image servers compress theirs.
	if out, err := exec.CommandContext(ctx, "mksquashfs", rootfs, squashfs, "-noappend", "-comp", "xz",
		"-no-progress", "-quiet").CombinedOutput(); err != nil {
		os.Remove(meta)
		return "", "", fmt.Errorf("mksquashfs: %v: %s", err, out)
	}
	return meta, squashfs, nil
}
