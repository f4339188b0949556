package integration

import (
	"strings"
	"testing"
	"time"
)

// A Debian image boots systemd to running (or degraded) within 30 s.
func TestDebianSystemd(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "debian", "debian/12")
	lodge(t, "launch", "debian/12", "deb1")
	t.Cleanup(func() { lodgeOut("delete", "-f", "deb1") })

	if out := lodge(t, "exec", "deb1", "--", "cat", "/proc/1/comm"); out != "systemd\n" {
		t.Fatalf("init: %q", out)
	}
	if out := lodge(t, "exec", "deb1", "--", "hostname"); out != "deb1\n" {
		t.Fatalf("hostname: %q", out)
	}
	var state string
	waitFor(t, "systemd to finish booting", 30*time.Second, func() bool {
		out, _ := lodgeOut("exec", "deb1", "--", "systemctl", "is-system-running")
		state = strings.TrimSpace(out)
		return state == "running" || state == "degraded"
	})
	if state == "degraded" {
		failed, _ := lodgeOut("exec", "deb1", "--", "systemctl", "--failed", "--no-legend")
		t.Logf("systemd degraded; failed units:\n%s", failed)
	}
	// A clean stop goes through systemd's halt (SIGRTMIN+3), not a kill.
	start := time.Now()
	lodge(t, "stop", "deb1")
	if st, _ := instanceState(t, "deb1"); st != "Stopped" {
		t.Fatalf("after stop: %s", st)
	}
	t.Logf("graceful stop took %s", time.Since(start))
	lodge(t, "start", "deb1")
	if out := lodge(t, "exec", "deb1", "--", "cat", "/proc/1/comm"); out != "systemd\n" {
		t.Fatalf("init after restart: %q", out)
	}
}
