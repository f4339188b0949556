package images

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

type entry struct {
	name, body string
	typ        byte
	link       string
	mode       int64
}

func makeTar(t *testing.T, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: e.mode, Size: int64(len(e.body))}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	return buf.Bytes()
}

var goodMeta = "architecture: x86_64\ncreation_date: 1700000000\nproperties:\n  os: busybox\n  release: \"1.35\"\n  description: tiny\n"

func goodImage(t *testing.T) []byte {
	return makeTar(t, []entry{
		{name: "metadata.yaml", body: goodMeta},
		{name: "rootfs/", typ: tar.TypeDir, mode: 0o755},
		{name: "rootfs/bin/", typ: tar.TypeDir, mode: 0o755},
		{name: "rootfs/bin/busybox", body: "ELF", mode: 0o4755},
		{name: "rootfs/bin/sh", typ: tar.TypeSymlink, link: "busybox"},
		{name: "rootfs/bin/ash", typ: tar.TypeLink, link: "rootfs/bin/busybox"},
	})
}

func compress(t *testing.T, kind string, b []byte) []byte {
	var buf bytes.Buffer
	switch kind {
	case "none":
		return b
	case "gzip":
		w := gzip.NewWriter(&buf)
		w.Write(b)
		w.Close()
	case "xz":
		w, _ := xz.NewWriter(&buf)
		w.Write(b)
		w.Close()
	case "zstd":
		w, _ := zstd.NewWriter(&buf)
		w.Write(b)
		w.Close()
	}
	return buf.Bytes()
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestImport(t *testing.T) {
	good := goodImage(t)
	tests := []struct {
		name     string
		data     []byte
		expected string
		err      string
	}{
		{"plain", good, "", ""},
		{"gzip", compress(t, "gzip", good), "", ""},
		{"xz", compress(t, "xz", good), "", ""},
		{"zstd", compress(t, "zstd", good), "", ""},
		{"expected fingerprint", good, sum(good), ""},
		{"wrong fingerprint", good, strings.Repeat("0", 64), "fingerprint mismatch"},
		{"truncated", good[:len(good)/2], "", "truncated"},
		{"truncated gzip", compress(t, "gzip", good)[:200], "", "truncated"},
		{"garbage", []byte("hello, this is not a tarball at all, not even close"), "", "not"},
		{"empty", nil, "", "empty"},
		{"no metadata", makeTar(t, []entry{{name: "rootfs/", typ: tar.TypeDir, mode: 0o755}}), "", "no metadata.yaml"},
		{"bad yaml", makeTar(t, []entry{{name: "metadata.yaml", body: "architecture: [x\n"}, {name: "rootfs/", typ: tar.TypeDir}}), "", "metadata.yaml"},
		{"no architecture", makeTar(t, []entry{{name: "metadata.yaml", body: "properties: {}\n"}, {name: "rootfs/", typ: tar.TypeDir}}), "", "architecture"},
		{"no rootfs", makeTar(t, []entry{{name: "metadata.yaml", body: goodMeta}}), "", "no rootfs"},
		{"escape", makeTar(t, []entry{{name: "metadata.yaml", body: goodMeta}, {name: "rootfs/../../etc/passwd", body: "x"}}), "", "escapes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := NewStore(dir)
			if err != nil {
				t.Fatal(err)
			}
			info, err := s.Import(context.Background(), bytes.NewReader(tc.data), tc.expected)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("err = %v, want ErrInvalid containing %q", err, tc.err)
				}
				ents, _ := os.ReadDir(dir)
				if len(ents) != 0 {
					t.Fatalf("left behind: %v", ents)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.Fingerprint != sum(tc.data) || info.Size != int64(len(tc.data)) || info.Metadata.Properties["os"] != "busybox" || info.Metadata.Architecture != "x86_64" {
				t.Fatalf("info: %+v", info)
			}
			if !s.Has(info.Fingerprint) {
				t.Fatal("not stored")
			}
			if _, err := s.Import(context.Background(), bytes.NewReader(tc.data), ""); !errors.Is(err, ErrExists) {
				t.Fatalf("second import: %v", err)
			}
			if list, _ := s.List(); len(list) != 1 {
				t.Fatalf("list: %v", list)
			}
		})
	}
}

func TestUnpack(t *testing.T) {
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("GNU tar not installed")
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "img.tar.gz")
	os.WriteFile(img, compress(t, "gzip", goodImage(t)), 0o600)
	dst := filepath.Join(dir, "rootfs")
	if err := Unpack(context.Background(), img, dst); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dst, "bin", "busybox"))
	if err != nil || fi.Mode()&os.ModeSetuid == 0 {
		t.Fatalf("setuid busybox: %v %v", fi, err)
	}
	if l, err := os.Readlink(filepath.Join(dst, "bin", "sh")); err != nil || l != "busybox" {
		t.Fatalf("symlink: %q %v", l, err)
	}
	a, _ := os.Stat(filepath.Join(dst, "bin", "ash"))
	if a == nil || !os.SameFile(a, fi) {
		t.Fatal("hardlink not preserved")
	}
	if _, err := os.Stat(filepath.Join(dst, "metadata.yaml")); err == nil {
		t.Fatal("metadata.yaml unpacked into the rootfs")
	}
}

func TestValidFingerprintPrefix(t *testing.T) {
	for s, want := range map[string]bool{"a": true, "ABCdef0123": true, strings.Repeat("a", 64): true, strings.Repeat("a", 65): false,
		"": false, "xyz": false, "../": false, "ab cd": false} {
		if got := ValidFingerprintPrefix(s); got != want {
			t.Errorf("ValidFingerprintPrefix(%q) = %v", s, got)
		}
	}
}

// An xz stream whose header asks for a 1.5 GiB dictionary (168 bytes,
// made with xz --lzma2=dict=1536MiB) is refused, not given the memory.
func TestScanRefusesHugeXZDictionary(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "xz-dict-1536MiB.tar.xz"))
	if err != nil {
		t.Fatal(err)
	}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	_, err = scanTarball(bytes.NewReader(b))
	runtime.ReadMemStats(&m1)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "dictionary over 128 MiB") {
		t.Fatalf("err = %v, want an invalid image naming the dictionary", err)
	}
	if got := m1.TotalAlloc - m0.TotalAlloc; got > 64<<20 {
		t.Fatalf("allocated %d MiB for a 168-byte upload", got>>20)
	}
}
