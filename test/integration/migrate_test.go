package integration

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"lodge/builder"
)

// Migration between two lodgeds on this host (issue 16): A is the local
// server of the CLI, B its remote hostb over HTTPS; both listen, so that
// pull (the target dials the source), push (the source dials the target)
// and relay (the client joins the two) all run.
type migratePair struct {
	t    *testing.T
	a, b *aLodged
}

func newMigratePair(t *testing.T) *migratePair {
	t.Helper()
	p := &migratePair{t: t}
	mk := func(prefix string) *aLodged {
		// Not under t.TempDir(): its 0700 parent would keep unprivileged
		// containers' root from walking down to their rootfs.
		dir, err := os.MkdirTemp("", prefix)
		if err != nil {
			t.Fatal(err)
		}
		return startLodged(t, dir, "none")
	}
	p.a = mk("lodge-it-mga-")
	t.Cleanup(func() { p.a.teardown() })
	p.b = mk("lodge-it-mgb-")
	t.Cleanup(func() { p.b.teardown() })
	t.Setenv("LODGE_CONF", t.TempDir())
	for _, l := range []*aLodged{p.a, p.b} {
		l.must("config", "set", "core.https_address", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	}
	tok := strings.TrimSpace(p.b.must("config", "trust", "add", "mgclient"))
	tok = tok[strings.LastIndex(tok, "\n")+1:]
	p.a.must("remote", "add", "hostb", tok)
	return p
}

// status is name's status on l ("ABSENT" if it has none).
func migStatus(t *testing.T, l *aLodged, name string) string {
	t.Helper()
	for _, line := range strings.Split(l.must("list", "--format", "csv", "-c", "ns"), "\n") {
		if n, st, ok := strings.Cut(line, ","); ok && n == name {
			return st
		}
	}
	return "ABSENT"
}

func (p *migratePair) both(name, wantA, wantB string) {
	p.t.Helper()
	if a, b := migStatus(p.t, p.a, name), migStatus(p.t, p.b, name); a != wantA || b != wantB {
		p.t.Fatalf("%s: A %s, B %s; want A %s, B %s", name, a, b, wantA, wantB)
	}
}

// fails runs a command on A that must fail, and returns its error.
func (p *migratePair) fails(args ...string) string {
	p.t.Helper()
	out, err := p.a.run(args...)
	if err == nil {
		p.t.Fatalf("lodge %s succeeded:\n%s", strings.Join(args, " "), out)
	}
	return err.Error()
}

// snapshotsOf lists an instance's snapshots on l.
func snapshotsOf(t *testing.T, l *aLodged, name string) []string {
	t.Helper()
	var snaps []struct{ Name string }
	if err := json.Unmarshal([]byte(apiGet(t, l.dir, "/1.0/instances/"+name+"/snapshots?recursion=1")), &snaps); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range snaps {
		out = append(out, s.Name)
	}
	return out
}

// apiGet is one GET on a lodged's socket; it returns the metadata.
func apiGet(t *testing.T, dir, path string) string {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", filepath.Join(dir, "unix.socket"))
	}}, Timeout: 10 * time.Second}
	resp, err := c.Get("http://unix.socket" + path)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var env struct{ Metadata json.RawMessage }
	if json.NewDecoder(resp.Body).Decode(&env) != nil {
		return ""
	}
	return string(env.Metadata)
}

// transferring: a migration operation on l has reported fs_progress.
func transferring(t *testing.T, l *aLodged) bool {
	return strings.Contains(apiGet(t, l.dir, "/1.0/operations?recursion=1"), "fs_progress")
}

// leftovers are the paths under l's state directory named name (its
// volume, its container config).
func leftovers(l *aLodged, name string) []string {
	var out []string
	filepath.WalkDir(l.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Name() == name {
			out = append(out, path)
			if d.IsDir() {
				return filepath.SkipDir
			}
		}
		return nil
	})
	return out
}

// killLodged is kill -9 of l's daemon.
func killLodged(l *aLodged) {
	l.cmd.Process.Kill()
	l.cmd.Wait()
	l.cmd = nil
	l.log.Close()
}

// lxdAndLodged starts Debian's LXD and a lodged without a network, which
// LXD's client knows as remote.
func lxdAndLodged(t *testing.T, prefix, remote string) (func(args ...string) string, *aLodged) {
	t.Helper()
	lxc := realLXD(t, fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	l := startLodged(t, dir, "none")
	t.Cleanup(func() { l.teardown() })
	l.must("config", "set", "core.https_address", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	tok := strings.TrimSpace(l.must("config", "trust", "add", remote+"-client"))
	lxc("remote", "add", remote, tok[strings.LastIndex(tok, "\n")+1:])
	return lxc, l
}

func catF(t *testing.T, l *aLodged, name string) string {
	t.Helper()
	return strings.TrimSpace(l.must("exec", name, "--", "cat", "/root/f"))
}

// TestMigrateCopyMoveBetweenLodgeds: lodge copy and move of a stopped and
// of a running instance to another lodged, in pull, push and relay mode,
// with its snapshots (their content too) or without, refreshed; a running instance
// moves stopped and starts there (no CRIU: --stateless), without
// --stateless it is refused with LXD's CRIU message and nothing changes;
// refused copies leave nothing on the target.
func TestMigrateCopyMoveBetweenLodgeds(t *testing.T) {
	needIntegration(t)
	tarball, err := builder.Build(context.Background(), "busybox", builder.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := newMigratePair(t)
	a, b := p.a, p.b
	a.must("image", "import", tarball, "--alias", "mg-bb")
	a.must("launch", "mg-bb", "mgc1", "-c", "user.mark=m1")
	write := func(s string) { a.must("exec", "mgc1", "--", "sh", "-c", "echo "+s+" > /root/f") }
	write("one")
	a.must("snapshot", "mgc1", "s0")
	write("two")
	a.must("snapshot", "mgc1", "s1")
	write("three")
	a.must("stop", "mgc1", "--force")

	// Stopped, pull (the default), with its snapshots.
	a.must("copy", "mgc1", "hostb:mgc1")
	p.both("mgc1", "STOPPED", "STOPPED")
	if got := snapshotsOf(t, b, "mgc1"); strings.Join(got, ",") != "s0,s1" {
		t.Fatalf("snapshots on B: %v", got)
	}
	if out := b.must("config", "get", "mgc1", "user.mark"); strings.TrimSpace(out) != "m1" {
		t.Fatalf("config on B: %q", out)
	}
	b.must("start", "mgc1")
	if got := catF(t, b, "mgc1"); got != "three" {
		t.Fatalf("copy's /root/f: %q", got)
	}
	b.must("stop", "mgc1", "--force")
	b.must("restore", "mgc1", "s0")
	b.must("start", "mgc1")
	if got := catF(t, b, "mgc1"); got != "one" {
		t.Fatalf("copy's /root/f after restoring s0: %q", got)
	}
	b.must("stop", "mgc1", "--force")

	// Push and relay, without snapshots; a snapshot alone.
	a.must("copy", "mgc1", "hostb:mgc2", "--mode", "push", "--instance-only")
	a.must("copy", "mgc1", "hostb:mgc3", "--mode", "relay")
	a.must("copy", "mgc1/s1", "hostb:mgc4")
	p.both("mgc2", "ABSENT", "STOPPED")
	p.both("mgc3", "ABSENT", "STOPPED")
	p.both("mgc4", "ABSENT", "STOPPED")
	if got := snapshotsOf(t, b, "mgc2"); len(got) != 0 {
		t.Fatalf("--instance-only copy has snapshots %v", got)
	}
	if got := snapshotsOf(t, b, "mgc3"); strings.Join(got, ",") != "s0,s1" {
		t.Fatalf("relayed copy's snapshots: %v", got)
	}
	b.must("start", "mgc4")
	if got := catF(t, b, "mgc4"); got != "two" {
		t.Fatalf("copy of snapshot s1: /root/f %q", got)
	}
	b.must("delete", "mgc2", "mgc3", "mgc4", "--force")

	// Refused: an existing name, a profile B lacks. Nothing is made.
	if msg := p.fails("copy", "mgc1", "hostb:mgc1"); !strings.Contains(msg, "already exists") {
		t.Fatalf("copy onto an existing name: %s", msg)
	}
	if msg := p.fails("copy", "mgc1", "hostb:mgc5", "-p", "mg-nosuch"); !strings.Contains(msg, "mg-nosuch") {
		t.Fatalf("copy with a missing profile: %s", msg)
	}
	p.both("mgc5", "ABSENT", "ABSENT")

	// Running: no live migration (CRIU); stateless copy is.
	a.must("start", "mgc1")
	if msg := p.fails("copy", "mgc1", "hostb:mgc5"); !strings.Contains(msg, "CRIU") || !strings.Contains(msg, "--stateless") {
		t.Fatalf("live copy: %s", msg)
	}
	if msg := p.fails("move", "mgc1", "hostb:mgc5"); !strings.Contains(msg, "--stateless") {
		t.Fatalf("live move: %s", msg)
	}
	p.both("mgc5", "ABSENT", "ABSENT")
	p.both("mgc1", "RUNNING", "STOPPED")
	a.must("copy", "mgc1", "hostb:mgc5", "--stateless")
	p.both("mgc5", "ABSENT", "STOPPED")
	p.both("mgc1", "RUNNING", "STOPPED")
	b.must("delete", "mgc5")

	// Refresh: B's earlier copy (restored to s0 since) catches up, the
	// new snapshot included.
	write("refreshed")
	a.must("snapshot", "mgc1", "s2")
	a.must("config", "set", "mgc1", "user.mark=m2")
	a.must("copy", "mgc1", "hostb:mgc1", "--refresh")
	if got := snapshotsOf(t, b, "mgc1"); strings.Join(got, ",") != "s0,s1,s2" {
		t.Fatalf("refreshed copy's snapshots: %v", got)
	}
	if out := b.must("config", "get", "mgc1", "user.mark"); strings.TrimSpace(out) != "m2" {
		t.Fatalf("refreshed copy's config: %q", out)
	}
	b.must("start", "mgc1")
	if got := catF(t, b, "mgc1"); got != "refreshed" {
		t.Fatalf("refreshed copy's /root/f: %q", got)
	}
	b.must("stop", "mgc1", "--force")
	p.both("mgc1", "RUNNING", "STOPPED")

	// Move of a running instance: stopped, moved, started there.
	write("four")
	a.must("move", "mgc1", "hostb:mgc6", "--stateless")
	p.both("mgc1", "ABSENT", "STOPPED")
	p.both("mgc6", "ABSENT", "RUNNING")
	if got := catF(t, b, "mgc6"); got != "four" {
		t.Fatalf("moved instance's /root/f: %q", got)
	}
	if got := snapshotsOf(t, b, "mgc6"); strings.Join(got, ",") != "s0,s1,s2" {
		t.Fatalf("moved instance's snapshots: %v", got)
	}
	// And back, stopped, pulled by A from B.
	a.must("stop", "hostb:mgc6", "--force")
	a.must("move", "hostb:mgc6", "mgc1")
	p.both("mgc6", "ABSENT", "ABSENT")
	p.both("mgc1", "STOPPED", "STOPPED")
	if got := snapshotsOf(t, a, "mgc1"); strings.Join(got, ",") != "s0,s1,s2" {
		t.Fatalf("moved-back instance's snapshots: %v", got)
	}

	// Across pool drivers: A's overlay to dir and btrfs on B, and back.
	b.must("storage", "create", "mgdir", "dir")
	b.must("storage", "create", "mgbt", "btrfs", "size=1GiB")
	t.Cleanup(func() {
		b.run("delete", "-f", "mgc7", "mgc8")
		b.run("storage", "delete", "mgbt")
		b.run("storage", "delete", "mgdir")
	})
	a.must("copy", "mgc1", "hostb:mgc7", "-s", "mgdir")
	a.must("copy", "mgc1", "hostb:mgc8", "-s", "mgbt", "--mode", "push")
	a.must("copy", "hostb:mgc8", "mgc9")
	for _, c := range []struct {
		l          *aLodged
		name, pool string
	}{{b, "mgc7", "mgdir"}, {b, "mgc8", "mgbt"}, {a, "mgc9", "default"}} {
		if got := snapshotsOf(t, c.l, c.name); strings.Join(got, ",") != "s0,s1,s2" {
			t.Fatalf("%s: snapshots %v", c.name, got)
		}
		if out := c.l.must("file", "pull", c.name+"/root/f", "-"); out != "four\n" {
			t.Fatalf("%s: /root/f %q", c.name, out)
		}
		if js := apiGet(t, c.l.dir, "/1.0/instances/"+c.name); !strings.Contains(js, `"pool":"`+c.pool+`"`) {
			t.Fatalf("%s not on pool %s: %s", c.name, c.pool, js)
		}
	}
	b.must("start", "mgc8")
	if got := catF(t, b, "mgc8"); got != "four" {
		t.Fatalf("mgc8 (btrfs) running: /root/f %q", got)
	}
	b.must("delete", "-f", "mgc7", "mgc8")

	for _, n := range []string{"mgc2", "mgc3", "mgc4", "mgc5", "mgc6", "mgc7", "mgc8"} {
		if l := leftovers(b, n); len(l) != 0 {
			t.Errorf("B keeps %v of deleted or moved %s", l, n)
		}
	}
}

// TestMigrateKilledMidTransfer: kill -9 of the target or of the source
// while the files move leaves no instance and no volume on the target;
// the source keeps its instance (still running when the target died).
func TestMigrateKilledMidTransfer(t *testing.T) {
	needIntegration(t)
	tarball, err := builder.Build(context.Background(), "busybox", builder.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := newMigratePair(t)
	a := p.a
	a.must("image", "import", tarball, "--alias", "mg-bb")
	a.must("launch", "mg-bb", "mgk1")
	a.must("exec", "mgk1", "--", "dd", "if=/dev/urandom", "of=/root/big", "bs=1M", "count=64")
	// 64 MiB at 8 MiB/s: the transfer lasts long enough to be cut.
	a.must("storage", "set", "default", "rsync.bwlimit=8M")

	kill := killLodged
	restart := func(l **aLodged) {
		dir := (*l).dir
		*l = startLodged(t, dir, "none")
	}

	// The target dies: the running source goes on.
	done := make(chan error, 1)
	go func() { _, err := a.run("copy", "mgk1", "hostb:mgk2", "--stateless"); done <- err }()
	waitFor(t, "the transfer to B", 60*time.Second, func() bool { return transferring(t, p.b) })
	kill(p.b)
	if err := <-done; err == nil {
		t.Fatal("copy succeeded though its target was killed")
	}
	restart(&p.b)
	p.both("mgk2", "ABSENT", "ABSENT")
	p.both("mgk1", "RUNNING", "ABSENT")
	if l := leftovers(p.b, "mgk2"); len(l) != 0 {
		t.Fatalf("B keeps %v of the cut copy", l)
	}

	// The source dies: the target rolls back.
	go func() { _, err := a.run("copy", "mgk1", "hostb:mgk3", "--stateless"); done <- err }()
	waitFor(t, "the transfer from A", 60*time.Second, func() bool { return transferring(t, a) })
	kill(p.a)
	<-done
	waitFor(t, "B to roll back", 60*time.Second, func() bool {
		return migStatus(t, p.b, "mgk3") == "ABSENT" && len(leftovers(p.b, "mgk3")) == 0
	})
	restart(&p.a)
	if st := migStatus(t, p.a, "mgk1"); st == "ABSENT" {
		t.Fatal("the source lost its instance")
	}
}

// TestMigrateWithRealLXD: Debian's lxc copies a container of Debian's LXD
// 5.0.2 (with a snapshot) into lodged, and lodged's copy back into LXD,
// in pull, push and relay mode; contents, owners and snapshots survive
// both ways. Then the case: a Debian (systemd) container with two
// snapshots, 100 MiB of data, files of several owners and modes (setuid,
// setgid), an xattr, POSIX ACLs and a file capability goes LXD -> lodge
// -> LXD; every file's owner, mode, checksum, xattrs, ACL and
// capabilities, the snapshots' names and config and the instance's config
// match the original at each end, and each copy boots systemd.
func TestMigrateWithRealLXD(t *testing.T) {
	needIntegration(t)
	tarball, err := builder.Build(context.Background(), "busybox", builder.Options{})
	if err != nil {
		t.Fatal(err)
	}
	lxc, l := lxdAndLodged(t, "lodge-it-mgx-", "mgxlodge")

	lxc("image", "import", tarball, "--alias", "mgx-bb")
	lxc("init", "mgx-bb", "mgx1", "-s", "default")
	f := filepath.Join(t.TempDir(), "f")
	os.WriteFile(f, []byte("one\n"), 0o644)
	lxc("file", "push", f, "mgx1/root/f", "--uid", "1000", "--gid", "1000")
	lxc("snapshot", "mgx1", "s0")
	// Of another size: LXD's receiving rsync compares times to the
	// second, so a same-size change within the second of the snapshot
	// would not reach LXD's copy (LXD to LXD alike); lodge's receiver
	// compares nanoseconds.
	os.WriteFile(f, []byte("two\n\n"), 0o644)
	lxc("file", "push", f, "mgx1/root/f", "--uid", "1000", "--gid", "1000")

	// LXD -> lodge.
	lxc("copy", "local:mgx1", "mgxlodge:mgx1")
	if got := snapshotsOf(t, l, "mgx1"); strings.Join(got, ",") != "s0" {
		t.Fatalf("snapshots on lodge: %v", got)
	}
	l.must("start", "mgx1")
	if out := l.must("exec", "mgx1", "--", "stat", "-c", "%u:%g %n", "/", "/root/f"); out != "0:0 /\n1000:1000 /root/f\n" {
		t.Fatalf("owners inside lodge's copy: %q", out)
	}
	if got := catF(t, l, "mgx1"); got != "two" {
		t.Fatalf("lodge's copy's /root/f: %q", got)
	}
	l.must("stop", "mgx1", "--force")

	// lodge -> LXD.
	lxc("copy", "mgxlodge:mgx1", "local:mgx2")
	if out := lxc("file", "pull", "local:mgx2/root/f", "-"); out != "two\n\n" {
		t.Fatalf("LXD's copy's /root/f: %q", out)
	}
	if out := lxc("info", "local:mgx2"); !strings.Contains(out, "s0") {
		t.Fatalf("LXD's copy has no snapshot s0:\n%s", out)
	}

	// Push and relay, both ways.
	lxc("copy", "local:mgx1", "mgxlodge:mgx3", "--mode", "push")
	lxc("copy", "local:mgx1", "mgxlodge:mgx4", "--mode", "relay", "--instance-only")
	lxc("copy", "mgxlodge:mgx1", "local:mgx5", "--mode", "push")
	lxc("copy", "mgxlodge:mgx1", "local:mgx6", "--mode", "relay")
	if got := snapshotsOf(t, l, "mgx3"); strings.Join(got, ",") != "s0" {
		t.Fatalf("pushed copy's snapshots on lodge: %v", got)
	}
	if got := snapshotsOf(t, l, "mgx4"); len(got) != 0 {
		t.Fatalf("--instance-only relayed copy's snapshots on lodge: %v", got)
	}
	for _, n := range []string{"mgx3", "mgx4"} {
		if out := l.must("file", "pull", n+"/root/f", "-"); out != "two\n\n" {
			t.Fatalf("%s on lodge: /root/f %q", n, out)
		}
	}
	for _, n := range []string{"mgx5", "mgx6"} {
		if out := lxc("file", "pull", "local:"+n+"/root/f", "-"); out != "two\n\n" {
			t.Fatalf("%s on LXD: /root/f %q", n, out)
		}
	}

	// The container: Debian with systemd, two snapshots, 100 MiB,
	// several owners, an xattr, ACLs and a file capability; LXD -> lodge
	// -> LXD, compared at each end, and booted at each end.
	deb, err := builder.Build(context.Background(), "debian", builder.Options{Release: "bookworm"})
	if err != nil {
		t.Fatal(err)
	}
	lxc("image", "import", deb, "--alias", "mgx-deb")
	lxc("init", "mgx-deb", "mgxd", "-s", "default", "-c", "user.mark=d0")
	var pool struct{ Config map[string]string }
	json.Unmarshal([]byte(lxc("query", "/1.0/storage-pools/default")), &pool)
	root := filepath.Join(pool.Config["source"], "containers", "mgxd", "rootfs")
	mgDebianFixture(t, root)
	lxc("snapshot", "mgxd", "snap0")
	lxc("config", "set", "mgxd", "user.mark=d1")
	// b keeps its size in every state. LXD 5.0.2's receiving rsync compares
	// modification times to the second, so the states get times an hour
	// apart: written within one second, LXD kept snap1's b (lodge's own
	// receiver compares nanoseconds and needs no help).
	writeB := func(text string, at time.Time) {
		b := filepath.Join(root, "srv/mg/b")
		if err := os.WriteFile(b, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(b, at, at); err != nil {
			t.Fatal(err)
		}
	}
	stamp := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	writeB("snap1\n\n", stamp)
	lxc("snapshot", "mgxd", "snap1")
	lxc("config", "set", "mgxd", "user.mark=d2")
	writeB("last\n\n\n", stamp.Add(time.Hour))
	manifest := func(out []byte, err error) string {
		t.Helper()
		if err != nil {
			t.Fatalf("manifest: %v %s", err, out)
		}
		return string(out)
	}
	want := manifest(exec.Command("sh", "-c", mgManifest, "sh", root).CombinedOutput())
	for _, w := range []string{"srv/mg/b 1001:1002 600 7", "user.mg=\"hello\"", "user:1001:rw-", "default:user:1001:rwx",
		"cap_net_bind_service,cap_net_raw=ep", "srv/mg/suid 0:1000 4750", "srv/mg/c 65534:65534 444", "root/big 0:0 644 104857600"} {
		if !strings.Contains(want, w) {
			t.Fatalf("the fixture lacks %q:\n%s", w, want)
		}
	}
	booted := func(state func() string) {
		t.Helper()
		var st string
		waitFor(t, "systemd to finish booting", 5*time.Minute, func() bool {
			st = strings.TrimSpace(state())
			return st == "running" || st == "degraded"
		})
	}
	snapConfig := func(get func(snap string) string) {
		t.Helper()
		for snap, mark := range map[string]string{"snap0": "d0", "snap1": "d1"} {
			var s struct{ Config map[string]string }
			json.Unmarshal([]byte(get(snap)), &s)
			if s.Config["user.mark"] != mark {
				t.Fatalf("snapshot %s: user.mark %q, want %q", snap, s.Config["user.mark"], mark)
			}
		}
	}

	// LXD -> lodge: the same files, snapshots and config; systemd boots.
	lxc("copy", "local:mgxd", "mgxlodge:mgxd")
	if got := snapshotsOf(t, l, "mgxd"); strings.Join(got, ",") != "snap0,snap1" {
		t.Fatalf("snapshots on lodge: %v", got)
	}
	if out := l.must("config", "get", "mgxd", "user.mark"); strings.TrimSpace(out) != "d2" {
		t.Fatalf("config on lodge: user.mark %q", out)
	}
	snapConfig(func(snap string) string { return apiGet(t, l.dir, "/1.0/instances/mgxd/snapshots/"+snap) })
	l.must("start", "mgxd")
	booted(func() string { out, _ := l.run("exec", "mgxd", "--", "systemctl", "is-system-running"); return out })
	if out := l.must("exec", "mgxd", "--", "cat", "/proc/1/comm"); out != "systemd\n" {
		t.Fatalf("init of lodge's copy: %q", out)
	}
	mgTools(func(src, dst string) { l.must("file", "push", src, "mgxd"+dst) })
	if got := manifest([]byte(l.must("exec", "mgxd", "--", "sh", "-c", mgManifest, "sh", "/")), nil); got != want {
		t.Fatalf("lodge's copy differs from LXD's container:\n%s\nwant:\n%s", got, want)
	}
	l.must("stop", "mgxd", "--force")

	// lodge -> LXD: the same again, and systemd boots under LXD.
	lxc("copy", "mgxlodge:mgxd", "local:mgxd2")
	if out := lxc("query", "/1.0/instances/mgxd2/snapshots"); !strings.Contains(out, "/snap0\"") || !strings.Contains(out, "/snap1\"") {
		t.Fatalf("snapshots on LXD: %s", out)
	}
	if out := lxc("config", "get", "local:mgxd2", "user.mark"); strings.TrimSpace(out) != "d2" {
		t.Fatalf("config on LXD: user.mark %q", out)
	}
	snapConfig(func(snap string) string { return lxc("query", "/1.0/instances/mgxd2/snapshots/"+snap) })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("LXD's log of mgxd2:\n%s", lxc("info", "--show-log", "local:mgxd2"))
		}
		lxc("delete", "-f", "local:mgxd2")
	})
	lxc("start", "local:mgxd2")
	booted(func() string {
		return lxc("exec", "local:mgxd2", "--", "sh", "-c", "systemctl is-system-running; true")
	})
	if out := lxc("exec", "local:mgxd2", "--", "cat", "/proc/1/comm"); out != "systemd\n" {
		t.Fatalf("init of LXD's copy: %q", out)
	}
	mgTools(func(src, dst string) { lxc("file", "push", src, "local:mgxd2"+dst) })
	if got := lxc("exec", "local:mgxd2", "--", "sh", "-c", mgManifest, "sh", "/"); got != want {
		t.Fatalf("LXD's copy of lodge's copy differs from the original:\n%s\nwant:\n%s", got, want)
	}
}

// fsSent is what l's migration operations report as moved on their fs
// connection (their last fs_progress), by operation id.
func fsSent(t *testing.T, l *aLodged) map[string]int64 {
	t.Helper()
	// LXD's form: the operations by status.
	var byStatus map[string][]struct {
		ID       string
		Metadata map[string]any
	}
	json.Unmarshal([]byte(apiGet(t, l.dir, "/1.0/operations?recursion=1")), &byStatus)
	out := map[string]int64{}
	for _, op := range slices.Concat(slices.Collect(maps.Values(byStatus))...) {
		s, _ := op.Metadata["fs_progress"].(string)
		// "mgr1: 12.35MB (3.09MB/s)"
		_, s, ok := strings.Cut(s, ": ")
		if !ok {
			continue
		}
		s, _, _ = strings.Cut(s, " ")
		mult := int64(1)
		for i, u := range []string{"kB", "MB", "GB", "TB"} {
			if strings.HasSuffix(s, u) {
				s = strings.TrimSuffix(s, u)
				for j := 0; j <= i; j++ {
					mult *= 1000
				}
				break
			}
		}
		s = strings.TrimSuffix(s, "B")
		var v float64
		if _, err := fmt.Sscanf(s, "%g", &v); err != nil {
			t.Fatalf("fs_progress %q: %v", op.Metadata["fs_progress"], err)
		}
		out[op.ID] = int64(v * float64(mult))
	}
	return out
}

// newSent is the one operation of after that before lacks.
func newSent(t *testing.T, before, after map[string]int64) int64 {
	t.Helper()
	var n []int64
	for id, b := range after {
		if _, ok := before[id]; !ok {
			n = append(n, b)
		}
	}
	if len(n) != 1 {
		t.Fatalf("want one new migration operation with fs_progress, have %v (before %v)", after, before)
	}
	return n[0]
}

// TestMigrateRefreshSendsOnlyTheChange: lodge copy --refresh of an
// instance whose 64 MiB of random data did not change since the last copy
// moves only the change: the target's operation reports kilobytes where
// the first copy reported the 64 MiB, the big file on the target keeps
// its inode and mtime (a resent file is written anew and renamed into
// place), and the small changed file arrives.
func TestMigrateRefreshSendsOnlyTheChange(t *testing.T) {
	needIntegration(t)
	tarball, err := builder.Build(context.Background(), "busybox", builder.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := newMigratePair(t)
	a, b := p.a, p.b
	a.must("image", "import", tarball, "--alias", "mg-bb")
	a.must("launch", "mg-bb", "mgr1")
	a.must("exec", "mgr1", "--", "dd", "if=/dev/urandom", "of=/root/big", "bs=1M", "count=64")
	a.must("exec", "mgr1", "--", "sh", "-c", "echo one > /root/f")
	a.must("stop", "mgr1", "--force")

	before := fsSent(t, b)
	a.must("copy", "mgr1", "hostb:mgr1")
	if n := newSent(t, before, fsSent(t, b)); n < 64<<20 {
		t.Fatalf("the first copy reports %d bytes moved, less than its 64 MiB file", n)
	}
	stat := func() string {
		b.must("start", "mgr1")
		defer b.must("stop", "mgr1", "--force")
		return b.must("exec", "mgr1", "--", "stat", "-c", "%i %Y %s", "/root/big")
	}
	big := stat()

	a.must("start", "mgr1")
	a.must("exec", "mgr1", "--", "sh", "-c", "echo two > /root/f")
	a.must("stop", "mgr1", "--force")
	before = fsSent(t, b)
	a.must("copy", "mgr1", "hostb:mgr1", "--refresh")
	if n := newSent(t, before, fsSent(t, b)); n > 4<<20 {
		t.Fatalf("the refresh reports %d bytes moved for a change of 4 bytes (the unchanged 64 MiB resent?)", n)
	}
	if got := stat(); got != big {
		t.Fatalf("the unchanged file on the target was rewritten: inode mtime size %q, before %q", got, big)
	}
	if out := b.must("file", "pull", "mgr1/root/f", "-"); out != "two\n" {
		t.Fatalf("the refreshed copy's /root/f: %q", out)
	}
}

// mgManifest lists, for the fixture paths under the root given as $1, each
// one's owner, mode, size, checksum, user.* xattrs, POSIX ACL and file
// capabilities; the same text on the host (a stopped LXD container's
// unshifted rootfs) and inside a running container (with the host's
// getfacl, getfattr and getcap pushed in: Debian has their libraries).
const mgManifest = `cd "$1" && find srv/mg root/big | LC_ALL=C sort | while read -r f; do
	stat -c '%n %u:%g %a %s' "$f"
	if [ -f "$f" ]; then sha256sum "$f"; fi
	getfattr -h -d -m '^user\.' "$f" 2>/dev/null
	getfacl -c -n "$f" 2>/dev/null
	getcap "$f"
done`

// mgDebianFixture fills a stopped, never started (so unshifted) LXD
// container's rootfs: 100 MiB of random data, files of several owners and
// modes, an xattr, POSIX ACLs (access and default) and a file capability.
func mgDebianFixture(t *testing.T, root string) {
	t.Helper()
	if fi, err := os.Stat(root); err != nil || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Fatalf("LXD's rootfs %s is not unshifted (owner 0): %v", root, err)
	}
	big, err := os.Create(filepath.Join(root, "root/big"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(big, rand.Reader, 100<<20); err != nil {
		t.Fatal(err)
	}
	big.Close()
	mg := filepath.Join(root, "srv/mg")
	for _, f := range []struct {
		name     string
		uid, gid int
		mode     os.FileMode
		dir      bool
	}{
		{"", 1000, 1000, 0o775 | os.ModeSetgid, true},
		{"a", 1000, 1000, 0o640, false},
		{"b", 1001, 1002, 0o600, false},
		{"c", 65534, 65534, 0o444, false},
		{"tool", 0, 0, 0o755, false},
		{"suid", 0, 1000, 0o750 | os.ModeSetuid, false},
	} {
		p := filepath.Join(mg, f.name)
		if f.dir {
			os.Mkdir(p, 0o755)
		} else if err := os.WriteFile(p, []byte("mg "+f.name+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, f.uid, f.gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Setxattr(filepath.Join(mg, "a"), "user.mg", []byte("hello"), 0); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*exec.Cmd{
		exec.Command("setfacl", "-m", "u:1001:rw,g:1002:r", filepath.Join(mg, "a")),
		exec.Command("setfacl", "-d", "-m", "u:1001:rwx", mg),
		exec.Command("setcap", "cap_net_raw,cap_net_bind_service+ep", filepath.Join(mg, "tool")),
	} {
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", c.Args, err, out)
		}
	}
}

// mgTools pushes the host's getfacl, getfattr and getcap into a container
// through push (lodge's or lxc's file push).
func mgTools(push func(src, dst string)) {
	for _, tool := range []func() (string, error){
		func() (string, error) { return exec.LookPath("getfacl") },
		func() (string, error) { return exec.LookPath("getfattr") },
		func() (string, error) { return exec.LookPath("getcap") },
	} {
		p, _ := tool()
		push(p, "/usr/local/bin/"+filepath.Base(p))
	}
}
