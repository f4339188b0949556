package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzImport feeds arbitrary tarballs (seeded with valid and hostile
// ones) to Open and Extract: no panic, no hang, and nothing written
// outside the target directory.
func FuzzImport(f *testing.F) {
	f.Add(craft(f, valid(f)...))
	f.Add(craft(f, valid(f, "s1", "s2")...))
	f.Add(craft(f, append(valid(f),
		ent{name: "backup/container/rootfs/esc", typ: tar.TypeSymlink, link: "../../.."},
		ent{name: "backup/container/rootfs/esc/x", body: "x"},
		ent{name: "backup/container/rootfs/l", typ: tar.TypeLink, link: "backup/container/rootfs/etc/hostname"},
		ent{name: "backup/container/rootfs/n", typ: tar.TypeChar, major: 1, minor: 3},
		ent{name: "backup/container/rootfs/p", typ: tar.TypeFifo})...))
	f.Fuzz(func(t *testing.T, data []byte) {
		work := t.TempDir()
		outside := filepath.Join(work, "outside")
		os.Mkdir(outside, 0o755)
		rd, err := Open(context.Background(), bytes.NewReader(data))
		if err != nil {
			return
		}
		defer rd.Close()
		_, _ = rd.Extract(DirTarget{Root: filepath.Join(work, "target")}, Options{MaxBytes: 1 << 20})
		ents, _ := os.ReadDir(work)
		for _, e := range ents {
			if e.Name() != "outside" && e.Name() != "target" {
				t.Fatalf("import wrote %s beside its target", e.Name())
			}
		}
		if ents, _ := os.ReadDir(outside); len(ents) > 0 {
			t.Fatalf("import wrote into a sibling directory: %v", ents)
		}
		filepath.Walk(filepath.Join(work, "target"), func(p string, fi os.FileInfo, err error) error {
			if err == nil && !strings.HasPrefix(p, filepath.Join(work, "target")) {
				t.Fatalf("entry %s outside the target", p)
			}
			return nil
		})
	})
}
