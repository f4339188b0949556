package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v3"

	"lodge/idmap"
)

type ent struct {
	name, body, link string
	typ              byte
	mode             int64
	size             int64 // announced size if not len(body); data is not written then
	major, minor     int64
	uid              int
	pax              map[string]string
}

func indexYAML(t testing.TB, ix *Index) string {
	f := false
	if ix.Optimized == nil {
		ix.Optimized, ix.OptimizedHeader = &f, &f
	}
	if ix.Type == "" {
		ix.Type = "container"
	}
	for _, s := range ix.Config.Snapshots {
		ix.Snapshots = append(ix.Snapshots, s.Name)
	}
	b, err := yaml.Marshal(ix)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// craft builds an uncompressed tarball of ents (a short one when an entry
// announces more data than it has).
func craft(t testing.TB, ents ...ent) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
			if typ == tar.TypeDir {
				mode = 0o755
			}
		}
		h := &tar.Header{Name: e.name, Typeflag: typ, Mode: mode, Linkname: e.link, Devmajor: e.major, Devminor: e.minor, PAXRecords: e.pax, Format: tar.FormatPAX, Uid: e.uid, Gid: e.uid}
		if typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if e.size > 0 {
			h.Size = e.size
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
			buf.Write(make([]byte, 1024))
			return buf.Bytes()
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	return buf.Bytes()
}

func valid(t testing.TB, snaps ...string) []ent {
	ents := []ent{{name: "backup/index.yaml", body: indexYAML(t, testIndex("c1", snaps...))}}
	for _, s := range snaps {
		ents = append(ents,
			ent{name: "backup/snapshots/" + s, typ: tar.TypeDir},
			ent{name: "backup/snapshots/" + s + "/rootfs", typ: tar.TypeDir},
			ent{name: "backup/snapshots/" + s + "/rootfs/f", body: s})
	}
	return append(ents,
		ent{name: "backup/container", typ: tar.TypeDir},
		ent{name: "backup/container/rootfs", typ: tar.TypeDir},
		ent{name: "backup/container/rootfs/etc", typ: tar.TypeDir},
		ent{name: "backup/container/rootfs/etc/hostname", body: "c1\n"})
}

func withIndex(t testing.TB, ix *Index, rest ...ent) []ent {
	return append([]ent{{name: "backup/index.yaml", body: indexYAML(t, ix)}}, rest...)
}

func container(rest ...ent) []ent {
	return append([]ent{
		{name: "backup/container", typ: tar.TypeDir},
		{name: "backup/container/rootfs", typ: tar.TypeDir},
	}, rest...)
}

// importInto runs a whole import of data into work/target and returns the
// error; work/outside is a directory next to the target that must stay empty.
func importInto(t *testing.T, data []byte, opt Options) (string, error) {
	t.Helper()
	work := t.TempDir()
	os.MkdirAll(filepath.Join(work, "outside"), 0o755)
	rd, err := Open(context.Background(), bytes.NewReader(data))
	if err == nil {
		_, err = rd.Extract(DirTarget{Root: filepath.Join(work, "target")}, opt)
		rd.Close()
	}
	// Nothing lands outside the target: not beside it, not in /tmp.
	if ents, _ := os.ReadDir(filepath.Join(work, "outside")); len(ents) > 0 {
		t.Errorf("import wrote outside its target: %v", ents)
	}
	if _, serr := os.Lstat("/tmp/lodge-backup-escaped"); serr == nil {
		os.Remove("/tmp/lodge-backup-escaped")
		t.Errorf("import wrote /tmp/lodge-backup-escaped")
	}
	return work, err
}

func TestValidCraftedImports(t *testing.T) {
	for _, snaps := range [][]string{nil, {"s1"}, {"s1", "s2"}} {
		work, err := importInto(t, craft(t, valid(t, snaps...)...), Options{})
		if err != nil {
			t.Fatalf("%v: %v", snaps, err)
		}
		for _, s := range snaps {
			if b, _ := os.ReadFile(filepath.Join(work, "target/snapshots", s, "rootfs/f")); string(b) != s {
				t.Errorf("snapshot %s: %q", s, b)
			}
		}
	}
}

func TestHostileImports(t *testing.T) {
	ix := func(snaps ...string) *Index { return testIndex("c1", snaps...) }
	otherName := ix()
	otherName.Config.Container.Name = "c2"
	vm := ix()
	vm.Type = "virtual-machine"
	badSnap := ix("../x")
	optDir := ix()
	tr := true
	optDir.Optimized = &tr
	disagree := ix()
	disagree.Config.Container.Config["security.privileged"] = "true"
	disagreeYAML, _ := yaml.Marshal(disagree.Config)
	nl := ix()
	nl.Config.Container.Config["raw.lxc"] = "x"
	nl.Config.Container.Config["bad\nkey"] = "1"

	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"dotdot", craft(t, append(valid(t), ent{name: "backup/container/rootfs/../../../outside/x", body: "x"})...), "not a clean relative path"},
		{"dotdot-inner", craft(t, append(valid(t), ent{name: "backup/container/rootfs/etc/../../x", body: "x"})...), "not a clean relative path"},
		{"absolute", craft(t, append(valid(t), ent{name: "/tmp/lodge-backup-escaped", body: "x"})...), "not a clean relative path"},
		{"outside-layout", craft(t, append(valid(t), ent{name: "backup/evil", body: "x"})...), "not part of LXD's backup layout"},
		{"outside-layout-2", craft(t, append(valid(t), ent{name: "backup/container/other", body: "x"})...), "not part of LXD's backup layout"},
		{"symlink-then-through", craft(t, append(valid(t),
			ent{name: "backup/container/rootfs/esc", typ: tar.TypeSymlink, link: "/tmp"},
			ent{name: "backup/container/rootfs/esc/lodge-backup-escaped", body: "x"})...), "a symlink is in its way"},
		{"symlink-dotdot-through", craft(t, append(valid(t),
			ent{name: "backup/container/rootfs/up", typ: tar.TypeSymlink, link: "../../../outside"},
			ent{name: "backup/container/rootfs/up/x", body: "x"})...), "a symlink is in its way"},
		{"symlink-inside-through", craft(t, append(valid(t),
			ent{name: "backup/container/rootfs/e2", typ: tar.TypeSymlink, link: "etc"},
			ent{name: "backup/container/rootfs/e2/x", body: "x"})...), "a symlink is in its way"},
		{"hardlink-absolute", craft(t, append(valid(t), ent{name: "backup/container/rootfs/pw", typ: tar.TypeLink, link: "/etc/passwd"})...), "not a clean relative path"},
		{"hardlink-dotdot", craft(t, append(valid(t), ent{name: "backup/container/rootfs/pw", typ: tar.TypeLink, link: "backup/container/rootfs/../../../../etc/passwd"})...), "not a clean relative path"},
		{"hardlink-outside-section", craft(t, append(valid(t, "s1"), ent{name: "backup/container/rootfs/f2", typ: tar.TypeLink, link: "backup/snapshots/s1/rootfs/f"})...), "not a file written earlier"},
		{"hardlink-to-later", craft(t, append(valid(t), ent{name: "backup/container/rootfs/l", typ: tar.TypeLink, link: "backup/container/rootfs/later"})...), "not a file written earlier"},
		{"hardlink-to-dir", craft(t, append(valid(t), ent{name: "backup/container/rootfs/l", typ: tar.TypeLink, link: "backup/container/rootfs/etc"})...), "not a file written earlier"},
		{"hardlink-via-symlink", craft(t, append(valid(t),
			ent{name: "backup/container/rootfs/s", typ: tar.TypeSymlink, link: "/etc"},
			ent{name: "backup/container/rootfs/l", typ: tar.TypeLink, link: "backup/container/rootfs/s/passwd"})...), "not a file written earlier"},
		{"block-device", craft(t, append(valid(t), ent{name: "backup/container/rootfs/sda", typ: tar.TypeBlock, major: 8, minor: 0})...), "block device 8:0"},
		{"char-device-mem", craft(t, append(valid(t), ent{name: "backup/container/rootfs/mem", typ: tar.TypeChar, major: 1, minor: 1})...), "character device 1:1"},
		{"duplicate-file", craft(t, append(valid(t), ent{name: "backup/container/rootfs/etc/hostname", body: "again"})...), "appears twice"},
		{"duplicate-symlink-over-file", craft(t, append(valid(t), ent{name: "backup/container/rootfs/etc/hostname", typ: tar.TypeSymlink, link: "/etc/shadow"})...), "appears twice"},
		{"file-before-dir", craft(t, withIndex(t, ix(), container(ent{name: "backup/container/rootfs/a/b", body: "x"})...)...), "comes before its directory"},
		{"absurd-size", craft(t, withIndex(t, ix(), container(ent{name: "backup/container/rootfs/big", size: 1 << 60})...)...), "more than the"},
		{"no-index", craft(t, container(ent{name: "backup/container/rootfs/x", body: "x"})...), "backup/index.yaml must come first"},
		{"index-not-first", craft(t, append(container(), ent{name: "backup/index.yaml", body: indexYAML(t, ix())})...), "backup/index.yaml must come first"},
		{"empty-tarball", craft(t), "not a backup tarball"},
		{"index-garbage", craft(t, ent{name: "backup/index.yaml", body: "name: [unclosed"}), "index.yaml"},
		{"index-name-mismatch", craft(t, withIndex(t, otherName, container()...)...), "config.container is"},
		{"index-vm", craft(t, withIndex(t, vm, container()...)...), "virtual-machine"},
		{"index-bad-snapshot-name", craft(t, withIndex(t, badSnap, container()...)...), "not valid"},
		{"index-newline-key", craft(t, withIndex(t, nl, container()...)...), "newline"},
		{"optimized-not-btrfs", craft(t, withIndex(t, optDir, container()...)...), "optimized backups of btrfs"},
		{"snapshot-not-in-index", craft(t, append(valid(t), ent{name: "backup/snapshots/s9/rootfs", typ: tar.TypeDir})...), "not in backup/index.yaml"},
		{"snapshot-missing", craft(t, withIndex(t, ix("s1"), container()...)...), "no entries for backup/snapshots/s1"},
		{"container-missing", craft(t, withIndex(t, ix())...), "no entries for backup/container"},
		{"container-before-snapshot", craft(t, withIndex(t, ix("s1"), append(container(), ent{name: "backup/snapshots/s1/rootfs", typ: tar.TypeDir})...)...), "no entries for backup/snapshots/s1"},
		{"snapshots-out-of-order", craft(t, withIndex(t, ix("s1", "s2"), ent{name: "backup/snapshots/s2/rootfs", typ: tar.TypeDir}, ent{name: "backup/snapshots/s1/rootfs", typ: tar.TypeDir})...), "no entries for backup/snapshots/s1"},
		{"section-split", craft(t, withIndex(t, ix("s1", "s2"),
			ent{name: "backup/snapshots/s1/rootfs", typ: tar.TypeDir}, ent{name: "backup/snapshots/s2/rootfs", typ: tar.TypeDir},
			ent{name: "backup/snapshots/s1/rootfs/late", body: "x"})...), "appears again"},
		{"instance-only-with-snapshot", craft(t, withIndex(t, ix(), ent{name: "backup/snapshots/s1/rootfs", typ: tar.TypeDir})...), "not in backup/index.yaml"},
		{"backup-yaml-disagrees", craft(t, withIndex(t, ix(), container(ent{name: "backup/container/backup.yaml", body: string(disagreeYAML)})...)...), "disagrees with backup/index.yaml (config)"},
		{"optimized-entry-in-plain", craft(t, append(valid(t), ent{name: "backup/container.bin", body: "x"})...), "optimized"},
		{"index-huge", craft(t, ent{name: "backup/index.yaml", size: maxIndexSize + 1}), "limit"},
		{"metadata-huge", craft(t, withIndex(t, ix(), container(ent{name: "backup/container/metadata.yaml", size: maxMetadataSize + 1})...)...), "limit"},
		{"rootfs-not-dir", craft(t, withIndex(t, ix(), ent{name: "backup/container/rootfs", body: "x"})...), "must be a directory"},
		{"bad-caps", craft(t, append(valid(t), ent{name: "backup/container/rootfs/c", body: "x", pax: map[string]string{"SCHILY.xattr.security.capability": "xx"}})...), "file capabilities"},
		{"not-a-tarball", []byte(strings.Repeat("garbage ", 100)), "not a backup tarball"},
		{"squashfs", append([]byte("hsqs"), make([]byte, 600)...), "squashfs"},
		{"truncated-gzip", gzipped(t, craft(t, valid(t)...))[:200], "unexpected EOF"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			work, err := importInto(t, c.data, Options{})
			if err == nil {
				t.Fatalf("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooBig) {
				t.Errorf("error %q is neither ErrInvalid nor ErrTooBig", err)
			}
			if c.name == "absurd-size" {
				if _, err := os.Lstat(filepath.Join(work, "target/container/rootfs/big")); err == nil {
					t.Error("the absurd file was created")
				}
			}
		})
	}
}

func gzipped(t *testing.T, data []byte) []byte {
	var buf bytes.Buffer
	zw, err := NewCompressor(context.Background(), &buf, "gzip")
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(data)
	zw.Close()
	return buf.Bytes()
}

// TestImportMaxBytes: a root disk size caps the data an import writes.
func TestImportMaxBytes(t *testing.T) {
	data := craft(t, withIndex(t, testIndex("c1"), container(ent{name: "backup/container/rootfs/f", body: strings.Repeat("x", 5000)})...)...)
	if _, err := importInto(t, data, Options{MaxBytes: 4096}); !errors.Is(err, ErrTooBig) {
		t.Fatalf("5000 bytes into a 4096-byte budget: %v", err)
	}
	if _, err := importInto(t, data, Options{MaxBytes: 8192}); err != nil {
		t.Fatal(err)
	}
}

// TestImportOwnersClamped: ids the backup's map does not cover become the
// container's nobody, never a host id outside the new instance's range;
// setuid bits survive the chown.
func TestImportOwnersClamped(t *testing.T) {
	if !isRoot() {
		t.Skip("needs root to chown")
	}
	m := idmap.Map{UIDBase: 3000000, GIDBase: 3000000}
	ixx := testIndex("c1")
	ixx.Config.Container.Config[LastStateIdmapKey] = `[{"Isuid":true,"Isgid":false,"Hostid":1000000,"Nsid":0,"Maprange":65536},{"Isuid":false,"Isgid":true,"Hostid":1000000,"Nsid":0,"Maprange":65536}]`
	data := craft(t, withIndex(t, ixx, container(
		ent{name: "backup/container/rootfs/hostroot", body: "x", mode: 0o4755, uid: 0},
		ent{name: "backup/container/rootfs/croot", body: "x", mode: 0o4755, uid: 1000000},
		ent{name: "backup/container/rootfs/u", body: "x", mode: 0o755, uid: 1001000},
		ent{name: "backup/container/rootfs/far", body: "x", mode: 0o755, uid: 1000000 + 70000})...)...)
	work, err := importInto(t, data, Options{Map: m})
	if err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]uint32{"hostroot": 3065534, "croot": 3000000, "u": 3001000, "far": 3065534} {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(work, "target/container/rootfs", f), &st); err != nil {
			t.Fatal(err)
		}
		if st.Uid != want || st.Gid != want {
			t.Errorf("%s: owner %d:%d, want %d", f, st.Uid, st.Gid, want)
		}
		if f == "croot" && st.Mode&unix.S_ISUID == 0 {
			t.Errorf("%s lost its setuid bit", f)
		}
	}
}

// TestReceivedVolumeFiles: what an optimized backup's volume holds beside
// rootfs/ is checked like the tarball's: a backup.yaml that disagrees with
// the index, or anything unknown, is refused; LXD's files are removed.
func TestReceivedVolumeFiles(t *testing.T) {
	ix := testIndex("c1")
	r := &Reader{Index: ix}
	mk := func(files map[string]string) string {
		d := t.TempDir()
		os.Mkdir(filepath.Join(d, "rootfs"), 0o755)
		for k, v := range files {
			os.MkdirAll(filepath.Dir(filepath.Join(d, k)), 0o755)
			os.WriteFile(filepath.Join(d, k), []byte(v), 0o644)
		}
		return d
	}
	agree, _ := yaml.Marshal(ix.Config)
	d := mk(map[string]string{"backup.yaml": string(agree), "metadata.yaml": "architecture: x86_64\n", "templates/hostname.tpl": "x"})
	if err := r.volumeFiles(d, ""); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(d); len(ents) != 1 || string(r.Metadata) != "architecture: x86_64\n" {
		t.Fatalf("left %v, metadata %q", ents, r.Metadata)
	}
	other := testIndex("c1")
	other.Config.Container.Config["security.privileged"] = "true"
	disagree, _ := yaml.Marshal(other.Config)
	for name, files := range map[string]map[string]string{
		"disagreeing backup.yaml": {"backup.yaml": string(disagree)},
		"unknown entry":           {"evil": "x"},
	} {
		if err := r.volumeFiles(mk(files), ""); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	d = t.TempDir()
	if err := r.volumeFiles(d, ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("no rootfs: %v", err)
	}
}
