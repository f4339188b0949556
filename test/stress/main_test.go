// Package stress puts a real lodged under load and faults (make stress):
// many concurrent clients, SIGKILL at random moments, a full disk. It needs
// root and liblxc and runs only with LODGE_STRESS=1; durations and rounds
// come from STRESS_DURATION, STRESS_CLIENTS and CRASH_ROUNDS so that a short
// run fits in CI and a long one in make stress.
package stress

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
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"lodge/test/buildtags"
	"lodge/test/gate"
)

var (
	binDir  string
	skipWhy string
)

func TestMain(m *testing.M) {
	if skipWhy = gate.Main("LODGE_STRESS"); skipWhy == "" {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
		binDir = filepath.Join(root, "bin")
		for _, b := range []string{"lodged", "lodge"} {
			cmd := exec.Command("go", "build", "-tags", buildtags.Tags, "-o", filepath.Join(binDir, b), "./cmd/"+b)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "build %s: %v\n%s", b, err, out)
				os.Exit(1)
			}
		}
	}
	os.Exit(m.Run())
}

func needStress(t *testing.T) {
	t.Helper()
	if skipWhy != "" {
		t.Skip(skipWhy)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// daemon is one lodged on its own state directory.
type daemon struct {
	t   *testing.T
	dir string
	// net is the daemon's default network, named for this test and removed
	// at its end (a lodgebr0 would outlive it).
	net  string
	cmd  *exec.Cmd
	http *http.Client
	tr   *http.Transport
	// onOp, if set, gets the URL of every operation an async reply names.
	onOp func(url string)
}

func newDaemon(t *testing.T, dir string) *daemon {
	d := &daemon{t: t, dir: dir, net: fmt.Sprintf("nwst%d", os.Getpid()%100000)}
	d.tr = &http.Transport{MaxIdleConnsPerHost: 64, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", filepath.Join(dir, "unix.socket"))
	}}
	d.http = &http.Client{Transport: d.tr, Timeout: 120 * time.Second}
	d.start()
	t.Cleanup(func() {
		if t.Failed() {
			// The state dir goes with the test: keep lodged's log for a look.
			keep := filepath.Join(os.TempDir(), fmt.Sprintf("lodge-stress-%s-%d.log", t.Name(), os.Getpid()))
			if b, err := os.ReadFile(filepath.Join(dir, "lodged.log")); err == nil && os.WriteFile(keep, b, 0o644) == nil {
				t.Logf("lodged's log kept in %s", keep)
			}
		}
		// Containers go with the test; the daemon last.
		for _, n := range d.names() {
			d.lodge("delete", "-f", n)
		}
		d.lodge("profile", "device", "remove", "default", "eth0")
		d.lodge("network", "delete", d.net)
		d.kill()
		stopLXCFS(d.dir)
	})
	return d
}

func (d *daemon) start() {
	d.t.Helper()
	d.cmd = exec.Command(filepath.Join(binDir, "lodged"), "--dir", d.dir)
	d.cmd.Env = append(os.Environ(), "LODGE_DEFAULT_NETWORK="+d.net)
	log, _ := os.OpenFile(filepath.Join(d.dir, "lodged.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	d.cmd.Stdout, d.cmd.Stderr = log, log
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	log.Close()
	out, err := exec.Command(filepath.Join(binDir, "lodged"), "--dir", d.dir, "waitready", "--timeout", "60").CombinedOutput()
	if err != nil {
		tail, _ := os.ReadFile(filepath.Join(d.dir, "lodged.out"))
		d.t.Fatalf("lodged did not come up: %v %s\n%s", err, out, lastLines(string(tail), 30))
	}
}

// kill is SIGKILL: no chance to clean up, as a crash or an OOM kill.
func (d *daemon) kill() {
	if d.cmd != nil && d.cmd.Process != nil {
		d.cmd.Process.Kill()
		d.cmd.Wait()
	}
	d.tr.CloseIdleConnections()
}

func (d *daemon) lodge(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(binDir, "lodge"), args...)
	cmd.Env = append(os.Environ(), "LODGE_DIR="+d.dir)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("lodge %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

func (d *daemon) mustLodge(args ...string) string {
	d.t.Helper()
	out, err := d.lodge(args...)
	if err != nil {
		d.t.Fatal(err)
	}
	return out
}

type envelope struct {
	Type       string          `json:"type"`
	StatusCode int             `json:"status_code"`
	ErrorCode  int             `json:"error_code"`
	Error      string          `json:"error"`
	Operation  string          `json:"operation"`
	Metadata   json.RawMessage `json:"metadata"`
}

// call sends a request and, for an async answer, waits for the operation:
// it returns nil only if the whole thing succeeded.
func (d *daemon) call(method, path string, body any) (envelope, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://lodge"+path, rd)
	resp, err := d.http.Do(req)
	if err != nil {
		return envelope{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	var env envelope
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return env, fmt.Errorf("%s %s: status %d, not JSON: %w", method, path, resp.StatusCode, err)
	}
	if env.Type == "error" {
		return env, fmt.Errorf("%s %s: %d %s", method, path, env.ErrorCode, env.Error)
	}
	if env.Type == "async" {
		if d.onOp != nil {
			d.onOp(env.Operation)
		}
		w, err := d.call("GET", env.Operation+"/wait?timeout=120", nil)
		if err != nil {
			return w, err
		}
		var op struct {
			StatusCode int            `json:"status_code"`
			Err        string         `json:"err"`
			Metadata   map[string]any `json:"metadata"`
		}
		json.Unmarshal(w.Metadata, &op)
		if op.StatusCode != 200 {
			return w, fmt.Errorf("%s %s: operation ended %d: %s", method, path, op.StatusCode, op.Err)
		}
		if method == "POST" && strings.HasSuffix(path, "/exec") {
			if rc, ok := op.Metadata["return"].(float64); ok && rc != 0 {
				return w, fmt.Errorf("%s %s: exit code %v", method, path, rc)
			}
		}
		return w, nil
	}
	return env, nil
}

func (d *daemon) names() []string {
	env, err := d.call("GET", "/1.0/instances", nil)
	if err != nil {
		return nil
	}
	var urls []string
	json.Unmarshal(env.Metadata, &urls)
	var out []string
	for _, u := range urls {
		out = append(out, filepath.Base(u))
	}
	return out
}

func (d *daemon) status(name string) string {
	env, err := d.call("GET", "/1.0/instances/"+name+"/state", nil)
	if err != nil {
		return "error: " + err.Error()
	}
	var st struct {
		Status string `json:"status"`
	}
	json.Unmarshal(env.Metadata, &st)
	return st.Status
}

type stats struct {
	Goroutines        int            `json:"goroutines"`
	FDs               int            `json:"fds"`
	FDKinds           map[string]int `json:"fd_kinds"`
	OperationsRunning int            `json:"operations_running"`
	DBIntegrity       string         `json:"db_integrity"`
}

func (d *daemon) stats() stats {
	d.t.Helper()
	env, err := d.call("GET", "/internal/stats", nil)
	if err != nil {
		d.t.Fatal(err)
	}
	var s stats
	json.Unmarshal(env.Metadata, &s)
	return s
}

func (d *daemon) launch(name string) error {
	_, err := d.call("POST", "/1.0/instances", map[string]any{"name": name, "source": map[string]any{"type": "image", "alias": "busybox"}})
	if err != nil {
		return err
	}
	_, err = d.call("PUT", "/1.0/instances/"+name+"/state", map[string]any{"action": "start", "timeout": -1})
	return err
}

func (d *daemon) exec(name string, argv ...string) error {
	_, err := d.call("POST", "/1.0/instances/"+name+"/exec", map[string]any{"command": argv, "wait-for-websocket": false, "interactive": false})
	return err
}

func (d *daemon) push(name, path string, content []byte) error {
	req, _ := http.NewRequest("POST", "http://lodge/1.0/instances/"+name+"/files?path="+path, bytes.NewReader(content))
	resp, err := d.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("push %s%s: %d %s", name, path, resp.StatusCode, b)
	}
	return nil
}

func (d *daemon) forceDelete(name string) error {
	if _, err := d.call("PUT", "/1.0/instances/"+name+"/state", map[string]any{"action": "stop", "force": true, "timeout": -1}); err != nil &&
		!strings.Contains(err.Error(), "not running") && !strings.Contains(err.Error(), "already stopped") {
		return err
	}
	_, err := d.call("DELETE", "/1.0/instances/"+name, nil)
	return err
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// hostCounts are the host resources containers use: what must come back to
// its level once they are gone.
type hostCounts struct{ veths, mounts, cgroups int }

// more tells whether h holds more of any resource than b (other software
// on the host may release some of its own meanwhile).
func (h hostCounts) more(b hostCounts) bool {
	return h.veths > b.veths || h.mounts > b.mounts || h.cgroups > b.cgroups
}

func countHost() hostCounts {
	var h hostCounts
	if out, err := exec.Command("ip", "-o", "link", "show", "type", "veth").Output(); err == nil {
		h.veths = strings.Count(string(out), "\n")
	}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		h.mounts = strings.Count(string(b), "\n")
	}
	filepath.WalkDir("/sys/fs/cgroup", func(p string, e os.DirEntry, err error) error {
		if err != nil || !e.IsDir() {
			return nil
		}
		base := filepath.Base(p)
		if strings.HasPrefix(base, "lxc.payload.") || strings.HasPrefix(base, "lxc.monitor.") {
			h.cgroups++
			return filepath.SkipDir
		}
		if strings.Count(strings.TrimPrefix(p, "/sys/fs/cgroup"), "/") > 2 {
			return filepath.SkipDir
		}
		return nil
	})
	return h
}

// stopLXCFS stops the lxcfs a daemon started under dir (a SIGKILLed lodged
// cannot), so that the state directory can be removed.
func stopLXCFS(dir string) {
	mnt := filepath.Join(dir, "lxcfs")
	if b, err := os.ReadFile(mnt + ".pid"); err == nil {
		if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	syscall.Unmount(mnt, syscall.MNT_DETACH)
}
