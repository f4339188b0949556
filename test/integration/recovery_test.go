package integration

import (
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Containers keep running when lodged is killed, and a restarted lodged
// finds them again.
func TestDaemonKillKeepsContainers(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	for _, n := range []string{"k1", "k2"} {
		lodge(t, "launch", "busybox", n)
		n := n
		t.Cleanup(func() { lodgeOut("delete", "-f", n) })
	}
	_, pid1 := instanceState(t, "k1")
	_, pid2 := instanceState(t, "k2")

	stopDaemon(syscall.SIGKILL)
	for _, pid := range []int{pid1, pid2} {
		if err := syscall.Kill(pid, 0); err != nil {
			t.Fatalf("container init %d died with the daemon: %v", pid, err)
		}
	}
	if err := startDaemon(); err != nil {
		t.Fatal(err)
	}
	for n, pid := range map[string]int{"k1": pid1, "k2": pid2} {
		st, p := instanceState(t, n)
		if st != "Running" || p != pid {
			t.Fatalf("%s after restart: %s pid %d (was %d)", n, st, p, pid)
		}
	}
	out := lodge(t, "list", "--format", "csv", "-c", "ns")
	for _, n := range []string{"k1,RUNNING", "k2,RUNNING"} {
		if !strings.Contains(out, n) {
			t.Fatalf("list after restart lacks %s:\n%s", n, out)
		}
	}
	if out := lodge(t, "exec", "k1", "--", "echo", "alive"); out != "alive\n" {
		t.Fatalf("exec after restart: %q", out)
	}

	// A clean SIGTERM also leaves them running.
	stopDaemon(syscall.SIGTERM)
	if err := syscall.Kill(pid1, 0); err != nil {
		t.Fatalf("container died on SIGTERM of lodged: %v", err)
	}
	if err := startDaemon(); err != nil {
		t.Fatal(err)
	}
	if st, _ := instanceState(t, "k1"); st != "Running" {
		t.Fatalf("k1 after SIGTERM restart: %s", st)
	}
	_, pid1 = instanceState(t, "k1")

	// `lodged shutdown`, like `lxd shutdown`, stops the containers cleanly first.
	stopDaemonShutdown(t)
	if err := syscall.Kill(pid1, 0); err == nil {
		t.Fatalf("container init %d still runs after lodged shutdown", pid1)
	}
	if err := startDaemon(); err != nil {
		t.Fatal(err)
	}
	// As LXD does, an instance with boot.autostart unset that was running
	// when lodged shut down with the host comes back at the next start.
	waitFor(t, "k1 to come back after lodged shutdown", 30*time.Second, func() bool {
		st, pid := instanceState(t, "k1")
		return st == "Running" && pid != pid1
	})
}

// boot.autostart instances start when lodged starts, in priority order.
func TestAutostart(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	lodge(t, "init", "busybox", "as1")
	lodge(t, "init", "busybox", "as2")
	lodge(t, "init", "busybox", "as3")
	for _, n := range []string{"as1", "as2", "as3"} {
		n := n
		t.Cleanup(func() { lodgeOut("delete", "-f", n) })
	}
	lodge(t, "config", "set", "as1", "boot.autostart", "true")
	lodge(t, "config", "set", "as2", "boot.autostart=true", "boot.autostart.priority=10")
	if got := lodge(t, "config", "get", "as2", "boot.autostart.priority"); got != "10\n" {
		t.Fatalf("config get: %q", got)
	}
	if msg := lodgeFail(t, "config", "set", "as3", "boot.autostart", "maybe"); !strings.Contains(msg, "true or false") {
		t.Fatalf("bad value: %q", msg)
	}
	stopDaemon(syscall.SIGTERM)
	if err := startDaemon(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "autostart", 20*time.Second, func() bool {
		a, _ := instanceState(t, "as1")
		b, _ := instanceState(t, "as2")
		return a == "Running" && b == "Running"
	})
	if st, _ := instanceState(t, "as3"); st != "Stopped" {
		t.Fatalf("as3 without autostart: %s", st)
	}
}

// A container that powers itself off stays off when lodged starts again; a
// reboot inside it still comes back (the post-stop hook that tells the two
// apart must not break liblxc's reboot), and one lodged left running does.
func TestPowerOffInsideStaysOff(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	for _, n := range []string{"po1", "po2"} {
		lodge(t, "launch", "busybox", n)
		n := n
		t.Cleanup(func() { lodgeOut("delete", "-f", n) })
	}
	_, pid := instanceState(t, "po1")
	lodge(t, "exec", "po1", "--", "reboot")
	waitFor(t, "reboot inside po1", 30*time.Second, func() bool {
		st, p := instanceState(t, "po1")
		return st == "Running" && p != pid
	})
	lodge(t, "exec", "po1", "--", "poweroff")
	waitFor(t, "poweroff inside po1", 30*time.Second, func() bool { st, _ := instanceState(t, "po1"); return st == "Stopped" })
	// liblxc runs the post-stop hook just after the stop; lodged records it.
	waitFor(t, "po1 recorded as stopped", 10*time.Second, func() bool {
		return lodge(t, "config", "get", "po1", "volatile.last_state.power") == "STOPPED\n"
	})
	stopDaemon(syscall.SIGKILL)
	if err := startDaemon(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "po2 running after the restart", 20*time.Second, func() bool { st, _ := instanceState(t, "po2"); return st == "Running" })
	time.Sleep(2 * time.Second) // autostart has had its chance
	if st, _ := instanceState(t, "po1"); st != "Stopped" {
		t.Fatalf("po1 powered itself off and is %s after lodged's restart", st)
	}
	// Started again and stopped by lodged with the host: it comes back.
	lodge(t, "start", "po1")
	stopDaemonShutdown(t)
	if err := startDaemon(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "po1 back after a host shutdown", 20*time.Second, func() bool { st, _ := instanceState(t, "po1"); return st == "Running" })
}

// A second lodged on the same state directory refuses to start and
// changes nothing.
func TestSecondDaemonRefused(t *testing.T) {
	needIntegration(t)
	out, err := exec.Command(filepath.Join(binDir, "lodged"), "--dir", stateDir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "already listening") {
		t.Fatalf("second lodged: %v %s", err, out)
	}
	if code, _ := apiDo(t, "GET", "/1.0", ""); code != 200 {
		t.Fatalf("first lodged after the attempt: %d", code)
	}
}
