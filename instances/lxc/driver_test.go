//go:build linux && cgo

package lxc

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	golxc "github.com/lxc/go-lxc"

	"lodge/instances"
	"lodge/test/gate"
)

// The test binary doubles as the forkstart/forkexecd helper.
func TestMain(m *testing.M) {
	if handled, code := HelperMain(os.Args[1:]); handled {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// needRoot skips integration tests unless asked for and possible: they
// start real containers.
func needRoot(tb testing.TB) {
	tb.Helper()
	gate.Integration(tb, "starts real containers")
	if _, err := os.Stat("/bin/busybox"); err != nil {
		tb.Fatal("integration test: needs /bin/busybox from Debian's busybox-static (scripts/setup-host.sh installs it)")
	}
}

const testInittab = `::sysinit:/etc/init.d/rcS
::shutdown:/bin/umount -a -r
`

const testRcS = `#!/bin/sh
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sysfs /sys 2>/dev/null
mount -t tmpfs tmpfs /run 2>/dev/null
ip link set lo up
echo lodge-test-booted
`

// busyboxRootfs builds a tiny busybox system in a temporary directory:
// busybox init (halts on SIGUSR2) with a sysinit script and nothing to
// respawn, so init stays up doing nothing.
func busyboxRootfs(tb testing.TB) string {
	tb.Helper()
	root := filepath.Join(tb.TempDir(), "rootfs")
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "etc/init.d", "proc", "sys", "dev", "run", "root", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(root, "tmp"), 0o1777)
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), bb, 0o755); err != nil {
		tb.Fatal(err)
	}
	out, err := exec.Command("/bin/busybox", "--list-full").Output()
	if err != nil {
		tb.Fatal(err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "bin/busybox" {
			continue
		}
		target, _ := filepath.Rel(filepath.Dir("/"+p), "/bin/busybox")
		os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
		if err := os.Symlink(target, filepath.Join(root, p)); err != nil && !os.IsExist(err) {
			tb.Fatal(err)
		}
	}
	for name, body := range map[string]string{
		"etc/inittab":    testInittab,
		"etc/init.d/rcS": testRcS,
		"etc/passwd":     "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":      "root:x:0:\nnogroup:x:65534:\n",
	} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	return root
}

func testDriver(tb testing.TB, lxcpath string) *Driver {
	tb.Helper()
	d, err := New(lxcpath, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	// The test binary is the helper (see TestMain); os.Executable already
	// says so, but tests set it explicitly as lodged's callers may.
	d.Helper, _ = os.Executable()
	return d
}

// cleanupContainer kills and forgets a container whatever state a failed
// test left it in.
func cleanupContainer(tb testing.TB, lxcpath, name string) {
	tb.Cleanup(func() {
		if c, err := golxc.NewContainer(name, lxcpath); err == nil {
			if c.Running() {
				_ = c.Stop()
			}
			golxc.Release(c)
		}
		os.RemoveAll(filepath.Join(lxcpath, name))
	})
}

// runningBusybox defines and starts a busybox container and returns its driver.
func runningBusybox(tb testing.TB, name string) *Driver {
	tb.Helper()
	needRoot(tb)
	lxcpath := tb.TempDir()
	d := testDriver(tb, lxcpath)
	cleanupContainer(tb, lxcpath, name)
	ctx := context.Background()
	if err := d.Define(ctx, instances.Spec{Name: name, Rootfs: busyboxRootfs(tb), Init: "busybox"}); err != nil {
		tb.Fatal(err)
	}
	if err := d.Start(ctx, name); err != nil {
		tb.Fatal(err)
	}
	waitBooted(tb, d, name)
	return d
}

// waitBooted waits for the test rootfs's rcS to have run: Start returns
// once init runs, not once the system it starts is up.
func waitBooted(tb testing.TB, d *Driver, name string) {
	tb.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if log, _ := d.ConsoleLog(context.Background(), name, 4096); strings.Contains(log, "lodge-test-booted") {
			return
		}
	}
	tb.Fatalf("%s: rcS did not run within 30 s", name)
}

type execResult struct {
	stdout, stderr string
	code           int
}

func run(t testing.TB, d *Driver, name string, argv ...string) execResult {
	t.Helper()
	outR, outW, _ := os.Pipe()
	errR, errW, _ := os.Pipe()
	devnull, _ := os.Open(os.DevNull)
	defer devnull.Close()
	p, err := d.Exec(context.Background(), name, instances.ExecSpec{Argv: argv, Env: []string{"PATH=/bin:/sbin:/usr/bin", "FOO=bar"}, Cwd: "/",
		Stdin: devnull, Stdout: outW, Stderr: errW})
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		t.Fatal(err)
	}
	var stdout, stderr []byte
	done := make(chan struct{})
	go func() { stderr, _ = io.ReadAll(errR); close(done) }()
	stdout, _ = io.ReadAll(outR)
	<-done
	outR.Close()
	errR.Close()
	code, err := p.Wait(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return execResult{string(stdout), string(stderr), code}
}

func TestBusyboxLifecycle(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	lxcpath := t.TempDir()
	d := testDriver(t, lxcpath)
	name := "t-lxc-life"
	cleanupContainer(t, lxcpath, name)

	if _, err := d.State(ctx, name); !errors.Is(err, instances.ErrNotFound) {
		t.Fatalf("state of an undefined container: %v", err)
	}
	if err := d.Define(ctx, instances.Spec{Name: name, Rootfs: busyboxRootfs(t), Init: "busybox"}); err != nil {
		t.Fatal(err)
	}
	if err := d.Define(ctx, instances.Spec{Name: name, Rootfs: "/nonexistent", Config: map[string]string{"raw.lxc": "lxc.no.such.key = 1"}}); !errors.Is(err, instances.ErrInvalid) {
		t.Fatalf("bad raw.lxc accepted: %v", err)
	}
	if _, err := d.Exec(ctx, name, instances.ExecSpec{Argv: []string{"true"}}); !errors.Is(err, instances.ErrNotRunning) {
		t.Fatalf("exec on stopped: %v", err)
	}
	if err := d.Stop(ctx, name, time.Second, false); !errors.Is(err, instances.ErrNotRunning) {
		t.Fatalf("stop stopped: %v", err)
	}
	if st, err := d.State(ctx, name); err != nil || st.Status != instances.StatusStopped || st.PID != 0 {
		t.Fatalf("state before start: %+v %v", st, err)
	}

	start := time.Now()
	if err := d.Start(ctx, name); err != nil {
		t.Fatal(err)
	}
	t.Logf("Start to RUNNING (incl. the watch of init): %s", time.Since(start))
	waitBooted(t, d, name)
	if err := d.Start(ctx, name); !errors.Is(err, instances.ErrBusy) {
		t.Fatalf("second start: %v", err)
	}
	st, err := d.State(ctx, name)
	if err != nil || st.Status != instances.StatusRunning || st.PID <= 0 {
		t.Fatalf("state: %+v %v", st, err)
	}
	if st.Processes < 1 || st.MemoryUsed <= 0 {
		t.Errorf("state lacks cgroup figures: %+v", st)
	}
	if lo, ok := st.Interfaces["lo"]; !ok || !lo.Up || len(lo.Addresses) == 0 {
		t.Fatalf("interfaces read from the netns lack an up lo with addresses: %+v", st.Interfaces)
	}
	if sts := d.States(ctx, []string{name, "t-lxc-missing"}); sts[name].Status != instances.StatusRunning || sts[name].PID != st.PID || len(sts) != 1 {
		t.Fatalf("batch states while running: %+v", sts)
	}
	if sts := d.Statuses(ctx, []string{name, "t-lxc-missing"}); sts[name] != instances.StatusRunning || len(sts) != 1 {
		t.Fatalf("batch statuses while running: %+v", sts)
	}
	if r := run(t, d, name, "hostname"); strings.TrimSpace(r.stdout) != name {
		t.Fatalf("hostname: %+v", r)
	}
	if log, err := d.ConsoleLog(ctx, name, 4096); err != nil || !strings.Contains(log, "lodge-test-booted") {
		t.Errorf("console log lacks the boot message: %q %v", log, err)
	}

	if err := d.Freeze(ctx, name); err != nil {
		t.Fatal(err)
	}
	if st, _ := d.State(ctx, name); st.Status != instances.StatusFrozen {
		t.Fatalf("after freeze: %+v", st)
	}
	if err := d.Unfreeze(ctx, name); err != nil {
		t.Fatal(err)
	}
	if st, _ := d.State(ctx, name); st.Status != instances.StatusRunning {
		t.Fatalf("after unfreeze: %+v", st)
	}

	if err := d.Delete(ctx, name); !errors.Is(err, instances.ErrBusy) {
		t.Fatalf("delete running: %v", err)
	}
	start = time.Now()
	if err := d.Stop(ctx, name, 20*time.Second, false); err != nil {
		t.Fatal(err)
	}
	t.Logf("graceful stop (busybox init, SIGUSR2): %s", time.Since(start))
	if time.Since(start) > 10*time.Second {
		t.Errorf("busybox did not halt on its halt signal (stop took %s)", time.Since(start))
	}
	if st, _ := d.State(ctx, name); st.Status != instances.StatusStopped {
		t.Fatalf("after stop: %+v", st)
	}
	if sts := d.States(ctx, []string{name}); sts[name].Status != instances.StatusStopped {
		t.Fatalf("batch states after stop: %+v", sts)
	}
	if sts := d.Statuses(ctx, []string{name}); sts[name] != instances.StatusStopped {
		t.Fatalf("batch statuses after stop: %+v", sts)
	}
	if err := d.Stop(ctx, name, time.Second, false); !errors.Is(err, instances.ErrNotRunning) {
		t.Fatalf("stop stopped: %v", err)
	}
	if err := d.Freeze(ctx, name); !errors.Is(err, instances.ErrNotRunning) {
		t.Fatalf("freeze stopped: %v", err)
	}

	// Restart, then force stop.
	if err := d.Start(ctx, name); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if err := d.Stop(ctx, name, 0, true); err != nil {
		t.Fatal(err)
	}
	t.Logf("forced stop: %s", time.Since(start))
	if st, _ := d.State(ctx, name); st.Status != instances.StatusStopped {
		t.Fatalf("after forced stop: %+v", st)
	}

	rootfs := strings.TrimPrefix(mustConfigItem(t, lxcpath, name, "lxc.rootfs.path"), "dir:")
	if err := d.Delete(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, err := d.State(ctx, name); !errors.Is(err, instances.ErrNotFound) {
		t.Fatalf("state after delete: %v", err)
	}
	if _, err := os.Stat(filepath.Join(rootfs, "bin/busybox")); err != nil {
		t.Fatalf("delete touched the rootfs: %v", err)
	}
	if names, _ := d.List(ctx); len(names) != 0 {
		t.Fatalf("list after delete: %v", names)
	}
}

func mustConfigItem(t *testing.T, lxcpath, name, key string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(lxcpath, name, "config"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("config has no %s", key)
	return ""
}

func TestExec(t *testing.T) {
	d := runningBusybox(t, "t-lxc-exec")
	name := "t-lxc-exec"
	ctx := context.Background()

	if r := run(t, d, name, "sh", "-c", "echo out; echo err >&2; exit 7"); r.stdout != "out\n" || r.stderr != "err\n" || r.code != 7 {
		t.Fatalf("exit code and separate stderr: %+v", r)
	}
	if r := run(t, d, name, "sh", "-c", "echo $FOO $PATH; pwd; id -u"); r.stdout != "bar /bin:/sbin:/usr/bin\n/\n0\n" || r.code != 0 {
		t.Fatalf("env, cwd, uid: %+v", r)
	}
	// The environment is exactly Spec.Env: nothing of ours leaks in.
	if r := run(t, d, name, "env"); strings.Contains(r.stdout, "LODGE_INTEGRATION") || !strings.Contains(r.stdout, "FOO=bar") {
		t.Fatalf("env leaks or lacks: %q", r.stdout)
	}
	r := run(t, d, name, "no-such-command")
	if r.code != 127 {
		t.Fatalf("missing command: %+v, want exit 127", r)
	}
	t.Logf("missing command: exit %d, stderr %q", r.code, r.stderr)

	// Another uid/gid and cwd.
	outR, outW, _ := os.Pipe()
	p, err := d.Exec(ctx, name, instances.ExecSpec{Argv: []string{"sh", "-c", "id -u; id -g; pwd"}, Cwd: "/tmp", UID: 65534, GID: 65534,
		Env: []string{"PATH=/bin"}, Stdout: outW, Stderr: outW})
	outW.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(outR)
	outR.Close()
	if code, _ := p.Wait(ctx); code != 0 || string(out) != "65534\n65534\n/tmp\n" {
		lg, _ := os.ReadFile(filepath.Join(d.dir(name), "lxc.log"))
		t.Fatalf("uid/gid/cwd: %d %q %s", code, out, lg)
	}

	// Signals go to the process in the container: SIGTERM kills sleep, 128+15.
	p, err = d.Exec(ctx, name, instances.ExecSpec{Argv: []string{"sleep", "30"}, Env: []string{"PATH=/bin"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.PID() <= 0 {
		t.Fatalf("pid %d", p.PID())
	}
	// PID is the attached process itself; it may not have exec'd sleep yet.
	var comm []byte
	for i := 0; i < 100; i++ {
		if comm, _ = os.ReadFile("/proc/" + strconv.Itoa(p.PID()) + "/comm"); strings.TrimSpace(string(comm)) == "sleep" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.TrimSpace(string(comm)) != "sleep" {
		t.Fatalf("PID() %d is %q, not the sleep", p.PID(), comm)
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if code, err := p.Wait(wctx); code != 143 || err != nil {
		t.Fatalf("sleep killed by SIGTERM: %d %v, want 143", code, err)
	}
	// Wait may be called again and says the same.
	if code, _ := p.Wait(ctx); code != 143 {
		t.Fatalf("second wait: %d", code)
	}

	// A Wait whose context ends kills the process.
	p, err = d.Exec(ctx, name, instances.ExecSpec{Argv: []string{"sleep", "30"}, Env: []string{"PATH=/bin"}})
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel2 := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel2()
	if code, err := p.Wait(cctx); !errors.Is(err, context.DeadlineExceeded) || code != 137 {
		t.Fatalf("wait with expired context: %d %v", code, err)
	}
}

// readTTY reads what the process writes to the master until it closes.
func readTTY(master *os.File) string {
	var b strings.Builder
	sc := bufio.NewReader(master)
	for {
		line, err := sc.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return b.String()
		}
	}
}

func TestExecTTY(t *testing.T) {
	d := runningBusybox(t, "t-lxc-tty")
	name := "t-lxc-tty"
	ctx := context.Background()

	master, slave, err := d.OpenPTY(ctx, name, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	// tty names the terminal from the container's own devpts; the stat
	// fields say the process has it as its controlling terminal (tty_nr
	// non-zero) and leads its own process group in the foreground (tpgid
	// is its pgrp), which is what a shell's job control needs.
	script := `tty; set -- $(cat /proc/self/stat); echo "tty_nr=$7 pgrp=$5 tpgid=$8"; [ -t 0 ] && echo stdin-is-tty`
	p, err := d.Exec(ctx, name, instances.ExecSpec{Argv: []string{"sh", "-c", script}, Env: []string{"PATH=/bin", "TERM=xterm"},
		Stdin: slave, Stdout: slave, Stderr: slave, TTY: true})
	slave.Close()
	if err != nil {
		t.Fatal(err)
	}
	out := readTTY(master)
	if code, _ := p.Wait(ctx); code != 0 {
		t.Fatalf("exit %d: %q", code, out)
	}
	lines := strings.Split(strings.ReplaceAll(out, "\r", ""), "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "/dev/pts/") || !strings.Contains(out, "stdin-is-tty") || strings.Contains(out, "tty_nr=0 ") {
		t.Fatalf("tty exec output: %q", out)
	}
	t.Logf("tty exec: %q", out)

	// An interactive shell gets job control: it would say "can't access
	// tty; job control turned off" otherwise.
	master, slave, err = d.OpenPTY(ctx, name, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	p, err = d.Exec(ctx, name, instances.ExecSpec{Argv: []string{"sh", "-i"}, Env: []string{"PATH=/bin", "TERM=dumb", "PS1=$ "},
		Stdin: slave, Stdout: slave, Stderr: slave, TTY: true})
	slave.Close()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(master, "sleep 30 &\njobs\nkill %1; echo kill=$?\nwait\nexit 3\n")
	out = readTTY(master)
	if code, _ := p.Wait(ctx); code != 3 {
		t.Fatalf("sh -i exit %d: %q", code, out)
	}
	if strings.Contains(out, "job control turned off") || !strings.Contains(out, "sleep 30") {
		t.Fatalf("sh -i has no job control: %q", out)
	}
}

// The container's monitor is not our child and the container outlives the
// driver (and process) that started it.
func TestContainerOutlivesStarter(t *testing.T) {
	d := runningBusybox(t, "t-lxc-orphan")
	name := "t-lxc-orphan"
	ctx := context.Background()
	st, err := d.State(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	monitor := ppid(t, st.PID)
	if monitor == os.Getpid() {
		t.Fatalf("init's parent is the test process")
	}
	if pp := ppid(t, monitor); pp == os.Getpid() {
		t.Fatalf("the monitor %d is a child of the test process", monitor)
	}
	// A fresh driver (as after a lodged restart) finds it running.
	d2, err := New(d.lxcpath, nil)
	if err != nil {
		t.Fatal(err)
	}
	if names, _ := d2.List(ctx); len(names) != 1 || names[0] != name {
		t.Fatalf("list: %v", names)
	}
	if st2, _ := d2.State(ctx, name); st2.PID != st.PID || st2.Status != instances.StatusRunning {
		t.Fatalf("second driver sees %+v, want pid %d", st2, st.PID)
	}
	// And lxc-ls on the lxcpath shows it.
	if out, err := exec.Command("lxc-ls", "-P", d.lxcpath, "--running").Output(); err == nil && !strings.Contains(string(out), name) {
		t.Fatalf("lxc-ls --running: %q", out)
	}
}

func ppid(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	n, _ := strconv.Atoi(f[1])
	return n
}

func TestStartFailureShowsLog(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	lxcpath := t.TempDir()
	d := testDriver(t, lxcpath)
	name := "t-lxc-noinit"
	cleanupContainer(t, lxcpath, name)
	rootfs := t.TempDir() // empty: no /sbin/init to run
	if err := d.Define(ctx, instances.Spec{Name: name, Rootfs: rootfs}); err != nil {
		t.Fatal(err)
	}
	err := d.Start(ctx, name)
	if err == nil || !strings.Contains(err.Error(), `container "t-lxc-noinit": start`) {
		t.Fatalf("start of a rootfs without init: %v", err)
	}
	t.Logf("start error: %v", err)
}

// The exec request reaches the helper on a pipe: its environment (which may
// hold secrets) is not on the helper's command line for anyone to read.
func TestExecRequestNotOnCommandLine(t *testing.T) {
	name := "t-lxc-execreq"
	d := runningBusybox(t, name)
	p, err := d.Exec(context.Background(), name, instances.ExecSpec{Argv: []string{"sleep", "5"},
		Env: []string{"PATH=/bin", "TOKEN=s3cr3t-value"}, Cwd: "/"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Signal(syscall.SIGKILL); p.Wait(context.Background()) }()
	// The attached process's parent is the helper, a child of the exec
	// zygote; neither has the request on its command line.
	helper := ppid(t, p.PID())
	for _, pid := range []int{helper, ppid(t, helper)} {
		cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(cmdline), "s3cr3t") || !strings.Contains(string(cmdline), "forkexecd") {
			t.Fatalf("helper %d's command line: %q", pid, cmdline)
		}
	}
	// The pid is the attached process's, which may not have exec'd yet.
	for i := 0; i < 200; i++ {
		if comm, _ := os.ReadFile("/proc/" + strconv.Itoa(p.PID()) + "/comm"); strings.TrimSpace(string(comm)) == "sleep" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	env, _ := os.ReadFile("/proc/" + strconv.Itoa(p.PID()) + "/environ")
	if !strings.Contains(string(env), "TOKEN=s3cr3t-value") {
		t.Fatalf("the process lacks its environment: %q", env)
	}
}

// The exec zygote (zygote.go): a zygote that died is started again by the
// next exec; a helper killed mid-exec ends the Wait with an error instead
// of hanging it; the command inherits none of the helper's own fds.
func TestExecZygote(t *testing.T) {
	name := "t-lxc-zygote"
	d := runningBusybox(t, name)
	ctx := context.Background()
	if r := run(t, d, name, "true"); r.code != 0 {
		t.Fatalf("first exec: %+v", r)
	}
	zpid := func() int {
		p, err := d.Exec(ctx, name, instances.ExecSpec{Argv: []string{"sleep", "30"}, Env: []string{"PATH=/bin"}})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = p.Signal(syscall.SIGKILL); _, _ = p.Wait(ctx) }()
		return ppid(t, ppid(t, p.PID()))
	}
	z := zpid()
	if err := syscall.Kill(z, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100 && syscall.Kill(z, 0) == nil; i++ {
		time.Sleep(10 * time.Millisecond) // until reaped
	}
	if r := run(t, d, name, "sh", "-c", "echo again"); r.code != 0 || r.stdout != "again\n" {
		t.Fatalf("exec after the zygote died: %+v", r)
	}
	if z2 := zpid(); z2 == z {
		t.Fatalf("the zygote %d was not replaced", z)
	}

	// The helper killed: Wait reports it.
	p, err := d.Exec(ctx, name, instances.ExecSpec{Argv: []string{"sleep", "30"}, Env: []string{"PATH=/bin"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(ppid(t, p.PID()), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := p.Wait(wctx); err == nil || wctx.Err() != nil {
		t.Fatalf("wait after the helper died: %v (deadline: %v)", err, wctx.Err())
	}
	_ = p.Signal(syscall.SIGKILL)

	// The command gets its stdio and nothing else of the helper's: not
	// the status pipe (fd 3) a daemon it starts would hold, nor the
	// request (fd 4). ("; true": sh would exec a lone ls, and list the
	// directory ls itself opened.)
	r := run(t, d, name, "sh", "-c", "ls /proc/$$/fd; true")
	if fds := strings.Fields(r.stdout); r.code != 0 || slices.Contains(fds, "3") || slices.Contains(fds, "4") {
		t.Fatalf("the command's fds: %+v", r)
	}
}

// An init that dies right after liblxc reported RUNNING fails the start,
// with its console output, whatever kind of init it is said to be: one
// that exits at once, and one that lives a little first (as systemd does
// before it gives up for want of inotify instances).
func TestStartFailsWhenInitDiesEarly(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	for _, c := range []struct {
		name, init, script string
	}{
		{"t-lxc-die0", "", "echo init-gives-up; exit 1"},
		{"t-lxc-die50", "", "sleep 0.05; echo init-gives-up; exit 1"},
		{"t-lxc-diesd", "systemd", "sleep 0.1; echo init-gives-up; exit 1"},
		{"t-lxc-diebb", "busybox", "echo init-gives-up; exit 1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			lxcpath := t.TempDir()
			d := testDriver(t, lxcpath)
			cleanupContainer(t, lxcpath, c.name)
			rootfs := busyboxRootfs(t)
			initPath := filepath.Join(rootfs, "sbin", "init")
			os.Remove(initPath)
			if err := os.WriteFile(initPath, []byte("#!/bin/sh\n"+c.script+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := d.Define(ctx, instances.Spec{Name: c.name, Rootfs: rootfs, Init: c.init}); err != nil {
				t.Fatal(err)
			}
			err := d.Start(ctx, c.name)
			if err == nil || !strings.Contains(err.Error(), "stopped right after it started") || !strings.Contains(err.Error(), "init-gives-up") {
				t.Fatalf("start of an init that dies: %v", err)
			}
			if st, _ := d.Status(ctx, c.name); st != instances.StatusStopped {
				t.Fatalf("after the failed start: %s", st)
			}
		})
	}
}

// A busybox init that stays up is past its start as soon as it runs its
// first inittab entry: the start succeeds and the watch says why.
func TestWatchSeesBusyboxAlive(t *testing.T) {
	d := runningBusybox(t, "t-lxc-watch")
	st, err := d.State(context.Background(), "t-lxc-watch")
	if err != nil || st.Status != instances.StatusRunning {
		t.Fatalf("state: %+v %v", st, err)
	}
	if got := initKindOf(configValue(d.configPath("t-lxc-watch"), "lxc.signal.halt")); got != initBusybox {
		t.Fatalf("init kind from the config: %v, want busybox", got)
	}
}

// A container defined while lxcfs is still coming up waits for it and gets
// its views: the bind mounts are optional, so one defined before would
// silently get none.
func TestDefineWaitsForLXCFS(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	lxcpath := t.TempDir()
	d := testDriver(t, lxcpath)
	name := "t-lxc-lxcfswait"
	cleanupContainer(t, lxcpath, name)
	d.lxcfsUp = make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- d.Define(ctx, instances.Spec{Name: name, Rootfs: busyboxRootfs(t), Init: "busybox"}) }()
	select {
	case err := <-done:
		t.Fatalf("Define returned before lxcfs was up: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	d.LXCFS = "/run/lodge-test-lxcfs"
	close(d.lxcfsUp)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(d.configPath(name))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cfg), "/run/lodge-test-lxcfs/proc/meminfo proc/meminfo") {
		t.Errorf("config has no lxcfs entries:\n%s", cfg)
	}
}
