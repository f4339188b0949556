// Package integration drives a real lodged, started from the built binaries
// on a temporary state directory, with real liblxc containers. It needs root
// and runs only with LODGE_INTEGRATION=1 (make test-integration).
package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"lodge/test/buildtags"
	"lodge/test/gate"
)

var (
	repoRoot string
	binDir   string
	stateDir string
	daemon   *exec.Cmd
	skipWhy  string
	// defaultNet is the test daemon's default network, never a real lodgebr0.
	defaultNet = fmt.Sprintf("nwit%d", os.Getpid()%100000)
)

func TestMain(m *testing.M) {
	if skipWhy = gate.Main(gate.Env); skipWhy != "" {
		os.Exit(m.Run())
	}
	code := func() int {
		_, file, _, _ := runtime.Caller(0)
		repoRoot = filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
		binDir = filepath.Join(repoRoot, "bin")
		for _, b := range []string{"lodged", "lodge"} {
			cmd := exec.Command("go", "build", "-tags", buildtags.Tags, "-o", filepath.Join(binDir, b), "./cmd/"+b)
			cmd.Dir = repoRoot
			if out, err := cmd.CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "build %s: %v\n%s", b, err, out)
				return 1
			}
		}
		var err error
		stateDir, err = os.MkdirTemp("", "lodge-it-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		logStart := daemonLogSize()
		if err := startDaemon(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer cleanup()
		code := m.Run()
		if code != 0 {
			printDaemonTrouble(logStart)
		}
		return code
	}()
	os.Exit(code)
}

// daemonLog is where the shared test lodged writes (appended to across runs).
func daemonLog() string { return filepath.Join(os.TempDir(), "lodged-it.out") }

func daemonLogSize() int64 {
	if fi, err := os.Stat(daemonLog()); err == nil {
		return fi.Size()
	}
	return 0
}

// printDaemonTrouble prints the warnings and errors the shared lodged
// logged in this run, the last 200 of them: a failed CI run then says what
// the daemon saw, though its log is gone with the machine.
func printDaemonTrouble(from int64) {
	f, err := os.Open(daemonLog())
	if err != nil {
		return
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
			lines = append(lines, l)
		}
	}
	if len(lines) > 200 {
		lines = lines[len(lines)-200:]
	}
	fmt.Fprintf(os.Stderr, "--- the test lodged's warnings and errors in this run (%d shown, all in %s):\n%s\n", len(lines), daemonLog(), strings.Join(lines, "\n"))
}

// cleanup force-deletes every instance and stops the daemon, so a test run
// leaves no containers behind.
func cleanup() {
	if out, err := lodgeOut("list", "--format", "csv", "-c", "n"); err == nil {
		for _, n := range strings.Fields(out) {
			lodgeOut("delete", "-f", n)
		}
	}
	// Pools a failed test left: their loop files are mounted under stateDir.
	if out, err := lodgeOut("storage", "list", "--format", "csv"); err == nil {
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if p := strings.SplitN(l, ",", 2)[0]; p != "" && p != "default" {
				lodgeOut("storage", "delete", p)
			}
		}
	}
	// The default profile holds eth0 on the default network; it goes first.
	lodgeOut("profile", "device", "remove", "default", "eth0")
	lodgeOut("network", "delete", defaultNet)
	stopDaemon(syscall.SIGTERM)
	removeStateDir(stateDir)
	removeDebs()
}

// removeStateDir removes a stopped test daemon's state directory with what
// it leaves mounted: lxcfs, and overlay volumes (mounted after their
// container stops).
func removeStateDir(dir string) {
	stopLXCFS(dir)
	for _, m := range mountsUnder(dir) {
		syscall.Unmount(m, syscall.MNT_DETACH)
	}
	os.RemoveAll(dir)
}

// teardownLodged ends a test's extra lodged whatever the test left: its
// instances are deleted, lodged shuts down (or is killed after 30 s), and
// its state directory goes.
func teardownLodged(dir string, run func(args ...string) (string, error), d *exec.Cmd) {
	if out, err := run("list", "--format", "csv", "-c", "n"); err == nil {
		for _, n := range strings.Fields(out) {
			run("delete", "-f", n)
		}
	}
	exec.Command(filepath.Join(binDir, "lodged"), "--dir", dir, "shutdown", "--timeout", "30").Run()
	done := make(chan struct{})
	go func() { d.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		d.Process.Kill()
		<-done
	}
	removeStateDir(dir)
}

func startDaemon() error {
	logf, err := os.OpenFile(daemonLog(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	daemon = exec.Command(filepath.Join(binDir, "lodged"), "--dir", stateDir, "--debug")
	daemon.Stdout, daemon.Stderr = logf, logf
	daemon.Env = append(os.Environ(), "LODGE_DEFAULT_NETWORK="+defaultNet)
	// Its own process group, as a real daemon would be: containers must not
	// depend on it, and a SIGKILL of it must not reach them.
	daemon.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := daemon.Start(); err != nil {
		return err
	}
	out, err := exec.Command(filepath.Join(binDir, "lodged"), "--dir", stateDir, "waitready", "--timeout", "30").CombinedOutput()
	if err != nil {
		return fmt.Errorf("lodged waitready: %v: %s", err, out)
	}
	return nil
}

// stopDaemonShutdown is `lodged shutdown`, as at a host shutdown: every
// container is stopped cleanly first, then lodged exits.
func stopDaemonShutdown(t *testing.T) {
	t.Helper()
	out, err := exec.Command(filepath.Join(binDir, "lodged"), "--dir", stateDir, "shutdown").CombinedOutput()
	if err != nil {
		t.Fatalf("lodged shutdown: %v %s", err, out)
	}
	daemon.Wait()
	daemon = nil
}

func stopDaemon(sig syscall.Signal) {
	if daemon == nil || daemon.Process == nil {
		return
	}
	daemon.Process.Signal(sig)
	done := make(chan struct{})
	go func() { daemon.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		daemon.Process.Kill()
		<-done
	}
	daemon = nil
}

func needIntegration(t *testing.T) {
	t.Helper()
	if skipWhy != "" {
		t.Skip(skipWhy)
	}
}

func lodgeCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(binDir, "lodge"), args...)
	cmd.Env = append(os.Environ(), "LODGE_DIR="+stateDir)
	return cmd
}

// lodgeOut runs the CLI and returns its stdout; the error carries stderr.
func lodgeOut(args ...string) (string, error) {
	cmd := lodgeCmd(args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("lodge %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

func lodge(t *testing.T, args ...string) string {
	t.Helper()
	out, err := lodgeOut(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// lodgeFail runs the CLI expecting failure and returns stderr.
func lodgeFail(t *testing.T, args ...string) string {
	t.Helper()
	cmd := lodgeCmd(args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil {
		t.Fatalf("lodge %s succeeded, expected failure", strings.Join(args, " "))
	}
	return stderr.String()
}

// apiClient talks to lodged's socket directly for checks the CLI hides.
func apiClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", filepath.Join(stateDir, "unix.socket"))
	}}}
}

type envelope struct {
	Type       string          `json:"type"`
	StatusCode int             `json:"status_code"`
	ErrorCode  int             `json:"error_code"`
	Error      string          `json:"error"`
	Metadata   json.RawMessage `json:"metadata"`
}

func apiDo(t *testing.T, method, path string, body string) (int, envelope) {
	t.Helper()
	req, err := http.NewRequest(method, "http://unix.socket"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := apiClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatalf("%s %s: reply is not JSON: %q", method, path, b)
	}
	return resp.StatusCode, env
}

// ensureImage builds (or reuses from the build cache) an image under alias.
func ensureImage(t *testing.T, kind, alias string) {
	t.Helper()
	if _, err := lodgeOut("image", "info", alias); err == nil {
		return
	}
	args := []string{"image", "build", kind, "--alias", alias}
	if kind == "debian" {
		args = append(args, "--release", "bookworm")
	}
	lodge(t, args...)
}

// instanceState reads status and pid through the API.
func instanceState(t *testing.T, name string) (string, int) {
	t.Helper()
	code, env := apiDo(t, "GET", "/1.0/instances/"+name+"/state", "")
	if code != 200 {
		t.Fatalf("state of %s: %d %s", name, code, env.Error)
	}
	var st struct {
		Status string `json:"status"`
		Pid    int    `json:"pid"`
	}
	json.Unmarshal(env.Metadata, &st)
	return st.Status, st.Pid
}

func waitFor(t *testing.T, what string, timeout time.Duration, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// aLodged is a lodged of a test's own, on its own state directory.
type aLodged struct {
	t   *testing.T
	dir string
	cmd *exec.Cmd
	log *os.File
}

// startLodged starts lodged on dir with --network-name net ("none": no
// default network).
func startLodged(t *testing.T, dir, net string) *aLodged {
	t.Helper()
	return startLodgedVia(t, dir, net)
}

// startLodgedVia is startLodged with lodged run by a command that execs
// it (via: nsenter and its arguments, say).
func startLodgedVia(t *testing.T, dir, net string, via ...string) *aLodged {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(os.TempDir(), "lodged-it-"+filepath.Base(dir)+".out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	argv := append(via, filepath.Join(binDir, "lodged"), "--dir", dir, "--debug", "--network-name", net)
	d := exec.Command(argv[0], argv[1:]...)
	d.Stdout, d.Stderr = logf, logf
	d.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	l := &aLodged{t: t, dir: dir, cmd: d, log: logf}
	if out, err := exec.Command(filepath.Join(binDir, "lodged"), "--dir", dir, "waitready", "--timeout", "30").CombinedOutput(); err != nil {
		l.teardown()
		t.Fatalf("lodged on %s (%s): %v %s", dir, strings.Join(argv, " "), err, out)
	}
	return l
}

func (l *aLodged) run(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(binDir, "lodge"), args...)
	cmd.Env = append(os.Environ(), "LODGE_DIR="+l.dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("lodge(%s) %s: %v: %s", l.dir, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

func (l *aLodged) must(args ...string) string {
	l.t.Helper()
	out, err := l.run(args...)
	if err != nil {
		l.t.Fatal(err)
	}
	return out
}

// shutdown is `lodged shutdown`: containers stop, the bridge stays.
func (l *aLodged) shutdown() {
	if l.cmd == nil {
		return
	}
	exec.Command(filepath.Join(binDir, "lodged"), "--dir", l.dir, "shutdown").Run()
	done := make(chan struct{})
	go func() { l.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		l.cmd.Process.Kill()
		<-done
	}
	l.cmd = nil
}

// teardown deletes what the test left on this lodged, stops it and
// removes its state directory.
func (l *aLodged) teardown() {
	if l.cmd != nil {
		teardownLodged(l.dir, l.run, l.cmd)
		l.cmd = nil
	} else {
		removeStateDir(l.dir)
	}
	l.log.Close()
}
