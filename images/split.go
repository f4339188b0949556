package images

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"os/exec"
	"strings"
)

// A split image is stored as two files: <fp> (the metadata tarball, as
// for a unified image) and <fp>.rootfs (squashfs or a rootfs tarball).
// <fp> is renamed into place last, so Has is true only for complete images.

// RootfsPath is where the rootfs of a split image lives.
func (s *Store) RootfsPath(fp string) string { return s.Path(fp) + ".rootfs" }

// IsSplit reports whether fp is stored as a split image.
func (s *Store) IsSplit(fp string) bool {
	_, err := os.Stat(s.RootfsPath(fp))
	return err == nil
}

var squashfsMagic = []byte("hsqs")

// ImportSplit stores a split image: a metadata tarball (metadata.yaml,
// templates) and a rootfs (squashfs or a tarball of the root, as
// root.tar.xz). The fingerprint is SHA-256 over the metadata bytes then the
// rootfs bytes; a mismatch with expected is an error naming both, and then
// nothing is stored.
func (s *Store) ImportSplit(ctx context.Context, meta, rootfs io.Reader, expected string) (Info, error) {
	h := sha256.New()
	metaTmp, err := os.CreateTemp(s.dir, ".import-")
	if err != nil {
		return Info{}, fmt.Errorf("image store: %w", err)
	}
	defer func() { metaTmp.Close(); os.Remove(metaTmp.Name()) }()
	rootTmp, err := os.CreateTemp(s.dir, ".import-")
	if err != nil {
		return Info{}, fmt.Errorf("image store: %w", err)
	}
	defer func() { rootTmp.Close(); os.Remove(rootTmp.Name()) }()

	// Metadata: small; hash, keep and parse it.
	var metaBuf bytes.Buffer
	mn, err := io.Copy(io.MultiWriter(metaTmp, h, &metaBuf), ctxReader{ctx, io.LimitReader(meta, 256<<20)})
	if err != nil {
		return Info{}, fmt.Errorf("image metadata download: %w", err)
	}
	md, err := scanImageTarball(&metaBuf, false)
	if err != nil {
		return Info{}, fmt.Errorf("split image metadata: %w", err)
	}
	// Rootfs: hash while writing; sniff the format from the first bytes.
	sniff := &headSniffer{}
	rn, err := hashedCopy(ctx, rootTmp, h, rootfs, sniff)
	if err != nil {
		return Info{}, fmt.Errorf("image rootfs download: %w", err)
	}
	fp := hex.EncodeToString(h.Sum(nil))
	if expected != "" && !strings.EqualFold(expected, fp) {
		return Info{}, fmt.Errorf("image fingerprint mismatch: expected %s, metadata+rootfs hash to %s (corrupt or truncated transfer?): %w", expected, fp, ErrInvalid)
	}
	if !bytes.HasPrefix(sniff.b, squashfsMagic) {
		if err := checkRootTarball(rootTmp.Name(), expected == ""); err != nil {
			return Info{}, err
		}
	}
	info := Info{Fingerprint: fp, Size: mn + rn, Metadata: md}
	if s.Has(fp) {
		return info, fmt.Errorf("image %s: %w", fp, ErrExists)
	}
	for _, f := range []*os.File{rootTmp, metaTmp} {
		if err := f.Sync(); err != nil {
			return Info{}, err
		}
	}
	if err := os.Rename(rootTmp.Name(), s.RootfsPath(fp)); err != nil {
		return Info{}, fmt.Errorf("image store: %w", err)
	}
	if err := os.Rename(metaTmp.Name(), s.Path(fp)); err != nil {
		os.Remove(s.RootfsPath(fp))
		return Info{}, fmt.Errorf("image store: %w", err)
	}
	return info, nil
}

type headSniffer struct{ b []byte }

func (h *headSniffer) Write(p []byte) (int, error) {
	if n := 8 - len(h.b); n > 0 {
		if n > len(p) {
			n = len(p)
		}
		h.b = append(h.b, p[:n]...)
	}
	return len(p), nil
}

// checkRootTarball checks a rootfs that is not squashfs is a tarball; with
// full (no fingerprint to vouch for it) the whole archive is walked so that
// truncation is caught.
func checkRootTarball(path string, full bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	dr, closeFn, err := decompress(f)
	if err != nil {
		return fmt.Errorf("image rootfs: neither squashfs nor a readable tarball (%v): %w", err, ErrInvalid)
	}
	defer closeFn()
	tr := tar.NewReader(dr)
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			if n == 0 {
				return fmt.Errorf("image rootfs tarball is empty: %w", ErrInvalid)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("image rootfs: neither squashfs nor a valid tarball, or truncated (%v): %w", err, ErrInvalid)
		}
		if escapes(strings.TrimPrefix(hdr.Name, "./")) {
			return fmt.Errorf("image rootfs: entry %q escapes the root: %w", hdr.Name, ErrInvalid)
		}
		if !full {
			return nil
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			return fmt.Errorf("image rootfs tarball truncated in %q: %w", hdr.Name, ErrInvalid)
		}
	}
}

// unpackSplit extracts a split image's rootfs file into dst: squashfs with
// Debian's unsquashfs (keeps owners, modes, xattrs, devices as root), a
// tarball with GNU tar (whose members are the root itself, no rootfs/).
func unpackSplit(ctx context.Context, rootfsPath, dst string) error {
	f, err := os.Open(rootfsPath)
	if err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	head := make([]byte, 4)
	_, _ = io.ReadFull(f, head)
	f.Close()
	var cmd *exec.Cmd
	if bytes.Equal(head, squashfsMagic) {
		if _, err := exec.LookPath("unsquashfs"); err != nil {
			return errors.New("unpack image: unsquashfs not found: install Debian's squashfs-tools")
		}
		cmd = exec.CommandContext(ctx, "unsquashfs", "-quiet", "-no-progress", "-force", "-dest", dst, rootfsPath)
	} else {
		cmd = exec.CommandContext(ctx, "tar", "--extract", "--file", rootfsPath, "--directory", dst,
			"--numeric-owner", "--same-permissions", "--xattrs", "--xattrs-include=*", "--acls")
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("unpack image: %s: %v: %s", cmd.Args[0], err, firstLines(strings.TrimSpace(string(out)), 5))
	}
	return nil
}

// combined is a helper for tests and tools: the split fingerprint of two files.
func combined(paths ...string) (string, error) {
	var h hash.Hash = sha256.New()
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return "", err
		}
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
