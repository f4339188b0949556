// Package images is lodge's content-addressed image store: image files
// named by their SHA-256, validated on import, and unpacked into pools.
package images

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/therootcompany/xz"
	"gopkg.in/yaml.v3"

	"lodge/api"
	"lodge/errdefs"
)

var (
	ErrNotFound = errdefs.New(errdefs.ErrNotFound, "image not found")
	ErrExists   = errdefs.New(errdefs.ErrExists, "image already exists")
	ErrInvalid  = errdefs.New(errdefs.ErrInvalid, "invalid image")
)

// Info describes an imported image file.
type Info struct {
	Fingerprint string
	Size        int64
	Metadata    api.ImageMetadata
	Filename    string
}

// Store keeps image files under one directory, each named by its SHA-256.
type Store struct {
	dir string
}

// NewStore opens (creating if needed) a store in dir.
func NewStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("image store %s: %w", dir, err)
	}
	// Temp files of an import a crash interrupted.
	if left, _ := filepath.Glob(filepath.Join(dir, ".import-*")); len(left) > 0 {
		for _, f := range left {
			os.Remove(f)
		}
	}
	return &Store{dir: dir}, nil
}

// Path is where the image file with this fingerprint lives.
func (s *Store) Path(fp string) string { return filepath.Join(s.dir, fp) }

// Has reports whether the store holds fp.
func (s *Store) Has(fp string) bool {
	_, err := os.Stat(s.Path(fp))
	return err == nil
}

// Delete removes an image file.
func (s *Store) Delete(fp string) error {
	if !ValidFingerprintPrefix(fp) || len(fp) != 64 {
		return fmt.Errorf("image %q: %w", fp, ErrNotFound)
	}
	err := os.Remove(s.Path(fp))
	// The rootfs of a split image; absent for unified ones.
	if rerr := os.Remove(s.RootfsPath(fp)); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
		err = rerr
	}
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("image %s: %w", fp, ErrNotFound)
	}
	return err
}

// List returns the fingerprints in the store.
func (s *Store) List() ([]string, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if len(e.Name()) == 64 && ValidFingerprintPrefix(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// Import streams r into the store, hashing it and checking on the way that it
// is a complete unified image tarball with a readable metadata.yaml. Nothing
// is left behind if any check fails.
func (s *Store) Import(ctx context.Context, r io.Reader, expected string) (Info, error) {
	tmp, err := os.CreateTemp(s.dir, ".import-")
	if err != nil {
		return Info{}, fmt.Errorf("image store: %w", err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name()) // no-op after the rename
	}()
	h := sha256.New()
	pr, pw := io.Pipe()
	type result struct {
		md  api.ImageMetadata
		err error
	}
	done := make(chan result, 1)
	go func() {
		md, err := scanTarball(pr)
		// Drain so the writer side never blocks on a reader that gave up.
		io.Copy(io.Discard, pr)
		done <- result{md, err}
	}()
	n, copyErr := hashedCopy(ctx, tmp, h, r, pw)
	pw.Close()
	res := <-done
	if copyErr != nil {
		return Info{}, fmt.Errorf("image upload: %w", copyErr)
	}
	if res.err != nil {
		return Info{}, res.err
	}
	fp := hex.EncodeToString(h.Sum(nil))
	info := Info{Fingerprint: fp, Size: n, Metadata: res.md}
	if expected != "" && !strings.EqualFold(expected, fp) {
		return Info{}, fmt.Errorf("image fingerprint mismatch: expected %s, the upload hashes to %s (corrupt or truncated transfer?): %w", expected, fp, ErrInvalid)
	}
	if s.Has(fp) {
		return info, fmt.Errorf("image %s: %w", fp, ErrExists)
	}
	if err := tmp.Sync(); err != nil {
		return Info{}, err
	}
	if err := os.Rename(tmp.Name(), s.Path(fp)); err != nil {
		return Info{}, fmt.Errorf("image store: %w", err)
	}
	return info, nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// xzDictMax bounds the dictionary an xz stream may ask for: twice what
// xz -9 uses. The header alone decides the allocation, so without a bound a
// 168-byte upload claiming 1.5 GiB got 1.5 GiB. (This decoder, a port of XZ
// Embedded, is also 5x faster here than ulikunitz/xz, which has no bound.)
const xzDictMax = 128 << 20

// errXZDict says what to do about a stream over the bound.
var errXZDict = fmt.Errorf("the xz stream needs a dictionary over %d MiB (xz -9 uses 64 MiB): recompress it with a standard xz preset", xzDictMax>>20)

func xzError(err error) error {
	if errors.Is(err, xz.ErrMemlimit) {
		return errXZDict
	}
	return err
}

type xzReader struct{ r io.Reader }

func (x xzReader) Read(p []byte) (int, error) {
	n, err := x.r.Read(p)
	return n, xzError(err)
}

// decompress detects the compression of r by its magic bytes.
func decompress(r io.Reader) (io.Reader, func(), error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(6)
	nop := func() {}
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		z, err := gzip.NewReader(br)
		return z, nop, err
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		z, err := xz.NewReader(br, xzDictMax)
		if err != nil {
			return nil, nop, xzError(err)
		}
		return xzReader{z}, nop, nil
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		z, err := zstd.NewReader(br)
		if err != nil {
			return nil, nop, err
		}
		return z, z.Close, nil
	case bytes.HasPrefix(head, []byte("BZh")):
		return bzip2.NewReader(br), nop, nil
	}
	return br, nop, nil
}

// scanTarball walks the whole (possibly compressed) tarball, returning its
// metadata.yaml and failing on truncation, a missing metadata.yaml or rootfs,
// or entries that would escape the unpack directory.
func scanTarball(r io.Reader) (api.ImageMetadata, error) { return scanImageTarball(r, true) }

// scanImageTarball is scanTarball; needRootfs false is for the metadata
// tarball of a split image.
func scanImageTarball(r io.Reader, needRootfs bool) (api.ImageMetadata, error) {
	var md api.ImageMetadata
	dr, closeFn, err := decompress(r)
	if err != nil {
		return md, fmt.Errorf("image tarball: unreadable compression: %v: %w", err, ErrInvalid)
	}
	defer closeFn()
	tr := tar.NewReader(dr)
	var haveMeta, haveRootfs bool
	entries := 0
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if entries == 0 {
				return md, fmt.Errorf("image tarball: not a tar archive, or truncated before its first entry (%v): %w", err, ErrInvalid)
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return md, fmt.Errorf("image tarball truncated after %d entries: %w", entries, ErrInvalid)
			}
			return md, fmt.Errorf("image tarball: not a valid tar archive (%v): %w", err, ErrInvalid)
		}
		entries++
		name := strings.TrimPrefix(hdr.Name, "./")
		if escapes(name) {
			return md, fmt.Errorf("image tarball: entry %q escapes the image directory: %w", hdr.Name, ErrInvalid)
		}
		switch {
		case name == "metadata.yaml":
			b, err := io.ReadAll(io.LimitReader(tr, 1<<20))
			if err != nil {
				return md, fmt.Errorf("image tarball truncated in metadata.yaml: %w", ErrInvalid)
			}
			if err := yaml.Unmarshal(b, &md); err != nil {
				return md, fmt.Errorf("image metadata.yaml: %v: %w", err, ErrInvalid)
			}
			haveMeta = true
		case name == "rootfs" || name == "rootfs/" || strings.HasPrefix(name, "rootfs/"):
			haveRootfs = true
		}
		// The next Next skips this member's bytes as stored, which detects
		// truncation inside it. Reading the body instead would expand a
		// sparse member to its claimed size: petabytes of zeros from a few
		// bytes of a hostile tarball.
	}
	if entries == 0 {
		return md, fmt.Errorf("image tarball is empty or not a tar archive: %w", ErrInvalid)
	}
	if !haveMeta {
		return md, fmt.Errorf("image tarball: no metadata.yaml found (not an LXD unified image): %w", ErrInvalid)
	}
	if needRootfs && !haveRootfs {
		return md, fmt.Errorf("image tarball: no rootfs/ directory (split images are not supported yet): %w", ErrInvalid)
	}
	if md.Architecture == "" {
		return md, fmt.Errorf("image metadata.yaml: architecture is missing: %w", ErrInvalid)
	}
	return md, nil
}

func escapes(name string) bool {
	if strings.HasPrefix(name, "/") {
		return true
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return true
		}
	}
	return false
}

// ValidFingerprintPrefix reports whether s is 1 to 64 hex digits.
func ValidFingerprintPrefix(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
