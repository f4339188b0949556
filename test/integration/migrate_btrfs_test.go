package integration

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"lodge/builder"
)

// TestMigrateBtrfsStreams: between two btrfs pools an instance moves as
// btrfs send streams (LXD's BTRFS type), its snapshots each relative to
// the one before: content, owners (shifted into B's range), snapshots and
// a running instance's stateless copy arrive. A refresh, a target on
// another driver and a volume with a subvolume inside go by rsync, and
// their content arrives too. Nothing is left in either pool's staging.
func TestMigrateBtrfsStreams(t *testing.T) {
	needIntegration(t)
	tarball, err := builder.Build(context.Background(), "busybox", builder.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := newMigratePair(t)
	a, b := p.a, p.b
	a.must("storage", "create", "mgsa", "btrfs", "size=1GiB")
	b.must("storage", "create", "mgsb", "btrfs", "size=1GiB")
	t.Cleanup(func() {
		a.run("delete", "-f", "mgs1")
		b.run("delete", "-f", "mgs1", "mgs2", "mgs3", "mgs4")
		a.run("storage", "delete", "mgsa")
		b.run("storage", "delete", "mgsb")
	})
	a.must("image", "import", tarball, "--alias", "mgs-bb")
	a.must("launch", "mgs-bb", "mgs1", "-s", "mgsa")
	write := func(s string) {
		a.must("exec", "mgs1", "--", "sh", "-c", "echo "+s+" > /root/f && echo "+s+" > /root/u && chown 1000:1001 /root/u")
	}
	write("one")
	a.must("snapshot", "mgs1", "s0")
	write("two")
	a.must("snapshot", "mgs1", "s1")
	write("three")
	a.must("stop", "mgs1", "--force")

	// transports lists what B's log says it received name by, in order.
	transports := func(name string) []string {
		data, err := os.ReadFile(b.log.Name())
		if err != nil {
			t.Fatal(err)
		}
		re := regexp.MustCompile(`msg="migration: receiving" instance=` + name + ` transport=(\w+)`)
		var out []string
		for _, m := range re.FindAllStringSubmatch(string(data), -1) {
			out = append(out, m[1])
		}
		return out
	}
	check := func(name, f string, snaps string) {
		t.Helper()
		if got := snapshotsOf(t, b, name); strings.Join(got, ",") != snaps {
			t.Fatalf("%s: snapshots on B %v, want %s", name, got, snaps)
		}
		b.must("start", name)
		defer b.must("stop", name, "--force")
		if got := catF(t, b, name); got != f {
			t.Fatalf("%s: /root/f %q, want %q", name, got, f)
		}
		// Inside, the owner is the container's 1000:1001 whatever B's map.
		if out := b.must("exec", name, "--", "stat", "-c", "%u:%g", "/root/u"); strings.TrimSpace(out) != "1000:1001" {
			t.Fatalf("%s: /root/u owned by %q inside", name, out)
		}
	}

	// Stopped, with its snapshots, pulled by B.
	a.must("copy", "mgs1", "hostb:mgs1", "-s", "mgsb")
	if got := transports("mgs1"); strings.Join(got, ",") != "btrfs" {
		t.Fatalf("mgs1 was received by %v, want btrfs", got)
	}
	check("mgs1", "three", "s0,s1")
	b.must("restore", "mgs1", "s0")
	check("mgs1", "one", "s0,s1")
	// Each snapshot is a read-only subvolume on B, as B's own are.
	for _, s := range []string{"s0", "s1"} {
		path := filepath.Join(b.dir, "storage-pools", "mgsb", "containers-snapshots", "mgs1", s)
		if out, err := exec.Command("btrfs", "property", "get", "-ts", path, "ro").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "ro=true" {
			t.Fatalf("snapshot %s on B: %s %v", s, out, err)
		}
	}

	// Refreshed (rsync: streams carry no refresh), then running and
	// pushed without its snapshots (a read-only snapshot is sent).
	a.must("start", "mgs1")
	write("four")
	a.must("copy", "mgs1", "hostb:mgs1", "--refresh", "--stateless")
	if got := transports("mgs1"); strings.Join(got, ",") != "btrfs,rsync" {
		t.Fatalf("mgs1 was received by %v, want btrfs then rsync", got)
	}
	check("mgs1", "four", "s0,s1")
	a.must("copy", "mgs1", "hostb:mgs2", "-s", "mgsb", "--stateless", "--instance-only", "--mode", "push")
	if got := transports("mgs2"); strings.Join(got, ",") != "btrfs" {
		t.Fatalf("mgs2 was received by %v, want btrfs", got)
	}
	check("mgs2", "four", "")
	a.must("stop", "mgs1", "--force")

	// Into B's overlay pool: rsync.
	a.must("copy", "mgs1", "hostb:mgs3")
	if got := transports("mgs3"); strings.Join(got, ",") != "rsync" {
		t.Fatalf("mgs3 was received by %v, want rsync", got)
	}
	check("mgs3", "four", "s0,s1")

	// A subvolume inside the volume, which a stream would leave empty: rsync.
	nested := filepath.Join(a.dir, "storage-pools", "mgsa", "containers", "mgs1", "rootfs", "nestedsub")
	if out, err := exec.Command("btrfs", "subvolume", "create", nested).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(nested, "inner"), []byte("nested\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a.must("copy", "mgs1", "hostb:mgs4", "-s", "mgsb", "--instance-only")
	if got := transports("mgs4"); strings.Join(got, ",") != "rsync" {
		t.Fatalf("mgs4 (with a nested subvolume) was received by %v, want rsync", got)
	}
	if out := b.must("file", "pull", "mgs4/nestedsub/inner", "-"); out != "nested\n" {
		t.Fatalf("mgs4: the nested subvolume's file: %q", out)
	}

	for _, l := range []*aLodged{a, b} {
		m, _ := filepath.Glob(filepath.Join(l.dir, "storage-pools", "*", "containers", ".tmp-*"))
		if len(m) != 0 {
			t.Errorf("staging left in %s: %v", l.dir, m)
		}
	}
}

// TestMigrateBtrfsWithRealLXD: Debian's LXD 5.0.2 and lodged, both on
// btrfs pools, copy an instance with a snapshot each way as btrfs send
// streams (LXD's subvolume header first), as Debian's lxc drives it; the
// copies hold the files, owners and snapshots.
func TestMigrateBtrfsWithRealLXD(t *testing.T) {
	needIntegration(t)
	tarball, err := builder.Build(context.Background(), "busybox", builder.Options{})
	if err != nil {
		t.Fatal(err)
	}
	lxc, l := lxdAndLodged(t, "lodge-it-mgy-", "mgylodge")
	l.must("storage", "create", "mgyb", "btrfs", "size=1GiB")
	lxc("storage", "create", "lxbt", "btrfs", "size=1GiB")
	t.Cleanup(func() {
		l.run("delete", "-f", "mgy1", "mgy3")
		l.run("storage", "delete", "mgyb")
	})

	lxc("image", "import", tarball, "--alias", "mgy-bb")
	lxc("init", "mgy-bb", "mgy1", "-s", "lxbt")
	f := filepath.Join(t.TempDir(), "f")
	os.WriteFile(f, []byte("one\n"), 0o644)
	lxc("file", "push", f, "mgy1/root/f", "--uid", "1000", "--gid", "1000")
	lxc("snapshot", "mgy1", "s0")
	os.WriteFile(f, []byte("two\n\n"), 0o644)
	lxc("file", "push", f, "mgy1/root/f", "--uid", "1000", "--gid", "1000")

	received := func(name string) string {
		data, err := os.ReadFile(l.log.Name())
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`msg="migration: receiving" instance=` + name + ` transport=(\w+)`).FindStringSubmatch(string(data))
		if m == nil {
			return ""
		}
		return m[1]
	}

	// LXD -> lodge, pulled and pushed.
	lxc("copy", "local:mgy1", "mgylodge:mgy1", "-s", "mgyb")
	lxc("copy", "local:mgy1", "mgylodge:mgy3", "-s", "mgyb", "--mode", "push")
	for _, n := range []string{"mgy1", "mgy3"} {
		if got := received(n); got != "btrfs" {
			t.Fatalf("lodge received %s by %q, want btrfs", n, got)
		}
		if got := snapshotsOf(t, l, n); strings.Join(got, ",") != "s0" {
			t.Fatalf("%s: snapshots on lodge: %v", n, got)
		}
	}
	l.must("start", "mgy1")
	if out := l.must("exec", "mgy1", "--", "stat", "-c", "%u:%g %n", "/", "/root/f"); out != "0:0 /\n1000:1000 /root/f\n" {
		t.Fatalf("owners inside lodge's copy: %q", out)
	}
	if got := catF(t, l, "mgy1"); got != "two" {
		t.Fatalf("lodge's copy's /root/f: %q", got)
	}
	l.must("stop", "mgy1", "--force")
	l.must("restore", "mgy1", "s0")
	if out := l.must("file", "pull", "mgy1/root/f", "-"); out != "one\n" {
		t.Fatalf("lodge's copy restored to s0: /root/f %q", out)
	}

	// lodge -> LXD: LXD receives the streams (its subvolumes carry the
	// received UUID that only btrfs receive sets).
	lxc("copy", "mgylodge:mgy3", "local:mgy2", "-s", "lxbt")
	if out := lxc("file", "pull", "local:mgy2/root/f", "-"); out != "two\n\n" {
		t.Fatalf("LXD's copy's /root/f: %q", out)
	}
	if out := lxc("info", "local:mgy2"); !strings.Contains(out, "s0") {
		t.Fatalf("LXD's copy has no snapshot s0:\n%s", out)
	}
	var pool struct{ Config map[string]string }
	json.Unmarshal([]byte(lxc("query", "/1.0/storage-pools/lxbt")), &pool)
	lxdPool := filepath.Join(filepath.Dir(filepath.Dir(pool.Config["source"])), "storage-pools", "lxbt")
	out, err := exec.Command("btrfs", "subvolume", "show", filepath.Join(lxdPool, "containers-snapshots", "mgy2", "s0")).CombinedOutput()
	if err != nil {
		t.Fatalf("LXD's snapshot subvolume: %v %s", err, out)
	}
	if m := regexp.MustCompile(`Received UUID:\s+(\S+)`).FindSubmatch(out); m == nil || string(m[1]) == "-" {
		t.Fatalf("LXD's copy of s0 was not received by btrfs receive:\n%s", out)
	}
}

// TestMigrateBtrfsKilled: kill -9 of the target or of the source while a
// btrfs stream moves (held to rsync.bwlimit, as rsync is) leaves no
// instance, no volume and no staging subvolume on the target, and the
// source's instance running; each restarted daemon clears its staging.
func TestMigrateBtrfsKilled(t *testing.T) {
	needIntegration(t)
	tarball, err := builder.Build(context.Background(), "busybox", builder.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := newMigratePair(t)
	a := p.a
	a.must("storage", "create", "mgka", "btrfs", "size=1GiB")
	p.b.must("storage", "create", "mgkb", "btrfs", "size=1GiB")
	t.Cleanup(func() {
		p.a.run("delete", "-f", "mgk1")
		p.a.run("storage", "delete", "mgka")
		p.b.run("storage", "delete", "mgkb")
	})
	a.must("image", "import", tarball, "--alias", "mgk-bb")
	a.must("launch", "mgk-bb", "mgk1", "-s", "mgka")
	a.must("exec", "mgk1", "--", "dd", "if=/dev/urandom", "of=/root/big", "bs=1M", "count=64")
	// 64 MiB at 8 MiB/s: the stream lasts long enough to be cut.
	a.must("storage", "set", "mgka", "rsync.bwlimit=8M")
	kill := killLodged
	staging := func(l *aLodged, pool string) []string {
		m, _ := filepath.Glob(filepath.Join(l.dir, "storage-pools", pool, "containers", ".tmp-*"))
		return m
	}

	done := make(chan error, 1)
	go func() { _, err := a.run("copy", "mgk1", "hostb:mgk2", "--stateless", "-s", "mgkb"); done <- err }()
	waitFor(t, "the stream to B", 60*time.Second, func() bool { return transferring(t, p.b) })
	if len(staging(p.b, "mgkb")) == 0 {
		t.Fatal("B receives the copy outside the pool's staging")
	}
	kill(p.b)
	if err := <-done; err == nil {
		t.Fatal("copy succeeded though its target was killed")
	}
	p.b = startLodged(t, p.b.dir, "none")
	p.both("mgk2", "ABSENT", "ABSENT")
	p.both("mgk1", "RUNNING", "ABSENT")
	if l := append(leftovers(p.b, "mgk2"), staging(p.b, "mgkb")...); len(l) != 0 {
		t.Fatalf("B keeps %v of the cut copy", l)
	}

	go func() { _, err := a.run("copy", "mgk1", "hostb:mgk3", "--stateless", "-s", "mgkb"); done <- err }()
	waitFor(t, "the stream from A", 60*time.Second, func() bool { return transferring(t, a) })
	kill(p.a)
	<-done
	waitFor(t, "B to roll back", 60*time.Second, func() bool {
		return migStatus(t, p.b, "mgk3") == "ABSENT" && len(leftovers(p.b, "mgk3")) == 0 && len(staging(p.b, "mgkb")) == 0
	})
	p.a = startLodged(t, p.a.dir, "none")
	if st := migStatus(t, p.a, "mgk1"); st == "ABSENT" {
		t.Fatal("the source lost its instance")
	}
	if l := staging(p.a, "mgka"); len(l) != 0 {
		t.Fatalf("A keeps the read-only snapshot it was sending: %v", l)
	}
}
