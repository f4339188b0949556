package migration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(data, "->") {
			if err := os.Symlink(strings.TrimPrefix(data, "->"), p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Three rsync runs in a row over one websocket: each ends with one empty
// text frame per direction and the socket is in step for the next; with
// delete, what the sender lacks goes; progress is reported.
func TestRsyncRunsShareOneSocket(t *testing.T) {
	a, b := wsPair(t)
	src, dst := newFSStream(a), newFSStream(b)
	trees := []map[string]string{
		{"rootfs/etc/hostname": "one\n", "rootfs/gone": "x", "metadata.yaml": "a: 1\n"},
		{"rootfs/etc/hostname": "two\n", "rootfs/link": "->/etc/hostname", "metadata.yaml": "a: 1\n"},
		{"rootfs/etc/hostname": strings.Repeat("three\n", 100000), "metadata.yaml": "a: 2\n"},
	}
	var dirs []string
	for i, tr := range trees {
		d := t.TempDir()
		writeTree(t, d, tr)
		// Same size, same second: rsync's quick check would skip it.
		mt := timeAt(1700000000 + int64(i)*1000)
		os.Chtimes(filepath.Join(d, "rootfs/etc/hostname"), mt, mt)
		dirs = append(dirs, d)
	}
	into := t.TempDir()
	features := []string{FeatureXattrs, FeatureDelete, FeatureCompress}
	var mu sync.Mutex
	var reports []Progress
	progress := func(p Progress) { mu.Lock(); reports = append(reports, p); mu.Unlock() }
	errc := make(chan error, 1)
	go func() {
		for i := range dirs {
			if err := sendDir(context.Background(), "c1", dirs[i], src, SendOptions{Features: features, Progress: progress}); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for i := range dirs {
		if err := recvDir(context.Background(), "c1", into, dst, RecvOptions{Features: features}); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		got, _ := os.ReadFile(filepath.Join(into, "rootfs/etc/hostname"))
		want := trees[i]["rootfs/etc/hostname"]
		if string(got) != want {
			t.Fatalf("run %d: hostname %.20q, want %.20q", i, got, want)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(into, "rootfs/gone")); !os.IsNotExist(err) {
		t.Errorf("delete: rootfs/gone is still there (%v)", err)
	}
	if _, err := os.Lstat(filepath.Join(into, "rootfs/link")); !os.IsNotExist(err) {
		t.Errorf("delete: rootfs/link is still there (%v)", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reports) < 3 || reports[len(reports)-1].Bytes == 0 {
		t.Errorf("progress reports %v", reports)
	}
	if s := (Progress{Volume: "c1/snap0", Bytes: 12345678, Rate: 3090000}).String(); s != "c1/snap0: 12.35MB (3.09MB/s)" {
		t.Errorf("progress text %q", s)
	}
}

// A receiver that fails (its destination is a file) makes both sides
// fail with rsync's own words.
func TestRsyncFailureIsReported(t *testing.T) {
	a, b := wsPair(t)
	src, dst := newFSStream(a), newFSStream(b)
	d := t.TempDir()
	writeTree(t, d, map[string]string{"rootfs/x": "x"})
	ro := filepath.Join(t.TempDir(), "file")
	os.WriteFile(ro, nil, 0o644)
	errc := make(chan error, 1)
	go func() { errc <- sendDir(context.Background(), "c1", d, src, SendOptions{}) }()
	rerr := recvDir(context.Background(), "c1", ro, dst, RecvOptions{})
	serr := <-errc
	if rerr == nil || !strings.Contains(rerr.Error(), "rsync receive failed") || serr == nil || !strings.Contains(serr.Error(), "rsync send failed") {
		t.Errorf("receive: %v\nsend: %v", rerr, serr)
	}
}

// The receiver takes its client for an rsync 3.2 (and negotiates xxh128
// instead of MD5) only when the source said its rsync is one.
func TestRecvArgsNegotiation(t *testing.T) {
	if a := recvArgs("/d", nil, false, true); a[1] != "-vlogDtpre.iLsfx" {
		t.Errorf("LXD's capabilities: %v", a)
	}
	if a := recvArgs("/d", nil, true, true); a[1] != "-vlogDtpre.iLsfxCIvu" {
		t.Errorf("an rsync 3.2 client's capabilities: %v", a)
	}
	for v, want := range map[string]bool{"3.2.7": true, "3.2.0": true, "3.5.0": true, "4.0.1": true, "3.1.3": false, "2.6.9": false, "": false, "x.y": false} {
		if got := rsyncNegotiates(v); got != want {
			t.Errorf("rsyncNegotiates(%q) = %v", v, got)
		}
	}
	if v := parseRsyncVersion("rsync  version 3.2.7  protocol version 31\nCopyright (C) 1996-2022\n"); v != "3.2.7" {
		t.Errorf("parsed %q", v)
	}
	if v := parseRsyncVersion("rsync  version v3.2.3  protocol version 31\n"); v != "3.2.3" {
		t.Errorf("parsed %q", v)
	}
}
