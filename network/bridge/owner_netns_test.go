package bridge

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
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

// bridgePorts counts the ports of a bridge in lodged's own network
// namespace, whatever namespace the mounted /sys shows.
func TestBridgePortsOwnNetns(t *testing.T) {
	needRoot(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	host, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	ns, err := netns.New() // this thread only; /sys stays the host's
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	defer netns.Set(host)
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "lbp0"}}
	if err := netlink.LinkAdd(br); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"lbp1", "lbp2"} {
		v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: p, MasterIndex: br.Attrs().Index}, PeerName: p + "p"}
		if err := netlink.LinkAdd(v); err != nil {
			t.Fatal(err)
		}
	}
	link, err := netlink.LinkByName("lbp0")
	if err != nil {
		t.Fatal(err)
	}
	if n := bridgePorts(link); n != 2 {
		t.Fatalf("bridgePorts: %d, want 2", n)
	}
}
