package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"path"
	"strings"

	"gopkg.in/yaml.v3"

	"lodge/idmap"
)

// Target is where an import writes: one section at a time, the snapshots
// oldest first, then the instance.
type Target interface {
	// Begin returns the empty directory section snap's rootfs/ is written
	// into ("" is the instance itself).
	Begin(snap string) (rootfs string, err error)
	// End is called when section snap is complete; for a snapshot the
	// caller snapshots the volume and empties its rootfs for the next one.
	End(snap string) error
}

// Options bound an import.
type Options struct {
	// Map is the new instance's id map: every owner is mapped into it.
	Map idmap.Map
	// MaxBytes, if positive, caps the file data of each section (a root
	// disk size); the target's free space always does.
	MaxBytes int64
}

// Reader is an open backup whose index has been read and checked.
type Reader struct {
	ctx    context.Context
	closer io.Closer
	tr     *tar.Reader
	// Index is the checked backup/index.yaml.
	Index *Index
	// Compression is what the upload was compressed with.
	Compression string
	// Metadata is the instance's metadata.yaml, if the backup has one.
	Metadata []byte
	// OptimizedHeader is backup/optimized_header.yaml, for optimized backups.
	OptimizedHeader []byte
}

// Open reads r up to and including backup/index.yaml, which must come
// first (LXD and lodge write it first), and checks it. Nothing is written.
func Open(ctx context.Context, r io.Reader) (*Reader, error) {
	data, closer, comp, err := Decompress(ctx, r)
	if err != nil {
		return nil, err
	}
	rd := &Reader{ctx: ctx, closer: closer, tr: tar.NewReader(data), Compression: comp}
	for {
		hdr, err := rd.tr.Next()
		if errors.Is(err, io.EOF) {
			rd.Close()
			return nil, invalidf("the tarball has no backup/index.yaml")
		}
		if err != nil {
			rd.Close()
			return nil, invalidf("read tarball: %v", err)
		}
		name, err := cleanName(hdr.Name)
		if err != nil {
			rd.Close()
			return nil, err
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader || hdr.Typeflag == tar.TypeDir && name == "backup" {
			continue
		}
		if name != "backup/index.yaml" || hdr.Typeflag != tar.TypeReg {
			rd.Close()
			return nil, invalidf("the first entry is %q; backup/index.yaml must come first (as LXD and lodge write it)", hdr.Name)
		}
		if hdr.Size > maxIndexSize {
			rd.Close()
			return nil, invalidf("backup/index.yaml is %d bytes; the limit is %d", hdr.Size, maxIndexSize)
		}
		b, err := io.ReadAll(rd.tr)
		if err != nil {
			rd.Close()
			return nil, invalidf("read backup/index.yaml: %v", err)
		}
		ix, err := ParseIndex(b)
		if err != nil {
			rd.Close()
			return nil, err
		}
		rd.Index = ix
		return rd, nil
	}
}

// Close releases the decompressor.
func (r *Reader) Close() error { return r.closer.Close() }

// cleanName checks a tar entry name: relative, no "." or ".." component,
// no empty one, no NUL; a leading "./" and a trailing "/" are dropped.
func cleanName(n string) (string, error) {
	orig := n
	n = strings.TrimPrefix(n, "./")
	n = strings.TrimSuffix(n, "/")
	if n == "" || strings.ContainsRune(n, 0) || path.IsAbs(n) || path.Clean(n) != n || n == ".." || strings.HasPrefix(n, "../") {
		return "", invalidf("entry %q: not a clean relative path", orig)
	}
	for _, c := range strings.Split(n, "/") {
		if c == ".." || c == "." {
			return "", invalidf("entry %q: not a clean relative path", orig)
		}
	}
	return n, nil
}

// section names what an entry belongs to.
type entryKind int

const (
	kindTop entryKind = iota // backup/snapshots directory
	kindSectionDir
	kindBackupYAML
	kindMetadata
	kindTemplate
	kindRootfs
	kindOptHeader
	kindBin
)

// classify maps a clean entry name to its section and the path inside
// the section's rootfs. ok is false for names outside LXD's layout.
func classify(n string) (snap string, isSnap bool, kind entryKind, rel string, ok bool) {
	switch n {
	case "backup/snapshots":
		return "", false, kindTop, "", true
	case "backup/optimized_header.yaml":
		return "", false, kindOptHeader, "", true
	case "backup/container.bin":
		return "", false, kindBin, "", true
	}
	var rest string
	switch {
	case n == "backup/container":
		return "", false, kindSectionDir, "", true
	case strings.HasPrefix(n, "backup/container/"):
		rest = strings.TrimPrefix(n, "backup/container/")
	case strings.HasPrefix(n, "backup/snapshots/"):
		s := strings.TrimPrefix(n, "backup/snapshots/")
		isSnap = true
		if !strings.Contains(s, "/") {
			if strings.HasSuffix(s, ".bin") {
				return strings.TrimSuffix(s, ".bin"), true, kindBin, "", true
			}
			return s, true, kindSectionDir, "", true
		}
		snap, rest, _ = strings.Cut(s, "/")
	default:
		return "", false, 0, "", false
	}
	switch {
	case rest == "backup.yaml":
		return snap, isSnap, kindBackupYAML, "", true
	case rest == "metadata.yaml":
		return snap, isSnap, kindMetadata, "", true
	case rest == "templates" || strings.HasPrefix(rest, "templates/"):
		return snap, isSnap, kindTemplate, "", true
	case rest == "rootfs":
		return snap, isSnap, kindRootfs, "", true
	case strings.HasPrefix(rest, "rootfs/"):
		return snap, isSnap, kindRootfs, strings.TrimPrefix(rest, "rootfs/"), true
	}
	return "", false, 0, "", false
}

// Extract writes the backup's trees through t, checking each entry
// against the index; on error the caller deletes what t holds.
func (r *Reader) Extract(t Target, opt Options) (Stats, error) {
	if r.Index.IsOptimized() {
		return Stats{}, invalidf("an optimized (btrfs send) backup: use ExtractOptimized")
	}
	var st Stats
	ix := r.Index
	order := append(append([]string{}, ix.Snapshots...), "")
	pos := -1 // index in order of the open section
	var cur *section
	done := map[int]bool{}
	finish := func() error {
		if cur == nil {
			return nil
		}
		err := cur.finish()
		cur = nil
		if err != nil {
			return err
		}
		done[pos] = true
		return t.End(order[pos])
	}
	fail := func(err error) (Stats, error) {
		if cur != nil {
			cur.close()
		}
		return st, err
	}
	for {
		if err := r.ctx.Err(); err != nil {
			return fail(err)
		}
		hdr, err := r.tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fail(invalidf("read tarball: %v", err))
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		name, err := cleanName(hdr.Name)
		if err != nil {
			return fail(err)
		}
		snap, isSnap, kind, rel, ok := classify(name)
		if !ok {
			return fail(invalidf("unexpected entry %q: not part of LXD's backup layout", hdr.Name))
		}
		switch kind {
		case kindTop:
			if hdr.Typeflag != tar.TypeDir {
				return fail(invalidf("entry %q must be a directory", hdr.Name))
			}
			continue
		case kindOptHeader, kindBin:
			return fail(invalidf("entry %q belongs to an optimized backup, but backup/index.yaml says optimized: false", hdr.Name))
		}
		want := ""
		if isSnap {
			want = snap
			if want == "" {
				return fail(invalidf("entry %q: empty snapshot name", hdr.Name))
			}
		}
		// Sections come in the index's order, each once, contiguous.
		if pos < 0 || order[pos] != want || !isSnap && pos != len(order)-1 {
			idx := -1
			for i, o := range order {
				if o == want && (isSnap == (i < len(order)-1)) {
					idx = i
				}
			}
			if idx < 0 {
				if isSnap {
					return fail(invalidf("entry %q: snapshot %q is not in backup/index.yaml's snapshots %v", hdr.Name, snap, ix.Snapshots))
				}
				return fail(invalidf("entry %q is out of place", hdr.Name))
			}
			if idx <= pos || done[idx] {
				return fail(invalidf("entry %q: section %s appears again after another one; sections must come once each, snapshots first in the index's order", hdr.Name, sectionName(want)))
			}
			if idx != pos+1 {
				return fail(invalidf("entry %q: the tarball has no entries for %s, which backup/index.yaml lists before it", hdr.Name, sectionName(order[pos+1])))
			}
			if err := finish(); err != nil {
				return fail(err)
			}
			pos = idx
			cur, err = r.begin(t, order[pos], opt)
			if err != nil {
				return fail(err)
			}
		}
		if err := r.entry(cur, kind, rel, hdr, &st); err != nil {
			return fail(err)
		}
	}
	if err := finish(); err != nil {
		return fail(err)
	}
	for i, o := range order {
		if !done[i] {
			return st, invalidf("the tarball has no entries for %s, which backup/index.yaml lists", sectionName(o))
		}
	}
	return st, nil
}

func sectionName(snap string) string {
	if snap == "" {
		return "backup/container"
	}
	return "backup/snapshots/" + snap
}

// begin opens a section's target and the id translation for it.
func (r *Reader) begin(t Target, snap string, opt Options) (*section, error) {
	cfgMap := r.Index.Config.Container.Config[LastStateIdmapKey]
	if snap != "" {
		if sc := r.Index.SnapshotConfig(snap); sc != nil {
			if v, ok := sc.Config[LastStateIdmapKey]; ok {
				cfgMap = v
			}
		}
	}
	disk, err := ParseDiskMap(cfgMap)
	if err != nil {
		return nil, err
	}
	root, err := t.Begin(snap)
	if err != nil {
		return nil, err
	}
	return openSection(root, sectionName(snap), disk, opt)
}

func (r *Reader) entry(s *section, kind entryKind, rel string, hdr *tar.Header, st *Stats) error {
	switch kind {
	case kindSectionDir:
		if hdr.Typeflag != tar.TypeDir {
			return invalidf("entry %q must be a directory", hdr.Name)
		}
		return nil
	case kindBackupYAML, kindMetadata:
		if hdr.Typeflag != tar.TypeReg {
			return invalidf("entry %q must be a regular file", hdr.Name)
		}
		limit := int64(maxIndexSize)
		if kind == kindMetadata {
			limit = maxMetadataSize
		}
		if hdr.Size > limit {
			return invalidf("entry %q is %d bytes; the limit is %d", hdr.Name, hdr.Size, limit)
		}
		b, err := io.ReadAll(r.tr)
		if err != nil {
			return invalidf("read %q: %v", hdr.Name, err)
		}
		if s.name != "backup/container" {
			return nil // a snapshot's own copies: the index describes snapshots
		}
		if kind == kindMetadata {
			r.Metadata = b
			return nil
		}
		var other Config
		if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&other); err != nil {
			return invalidf("%s: %v", hdr.Name, err)
		}
		return r.Index.agrees(&other)
	case kindTemplate:
		// Image templates are not applied to imported instances.
		st.Skipped++
		return nil
	}
	if rel == "" {
		if hdr.Typeflag != tar.TypeDir {
			return invalidf("entry %q must be a directory", hdr.Name)
		}
		return s.top(hdr, st)
	}
	return s.write(r.tr, rel, hdr, st)
}

// DirTarget writes each section to a directory of its own under Root:
// Root/container/rootfs and Root/snapshots/NAME/rootfs (tests, and tools
// that only unpack).
type DirTarget struct{ Root string }

// Begin implements Target.
func (d DirTarget) Begin(snap string) (string, error) {
	p := path.Join(d.Root, "container", "rootfs")
	if snap != "" {
		p = path.Join(d.Root, "snapshots", snap, "rootfs")
	}
	return p, mkdirAll(p)
}

// End implements Target.
func (d DirTarget) End(string) error { return nil }
