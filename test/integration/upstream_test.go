package integration

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Debian's LXD client (lxd-client 5.0.2), pointed at lodged with LXD_DIR,
// is a real client nobody here wrote: it must list, launch, exec, stop and
// delete against lodged.
func TestUpstreamLXDClient(t *testing.T) {
	needIntegration(t)
	lxcBin, err := exec.LookPath("lxc")
	if err != nil {
		t.Skip("Debian's lxd-client is not installed (make deps installs it)")
	}
	ensureImage(t, "busybox", "busybox")
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(lxcBin, args...)
		cmd.Env = append(os.Environ(), "LXD_DIR="+stateDir, "HOME="+t.TempDir())
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("lxc %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	t.Cleanup(func() { lodgeOut("delete", "-f", "up1") })
	run("list")
	run("launch", "busybox", "up1")
	if out := run("list", "--format", "csv", "-c", "ns"); !strings.Contains(out, "up1,RUNNING") {
		t.Fatalf("lxc list: %q", out)
	}
	if out := run("exec", "up1", "--", "ls", "/"); !strings.Contains(out, "bin") || !strings.Contains(out, "etc") {
		t.Fatalf("lxc exec ls /: %q", out)
	}
	lodge(t, "exec", "up1", "--", "sh", "-c", "echo upstream-console-line > /dev/console")
	if out := run("console", "up1", "--show-log"); !strings.Contains(out, "upstream-console-line") {
		t.Fatalf("lxc console --show-log: %q", out)
	}
	// lxc config set: GET with an ETag, then PUT of the whole object with If-Match.
	run("config", "set", "up1", "user.from-lxc", "yes")
	if out := lodge(t, "config", "get", "up1", "user.from-lxc"); out != "yes\n" {
		t.Fatalf("after lxc config set: %q", out)
	}
	run("stop", "up1")
	if st, _ := instanceState(t, "up1"); st != "Stopped" {
		t.Fatalf("after lxc stop: %s", st)
	}
	run("delete", "up1")
	if code, _ := apiDo(t, "GET", "/1.0/instances/up1", ""); code != 404 {
		t.Fatalf("after lxc delete: %d", code)
	}
}
