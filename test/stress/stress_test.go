package stress

import (
	crand "crypto/rand"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// stateDir makes a state directory an unprivileged container's root can
// walk through (t.TempDir is 0700).
func stateDir(t *testing.T) string {
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o711)
	os.Chmod(dir, 0o711)
	return dir
}

// After the load lodged may hold more fds on its database files, up to its
// pool's eight connections with the database and its WAL open each (the
// pool keeps them: server/db), and a couple of others still closing; a leak
// per request would be thousands.
const (
	dbFDSlack    = 16
	otherFDSlack = 2
)

// fdLeak says which kinds of fds lodged holds more of after than before,
// and whether that is beyond the slack above ("" when it is not).
func fdLeak(before, after stats) (growth string, leak bool) {
	var db, other int
	var parts []string
	for kind, n := range after.FDKinds {
		if d := n - before.FDKinds[kind]; d > 0 {
			parts = append(parts, fmt.Sprintf("%s +%d", kind, d))
			if strings.Contains(kind, "/database/") {
				db += d
			} else {
				other += d
			}
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ", "), db > dbFDSlack || other > otherFDSlack
}

// TestLoad: STRESS_CLIENTS clients (32) for STRESS_DURATION (5m) launch,
// exec, push files, list, snapshot and delete busybox containers, each
// client on its own containers, so every request should succeed. Then
// nothing may be left: goroutines, fds, veths, mounts, cgroups are back to
// where they were, and the database passes SQLite's checks.
func TestLoad(t *testing.T) {
	needStress(t)
	dur := envDuration("STRESS_DURATION", 5*time.Minute)
	clients := envInt("STRESS_CLIENTS", 32)
	d := newDaemon(t, stateDir(t))
	d.mustLodge("image", "build", "busybox", "--alias", "busybox")
	// One launch and delete first, so that one-time setup (the image
	// volume, lxcfs, the network) is not counted as a leak.
	if err := d.launch("warmup"); err != nil {
		t.Fatal(err)
	}
	if err := d.forceDelete("warmup"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	d.tr.CloseIdleConnections()
	hostBefore, before := countHost(), d.stats()

	var requests, failed atomic.Int64
	var mu sync.Mutex
	var failures []string
	counts := map[string]*atomic.Int64{}
	for _, k := range []string{"launch", "exec", "push", "list", "snapshot", "delete"} {
		counts[k] = new(atomic.Int64)
	}
	deadline := time.Now().Add(dur)
	var wg sync.WaitGroup
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(w) + time.Now().UnixNano()))
			var mine []string
			n, snaps := 0, 0
			do := func(kind string, err error) bool {
				requests.Add(1)
				counts[kind].Add(1)
				if err != nil {
					failed.Add(1)
					mu.Lock()
					if len(failures) < 20 {
						failures = append(failures, fmt.Sprintf("client %d %s: %v", w, kind, err))
					}
					mu.Unlock()
					return false
				}
				return true
			}
			for time.Now().Before(deadline) {
				op := rng.Intn(10)
				switch {
				case len(mine) == 0 || op == 0 && len(mine) < 3:
					n++
					name := fmt.Sprintf("w%d-%d", w, n)
					if do("launch", d.launch(name)) {
						mine = append(mine, name)
					}
				case op < 3:
					do("exec", d.exec(mine[rng.Intn(len(mine))], "true"))
				case op < 5:
					do("push", d.push(mine[rng.Intn(len(mine))], "/tmp/f"+fmt.Sprint(rng.Intn(5)), []byte(strings.Repeat("x", rng.Intn(64<<10)))))
				case op < 7:
					_, err := d.call("GET", "/1.0/instances?recursion=2", nil)
					do("list", err)
				case op < 9:
					snaps++
					_, err := d.call("POST", "/1.0/instances/"+mine[rng.Intn(len(mine))]+"/snapshots", map[string]any{"name": fmt.Sprintf("s%d", snaps)})
					do("snapshot", err)
				default:
					i := rng.Intn(len(mine))
					if do("delete", d.forceDelete(mine[i])) {
						mine = append(mine[:i], mine[i+1:]...)
					}
				}
			}
			for _, m := range mine {
				do("delete", d.forceDelete(m))
			}
		}(w)
	}
	wg.Wait()

	// Leaks: what the load created must be gone. Connections and helper
	// processes take a moment to wind down: wait up to 15 s for the counts
	// to settle before calling anything left a leak.
	d.tr.CloseIdleConnections()
	var hostAfter hostCounts
	var after stats
	for i := 0; i < 30; i++ {
		time.Sleep(500 * time.Millisecond)
		d.tr.CloseIdleConnections()
		hostAfter, after = countHost(), d.stats()
		d.tr.CloseIdleConnections()
		if _, leak := fdLeak(before, after); after.Goroutines <= before.Goroutines+10 && !leak && !hostAfter.more(hostBefore) {
			break
		}
	}
	var per []string
	for k, c := range counts {
		per = append(per, fmt.Sprintf("%s %d", k, c.Load()))
	}
	sort.Strings(per)
	fmt.Printf("stress load: %d clients for %s: %d requests (%s), %d failed\n", clients, dur, requests.Load(), strings.Join(per, ", "), failed.Load())
	growth, fdLeaked := fdLeak(before, after)
	if growth == "" {
		growth = "none"
	}
	fmt.Printf("stress load: before/after: goroutines %d/%d, fds %d/%d (more: %s), veths %d/%d, mounts %d/%d, cgroups %d/%d, db %s\n",
		before.Goroutines, after.Goroutines, before.FDs, after.FDs, growth, hostBefore.veths, hostAfter.veths,
		hostBefore.mounts, hostAfter.mounts, hostBefore.cgroups, hostAfter.cgroups, after.DBIntegrity)
	if failed.Load() > 0 {
		t.Errorf("%d of %d requests failed; first ones:\n%s", failed.Load(), requests.Load(), strings.Join(failures, "\n"))
	}
	if names := d.names(); len(names) != 0 {
		t.Errorf("instances left after every client deleted its own: %v", names)
	}
	if after.Goroutines > before.Goroutines+10 {
		t.Errorf("goroutine leak: %d before, %d after", before.Goroutines, after.Goroutines)
	}
	if fdLeaked {
		t.Errorf("fd leak: %d before, %d after; more of: %s", before.FDs, after.FDs, growth)
	}
	if hostAfter.more(hostBefore) {
		t.Errorf("host resources not returned: before %+v, after %+v", hostBefore, hostAfter)
	}
	if after.OperationsRunning != 0 {
		t.Errorf("%d operations still running", after.OperationsRunning)
	}
	if after.DBIntegrity != "ok" {
		t.Errorf("database: %s", after.DBIntegrity)
	}
}

// TestCrash: CRASH_ROUNDS (100) times, start an operation, SIGKILL lodged at
// a random moment within it, restart it, and check that nothing was lost
// or left half-made: the containers that ran still run, every record has
// its liblxc config and volume and every volume its record, the database
// is sound, and nothing needs repair by hand.
func TestCrash(t *testing.T) {
	needStress(t)
	rounds := envInt("CRASH_ROUNDS", 100)
	dir := stateDir(t)
	d := newDaemon(t, dir)
	d.mustLodge("image", "build", "busybox", "--alias", "busybox")
	for i := 0; i < 3; i++ {
		if err := d.launch(fmt.Sprintf("keep%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	next := 0
	lost, halfMade, survived := 0, 0, 0
	// The operations the rounds' requests were given, and what became of them.
	opsSeen, opsMarkedFailed, opsEndedBefore := 0, 0, 0
	ops := map[string]int{}
	for round := 0; round < rounds && !t.Failed(); round++ {
		names := d.names()
		running := map[string]bool{}
		for _, n := range names {
			if d.status(n) == "Running" {
				running[n] = true
			}
		}
		// Keep the population small: mostly launches while few, deletes when many.
		kinds := []string{"launch", "exec", "push", "stop", "start", "snapshot", "copy", "delete"}
		kind := kinds[rng.Intn(len(kinds))]
		if len(names) < 4 {
			kind = "launch"
		} else if len(names) > 8 {
			kind = "delete"
		}
		var target string
		var candidates []string
		for _, n := range names {
			if !strings.HasPrefix(n, "keep") {
				candidates = append(candidates, n)
			}
		}
		if len(candidates) > 0 {
			target = candidates[rng.Intn(len(candidates))]
		} else if kind != "launch" {
			kind = "launch"
		}
		ops[kind]++
		next++
		fresh := fmt.Sprintf("c%d", next)
		done := make(chan struct{})
		// rd is d noting the operations its replies name (a request killed
		// before its operation was made names none).
		var roundOps []string
		rd := *d
		rd.onOp = func(url string) { roundOps = append(roundOps, url) }
		go func() {
			defer close(done)
			switch kind {
			case "launch":
				rd.launch(fresh)
			case "exec":
				rd.exec(target, "sh", "-c", "echo hi > /tmp/x")
			case "push":
				rd.push(target, "/tmp/big", make([]byte, 8<<20))
			case "stop":
				rd.call("PUT", "/1.0/instances/"+target+"/state", map[string]any{"action": "stop", "force": true, "timeout": -1})
			case "start":
				rd.call("PUT", "/1.0/instances/"+target+"/state", map[string]any{"action": "start", "timeout": -1})
			case "snapshot":
				rd.call("POST", "/1.0/instances/"+target+"/snapshots", map[string]any{"name": fmt.Sprintf("s%d", next)})
			case "copy":
				rd.call("POST", "/1.0/instances", map[string]any{"name": fresh, "source": map[string]any{"type": "copy", "source": target}})
			case "delete":
				rd.forceDelete(target)
			}
		}()
		time.Sleep(time.Duration(rng.Intn(400)) * time.Millisecond)
		d.kill()
		<-done
		d.start()

		// Every operation the round was given has ended: before the kill,
		// or marked failed by the restart. None is unknown or still running.
		for _, url := range roundOps {
			opsSeen++
			env, err := d.call("GET", url, nil)
			if err != nil {
				t.Errorf("round %d (%s of %s): operation %s after the restart: %v", round, kind, target, url, err)
				continue
			}
			var op struct {
				StatusCode int    `json:"status_code"`
				Err        string `json:"err"`
			}
			json.Unmarshal(env.Metadata, &op)
			switch {
			case op.StatusCode < 200:
				t.Errorf("round %d (%s of %s): operation %s is still %d after the restart", round, kind, target, url, op.StatusCode)
			case op.StatusCode == 400 && strings.HasPrefix(op.Err, "lodged stopped while this operation was running"):
				opsMarkedFailed++
			default:
				opsEndedBefore++
			}
		}

		// The operation's own targets may have changed; everything else
		// must be as it was.
		after := d.names()
		have := map[string]bool{}
		for _, n := range after {
			have[n] = true
		}
		for _, n := range names {
			if !have[n] && !(kind == "delete" && n == target) {
				lost++
				t.Errorf("round %d (%s of %s): instance %s was lost", round, kind, target, n)
			}
			if running[n] && !((kind == "delete" || kind == "stop") && n == target) {
				if st := d.status(n); st != "Running" {
					t.Errorf("round %d (%s of %s): %s was running and is %s after the restart", round, kind, target, n, st)
				}
			}
		}
		if problems := consistency(d, after); len(problems) > 0 {
			halfMade += len(problems)
			t.Errorf("round %d (%s of %s/%s): %s", round, kind, target, fresh, strings.Join(problems, "; "))
		}
		if st := d.stats(); st.DBIntegrity != "ok" {
			t.Fatalf("round %d: database: %s", round, st.DBIntegrity)
		}
		// A running container still answers (not the one a stop or delete
		// of this round may still be taking down).
		for n := range running {
			if n == target && (kind == "stop" || kind == "delete") {
				continue
			}
			if have[n] && d.status(n) == "Running" {
				if err := d.exec(n, "true"); err != nil {
					// liblxc's own word on the state (a freeze left half-done
					// reads as running in the API but FREEZING here).
					info, _ := exec.Command("lxc-info", "-s", "-P", filepath.Join(d.dir, "containers"), "-n", n).CombinedOutput()
					t.Errorf("round %d (%s of %s): exec in %s after the restart: %v (lxc-info: %s)", round, kind, target, n, err, strings.Join(strings.Fields(string(info)), " "))
				}
				break
			}
		}
		survived++
	}
	fmt.Printf("stress crash: %d rounds of SIGKILL during an operation survived (%v); records lost: %d, half-made left behind: %d; "+
		"operations in flight marked failed: %d, ended before the kill: %d (of %d the requests were given)\n",
		survived, ops, lost, halfMade, opsMarkedFailed, opsEndedBefore, opsSeen)
}

// consistency compares the records with liblxc's configs and the pools'
// volumes: each must have the other.
func consistency(d *daemon, names []string) []string {
	var problems []string
	have := map[string]bool{}
	for _, n := range names {
		have[n] = true
	}
	configs := map[string]bool{}
	ents, _ := os.ReadDir(filepath.Join(d.dir, "containers"))
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(d.dir, "containers", e.Name(), "config")); err == nil {
			configs[e.Name()] = true
		}
	}
	for n := range configs {
		if !have[n] {
			problems = append(problems, "liblxc config without a record: "+n)
		}
	}
	for n := range have {
		if !configs[n] {
			problems = append(problems, "record without a liblxc config: "+n)
		}
	}
	vols, _ := filepath.Glob(filepath.Join(d.dir, "storage-pools", "*", "containers", "*"))
	seen := map[string]bool{}
	for _, v := range vols {
		n := filepath.Base(v)
		seen[n] = true
		if !have[n] {
			problems = append(problems, "volume without a record: "+v)
		}
	}
	for n := range have {
		if len(vols) > 0 && !seen[n] {
			problems = append(problems, "record without a volume: "+n)
		}
	}
	return problems
}

// TestDiskFull: the state directory on a small filesystem that fills up
// during an image import and during a file push. Both fail with an error
// that says so, nothing half-written stays, the database still opens and
// lodged still serves; once space is back, everything works again.
func TestDiskFull(t *testing.T) {
	needStress(t)
	work := stateDir(t)
	img := filepath.Join(work, "small.img")
	mnt := filepath.Join(work, "state")
	os.Mkdir(mnt, 0o711)
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v %s", name, args, err, out)
		}
	}
	run("truncate", "-s", "160M", img)
	run("mkfs.ext4", "-q", "-F", img)
	run("mount", "-o", "loop", img, mnt)
	t.Cleanup(func() {
		exec.Command("umount", "-l", mnt).Run()
	})
	d := newDaemon(t, mnt)
	d.mustLodge("image", "build", "busybox", "--alias", "busybox")
	if err := d.launch("df1"); err != nil {
		t.Fatal(err)
	}
	if err := d.push("df1", "/root/keep", []byte("old content")); err != nil {
		t.Fatal(err)
	}
	free := func() uint64 {
		var st syscall.Statfs_t
		syscall.Statfs(mnt, &st)
		return st.Bavail * uint64(st.Bsize)
	}
	freeBefore := free()

	// An image import larger than the disk.
	big := filepath.Join(work, "big.bin")
	f, _ := os.Create(big)
	f.Truncate(0)
	buf := make([]byte, 1<<20)
	for i := 0; i < 200; i++ {
		crand.Read(buf)
		f.Write(buf)
	}
	f.Close()
	out, err := d.lodge("image", "import", big, "--alias", "toobig")
	if err == nil {
		t.Fatalf("an import larger than the disk succeeded: %s", out)
	}
	if !strings.Contains(err.Error(), "no space left") {
		t.Errorf("import on a full disk: the error does not say the disk is full: %v", err)
	}
	t.Logf("import on a full disk: %v", err)

	// A push larger than the disk leaves the old file as it was.
	data, _ := os.ReadFile(big)
	err = d.push("df1", "/root/keep", data)
	if err == nil || !strings.Contains(err.Error(), "no space left") || !strings.Contains(err.Error(), " 507 ") {
		t.Errorf("push on a full disk: %v", err)
	}
	t.Logf("push on a full disk: %.200v", err)
	if out, err := d.lodge("file", "pull", "df1/root/keep", "-"); err != nil || out != "old content" {
		t.Errorf("the file a failed push was replacing: %q %v", out, err)
	}
	// Nothing half-written holds the space.
	if got := free(); got+8<<20 < freeBefore {
		t.Errorf("free space %d MiB after the failures, %d MiB before: something half-written stayed", got>>20, freeBefore>>20)
	}
	if st := d.stats(); st.DBIntegrity != "ok" {
		t.Errorf("database after the disk filled: %s", st.DBIntegrity)
	}
	// lodged still serves, and survives a restart with the disk nearly full.
	if _, err := d.lodge("list"); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(mnt, "filler")
	exec.Command("fallocate", "-l", fmt.Sprint(free()-2<<20), filler).Run()
	d.kill()
	d.start()
	if err := d.exec("df1", "true"); err != nil {
		t.Errorf("exec with the disk full, after a restart: %v", err)
	}
	if err := d.launch("df2"); err == nil {
		t.Logf("a launch with 2 MiB free succeeded")
	} else {
		t.Logf("launch with the disk full: %v", err)
	}
	os.Remove(filler)
	if err := d.launch("df3"); err != nil {
		t.Errorf("launch once space is back: %v", err)
	}
	fmt.Printf("stress disk full: import and push failed cleanly, database ok, lodged served throughout; records lost: 0\n")
}
