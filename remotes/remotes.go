// Package remotes reads images from image servers: simplestreams trees
// (remotes/simplestreams) and LXD-protocol daemons (remotes/lxd). A Source
// resolves a name to an image and opens its files; Verify checks every byte
// against the hashes the server published while it is being read.
package remotes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"runtime"
	"strings"
	"time"

	"lodge/errdefs"
)

var (
	// ErrNotFound: the remote has no image of that name for this architecture.
	ErrNotFound = errdefs.New(errdefs.ErrNotFound, "image not found on remote")
	// ErrAmbiguous: a fingerprint prefix matches more than one image.
	ErrAmbiguous = errdefs.New(errdefs.ErrInvalid, "ambiguous image fingerprint prefix")
	// ErrUnreachable: the remote did not answer (or answered garbage).
	ErrUnreachable = errdefs.New(errdefs.ErrUnavailable, "image remote unreachable")
	// ErrIntegrity: the bytes do not match the published hash or size.
	ErrIntegrity = errdefs.New(errdefs.ErrInvalid, "image integrity check failed")
)

// File is one downloadable part of an image.
type File struct {
	// Role is "metadata", "rootfs" (a split image) or "combined" (unified).
	Role string
	// FType is the simplestreams ftype (lxd.tar.xz, squashfs, root.tar.xz,
	// lxd_combined.tar.gz) or, for an LXD remote, "" .
	FType  string
	Path   string // relative to the remote's base URL
	Size   int64  // -1 when unknown
	SHA256 string // "" when the server publishes none for this part
}

// Image is one image a remote offers.
type Image struct {
	Fingerprint  string
	Architecture string // LXD's name: x86_64, aarch64, ...
	Aliases      []string
	Properties   map[string]string
	CreatedAt    time.Time
	ExpiresAt    time.Time
	Public       bool
	// Bytes is the image's size as the server reports it, for progress
	// when the files' own sizes are not known in advance.
	Bytes int64
	// Files are the parts in download (and hashing) order: metadata then rootfs, or one combined tarball.
	Files []File
}

// Size is the sum of the image's file sizes.
func (im Image) Size() int64 {
	var n int64
	for _, f := range im.Files {
		if f.Size > 0 {
			n += f.Size
		}
	}
	return n
}

// Exporter is a Source that serves an image as one download (LXD's
// export): it tells the files only when the download starts.
type Exporter interface {
	Export(ctx context.Context, im Image) ([]File, []io.Reader, io.Closer, error)
}

// Split reports whether the image comes as metadata + rootfs.
func (im Image) Split() bool { return len(im.Files) == 2 }

// Source is one image server.
type Source interface {
	// URL is the remote's address, for messages.
	URL() string
	// Resolve finds an image by alias (for the host's architecture unless the
	// alias names one) or by a unique fingerprint prefix.
	Resolve(ctx context.Context, ref string) (Image, error)
	// List returns every image the remote offers (to this client).
	List(ctx context.Context) ([]Image, error)
	// Open streams one file of an image. The caller verifies it (Verify).
	Open(ctx context.Context, im Image, f File) (io.ReadCloser, error)
}

// HostArchitecture is this host's architecture in LXD's naming.
func HostArchitecture() string { return ArchitectureName(runtime.GOARCH) }

// ArchitectureName maps Debian/Go/kernel architecture names to LXD's.
func ArchitectureName(a string) string {
	switch a {
	case "amd64", "x86_64":
		return "x86_64"
	case "arm64", "aarch64":
		return "aarch64"
	case "i386", "386", "i686":
		return "i686"
	case "armhf", "arm", "armv7l":
		return "armv7l"
	case "ppc64el", "ppc64le":
		return "ppc64le"
	case "s390x":
		return "s390x"
	case "riscv64":
		return "riscv64"
	}
	return a
}

// DebianArchitecture maps LXD's architecture names to Debian's, as
// simplestreams products name them.
func DebianArchitecture(a string) string {
	switch ArchitectureName(a) {
	case "x86_64":
		return "amd64"
	case "aarch64":
		return "arm64"
	case "i686":
		return "i386"
	case "armv7l":
		return "armhf"
	case "ppc64le":
		return "ppc64el"
	}
	return a
}

// MatchFingerprint picks the one image whose fingerprint starts with prefix.
func MatchFingerprint(list []Image, prefix string) (Image, bool, error) {
	prefix = strings.ToLower(prefix)
	if !isHex(prefix) {
		return Image{}, false, nil
	}
	var found []Image
	seen := map[string]bool{}
	for _, im := range list {
		if strings.HasPrefix(im.Fingerprint, prefix) && !seen[im.Fingerprint] {
			seen[im.Fingerprint] = true
			found = append(found, im)
		}
	}
	switch len(found) {
	case 0:
		return Image{}, false, nil
	case 1:
		return found[0], true, nil
	}
	return Image{}, false, fmt.Errorf("fingerprint prefix %q matches %s and %s at least; give more characters: %w",
		prefix, found[0].Fingerprint[:12], found[1].Fingerprint[:12], ErrAmbiguous)
}

func isHex(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Progress is called as bytes arrive: done of total (total 0 when unknown).
type Progress func(done, total int64)

// Verifier checks an image's parts as the bytes go by: every part against
// its published size, the parts before the last against their published
// SHA-256, and the whole against the image's fingerprint (SHA-256 of
// metadata ‖ rootfs for a split image, of the tarball for a unified one).
// The last part's own SHA-256 is not computed: the fingerprint covers the
// same bytes, and one pass of hashing over the big file is enough. A Read
// that completes a bad part returns an error wrapping ErrIntegrity instead
// of io.EOF, so a consumer that stops at the first error never accepts a
// bad image. Parts must be read in order.
type Verifier struct {
	im       Image
	combined hash.Hash
	done     int64
	total    int64
	progress Progress
}

// NewVerifier starts checking im.
func NewVerifier(im Image, progress Progress) *Verifier {
	total := im.Size()
	if total == 0 {
		total = im.Bytes
	}
	return &Verifier{im: im, combined: sha256.New(), total: total, progress: progress}
}

// FingerprintCheckedByConsumer turns the whole-image check off, for a
// consumer that hashes the stream itself and compares with the fingerprint
// (images.Store does): the bytes are then hashed once, not twice.
func (v *Verifier) FingerprintCheckedByConsumer() { v.combined = nil }

func (v *Verifier) Wrap(i int, r io.Reader) io.Reader {
	vr := &verifyReader{v: v, f: v.im.Files[i], last: i == len(v.im.Files)-1, r: r}
	if !vr.last && vr.f.SHA256 != "" {
		vr.h = sha256.New()
	}
	return vr
}

type verifyReader struct {
	v    *Verifier
	f    File
	last bool
	r    io.Reader
	h    hash.Hash
	n    int64
	err  error
}

func (vr *verifyReader) Read(p []byte) (int, error) {
	if vr.err != nil {
		return 0, vr.err
	}
	n, err := vr.r.Read(p)
	if n > 0 {
		if vr.h != nil {
			vr.h.Write(p[:n])
		}
		if vr.v.combined != nil {
			vr.v.combined.Write(p[:n])
		}
		vr.n += int64(n)
		vr.v.done += int64(n)
		if vr.f.Size > 0 && vr.n > vr.f.Size {
			vr.err = fmt.Errorf("%s: the server sent more than the %d bytes it announced: %w", vr.f.Path, vr.f.Size, ErrIntegrity)
			return 0, vr.err
		}
		if vr.v.progress != nil {
			vr.v.progress(vr.v.done, vr.v.total)
		}
	}
	if err == io.EOF {
		if cerr := vr.check(); cerr != nil {
			vr.err = cerr
			return n, cerr
		}
	}
	return n, err
}

func (vr *verifyReader) check() error {
	if vr.f.Size > 0 && vr.n != vr.f.Size {
		return fmt.Errorf("%s: download truncated: got %d of %d bytes: %w", vr.f.Path, vr.n, vr.f.Size, ErrIntegrity)
	}
	if vr.h != nil {
		if got := hex.EncodeToString(vr.h.Sum(nil)); !strings.EqualFold(got, vr.f.SHA256) {
			return fmt.Errorf("%s: SHA-256 mismatch: the remote publishes %s, the download hashes to %s: %w", vr.f.Path, vr.f.SHA256, got, ErrIntegrity)
		}
	}
	if vr.last && vr.v.combined != nil {
		if got := hex.EncodeToString(vr.v.combined.Sum(nil)); !strings.EqualFold(got, vr.v.im.Fingerprint) {
			return fmt.Errorf("image fingerprint mismatch: expected %s, the downloaded files hash to %s: %w", vr.v.im.Fingerprint, got, ErrIntegrity)
		}
	}
	return nil
}
