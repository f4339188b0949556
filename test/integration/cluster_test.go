package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lodge/api"
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
