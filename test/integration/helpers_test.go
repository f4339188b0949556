package integration

import (
	"archive/tar"
	"os"
	"testing"
	"time"
)

// writeBrokenImage writes a unified image tarball that imports (valid tar,
// valid metadata) but cannot be unpacked: its rootfs holds a hardlink to a
// file that does not exist, which tar refuses at extraction.
func writeBrokenImage(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	meta := []byte("architecture: x86_64\ncreation_date: 1700000000\nproperties:\n  os: broken\n  release: \"1\"\n  description: unpack fails\n")
	now := time.Now()
	entries := []struct {
		hdr  tar.Header
		body []byte
	}{
		{tar.Header{Name: "metadata.yaml", Mode: 0o644, Size: int64(len(meta)), Typeflag: tar.TypeReg, ModTime: now}, meta},
		{tar.Header{Name: "rootfs/", Mode: 0o755, Typeflag: tar.TypeDir, ModTime: now}, nil},
		{tar.Header{Name: "rootfs/etc/", Mode: 0o755, Typeflag: tar.TypeDir, ModTime: now}, nil},
		{tar.Header{Name: "rootfs/etc/dangling", Typeflag: tar.TypeLink, Linkname: "rootfs/etc/missing", ModTime: now}, nil},
	}
	for _, e := range entries {
		if err := tw.WriteHeader(&e.hdr); err != nil {
			t.Fatal(err)
		}
		if e.body != nil {
			tw.Write(e.body)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}
