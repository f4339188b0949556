package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

func TestBusyboxLifecycle(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	lodge(t, "launch", "busybox", "bb1")
	t.Cleanup(func() { lodgeOut("delete", "-f", "bb1") })

	if st, pid := instanceState(t, "bb1"); st != "Running" || pid <= 0 {
		t.Fatalf("after launch: %s pid %d", st, pid)
	}
	if out := lodge(t, "exec", "bb1", "--", "echo", "hello"); out != "hello\n" {
		t.Fatalf("exec echo: %q", out)
	}
	// The runtime is real: lxc-ls on lodge's lxcpath shows the container.
	out, err := exec.Command("lxc-ls", "-P", filepath.Join(stateDir, "containers"), "--running").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "bb1") {
		t.Fatalf("lxc-ls: %v %s", err, out)
	}
	list := lodge(t, "list")
	for _, want := range []string{"NAME", "STATE", "IPV4", "TYPE", "SNAPSHOTS", "bb1", "RUNNING", "CONTAINER"} {
		if !strings.Contains(list, want) {
			t.Fatalf("list lacks %q:\n%s", want, list)
		}
	}
	var full []map[string]any
	if err := json.Unmarshal([]byte(lodge(t, "list", "--format", "json")), &full); err != nil || len(full) == 0 || full[0]["state"] == nil {
		t.Fatalf("list --format json: %v %v", err, full)
	}

	lodge(t, "stop", "bb1")
	if st, _ := instanceState(t, "bb1"); st != "Stopped" {
		t.Fatalf("after stop: %s", st)
	}
	if msg := lodgeFail(t, "exec", "bb1", "--", "true"); !strings.Contains(msg, "not running") {
		t.Fatalf("exec on stopped: %q", msg)
	}
	lodge(t, "start", "bb1")
	_, pid1 := instanceState(t, "bb1")
	lodge(t, "restart", "bb1")
	st, pid2 := instanceState(t, "bb1")
	if st != "Running" || pid2 == pid1 {
		t.Fatalf("restart: %s pid %d -> %d", st, pid1, pid2)
	}
	lodge(t, "pause", "bb1")
	if st, _ := instanceState(t, "bb1"); st != "Frozen" {
		t.Fatalf("after pause: %s", st)
	}
	lodge(t, "resume", "bb1")
	if msg := lodgeFail(t, "delete", "bb1"); !strings.Contains(msg, "stop it first") {
		t.Fatalf("delete running without -f: %q", msg)
	}
	lodge(t, "delete", "-f", "bb1")
	if _, err := os.Stat(filepath.Join(stateDir, "containers", "bb1")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("lxc config left after delete: %v", err)
	}
	if _, err := os.Stat(filepath.Join(stateDir, "storage-pools", "default", "containers", "bb1")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("rootfs left after delete: %v", err)
	}
	if code, _ := apiDo(t, "GET", "/1.0/instances/bb1", ""); code != 404 {
		t.Fatalf("GET after delete: %d", code)
	}
}

func TestExecStreamsAndExitCodes(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	lodge(t, "launch", "busybox", "bb2")
	t.Cleanup(func() { lodgeOut("delete", "-f", "bb2") })

	cmd := lodgeCmd("exec", "bb2", "--", "sh", "-c", "echo out; echo err >&2; exit 7")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("exit: %v", err)
	}
	if stdout.String() != "out\n" || stderr.String() != "err\n" {
		t.Fatalf("stdout %q stderr %q", stdout.String(), stderr.String())
	}

	// stdin reaches the process and EOF ends it.
	cmd = lodgeCmd("exec", "bb2", "--", "sh", "-c", "wc -c")
	cmd.Stdin = strings.NewReader(strings.Repeat("x", 100000))
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(string(out)) != "100000" {
		t.Fatalf("stdin: %q %v", out, err)
	}

	// Environment, working directory, user and group.
	out2 := lodge(t, "exec", "bb2", "--env", "FOO=bar baz", "--cwd", "/tmp", "--", "sh", "-c", `echo "$FOO|$(pwd)|$HOME|$PATH"`)
	if !strings.HasPrefix(out2, "bar baz|/tmp|/root|/usr/local/sbin") {
		t.Fatalf("env/cwd: %q", out2)
	}
	if out := lodge(t, "exec", "bb2", "--user", "1000", "--group", "1000", "--", "sh", "-c", "id -u; id -g"); out != "1000\n1000\n" {
		t.Fatalf("user/group: %q", out)
	}

	// A signal to the CLI is forwarded to the process: SIGTERM kills sleep, status 143.
	cmd = lodgeCmd("exec", "bb2", "--", "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1 * time.Second)
	cmd.Process.Signal(syscall.SIGTERM)
	err = cmd.Wait()
	if !errors.As(err, &ee) || ee.ExitCode() != 143 {
		t.Fatalf("forwarded SIGTERM: %v", err)
	}

	// A missing command fails clearly.
	cmd = lodgeCmd("exec", "bb2", "--", "/no/such/binary")
	stderr.Reset()
	cmd.Stderr = &stderr
	err = cmd.Run()
	if !errors.As(err, &ee) || ee.ExitCode() != 127 || !strings.Contains(stderr.String(), "command not found") {
		t.Fatalf("missing binary: %v %q", err, stderr.String())
	}
}

func TestExecPTY(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	lodge(t, "launch", "busybox", "bb3")
	t.Cleanup(func() { lodgeOut("delete", "-f", "bb3") })

	// With a terminal on our side, exec is interactive: the process gets a
	// pty as its controlling terminal and the terminal's size.
	cmd := lodgeCmd("exec", "bb3", "--", "sh", "-c", "tty; stty size; exit 3")
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 33, Cols: 111})
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	var buf bytes.Buffer
	copied := make(chan struct{})
	go func() { io.Copy(&buf, ptmx); close(copied) }()
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("pty exit: %v (output %q)", err, buf.String())
	}
	// The master reads to EIO once the client, the slave's last holder, is gone.
	waitCopied(t, copied)
	out := buf.String()
	if !strings.Contains(out, "/dev/pts/") || !strings.Contains(out, "33 111") {
		t.Fatalf("pty output: %q", out)
	}
	// -T forces pipes even on a terminal.
	cmd = lodgeCmd("exec", "-T", "bb3", "--", "tty")
	ptmx2, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx2.Close()
	var buf2 bytes.Buffer
	copied2 := make(chan struct{})
	go func() { io.Copy(&buf2, ptmx2); close(copied2) }()
	cmd.Wait()
	waitCopied(t, copied2)
	if !strings.Contains(buf2.String(), "not a tty") {
		t.Fatalf("-T output: %q", buf2.String())
	}
}

func waitCopied(t *testing.T, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("pty output did not end")
	}
}
