package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// lxcOn runs Debian's lxc against member m's socket ("" when lxc is not
// installed).
func lxcOn(t *testing.T, m *aLodged) func(args ...string) (string, error) {
	lxcBin, err := exec.LookPath("lxc")
	if err != nil {
		return nil
	}
	home := t.TempDir()
	return func(args ...string) (string, error) {
		cmd := exec.Command(lxcBin, args...)
		cmd.Env = append(os.Environ(), "LXD_DIR="+m.dir, "HOME="+home)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
}

// volDir is where member m's default pool (dir) keeps an instance's
// volume; containers/NAME in its state dir is the runtime config.
func volDir(m *aLodged, name string) string {
	return filepath.Join(m.dir, "storage-pools", "default", "containers", name)
}

// TestClusterMove: a stopped instance with a snapshot moves to another
// member (lodge move NAME --target MEMBER): listed there from every
// member, its files and snapshot intact, startable there, gone from the
// source's disk. A move to the member it is on, to no member, and of a
// running instance are refused. A target killed mid-transfer leaves the
// instance whole on the source; once the target is back the move works.
// Debian's lxc moves it back (lxc move --target).
func TestClusterMove(t *testing.T) {
	needIntegration(t)
	names := []string{"cmv-a", "cmv-b", "cmv-c"}
	c := startCluster(t, "cmv", names)
	c.clusterImage("cmv-img")
	a, b := c.members[0], c.members[1]
	a.must("launch", "cmv-img", "cmv-1", "--target", "cmv-a")
	a.must("exec", "cmv-1", "--", "sh", "-c", "echo one > /root/hello")
	a.must("stop", "cmv-1")
	a.must("snapshot", "cmv-1", "s0")
	a.must("start", "cmv-1")
	a.must("exec", "cmv-1", "--", "sh", "-c", "echo two > /root/hello")

	// Refused, and nothing changes.
	if _, err := b.run("move", "cmv-1", "--target", "cmv-b"); err == nil || !strings.Contains(err.Error(), "stop it") {
		t.Fatalf("move of a running instance: %v", err)
	}
	a.must("stop", "cmv-1")
	if _, err := b.run("move", "cmv-1", "--target", "cmv-a"); err == nil || !strings.Contains(err.Error(), "already") {
		t.Fatalf("move to the member it is on: %v", err)
	}
	if _, err := b.run("move", "cmv-1", "--target", "cmv-zz"); err == nil || !strings.Contains(err.Error(), "cmv-zz") {
		t.Fatalf("move to no member: %v", err)
	}
	if got := c.locations(2)["cmv-1"]; got != "STOPPED cmv-a" {
		t.Fatalf("cmv-1 after the refusals: %q", got)
	}

	// Asked on b; a, which holds it, sends it.
	b.must("move", "cmv-1", "--target", "cmv-b")
	for i := range names {
		if got := c.locations(i)["cmv-1"]; got != "STOPPED cmv-b" {
			t.Fatalf("cmv-1 listed on %s as %q, want STOPPED cmv-b", names[i], got)
		}
	}
	for _, p := range []string{volDir(a, "cmv-1"), filepath.Join(a.dir, "containers", "cmv-1")} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("cmv-1 still on cmv-a (%s): %v", p, err)
		}
	}
	for _, p := range []string{volDir(b, "cmv-1"), filepath.Join(b.dir, "containers", "cmv-1")} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("cmv-1 not on cmv-b: %v", err)
		}
	}
	a.must("start", "cmv-1")
	if out := a.must("exec", "cmv-1", "--", "cat", "/root/hello"); out != "two\n" {
		t.Fatalf("cmv-1's file on cmv-b: %q", out)
	}
	if out := c.members[2].must("exec", "cmv-1", "--", "hostname"); strings.TrimSpace(out) != "cmv-1" {
		t.Fatalf("cmv-1's hostname on cmv-b: %q", out)
	}
	a.must("stop", "cmv-1")
	// The snapshot came along: restoring it gives its files back.
	a.must("restore", "cmv-1", "s0")
	a.must("start", "cmv-1")
	if out := a.must("exec", "cmv-1", "--", "cat", "/root/hello"); out != "one\n" {
		t.Fatalf("cmv-1's file after restoring s0 on cmv-b: %q", out)
	}
	a.must("stop", "cmv-1")

	// Debian's lxc moves it back.
	if lxc := lxcOn(t, c.members[2]); lxc != nil {
		if out, err := lxc("move", "cmv-1", "--target", "cmv-a"); err != nil {
			t.Fatalf("lxc move --target: %v: %s", err, out)
		}
		if got := c.locations(1)["cmv-1"]; got != "STOPPED cmv-a" {
			t.Fatalf("cmv-1 after lxc move --target cmv-a: %q", got)
		}
		if _, err := os.Stat(volDir(b, "cmv-1")); !os.IsNotExist(err) {
			t.Fatalf("cmv-1's volume still on cmv-b: %v", err)
		}
	} else {
		t.Log("Debian's lxc is not installed: lxc move --target not tried")
	}

	// The target dies mid-transfer: the instance stays whole on a. The
	// pool's rsync.bwlimit (KiB/s) makes the transfer last long enough.
	a.must("storage", "set", "default", "rsync.bwlimit=4096")
	a.must("launch", "cmv-img", "cmv-2", "--target", "cmv-a")
	a.must("exec", "cmv-2", "--", "dd", "if=/dev/urandom", "of=/big", "bs=1M", "count=48")
	a.must("stop", "cmv-2")
	mv := exec.Command(filepath.Join(binDir, "lodge"), "move", "cmv-2", "--target", "cmv-b")
	mv.Env = append(os.Environ(), "LODGE_DIR="+a.dir)
	var mvOut strings.Builder
	mv.Stdout, mv.Stderr = &mvOut, &mvOut
	if err := mv.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "cmv-2's volume on cmv-b", 30*time.Second, func() bool {
		_, err := os.Stat(volDir(b, "cmv-2"))
		return err == nil
	})
	if err := b.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	b.cmd.Wait()
	b.cmd = nil
	if err := mv.Wait(); err == nil {
		t.Fatalf("the move went through with its target killed: %s", mvOut.String())
	}
	t.Logf("move with the target killed: %s", strings.TrimSpace(mvOut.String()))
	if !strings.Contains(mvOut.String(), "leaves") {
		t.Fatalf("the error does not say what became of the instance: %s", mvOut.String())
	}
	if got := c.locations(0)["cmv-2"]; got != "STOPPED cmv-a" {
		t.Fatalf("cmv-2 after the failed move: %q", got)
	}
	a.must("start", "cmv-2")
	if out := a.must("exec", "cmv-2", "--", "sh", "-c", "wc -c < /big"); strings.TrimSpace(out) != "50331648" {
		t.Fatalf("cmv-2's big file after the failed move: %q", out)
	}
	a.must("stop", "cmv-2")
	// b back: what it half received is replaced, the move goes through.
	back := startLodged(t, b.dir, "none")
	t.Cleanup(back.teardown)
	c.members[1] = back
	waitFor(t, "cmv-b ONLINE again", 60*time.Second, func() bool {
		return c.list(0)["cmv-b"].Status == "Online"
	})
	a.must("move", "cmv-2", "--target", "cmv-b")
	if got := c.locations(2)["cmv-2"]; got != "STOPPED cmv-b" {
		t.Fatalf("cmv-2 after the second move: %q", got)
	}
	if fi, err := os.Stat(filepath.Join(volDir(back, "cmv-2"), "rootfs", "big")); err != nil || fi.Size() != 48<<20 {
		t.Fatalf("cmv-2's big file on cmv-b: %v %v", fi, err)
	}
}

// TestClusterEvacuate: evacuating a member moves its running and its
// stopped instance to the other members (the running one running there),
// shows it EVACUATED and keeps new instances off it; restore brings them
// home, the running one running, and shows it ONLINE. An unknown member
// is refused.
func TestClusterEvacuate(t *testing.T) {
	needIntegration(t)
	names := []string{"cev-a", "cev-b", "cev-c"}
	c := startCluster(t, "cev", names)
	c.clusterImage("cev-img")
	a := c.members[0]
	a.must("launch", "cev-img", "cev-run", "--target", "cev-b")
	a.must("init", "cev-img", "cev-idle", "--target", "cev-b")
	a.must("exec", "cev-run", "--", "sh", "-c", "echo kept > /root/note")

	if _, err := a.run("cluster", "evacuate", "cev-zz"); err == nil || !strings.Contains(err.Error(), "cev-zz") {
		t.Fatalf("evacuate an unknown member: %v", err)
	}
	a.must("cluster", "evacuate", "cev-b")
	if got := c.list(2)["cev-b"].Status; got != "Evacuated" {
		t.Fatalf("cev-b after evacuate: %q", got)
	}
	if table := a.must("cluster", "list"); !strings.Contains(table, "EVACUATED") {
		t.Fatalf("cluster list after evacuate:\n%s", table)
	}
	locs := c.locations(1)
	if got := locs["cev-run"]; got != "RUNNING cev-a" && got != "RUNNING cev-c" {
		t.Fatalf("cev-run after evacuate: %q", got)
	}
	if got := locs["cev-idle"]; got != "STOPPED cev-a" && got != "STOPPED cev-c" {
		t.Fatalf("cev-idle after evacuate: %q", got)
	}
	for _, n := range []string{"cev-run", "cev-idle"} {
		if _, err := os.Stat(volDir(c.members[1], n)); !os.IsNotExist(err) {
			t.Fatalf("%s's volume still on cev-b: %v", n, err)
		}
	}
	if out := a.must("exec", "cev-run", "--", "cat", "/root/note"); out != "kept\n" {
		t.Fatalf("cev-run's file after evacuate: %q", out)
	}
	if out := a.must("config", "get", "cev-run", "volatile.evacuate.origin"); strings.TrimSpace(out) != "cev-b" {
		t.Fatalf("cev-run's volatile.evacuate.origin: %q", out)
	}
	// Placement passes it over.
	a.must("launch", "cev-img", "cev-new")
	if got := c.locations(0)["cev-new"]; got != "RUNNING cev-a" && got != "RUNNING cev-c" {
		t.Fatalf("cev-new placed with cev-b evacuated: %q", got)
	}

	// Restore (with Debian's lxc if it is there).
	if lxc := lxcOn(t, c.members[2]); lxc != nil {
		if out, err := lxc("cluster", "restore", "cev-b", "--force"); err != nil {
			t.Fatalf("lxc cluster restore: %v: %s", err, out)
		}
	} else {
		a.must("cluster", "restore", "cev-b")
	}
	if got := c.list(0)["cev-b"].Status; got != "Online" {
		t.Fatalf("cev-b after restore: %q", got)
	}
	locs = c.locations(2)
	if locs["cev-run"] != "RUNNING cev-b" || locs["cev-idle"] != "STOPPED cev-b" {
		t.Fatalf("after restore: %v", locs)
	}
	if out := c.members[2].must("exec", "cev-run", "--", "cat", "/root/note"); out != "kept\n" {
		t.Fatalf("cev-run's file after restore: %q", out)
	}
	if out := a.must("config", "get", "cev-run", "volatile.evacuate.origin"); strings.TrimSpace(out) != "" {
		t.Fatalf("cev-run keeps volatile.evacuate.origin after restore: %q", out)
	}
}
