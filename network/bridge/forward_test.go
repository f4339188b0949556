package bridge

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"lodge/network"
)

// webServer runs busybox httpd in a namespace, serving body at /.
func webServer(t *testing.T, n testNS, body string) {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "index.html"), []byte(body), 0o644)
	cmd := exec.Command("ip", "netns", "exec", n.ns, "busybox", "httpd", "-f", "-p", "80", "-h", dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitUntil(t, "httpd in "+n.ns, func() bool {
		out, _ := exec.Command("ip", "netns", "exec", n.ns, "ss", "-ltnH", "sport", "80").Output()
		return len(out) > 0
	})
}

func httpGet(n testNS, url string) string {
	out, _ := exec.Command("ip", "netns", "exec", n.ns, "curl", "-s", "-m", "3", url).CombinedOutput()
	return strings.TrimSpace(string(out))
}

// Network forwards on a managed bridge, reached from a namespace standing
// for the internet: a TCP port goes to one instance (another port
// number inside), everything else to the default target, UDP arrives,
// instances on the bridge reach the forward too (their own and their
// neighbour's), and a forward removed from the network stops at once.
func TestNetworkForwards(t *testing.T) {
	needRoot(t)
	const br, listen = "nwbrw", "198.18.0.20"
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o755)
	// Should a rule not match, the listen address is unreachable here:
	// nothing the test sends leaves the machine.
	exec.Command("ip", "route", "del", "unreachable", listen+"/32").Run()
	run(t, "ip", "route", "add", "unreachable", listen+"/32")
	t.Cleanup(func() {
		exec.Command("ip", "route", "del", "unreachable", listen+"/32").Run()
		stopPidfile(filepath.Join(dir, br, "dnsmasq.pid"))
		exec.Command("ip", "link", "del", br).Run()
		exec.Command("nft", "delete", "table", "ip", network.TableName(br)).Run()
		exec.Command("nft", "delete", "table", "ip6", network.TableName(br)).Run()
	})
	d, err := New(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := FreeSubnet()
	if err != nil {
		t.Fatal(err)
	}
	prefix := strings.TrimSuffix(addr, "1/24")
	ctx := context.Background()
	n := network.Network{Name: br, Config: map[string]string{"ipv4.address": addr}}
	if err := d.Ensure(ctx, n); err != nil {
		t.Fatal(err)
	}
	five := nsOnBridge(t, br, "nwwa", "nwwa", "00:16:3e:f4:00:05", prefix+"5", "fd42:9::5")
	six := nsOnBridge(t, br, "nwwb", "nwwb", "00:16:3e:f4:00:06", prefix+"6", "fd42:9::6")
	for _, x := range []testNS{five, six} {
		x.run(t, "ip", "route", "add", "default", "via", prefix+"1")
	}
	webServer(t, five, "five")
	webServer(t, six, "six")
	inet := internetSide(t, "nwwi", "nwwp")
	inet.run(t, "ip", "route", "add", listen+"/32", "via", "198.51.100.1")

	fwd := network.Forward{ListenAddress: listen, Config: map[string]string{"target_address": prefix + "6"},
		Ports: []network.ForwardPort{{Protocol: "tcp", ListenPort: "8080", TargetPort: "80", TargetAddress: prefix + "5"},
			{Protocol: "udp", ListenPort: "7000", TargetAddress: prefix + "5"}}}
	if err := network.ValidateForward(n.Config, fwd, nil); err != nil {
		t.Fatal(err)
	}
	n.Forwards = []network.Forward{fwd}
	if err := d.Ensure(ctx, n); err != nil {
		t.Fatal(err)
	}
	if got := httpGet(inet, "http://"+listen+":8080/"); got != "five" {
		t.Errorf("tcp 8080 from the internet side: %q, want five", got)
	}
	if got := httpGet(inet, "http://"+listen+"/"); got != "six" {
		t.Errorf("port 80 (default target) from the internet side: %q, want six", got)
	}
	if got := httpGet(six, "http://"+listen+":8080/"); got != "five" {
		t.Errorf("tcp 8080 from the neighbour on the bridge: %q, want five", got)
	}
	if got := httpGet(five, "http://"+listen+":8080/"); got != "five" {
		t.Errorf("tcp 8080 from the target itself: %q, want five", got)
	}
	stop := capture(t, five)
	inet.run(t, "bash", "-c", "echo lodge-udp > /dev/udp/"+listen+"/7000")
	if seen := stop(); !strings.Contains(seen, "198.51.100.2.") || !strings.Contains(seen, "> "+prefix+"5.7000:") {
		t.Errorf("udp 7000 did not arrive at the target:\n%s", seen)
	}

	n.Forwards = nil
	if err := d.Ensure(ctx, n); err != nil {
		t.Fatal(err)
	}
	if got := httpGet(inet, "http://"+listen+":8080/"); got == "five" {
		t.Error("the forward still works after it was removed")
	}
	if out := run(t, "nft", "list", "table", "ip", network.TableName(br)); strings.Contains(out, "dnat") {
		t.Errorf("DNAT rules left:\n%s", out)
	}
}
