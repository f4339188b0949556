package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"lodge/api"
	"lodge/builder"
)

// aCluster is three lodgeds of a test's own on this host, each on its own
// state directory and loopback port, with no default network.
type aCluster struct {
	t       *testing.T
	members []*aLodged
	names   []string
	addrs   []string
}

// startCluster forms a cluster of len(names) members: the first enables
// clustering, each other joins with a token the first issued
// (`lodged init --join TOKEN --address ADDR`).
func startCluster(t *testing.T, tag string, names []string) *aCluster {
	t.Helper()
	c := &aCluster{t: t, names: names}
	for i := range names {
		dir, err := os.MkdirTemp("", "lodge-it-"+tag+fmt.Sprint(i)+"-")
		if err != nil {
			t.Fatal(err)
		}
		l := startLodged(t, dir, "none")
		t.Cleanup(l.teardown)
		c.members = append(c.members, l)
		c.addrs = append(c.addrs, fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	}
	first := c.members[0]
	first.must("config", "set", "core.https_address", c.addrs[0])
	first.must("cluster", "enable", names[0])
	for i := 1; i < len(names); i++ {
		tok := strings.TrimSpace(first.must("cluster", "add", names[i], "--quiet"))
		out, err := exec.Command(filepath.Join(binDir, "lodged"), "--dir", c.members[i].dir, "init",
			"--join", tok, "--address", c.addrs[i]).CombinedOutput()
		if err != nil {
			t.Fatalf("%s joins: %v: %s", names[i], err, out)
		}
	}
	return c
}

// members is `lodge cluster list` on member i, by name.
func (c *aCluster) list(i int) map[string]api.ClusterMember {
	c.t.Helper()
	var ms []api.ClusterMember
	if err := json.Unmarshal([]byte(c.members[i].must("cluster", "list", "--format", "json")), &ms); err != nil {
		c.t.Fatal(err)
	}
	out := map[string]api.ClusterMember{}
	for _, m := range ms {
		out[m.ServerName] = m
	}
	return out
}

// TestClusterForms: three lodgeds form a cluster with join tokens; every
// member lists all three with their URL, three database voters, ONLINE; the
// table shows roles and state.
func TestClusterForms(t *testing.T) {
	needIntegration(t)
	names := []string{"clf-a", "clf-b", "clf-c"}
	c := startCluster(t, "clf", names)
	for i := range names {
		ms := c.list(i)
		if len(ms) != 3 {
			t.Fatalf("cluster list on %s: %d members, want 3: %v", names[i], len(ms), ms)
		}
		for j, n := range names {
			m, ok := ms[n]
			if !ok {
				t.Fatalf("cluster list on %s lacks %s", names[i], n)
			}
			if m.URL != "https://"+c.addrs[j] {
				t.Errorf("%s: URL %q, want https://%s", n, m.URL, c.addrs[j])
			}
			if m.Status != "Online" {
				t.Errorf("%s seen from %s: status %q, want Online", n, names[i], m.Status)
			}
		}
	}
	// Three members: LXD makes all three database voters.
	waitFor(t, "three database voters", 30*time.Second, func() bool {
		voters := 0
		for _, m := range c.list(0) {
			for _, r := range m.Roles {
				if r == "database" {
					voters++
				}
			}
		}
		return voters == 3
	})
	table := c.members[1].must("cluster", "list")
	for _, want := range []string{"clf-a", "clf-b", "clf-c", "database", "ONLINE", "https://" + c.addrs[2]} {
		if !strings.Contains(table, want) {
			t.Fatalf("cluster list table lacks %q:\n%s", want, table)
		}
	}
}

// clusterImage imports the busybox test image on the first member: the
// others copy its files from there when an instance of theirs needs them.
func (c *aCluster) clusterImage(alias string) {
	c.t.Helper()
	tarball, err := builder.Build(context.Background(), "busybox", builder.Options{})
	if err != nil {
		c.t.Fatal(err)
	}
	c.members[0].must("image", "import", tarball, "--alias", alias)
}

// storedImages is the fingerprints in member i's image store.
func (c *aCluster) storedImages(i int) []string {
	c.t.Helper()
	ents, err := os.ReadDir(filepath.Join(c.members[i].dir, "images"))
	if err != nil && !os.IsNotExist(err) {
		c.t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if len(e.Name()) == 64 {
			out = append(out, e.Name())
		}
	}
	return out
}

// locations is `lodge list -c nsL` on member i: name -> "STATE LOCATION".
func (c *aCluster) locations(i int) map[string]string {
	c.t.Helper()
	out := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(c.members[i].must("list", "--format", "csv", "-c", "nsL")), "\n") {
		if f := strings.Split(l, ","); len(f) == 3 {
			out[f[0]] = f[1] + " " + f[2]
		}
	}
	return out
}

// TestClusterInstances: instances go to the member --target names, from
// any member; every member lists every member's instances with their
// location; exec, stop and delete from any member reach the instance's
// member; a target that is no member is refused.
func TestClusterInstances(t *testing.T) {
	needIntegration(t)
	names := []string{"cli-a", "cli-b", "cli-c"}
	c := startCluster(t, "cli", names)
	c.clusterImage("cli-img")
	if got := c.storedImages(2); len(got) != 0 {
		t.Fatalf("cli-c holds images before any instance of its own: %v", got)
	}
	// From member a: one here, one on b; from b: one on c. b and c copy
	// the image's files from a.
	c.members[0].must("launch", "cli-img", "cli-1", "--target", "cli-a")
	c.members[0].must("launch", "cli-img", "cli-2", "--target", "cli-b")
	c.members[1].must("launch", "cli-img", "cli-3", "--target", "cli-c")
	want := map[string]string{"cli-1": "RUNNING cli-a", "cli-2": "RUNNING cli-b", "cli-3": "RUNNING cli-c"}
	for i := range names {
		if got := c.locations(i); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("list on %s: %v, want %v", names[i], got, want)
		}
	}
	// The table shows a LOCATION column without asking.
	if out := c.members[2].must("list"); !strings.Contains(out, "LOCATION") || !strings.Contains(out, "cli-b") {
		t.Fatalf("list table on cli-c:\n%s", out)
	}
	if a, cc := c.storedImages(0), c.storedImages(2); len(a) != 1 || fmt.Sprint(cc) != fmt.Sprint(a) {
		t.Fatalf("images held: cli-a %v, cli-c %v; want cli-a's copied to cli-c", a, cc)
	}
	// Each member runs its own: the container is in that member's state dir.
	for i, n := range []string{"cli-1", "cli-2", "cli-3"} {
		if _, err := os.Stat(filepath.Join(c.members[i].dir, "containers", n)); err != nil {
			t.Fatalf("%s not on %s: %v", n, names[i], err)
		}
	}
	// exec from a member that does not run it.
	if out := c.members[0].must("exec", "cli-3", "--", "hostname"); strings.TrimSpace(out) != "cli-3" {
		t.Fatalf("exec cli-3 from cli-a: %q", out)
	}
	if out := c.members[2].must("exec", "cli-2", "--", "sh", "-c", "echo forwarded"); out != "forwarded\n" {
		t.Fatalf("exec cli-2 from cli-c: %q", out)
	}
	// stop and delete from elsewhere.
	c.members[2].must("stop", "cli-1")
	c.members[0].must("delete", "-f", "cli-2")
	want = map[string]string{"cli-1": "STOPPED cli-a", "cli-3": "RUNNING cli-c"}
	if got := c.locations(1); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("list on cli-b after stop and delete: %v, want %v", got, want)
	}
	if _, err := os.Stat(filepath.Join(c.members[1].dir, "containers", "cli-2")); !os.IsNotExist(err) {
		t.Fatalf("cli-2 still on cli-b: %v", err)
	}
	// No member by that name: refused, nothing made.
	if _, err := c.members[0].run("launch", "cli-img", "cli-4", "--target", "cli-zz"); err == nil || !strings.Contains(err.Error(), "cli-zz") {
		t.Fatalf("launch on an unknown member: %v", err)
	}
	if _, ok := c.locations(0)["cli-4"]; ok {
		t.Fatal("cli-4 was made on an unknown target")
	}
	// Debian's lxc drives the cluster too: members, --target, LOCATION.
	lxcBin, err := exec.LookPath("lxc")
	if err != nil {
		t.Skip("Debian's lxd-client is not installed (make deps installs it)")
	}
	lxc := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(lxcBin, args...)
		cmd.Env = append(os.Environ(), "LXD_DIR="+c.members[2].dir, "HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("lxc %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if out := lxc("cluster", "list", "--format", "csv"); !strings.Contains(out, "cli-a") || !strings.Contains(out, "cli-b") || !strings.Contains(out, "ONLINE") {
		t.Fatalf("lxc cluster list:\n%s", out)
	}
	lxc("launch", "cli-img", "cli-5", "--target", "cli-b")
	if out := lxc("list", "--format", "csv", "-c", "nsL"); !strings.Contains(out, "cli-5,RUNNING,cli-b") || !strings.Contains(out, "cli-3,RUNNING,cli-c") {
		t.Fatalf("lxc list:\n%s", out)
	}
}

// TestClusterMemberDown: a member killed (kill -9 of its lodged) is shown
// OFFLINE past cluster.offline_threshold while the other two keep
// serving (dqlite keeps its quorum with two of three voters): lists
// answer with its instances in Error state, new instances go elsewhere,
// requests for its instances are refused as unavailable. Restarted, it
// is ONLINE again and its instance runs on.
func TestClusterMemberDown(t *testing.T) {
	needIntegration(t)
	names := []string{"cld-a", "cld-b", "cld-c"}
	c := startCluster(t, "cld", names)
	c.members[0].must("config", "set", "cluster.offline_threshold", "11")
	c.clusterImage("cld-img")
	c.members[0].must("launch", "cld-img", "cld-1", "--target", "cld-c")

	down := c.members[2]
	if err := down.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	down.cmd.Wait()
	down.cmd = nil
	waitFor(t, "cld-c OFFLINE", 60*time.Second, func() bool {
		return c.list(0)["cld-c"].Status == "Offline"
	})
	if ms := c.list(1); ms["cld-a"].Status != "Online" || ms["cld-b"].Status != "Online" {
		t.Fatalf("the two left are not both online: %v", ms)
	}
	if got := c.locations(1)["cld-1"]; got != "ERROR cld-c" {
		t.Fatalf("cld-1 on the lost member lists as %q, want ERROR cld-c", got)
	}
	// Writes go on: an instance placed without a target goes to a or b.
	c.members[1].must("launch", "cld-img", "cld-2")
	if got := c.locations(0)["cld-2"]; got != "RUNNING cld-a" && got != "RUNNING cld-b" {
		t.Fatalf("cld-2 placed with a member down: %q", got)
	}
	if _, err := c.members[0].run("exec", "cld-1", "--", "true"); err == nil || !strings.Contains(err.Error(), "offline") {
		t.Fatalf("exec on the lost member's instance: %v", err)
	}
	// Back: it rejoins and its container, which ran on, is seen again.
	back := startLodged(t, down.dir, "none")
	t.Cleanup(back.teardown)
	c.members[2] = back
	waitFor(t, "cld-c ONLINE again", 60*time.Second, func() bool {
		return c.list(0)["cld-c"].Status == "Online"
	})
	if got := c.locations(0)["cld-1"]; got != "RUNNING cld-c" {
		t.Fatalf("cld-1 after its member came back: %q", got)
	}
}
