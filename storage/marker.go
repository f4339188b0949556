package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// MarkerFile is the file lodge writes at the root of every pool it
// creates (beside images/, containers/, ...): proof that lodge made the
// directories there, and for which daemon. Deleting a pool, sweeping
// volumes no record points at and clearing what a crash left happen only
// in a pool carrying this daemon's marker.
const MarkerFile = ".lodge-pool"

// Marker is the content of MarkerFile.
type Marker struct {
	Pool     string    `json:"pool"`
	StateDir string    `json:"state_dir"`
	Driver   string    `json:"driver"`
	Created  time.Time `json:"created"`
}

// ReadMarker reads root's marker; a missing one is fs.ErrNotExist. The
// marker itself is never followed if it is a symlink.
func ReadMarker(root string) (Marker, error) {
	var m Marker
	fd, err := unix.Open(filepath.Join(root, MarkerFile), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return m, fs.ErrNotExist
		}
		return m, &os.PathError{Op: "open", Path: filepath.Join(root, MarkerFile), Err: err}
	}
	f := os.NewFile(uintptr(fd), filepath.Join(root, MarkerFile))
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%s: not a lodge pool marker: %w", f.Name(), err)
	}
	return m, nil
}

// WriteMarker writes root's marker (a temporary file renamed into place).
func WriteMarker(root string, m Marker) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(root, MarkerFile+".tmp-")
	if err != nil {
		return fmt.Errorf("storage pool %s: write marker: %w", root, err)
	}
	_, err = tmp.Write(append(b, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(root, MarkerFile))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("storage pool %s: write marker: %w", root, err)
	}
	return nil
}

// CheckMarker tells whether root is pool of the lodged whose state
// directory is stateDir; the error says what was found instead.
func CheckMarker(root, stateDir, pool string) error {
	m, err := ReadMarker(root)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s has no lodge pool marker (%s): lodge did not make it, or an older lodge did, and cannot tell its files from another tool's", root, MarkerFile)
	}
	if err != nil {
		return err
	}
	if !SamePath(m.StateDir, stateDir) {
		return fmt.Errorf("%s belongs to the lodged whose state directory is %s (its pool %q), not to this one (%s)", root, m.StateDir, m.Pool, stateDir)
	}
	if m.Pool != pool {
		return fmt.Errorf("%s is lodge pool %q, not %q", root, m.Pool, pool)
	}
	return nil
}

// Resolve returns p absolute with its symlinks resolved; the part that
// does not exist yet is appended as given.
func Resolve(p string) string {
	p, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	rest := ""
	for cur := p; ; {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return p
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// SamePath tells whether a and b name the same place once resolved.
func SamePath(a, b string) bool { return Resolve(a) == Resolve(b) }

// Under tells whether p lies strictly below dir (both resolved by the caller).
func Under(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, "../")
}
