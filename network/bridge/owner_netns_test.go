package bridge

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// A dnsmasq serving a bridge of the same name in another network namespace
// (another lodged's, in a namespace of its own) is not this namespace's:
// servingDnsmasq must not find it, or stopOrphanDnsmasq would end it.
func TestServingDnsmasqOwnNetnsOnly(t *testing.T) {
	needRoot(t)
	name := fmt.Sprintf("lonf%d", os.Getpid()%10000)
	pidFile := filepath.Join(t.TempDir(), "dnsmasq.pid")
	// A stand-in whose command line reads as a dnsmasq bound to name.
	fake := func(cloneflags uintptr) int {
		cmd := exec.Command("perl", "-e", "sleep 60", "--", "--interface="+name, "--pid-file="+pidFile)
		cmd.Args[0] = "dnsmasq"
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: cloneflags}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd.Process.Pid
	}
	elsewhere := fake(syscall.CLONE_NEWNET)
	waitUntil(t, "the stand-in's command line", func() bool { return len(cmdline(elsewhere)) == 6 })
	if pid, _ := servingDnsmasq(name); pid != 0 {
		t.Fatalf("servingDnsmasq found pid %d, a dnsmasq in another network namespace", pid)
	}
	here := fake(0)
	waitUntil(t, "the stand-in's command line", func() bool { return len(cmdline(here)) == 6 })
	if pid, pf := servingDnsmasq(name); pid != here || pf != pidFile {
		t.Fatalf("servingDnsmasq: %d %q, want this namespace's %d %q", pid, pf, here, pidFile)
	}
}
