package proxy

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain doubles as a stand-in forkproxy helper: run as
// "TESTBINARY forkproxy PID LISTEN CONNECT", it says it forwards and
// waits to be stopped, as the real one does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "forkproxy" {
		if strings.HasSuffix(os.Args[3], ":1") { // a "busy port"
			fmt.Println("listen: address already in use")
			os.Exit(1)
		}
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM)
		fmt.Println("forwarding")
		<-c
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestSupervisor(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s := Supervisor{Dir: t.TempDir(), Helper: self}
	pidOf := func(dev string) int { return readPidFile(filepath.Join(s.Dir, "c1", "proxy."+dev+".pid")) }
	web := Forward{Listen: "tcp:127.0.0.1:8080", Connect: "tcp:127.0.0.1:80"}
	t.Cleanup(func() { s.Remove("c1") })

	if err := s.Sync("c1", 4242, map[string]Forward{"web": web}); err != nil {
		t.Fatal(err)
	}
	first := pidOf("web")
	if !proxyRunning(first, []string{"forkproxy", "4242", web.Listen, web.Connect}) || !s.Has("c1") {
		t.Fatalf("forwarder not running (pid %d)", first)
	}
	// Same arguments: adopted, not restarted.
	if err := s.Sync("c1", 4242, map[string]Forward{"web": web}); err != nil || pidOf("web") != first {
		t.Fatalf("a running forwarder with the same arguments was restarted: %v", err)
	}
	// Another container pid: restarted.
	if err := s.Sync("c1", 4343, map[string]Forward{"web": web}); err != nil || pidOf("web") == first {
		t.Fatalf("a forwarder for the old init was kept: %v", err)
	}
	// A failing helper fails the sync with what it said.
	err = s.Sync("c1", 4343, map[string]Forward{"web": web, "dns": {Listen: "udp:127.0.0.1:1", Connect: "udp:127.0.0.1:53"}})
	if err == nil || !strings.Contains(err.Error(), `proxy device "dns"`) || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("failed forwarder: %v", err)
	}
	// No devices left: every forwarder stops.
	second := pidOf("web")
	if err := s.Sync("c1", 4343, nil); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100 && procArgs(second) != nil; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if procArgs(second) != nil || pidOf("web") != 0 {
		t.Fatal("a forwarder of a removed device still runs")
	}
	s.Remove("c1")
	if s.Has("c1") {
		t.Fatal("Remove left the instance's directory")
	}
	if err := (Supervisor{Dir: s.Dir}).Sync("c2", 1, map[string]Forward{"web": web}); err == nil {
		t.Fatal("a supervisor without a helper accepted a proxy device")
	}
}
