package images

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func zstdBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, _ := zstd.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func TestExtractMetadata(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "image")
	tarball := makeTar(t, []entry{
		{name: "./metadata.yaml", body: goodMeta + "templates:\n  /etc/hostname:\n    when: [create]\n    template: hostname.tpl\n"},
		{name: "./templates/", typ: tar.TypeDir, mode: 0o755},
		{name: "./templates/hostname.tpl", body: "{{ container.name }}\n"},
		{name: "./templates/sub/deep.tpl", body: "deep"},
		{name: "./templates/evil.tpl", typ: tar.TypeSymlink, link: "/etc/shadow"},
		{name: "./templates/hard.tpl", typ: tar.TypeLink, link: "rootfs/etc/shadow"},
		{name: "./templates/dev.tpl", typ: tar.TypeChar},
		{name: "rootfs/", typ: tar.TypeDir, mode: 0o755},
		{name: "rootfs/etc/shadow", body: "root:x"},
	})
	os.WriteFile(img, zstdBytes(t, tarball), 0o600)
	dst := filepath.Join(dir, "meta")
	if err := ExtractMetadata(context.Background(), img, dst); err != nil {
		t.Fatal(err)
	}
	if !HasMetadata(dst) {
		t.Fatal("no metadata.yaml")
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "templates/hostname.tpl")); string(b) != "{{ container.name }}\n" {
		t.Errorf("hostname.tpl: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "templates/sub/deep.tpl")); string(b) != "deep" {
		t.Errorf("sub/deep.tpl: %q", b)
	}
	var got []string
	filepath.WalkDir(dst, func(p string, d os.DirEntry, err error) error {
		rel, _ := filepath.Rel(dst, p)
		got = append(got, rel)
		return nil
	})
	if strings.Join(got, " ") != ". metadata.yaml templates templates/hostname.tpl templates/sub templates/sub/deep.tpl" {
		t.Errorf("extracted %v: links, devices and the rootfs must be left out", got)
	}

	// A split image's metadata tarball has no rootfs; the same call reads it.
	split := filepath.Join(dir, "split")
	os.WriteFile(split, makeTar(t, []entry{{name: "metadata.yaml", body: goodMeta}}), 0o600)
	if err := ExtractMetadata(context.Background(), split, filepath.Join(dir, "m2")); err != nil || !HasMetadata(filepath.Join(dir, "m2")) {
		t.Errorf("split metadata: %v", err)
	}
}

func TestExtractMetadataRefuses(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(dir, "outside")
	cases := map[string][]entry{
		"escape":      {{name: "metadata.yaml", body: goodMeta}, {name: "templates/../../outside", body: "x"}},
		"no metadata": {{name: "templates/a.tpl", body: "x"}},
		"too big":     {{name: "metadata.yaml", body: goodMeta}, {name: "templates/big.tpl", body: strings.Repeat("x", maxTemplateFile+1)}},
	}
	for name, ents := range cases {
		img := filepath.Join(dir, name)
		os.WriteFile(img, makeTar(t, ents), 0o600)
		err := ExtractMetadata(context.Background(), img, filepath.Join(dir, name+".out"))
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := os.Lstat(outside); err == nil {
		t.Error("an entry escaped")
	}
}

// CopyMetadata carries metadata.yaml and templates/ from one volume to
// another (an overlay clone has only its rootfs): regular files only, and a
// link in the source is neither followed nor copied.
func TestCopyMetadata(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	os.MkdirAll(filepath.Join(src, "templates", "sub"), 0o755)
	os.MkdirAll(dst, 0o755)
	os.WriteFile(filepath.Join(src, "metadata.yaml"), []byte(goodMeta), 0o600)
	os.WriteFile(filepath.Join(src, "templates", "hostname.tpl"), []byte("{{ container.name }}\n"), 0o600)
	os.WriteFile(filepath.Join(src, "templates", "sub", "deep.tpl"), []byte("deep"), 0o600)
	os.WriteFile(filepath.Join(dir, "secret"), []byte("host secret"), 0o600)
	os.Symlink(filepath.Join(dir, "secret"), filepath.Join(src, "templates", "evil.tpl"))
	os.Symlink("/", filepath.Join(src, "templates", "rootdir"))
	if err := CopyMetadata(src, dst); err != nil {
		t.Fatal(err)
	}
	var got []string
	filepath.WalkDir(dst, func(p string, d os.DirEntry, err error) error {
		rel, _ := filepath.Rel(dst, p)
		got = append(got, rel)
		return nil
	})
	if strings.Join(got, " ") != ". metadata.yaml templates templates/hostname.tpl templates/sub templates/sub/deep.tpl" {
		t.Errorf("copied %v", got)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "templates", "sub", "deep.tpl")); string(b) != "deep" {
		t.Errorf("deep.tpl: %q", b)
	}
	// Nothing to copy is not an error; removal leaves the rest of dst.
	if err := CopyMetadata(filepath.Join(dir, "none"), dst); err != nil {
		t.Error(err)
	}
	os.WriteFile(filepath.Join(dst, "keep"), nil, 0o600)
	if err := RemoveMetadata(dst); err != nil || HasMetadata(dst) {
		t.Fatalf("remove: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dst, "keep")); err != nil {
		t.Error("RemoveMetadata removed more than the metadata")
	}
}
