package integration

import (
	"os/exec"
	"strings"
	"testing"
)

// A bridged NIC on a host bridge: the container gets eth0 on it, and list
// reads its address from the host side.
func TestBridgedNIC(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	br := "lodgeit0"
	exec.Command("ip", "link", "del", br).Run()
	for _, args := range [][]string{{"link", "add", br, "type", "bridge"}, {"addr", "add", "10.251.78.1/24", "dev", br}, {"link", "set", br, "up"}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", br).Run() })
	lodge(t, "init", "busybox", "nic1")
	t.Cleanup(func() { lodgeOut("delete", "-f", "nic1") })
	if code, env := apiDo(t, "PATCH", "/1.0/instances/nic1", `{"devices":{"eth0":{"type":"nic","nictype":"bridged","parent":"`+br+`"}}}`); code != 202 {
		t.Fatalf("add nic: %d %s", code, env.Error)
	}
	if code, env := apiDo(t, "PATCH", "/1.0/instances/nic1", `{"devices":{"eth1":{"type":"nic","nictype":"bridged","parent":"no-such-br"}}}`); code != 400 || !strings.Contains(env.Error, "no-such-br") {
		t.Fatalf("nic on a missing bridge: %d %s", code, env.Error)
	}
	lodge(t, "start", "nic1")
	lodge(t, "exec", "nic1", "--", "ip", "addr", "add", "10.251.78.5/24", "dev", "eth0")
	if out := lodge(t, "list", "nic1", "--format", "csv", "-c", "n4"); !strings.Contains(out, "10.251.78.5 (eth0)") {
		t.Fatalf("list IPV4: %q", out)
	}
	if out, err := lodgeOut("exec", "nic1", "--", "ping", "-c", "1", "-W", "2", "10.251.78.1"); err != nil {
		t.Fatalf("ping the bridge from the container: %v %s", err, out)
	}
}
