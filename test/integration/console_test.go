package integration

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestConsole(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	lodge(t, "launch", "busybox", "con1")
	t.Cleanup(func() { lodgeOut("delete", "-f", "con1") })

	clients := map[string]*exec.Cmd{"lodge console": lodgeCmd("console", "con1")}
	// The upstream client's interactive console speaks the same protocol.
	if lxcBin, err := exec.LookPath("lxc"); err == nil {
		up := exec.Command(lxcBin, "console", "con1")
		up.Env = append(os.Environ(), "LXD_DIR="+stateDir, "HOME="+t.TempDir())
		clients["lxc console"] = up
	}
	for what, cmd := range clients {
		t.Run(what, func(t *testing.T) { attachConsole(t, cmd, "con1") })
	}
	// The container is untouched by the detach, and the log has the line.
	if st, _ := instanceState(t, "con1"); st != "Running" {
		t.Fatalf("after detach: %s", st)
	}
	if log := lodge(t, "console", "con1", "--show-log"); !strings.Contains(log, "written-to-dev-console") {
		t.Fatalf("console log: %q", log)
	}
	lodge(t, "stop", "-f", "con1")
	if log := lodge(t, "console", "con1", "--show-log"); !strings.Contains(log, "written-to-dev-console") {
		t.Fatalf("console log of a stopped instance: %q", log)
	}
	if msg := lodgeFail(t, "console", "con1"); !strings.Contains(msg, "not running") {
		t.Fatalf("console of a stopped instance: %q", msg)
	}
	lodge(t, "console", "con1", "--clear-log")
	if log := lodge(t, "console", "con1", "--show-log"); strings.Contains(log, "written-to-dev-console") {
		t.Fatalf("log after clear: %q", log)
	}
}

// attachConsole runs a console client under a pty, sees a line written to
// the container's /dev/console, and detaches with Ctrl-a q.
func attachConsole(t *testing.T, cmd *exec.Cmd, name string) {
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	var out syncBuffer
	go io.Copy(&out, ptmx)
	waitFor(t, "the console to attach", 10*time.Second, func() bool { return strings.Contains(out.String(), "To detach") })
	// Written until seen: the helper may still be attaching when the
	// client prints its banner.
	waitFor(t, "console output", 15*time.Second, func() bool {
		if strings.Contains(out.String(), "written-to-dev-console") {
			return true
		}
		lodgeOut("exec", name, "--", "sh", "-c", "echo written-to-dev-console > /dev/console")
		time.Sleep(400 * time.Millisecond)
		return strings.Contains(out.String(), "written-to-dev-console")
	})
	// Ctrl-a, then q in a read of its own: LXD's client looks only at the
	// first byte of each read for its escape.
	ptmx.Write([]byte{0x01})
	time.Sleep(200 * time.Millisecond)
	ptmx.Write([]byte{'q'})
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("console did not detach cleanly: %v; it printed %q", err, out.String())
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("Ctrl-a q did not detach")
	}
}
