package storage

import (
	"path/filepath"
	"testing"
)

// IsMountpoint (statx) agrees with mountinfo on mount points and on
// directories that are not.
func TestIsMountpointAgreesWithMountinfo(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"/", "/proc", "/sys", "/dev", dir, filepath.Join(dir, "missing"), "/proc/self"} {
		if got, want := IsMountpoint(p), inMountinfo(p); got != want {
			t.Errorf("IsMountpoint(%s) = %v, mountinfo says %v", p, got, want)
		}
	}
	if !IsMountpoint("/proc") || IsMountpoint(dir) {
		t.Errorf("/proc: %v (want true), %s: %v (want false)", IsMountpoint("/proc"), dir, IsMountpoint(dir))
	}
}
