package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"lodge/api"
	"lodge/builder"
)

// TestBenchCluster (make bench-cluster; issue 17) measures, in one run:
//   - `lodge list` from one member of a three-member cluster holding
//     3 x BENCH_PER_MEMBER (300) running busybox instances, next to the
//     same number on a standalone lodged, the samples taking turns;
//   - the same list while one member is killed (kill -9): it must not
//     wait for the dead member past the list's deadline;
//   - the time from kill -9 of a member to OFFLINE in `cluster list`,
//     with the default cluster.offline_threshold (20 s, as LXD);
//   - the time from kill -9 of the database leader to the next write the
//     cluster accepts (a profile created on a surviving member).
//
// Both sides' instances run at the same time, so that both lists see the
// same host. Medians of BENCH_ROUNDS (10) samples.
func TestBenchCluster(t *testing.T) {
	needBench(t)
	per := benchEnvInt("BENCH_PER_MEMBER", 300)
	rounds := benchEnvInt("BENCH_ROUNDS", 10)
	tarball, err := builder.Build(context.Background(), "busybox", builder.Options{})
	if err != nil {
		t.Fatal(err)
	}

	dir, err := os.MkdirTemp("", "lodge-it-bcs-")
	if err != nil {
		t.Fatal(err)
	}
	alone := startLodged(t, dir, "none")
	t.Cleanup(alone.teardown)
	// Deferred, so before the teardowns: those delete one at a time.
	defer bulkDelete(alone)
	alone.must("image", "import", tarball, "--alias", "bcs-img")

	names := []string{"bcs-a", "bcs-b", "bcs-c"}
	c := startCluster(t, "bcs", names)
	defer func() { bulkDelete(c.members[0]) }()
	c.clusterImage("bcs-img")
	waitFor(t, "three database voters", 60*time.Second, func() bool { return len(c.withRole(0, "database")) == 3 })

	start := time.Now()
	launchMany(t, 3*per, func(i int) []string {
		return []string{"launch", "bcs-img", fmt.Sprintf("bs%d", i)}
	}, alone)
	t.Logf("standalone: %d instances launched in %s", 3*per, time.Since(start).Round(time.Second))
	start = time.Now()
	launchMany(t, 3*per, func(i int) []string {
		return []string{"launch", "bcs-img", fmt.Sprintf("bc%d", i), "--target", names[i%3]}
	}, c.members[0])
	t.Logf("cluster: %d instances launched in %s", 3*per, time.Since(start).Round(time.Second))

	// Each sample checks what it listed, so that a fast wrong answer
	// cannot pass for a fast list.
	list := func(l *aLodged, want int) time.Duration {
		t0 := time.Now()
		out := l.must("list")
		d := time.Since(t0)
		if n := strings.Count(out, "RUNNING"); n != want {
			t.Fatalf("list on %s: %d RUNNING, want %d", l.dir, n, want)
		}
		return d
	}
	var standalone, cluster []time.Duration
	for r := 0; r < rounds; r++ {
		if r%2 == 0 {
			standalone = append(standalone, list(alone, 3*per))
			cluster = append(cluster, list(c.members[0], 3*per))
		} else {
			cluster = append(cluster, list(c.members[0], 3*per))
			standalone = append(standalone, list(alone, 3*per))
		}
	}

	// A member that is not the leader is killed; a is the one asked.
	victim := 2
	if slices.Contains(c.withRole(0, "database-leader"), names[2]) {
		victim = 1
	}
	killed := time.Now()
	killMember(t, c, victim)
	// Before the threshold the dead member is still asked: the list must
	// not hang on it (its port refuses at once here; a host that is gone
	// costs the list's deadline).
	var withDead []time.Duration
	for r := 0; r < 5; r++ {
		withDead = append(withDead, list(c.members[0], 2*per))
	}
	waitFor(t, names[victim]+" OFFLINE", 120*time.Second, func() bool { return c.list(0)[names[victim]].Status == "Offline" })
	toOffline := time.Since(killed)
	var offlineList []time.Duration
	for r := 0; r < 5; r++ {
		offlineList = append(offlineList, list(c.members[0], 2*per))
	}
	c.members[victim] = startLodged(t, c.members[victim].dir, "none")
	t.Cleanup(c.members[victim].teardown)
	waitFor(t, names[victim]+" ONLINE", 120*time.Second, func() bool { return c.list(0)[names[victim]].Status == "Online" })
	waitFor(t, "three database voters again", 60*time.Second, func() bool { return len(c.withRole(0, "database")) == 3 })

	// The leader is killed; a survivor writes until the cluster accepts.
	leaders := c.withRole(0, "database-leader")
	if len(leaders) != 1 {
		t.Fatalf("database leaders: %v", leaders)
	}
	li := slices.Index(names, leaders[0])
	asker := (li + 1) % 3
	killed = time.Now()
	killMember(t, c, li)
	attempts := 0
	var writeBack time.Duration
	for {
		attempts++
		if _, err := c.members[asker].run("profile", "create", fmt.Sprintf("bcs-w%d", attempts)); err == nil {
			writeBack = time.Since(killed)
			break
		}
		if time.Since(killed) > 2*time.Minute {
			t.Fatalf("no write accepted within 2 minutes of the leader's death (%d attempts)", attempts)
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitFor(t, "a new leader", 60*time.Second, func() bool {
		l := c.withRole(asker, "database-leader")
		return len(l) == 1 && l[0] != leaders[0]
	})
	newLeader := c.withRole(asker, "database-leader")[0]
	c.members[li] = startLodged(t, c.members[li].dir, "none")
	t.Cleanup(c.members[li].teardown)
	waitFor(t, leaders[0]+" ONLINE again", 120*time.Second, func() bool { return c.list(asker)[leaders[0]].Status == "Online" })

	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }
	med := func(ds []time.Duration) time.Duration {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[len(s)/2]
	}
	all := func(ds []time.Duration) string {
		var s []string
		for _, d := range ds {
			s = append(s, fmt.Sprintf("%.0f", float64(d.Microseconds())/1000))
		}
		return strings.Join(s, " ")
	}
	ratio := float64(med(cluster)) / float64(med(standalone))
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	fmt.Printf("\n== make bench-cluster: %d running busybox instances, medians of %d (all samples in ms) ==\n", 3*per, rounds)
	fmt.Printf("%-58s %10s   %s\n", "lodge list, standalone lodged", ms(med(standalone)), all(standalone))
	fmt.Printf("%-58s %10s   %s\n", fmt.Sprintf("lodge list, cluster (3 x %d) from one member", per), ms(med(cluster)), all(cluster))
	fmt.Printf("%-58s %10s   %s\n", "lodge list, a member just killed (before OFFLINE)", ms(med(withDead)), all(withDead))
	fmt.Printf("%-58s %10s   %s\n", "lodge list, a member OFFLINE", ms(med(offlineList)), all(offlineList))
	fmt.Printf("%-58s %10s\n", "kill -9 of a member to OFFLINE (threshold 20 s)", fmt.Sprintf("%.1f s", toOffline.Seconds()))
	fmt.Printf("%-58s %10s   (%d attempts; new leader %s)\n", "kill -9 of the leader to the next accepted write", fmt.Sprintf("%.2f s", writeBack.Seconds()), attempts, newLeader)
	fmt.Printf("targets: cluster list at most 2x standalone (%.2fx: %s) and under 300 ms (%s: %s); writes back within 5 s (%.2f s: %s)\n\n",
		ratio, verdict(ratio <= 2), ms(med(cluster)), verdict(med(cluster) < 300*time.Millisecond), writeBack.Seconds(), verdict(writeBack < 5*time.Second))
}

func benchEnvInt(key string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(key)); err == nil && v > 0 {
		return v
	}
	return def
}

// withRole is the members member i lists with role.
func (c *aCluster) withRole(i int, role string) []string {
	c.t.Helper()
	var out []string
	for name, m := range c.list(i) {
		if slices.Contains(m.Roles, role) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// killMember is kill -9 of member i's lodged (its containers run on).
func killMember(t *testing.T, c *aCluster, i int) {
	t.Helper()
	m := c.members[i]
	if err := m.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	m.cmd.Wait()
	m.cmd = nil
}

// launchMany runs n launches (args(i)) on l, four at a time.
func launchMany(t *testing.T, n int, args func(i int) []string, l *aLodged) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	next := make(chan int)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if _, err := l.run(args(i)...); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
}

// bulkDelete deletes every instance l lists, fifty a request, two
// requests at a time: a test's teardown deletes them one by one.
func bulkDelete(l *aLodged) {
	if l.cmd == nil {
		return
	}
	out, err := l.run("list", "--format", "json")
	if err != nil {
		return
	}
	var list []api.Instance
	if json.Unmarshal([]byte(out), &list) != nil {
		return
	}
	var batches [][]string
	for i := 0; i < len(list); i += 50 {
		var b []string
		for _, in := range list[i:min(i+50, len(list))] {
			b = append(b, in.Name)
		}
		batches = append(batches, b)
	}
	var wg sync.WaitGroup
	ch := make(chan []string)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range ch {
				l.run(append([]string{"delete", "-f"}, b...)...)
			}
		}()
	}
	for _, b := range batches {
		ch <- b
	}
	close(ch)
	wg.Wait()
}
