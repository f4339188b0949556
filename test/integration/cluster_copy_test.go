package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestClusterQueryAndCopy: on three members, a filtered list asked on
// a member that holds none of the matches gives every member's
// (lodge list status=running, location=..., and Debian's lxc list
// status=running, which sends the filter to the server). An instance
// with a snapshot is copied to another member by lodge copy --target and
// by lxc copy --target: the copy is there with its files and the
// snapshot, the source is where it was with its own; a running source
// is copied stateless and runs on. A copy whose target is killed
// mid-transfer fails, leaves the source whole, and nothing of it stays
// once the target is back.
func TestClusterQueryAndCopy(t *testing.T) {
	needIntegration(t)
	names := []string{"ccp-a", "ccp-b", "ccp-c"}
	c := startCluster(t, "ccp", names)
	c.clusterImage("ccp-img")
	a, b := c.members[0], c.members[1]
	a.must("launch", "ccp-img", "ccp-1", "--target", "ccp-a")
	a.must("exec", "ccp-1", "--", "sh", "-c", "echo one > /root/hello")
	a.must("stop", "ccp-1")
	a.must("snapshot", "ccp-1", "s0")
	a.must("start", "ccp-1")
	a.must("exec", "ccp-1", "--", "sh", "-c", "echo two > /root/hello")
	a.must("stop", "ccp-1")
	a.must("launch", "ccp-img", "ccp-2", "--target", "ccp-b")
	a.must("launch", "ccp-img", "ccp-3", "--target", "ccp-c")

	// The running ones are on b and c; a answers for all.
	// The CSV rows (lxc's first run prints a greeting before them).
	csv := func(out string) string {
		var rows []string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "ccp-") {
				rows = append(rows, l)
			}
		}
		return strings.Join(rows, "\n")
	}
	if got := csv(a.must("list", "status=running", "--format", "csv", "-c", "nsL")); got != "ccp-2,RUNNING,ccp-b\nccp-3,RUNNING,ccp-c" {
		t.Fatalf("lodge list status=running on ccp-a:\n%s", got)
	}
	if got := csv(a.must("list", "location=ccp-c", "--format", "csv", "-c", "nsL")); got != "ccp-3,RUNNING,ccp-c" {
		t.Fatalf("lodge list location=ccp-c on ccp-a:\n%s", got)
	}
	lxc := lxcOn(t, a)
	if lxc != nil {
		out, err := lxc("list", "status=running", "--format", "csv", "-c", "nsL")
		if err != nil || csv(out) != "ccp-2,RUNNING,ccp-b\nccp-3,RUNNING,ccp-c" {
			t.Fatalf("lxc list status=running on ccp-a: %v\n%s", err, out)
		}
	} else {
		t.Log("Debian's lxc is not installed: lxc list and lxc copy not tried")
	}

	// lodge copy --target, asked on c: b pulls ccp-1 from a.
	c.members[2].must("copy", "ccp-1", "ccp-1b", "--target", "ccp-b")
	// A copy's files, its snapshot (restored: the files as they were),
	// and the source left as it was.
	checkCopy := func(name, member string, on *aLodged) {
		t.Helper()
		if got := c.locations(0)[name]; got != "STOPPED "+member {
			t.Fatalf("%s: %q, want STOPPED %s", name, got, member)
		}
		if _, err := os.Stat(volDir(on, name)); err != nil {
			t.Fatalf("%s not on %s's disk: %v", name, member, err)
		}
		a.must("start", name)
		if out := a.must("exec", name, "--", "cat", "/root/hello"); out != "two\n" {
			t.Fatalf("%s's file: %q", name, out)
		}
		if out := a.must("exec", name, "--", "hostname"); strings.TrimSpace(out) != name {
			t.Fatalf("%s's hostname: %q", name, out)
		}
		a.must("stop", name)
		a.must("restore", name, "s0")
		a.must("start", name)
		if out := a.must("exec", name, "--", "cat", "/root/hello"); out != "one\n" {
			t.Fatalf("%s's file after restoring s0: %q", name, out)
		}
		a.must("stop", name)
		if got := c.locations(1)["ccp-1"]; got != "STOPPED ccp-a" {
			t.Fatalf("ccp-1 after it was copied: %q", got)
		}
		if got, err := os.ReadFile(filepath.Join(volDir(a, "ccp-1"), "rootfs", "root", "hello")); err != nil || string(got) != "two\n" {
			t.Fatalf("ccp-1's file after it was copied: %q %v", got, err)
		}
	}
	checkCopy("ccp-1b", "ccp-b", b)
	if lxc != nil {
		// Asked on a, which holds the source; c pulls.
		if out, err := lxc("copy", "ccp-1", "ccp-1c", "--target", "ccp-c"); err != nil {
			t.Fatalf("lxc copy --target: %v: %s", err, out)
		}
		checkCopy("ccp-1c", "ccp-c", c.members[2])
	}
	// A running source is copied without its memory, and runs on.
	a.must("exec", "ccp-2", "--", "sh", "-c", "echo live > /root/hello")
	a.must("copy", "ccp-2", "ccp-2a", "--target", "ccp-a")
	if got := c.locations(2); got["ccp-2a"] != "STOPPED ccp-a" || got["ccp-2"] != "RUNNING ccp-b" {
		t.Fatalf("after the copy of a running instance: %v", got)
	}
	if got, err := os.ReadFile(filepath.Join(volDir(a, "ccp-2a"), "rootfs", "root", "hello")); err != nil || string(got) != "live\n" {
		t.Fatalf("ccp-2a's file: %q %v", got, err)
	}
	a.must("stop", "ccp-2", "ccp-3")

	// The target dies mid-transfer. The pool's rsync.bwlimit (KiB/s)
	// makes the transfer last long enough.
	a.must("storage", "set", "default", "rsync.bwlimit=4096")
	a.must("launch", "ccp-img", "ccp-4", "--target", "ccp-a")
	a.must("exec", "ccp-4", "--", "dd", "if=/dev/urandom", "of=/big", "bs=1M", "count=48")
	a.must("stop", "ccp-4")
	cp := exec.Command(filepath.Join(binDir, "lodge"), "copy", "ccp-4", "ccp-4c", "--target", "ccp-c")
	cp.Env = append(os.Environ(), "LODGE_DIR="+a.dir)
	var cpOut strings.Builder
	cp.Stdout, cp.Stderr = &cpOut, &cpOut
	if err := cp.Start(); err != nil {
		t.Fatal(err)
	}
	target := c.members[2]
	waitFor(t, "ccp-4c's volume on ccp-c", 30*time.Second, func() bool {
		_, err := os.Stat(volDir(target, "ccp-4c"))
		return err == nil
	})
	killLodged(target)
	if err := cp.Wait(); err == nil {
		t.Fatalf("the copy went through with its target killed: %s", cpOut.String())
	}
	t.Logf("copy with the target killed: %s", strings.TrimSpace(cpOut.String()))
	if !strings.Contains(cpOut.String(), "leaves") {
		t.Fatalf("the error does not say what became of the instance: %s", cpOut.String())
	}
	if got := c.locations(0)["ccp-4"]; got != "STOPPED ccp-a" {
		t.Fatalf("ccp-4 after the failed copy: %q", got)
	}
	if fi, err := os.Stat(filepath.Join(volDir(a, "ccp-4"), "rootfs", "big")); err != nil || fi.Size() != 48<<20 {
		t.Fatalf("ccp-4's big file after the failed copy: %v %v", fi, err)
	}
	back := startLodged(t, target.dir, "none")
	t.Cleanup(back.teardown)
	c.members[2] = back
	waitFor(t, "ccp-c ONLINE again", 60*time.Second, func() bool {
		return c.list(0)["ccp-c"].Status == "Online"
	})
	if got, ok := c.locations(1)["ccp-4c"]; ok {
		t.Fatalf("ccp-4c listed after its copy failed and ccp-c came back: %q", got)
	}
	if _, err := os.Stat(volDir(back, "ccp-4c")); !os.IsNotExist(err) {
		t.Fatalf("ccp-4c's volume stayed on ccp-c: %v", err)
	}
	// ccp-c kept what it had; the copy goes through now.
	a.must("copy", "ccp-4", "ccp-4c", "--target", "ccp-c")
	if got := c.locations(0); got["ccp-4c"] != "STOPPED ccp-c" || (lxc != nil && got["ccp-1c"] != "STOPPED ccp-c") {
		t.Fatalf("after the second copy: %v", got)
	}
}
