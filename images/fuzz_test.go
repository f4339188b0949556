package images

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lodge/api"
	"time"
)

type fuzzEntry struct {
	name, link, body string
	typ              byte
}

func fuzzTar(entries ...fuzzEntry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o755}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if tw.WriteHeader(h) != nil {
			continue
		}
		if e.typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	return buf.Bytes()
}

const fuzzMeta = "architecture: x86_64\ncreation_date: 1700000000\n"

// FuzzScanTarball: whatever the bytes, the tarball check returns (no panic,
// no hang: 10 s is a failure), and what it accepts has metadata with an architecture.
func FuzzScanTarball(f *testing.F) {
	good := fuzzTar(fuzzEntry{name: "metadata.yaml", body: fuzzMeta, typ: tar.TypeReg}, fuzzEntry{name: "rootfs/", typ: tar.TypeDir},
		fuzzEntry{name: "rootfs/bin/sh", body: "x", typ: tar.TypeReg})
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(good[:700])
	f.Add([]byte{0x1f, 0x8b, 0, 0})
	f.Add([]byte{0xfd, '7', 'z', 'X', 'Z', 0})
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd})
	f.Add([]byte("BZh9"))
	f.Add(fuzzTar(fuzzEntry{name: "metadata.yaml", body: "architecture: [", typ: tar.TypeReg}))
	f.Fuzz(func(t *testing.T, data []byte) {
		type res struct {
			md  api.ImageMetadata
			err error
		}
		ch := make(chan res, 1)
		go func() { md, err := scanTarball(bytes.NewReader(data)); ch <- res{md, err} }()
		var md api.ImageMetadata
		var err error
		select {
		case r := <-ch:
			md, err = r.md, r.err
		case <-time.After(10 * time.Second):
			// A hang is a failure the fuzzer can save, not a stuck run.
			t.Fatalf("scanTarball still running after 10s on a %d-byte input", len(data))
		}
		if err == nil && md.Architecture == "" {
			t.Fatalf("accepted a tarball without an architecture")
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("error is not ErrInvalid: %v", err)
		}
	})
}

// FuzzUnpackStaysInside builds images whose rootfs holds a link (symlink or
// hardlink, any target) and then a file written through it, imports them
// and unpacks what the store accepts: nothing may appear outside the
// target directory, whatever the names and targets.
func FuzzUnpackStaysInside(f *testing.F) {
	outside := f.TempDir()
	victim := filepath.Join(outside, "victim")
	for _, s := range [][4]string{
		{"etc", outside, "etc/victim", "s"},
		{"etc", "../../../..", "etc" + outside + "/victim", "s"},
		{"x", victim, "x", "h"},
		{"x", "../../../../../../" + victim, "x", "h"},
		{"d", "/", "d" + outside + "/new", "s"},
		{"../escape", "", "../escape2", "d"},
		{"a/b", "../../..", "a/b/c", "s"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, linkName, linkTarget, fileName, kind string) {
		if err := os.WriteFile(victim, []byte("untouched"), 0o644); err != nil {
			t.Fatal(err)
		}
		lt := byte(tar.TypeSymlink)
		switch kind {
		case "h":
			lt = tar.TypeLink
		case "d":
			lt = tar.TypeDir
		}
		img := fuzzTar(
			fuzzEntry{name: "metadata.yaml", body: fuzzMeta, typ: tar.TypeReg},
			fuzzEntry{name: "rootfs/", typ: tar.TypeDir},
			fuzzEntry{name: "rootfs/" + linkName, link: linkTarget, typ: lt},
			fuzzEntry{name: "rootfs/" + fileName, body: "pwned", typ: tar.TypeReg},
		)
		work := t.TempDir()
		st, err := NewStore(filepath.Join(work, "store"))
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Import(context.Background(), bytes.NewReader(img), "")
		if err != nil {
			return // refused: nothing to unpack
		}
		dst := filepath.Join(work, "sandbox", "rootfs")
		_ = Unpack(context.Background(), st.Path(info.Fingerprint), dst) // tar may refuse members; only effects matter
		if b, _ := os.ReadFile(victim); string(b) != "untouched" {
			t.Fatalf("unpack of link %q -> %q then %q wrote through to %s", linkName, linkTarget, fileName, victim)
		}
		if entries, _ := os.ReadDir(outside); len(entries) != 1 {
			t.Fatalf("unpack of link %q -> %q then %q created files in %s: %v", linkName, linkTarget, fileName, outside, entries)
		}
		// Nothing next to the rootfs either.
		if entries, _ := os.ReadDir(filepath.Dir(dst)); len(entries) > 1 {
			t.Fatalf("unpack wrote beside the rootfs: %v", entries)
		}
		filepath.Walk(work, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode().IsRegular() && !strings.HasPrefix(p, filepath.Join(work, "store")) && !strings.HasPrefix(p, dst) {
				t.Fatalf("file outside the rootfs: %s", p)
			}
			return nil
		})
	})
}

// A sparse member claims a huge size in a few stored bytes: the check must
// not expand it (found by FuzzScanTarball: the import hung on such input).
func TestScanTarballSparseMemberIsNotExpanded(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "metadata.yaml", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(fuzzMeta)), Format: tar.FormatGNU})
	tw.Write([]byte(fuzzMeta))
	tw.WriteHeader(&tar.Header{Name: "rootfs/", Typeflag: tar.TypeDir, Mode: 0o755, Format: tar.FormatGNU})
	if err := tw.WriteHeader(&tar.Header{Name: "rootfs/big", Typeflag: tar.TypeReg, Mode: 0o644, Format: tar.FormatGNU}); err != nil {
		t.Fatal(err)
	}
	tw.Flush()
	// Turn the last header into an old-style GNU sparse member: no stored
	// data, no regions, a real size of 1 PiB.
	hdr := buf.Bytes()[buf.Len()-512:]
	hdr[156] = tar.TypeGNUSparse
	// Base-256 encoding: a leading 0x80, then the value big-endian.
	realsize := hdr[483:495]
	clear(realsize)
	realsize[0] = 0x80
	binary.BigEndian.PutUint64(realsize[4:], 1<<50)
	copy(hdr[148:156], "        ")
	sum := 0
	for _, b := range hdr {
		sum += int(b)
	}
	copy(hdr[148:156], fmt.Sprintf("%06o\x00 ", sum))
	tw.Close()
	done := make(chan error, 1)
	go func() { _, err := scanTarball(bytes.NewReader(buf.Bytes())); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("a tarball with a sparse member was refused: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("scanning a tarball with a 1 PiB sparse member did not finish: it expanded the member")
	}
}
