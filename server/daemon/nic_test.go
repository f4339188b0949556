package daemon

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"lodge/api"
	"lodge/errdefs"
	"lodge/instances"
	"lodge/network"
	nfake "lodge/network/fake"
)

// netEnv is a daemon env with the fake network driver and a managed
// network nb0 (10.9.0.1/24, IPv6 auto).
func netEnv(t *testing.T) (*daemonEnv, *nfake.Driver) {
	t.Helper()
	nd := nfake.New()
	e := newDaemonEnv(t, func(d *Deps) { d.Networks, d.DefaultNetwork = nd, "none" })
	if err := e.d.CreateNetwork(context.Background(), api.NetworksPost{Name: "nb0",
		NetworkPut: api.NetworkPut{Config: map[string]string{"ipv4.address": "10.9.0.1/24", "ipv6.address": "auto"}}}); err != nil {
		t.Fatal(err)
	}
	e.image(t, "busybox", "bb")
	return e, nd
}

func (e *daemonEnv) patchDevices(t *testing.T, name string, devs map[string]map[string]string) error {
	t.Helper()
	op, err := e.d.UpdateInstance(context.Background(), name, api.InstancePut{Devices: devs}, Update{Patch: true})
	if err != nil {
		return err
	}
	if o := e.wait(t, op); o.StatusCode != api.Success {
		return errors.New(o.Err)
	}
	return nil
}

func (e *daemonEnv) state(t *testing.T, name, action string) {
	t.Helper()
	e.ok(t)(e.d.ChangeState(context.Background(), name, api.InstanceStatePut{Action: action, Force: true}))
}

// ipv6.address=auto becomes a concrete subnet with NAT66, as LXD stores it.
func TestNetworkIPv6Auto(t *testing.T) {
	e, nd := netEnv(t)
	n, err := e.d.Network(context.Background(), "nb0")
	if err != nil {
		t.Fatal(err)
	}
	if n.Config["ipv6.address"] != nd.Subnet6 || n.Config["ipv6.nat"] != "true" {
		t.Fatalf("stored config: %v", n.Config)
	}
	if got, _ := nd.Get("nb0"); got.Config["ipv6.address"] != nd.Subnet6 {
		t.Fatalf("driver told: %v", got.Config)
	}
	err = e.d.UpdateNetwork(context.Background(), "nb0", api.NetworkPut{Config: map[string]string{"ipv6.address": "auto", "ipv6.nat": "false"}}, Update{Patch: true})
	if n, _ := e.d.Network(context.Background(), "nb0"); err != nil || n.Config["ipv6.nat"] != "false" {
		t.Fatalf("an explicit ipv6.nat stays: %v %v", n.Config, err)
	}
}

// A filtered NIC on a managed network: the filter is in force before the
// start (an allocated IPv4 reservation, the SLAAC IPv6), isolation and
// limits after it; a live change reaches it; the stop clears the limits
// and keeps the filter; the delete removes it.
func TestNICFilterLifecycle(t *testing.T) {
	e, nd := netEnv(t)
	ctx := context.Background()
	e.launch(t, "c1", nil, false)
	nic := map[string]string{"type": "nic", "network": "nb0", "security.mac_filtering": "true", "security.ipv4_filtering": "true",
		"security.ipv6_filtering": "true", "security.port_isolation": "true", "limits.ingress": "50Mbit", "limits.egress": "20Mbit"}
	if err := e.patchDevices(t, "c1", map[string]map[string]string{"eth0": nic}); err != nil {
		t.Fatal(err)
	}
	in, _ := e.db.GetInstance(ctx, "c1")
	alloc := in.Config["volatile.eth0.ipv4.address"]
	if ip := net.ParseIP(alloc); ip == nil || !strings.HasPrefix(alloc, "10.9.0.") {
		t.Fatalf("no IPv4 allocated for the filter: %v", in.Config)
	}
	if n, _ := nd.Get("nb0"); len(n.Hosts) != 1 || n.Hosts[0].Address != alloc {
		t.Fatalf("the allocation is not reserved in dnsmasq: %+v", n.Hosts)
	}
	e.state(t, "c1", "start")
	host := e.d.vethName("c1", "eth0")
	f, ok := nd.Filter(host)
	mac, _ := net.ParseMAC(in.Config["volatile.eth0.hwaddr"])
	_, sub6, _ := net.ParseCIDR(nd.Subnet6)
	slaac, _ := network.EUI64(sub6, mac)
	if !ok || !f.MAC || !f.IPv4 || !f.IPv6 || len(f.IPv4Nets) != 1 || f.IPv4Nets[0].IP.String() != alloc ||
		len(f.IPv6Nets) != 1 || !f.IPv6Nets[0].IP.Equal(slaac) || f.HWAddr != in.Config["volatile.eth0.hwaddr"] {
		t.Fatalf("filter: %+v %v", f, ok)
	}
	if iso, _ := nd.Flags(host); !iso {
		t.Fatal("port not isolated")
	}
	if l := nd.Limit(host); l.Ingress != 50_000_000 || l.Egress != 20_000_000 {
		t.Fatalf("limits: %+v", l)
	}
	// The spec has the stable host name the rules are bound to.
	if sp, _ := e.drv.Spec("c1"); len(sp.NICs) != 1 || sp.NICs[0].HostName != host {
		t.Fatalf("spec NICs: %+v", sp.NICs)
	}

	// Live: IPv4 filtering off, the ingress limit and isolation gone.
	nic2 := map[string]string{"type": "nic", "network": "nb0", "security.mac_filtering": "true", "security.ipv6_filtering": "true",
		"limits.egress": "20Mbit"}
	if err := e.patchDevices(t, "c1", map[string]map[string]string{"eth0": nic2}); err != nil {
		t.Fatal(err)
	}
	if f, _ := nd.Filter(host); f.IPv4 || !f.IPv6 {
		t.Fatalf("live filter change: %+v", f)
	}
	if l := nd.Limit(host); l.Ingress != 0 || l.Egress != 20_000_000 {
		t.Fatalf("live limits: %+v", l)
	}
	if iso, _ := nd.Flags(host); iso {
		t.Fatal("isolation not lifted")
	}

	e.state(t, "c1", "stop")
	if l := nd.Limit(host); l != (network.NICLimits{}) {
		t.Fatalf("limits after stop: %+v", l)
	}
	if _, ok := nd.Filter(host); !ok {
		t.Fatal("the filter must stay while stopped (no unfiltered moment at the next start)")
	}
	// Filtering turned off while stopped: the next start drops the rules.
	if err := e.patchDevices(t, "c1", map[string]map[string]string{"eth0": {"type": "nic", "network": "nb0"}}); err != nil {
		t.Fatal(err)
	}
	e.state(t, "c1", "start")
	if _, ok := nd.Filter(host); ok {
		t.Fatal("rules of a filter turned off while stopped survive the start")
	}
	if err := e.patchDevices(t, "c1", map[string]map[string]string{"eth0": nic}); err != nil {
		t.Fatal(err)
	}
	if _, ok := nd.Filter(host); !ok {
		t.Fatal("filter turned on live not applied")
	}
	e.state(t, "c1", "stop")
	e.ok(t)(e.d.DeleteInstance(ctx, "c1"))
	if _, ok := nd.Filter(host); ok {
		t.Fatal("filter left after delete")
	}
}

// Hot-plugged NICs get their filter before they exist and their limits
// once plugged; unplugged ones lose both.
func TestNICFilterHotplug(t *testing.T) {
	e, nd := netEnv(t)
	e.launch(t, "c1", nil, true)
	nic := map[string]string{"type": "nic", "network": "nb0", "security.mac_filtering": "true", "limits.max": "1Gbit"}
	if err := e.patchDevices(t, "c1", map[string]map[string]string{"eth1": nic}); err != nil {
		t.Fatal(err)
	}
	host := e.d.vethName("c1", "eth1")
	if _, ok := nd.Filter(host); !ok {
		t.Fatal("no filter on the hot-plugged NIC")
	}
	if l := nd.Limit(host); l.Ingress != 1e9 || l.Egress != 1e9 {
		t.Fatalf("limits: %+v", l)
	}
	op, err := e.d.UpdateInstance(context.Background(), "c1", api.InstancePut{Devices: map[string]map[string]string{}, Profiles: []string{"default"}}, Update{})
	if err != nil {
		t.Fatal(err)
	}
	e.wait(t, op)
	if _, ok := nd.Filter(host); ok {
		t.Fatal("filter left after unplug")
	}
	if l := nd.Limit(host); l != (network.NICLimits{}) {
		t.Fatalf("limits left after unplug: %+v", l)
	}
}

// IP filtering on a bridge lodged does not manage needs the address to
// allow, as in LXD; nothing is stored when it is refused.
func TestNICFilterUnmanagedBridge(t *testing.T) {
	e, nd := netEnv(t)
	e.launch(t, "c1", nil, false)
	err := e.patchDevices(t, "c1", map[string]map[string]string{"eth0": {"type": "nic", "nictype": "bridged", "parent": "lo", "security.ipv4_filtering": "true"}})
	if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "IPv4 filtering requires a manually specified ipv4.address when using an unmanaged parent bridge") {
		t.Fatalf("err = %v", err)
	}
	err = e.patchDevices(t, "c1", map[string]map[string]string{"eth0": {"type": "nic", "nictype": "bridged", "parent": "lo", "ipv4.address": "192.168.7.5"}})
	if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "security.ipv4_filtering=true") {
		t.Fatalf("a reservation on an unmanaged bridge: %v", err)
	}
	if err := e.patchDevices(t, "c1", map[string]map[string]string{"eth0": {"type": "nic", "nictype": "bridged", "parent": "lo",
		"security.ipv4_filtering": "true", "ipv4.address": "192.168.7.5"}}); err != nil {
		t.Fatal(err)
	}
	e.state(t, "c1", "start")
	f, ok := nd.Filter(e.d.vethName("c1", "eth0"))
	if !ok || len(f.IPv4Nets) != 1 || f.IPv4Nets[0].IP.String() != "192.168.7.5" {
		t.Fatalf("filter: %+v", f)
	}
}

// A routed NIC: its parent is set up before the start and torn down after
// the stop, and a host that would not forward for it fails the start.
func TestRoutedNIC(t *testing.T) {
	e, nd := netEnv(t)
	ctx := context.Background()
	e.launch(t, "r1", nil, false)
	if err := e.patchDevices(t, "r1", map[string]map[string]string{"pub": {"type": "nic", "nictype": "routed", "parent": "lo",
		"ipv4.address": "198.51.100.10,198.51.100.11", "ipv6.address": "2001:db8::10", "limits.egress": "10Mbit"}}); err != nil {
		t.Fatal(err)
	}
	e.state(t, "r1", "start")
	host := e.d.vethName("r1", "pub")
	r, ok := nd.RoutedNIC(host)
	if !ok || r.Parent != "lo" || len(r.IPv4) != 2 || len(r.IPv6) != 1 {
		t.Fatalf("routed setup: %+v %v", r, ok)
	}
	sp, _ := e.drv.Spec("r1")
	var spec []string
	for _, n := range sp.NICs {
		if n.Type == "routed" {
			spec = append(append(spec, n.HostName), n.IPv4...)
		}
	}
	if strings.Join(spec, " ") != host+" 198.51.100.10 198.51.100.11" {
		t.Fatalf("spec: %+v", sp.NICs)
	}
	if l := nd.Limit(host); l.Egress != 10e6 {
		t.Fatalf("limits: %+v", l)
	}
	e.state(t, "r1", "stop")
	if _, ok := nd.RoutedNIC(host); ok {
		t.Fatal("routed entries left after stop")
	}
	nd.FailRouted = errdefs.Invalidf("nic %s: a routed NIC needs the host to forward for it: set sysctl net.ipv4.conf.lo.forwarding=1", host)
	op, err := e.d.ChangeState(ctx, "r1", api.InstanceStatePut{Action: "start"})
	if err != nil {
		t.Fatal(err)
	}
	if o := e.wait(t, op); o.StatusCode == api.Success || !strings.Contains(o.Err, "sysctl net.ipv4.conf.lo.forwarding=1") {
		t.Fatalf("start with a refused routed NIC: %+v", o)
	}
	if st, _ := e.d.InstanceState(ctx, "r1"); st.Status != "Stopped" {
		t.Fatalf("status after a refused start: %s", st.Status)
	}
}

// The post-stop hook clears what outlives a stopped instance's veths,
// and lodged's start removes the filters and ifbs of NICs that are gone.
func TestNICCleanupAfterStopAndRestart(t *testing.T) {
	e, nd := netEnv(t)
	ctx := context.Background()
	e.launch(t, "c1", nil, false)
	if err := e.patchDevices(t, "c1", map[string]map[string]string{"eth0": {"type": "nic", "network": "nb0", "security.mac_filtering": "true", "limits.egress": "5Mbit"}}); err != nil {
		t.Fatal(err)
	}
	e.state(t, "c1", "start")
	host := e.d.vethName("c1", "eth0")
	if err := e.drv.Stop(ctx, "c1", 0, true); err != nil { // a poweroff inside
		t.Fatal(err)
	}
	if err := e.d.NoteStopped(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for nd.Limit(host) != (network.NICLimits{}) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if l := nd.Limit(host); l != (network.NICLimits{}) {
		t.Fatalf("limits after a poweroff inside: %+v", l)
	}
	// Left-overs of a NIC no instance has, and limits of a stopped one.
	_ = nd.ApplyNICFilter(ctx, network.NICFilter{HostName: "vethdead0", HWAddr: "00:16:3e:00:00:01", MAC: true})
	_ = nd.SetNICLimits(ctx, "vethdead0", network.NICLimits{Egress: 1})
	_ = nd.SetNICLimits(ctx, host, network.NICLimits{Egress: 1})
	// Another lodged's running NIC on this host (its link exists, "lo"
	// here): not this lodged's to unfilter or unlimit.
	_ = nd.ApplyNICFilter(ctx, network.NICFilter{HostName: "lo", HWAddr: "00:16:3e:00:00:02", MAC: true})
	_ = nd.SetNICLimits(ctx, "lo", network.NICLimits{Egress: 1})
	e.start(t)
	if err := e.d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := nd.Filter("vethdead0"); ok {
		t.Fatal("filter of a gone NIC survives lodged's start")
	}
	if _, ok := nd.Filter(host); !ok {
		t.Fatal("filter of an existing NIC removed at lodged's start")
	}
	if _, ok := nd.Filter("lo"); !ok || nd.Limit("lo") == (network.NICLimits{}) {
		t.Fatal("lodged's start removed the filter or limits of a link it does not know (another lodged's)")
	}
	if l1, l2 := nd.Limit("vethdead0"), nd.Limit(host); l1 != (network.NICLimits{}) || l2 != (network.NICLimits{}) {
		t.Fatalf("ifbs left: %+v %+v", l1, l2)
	}
	// The new lodged knows the filter: a delete removes it.
	e.ok(t)(e.d.DeleteInstance(ctx, "c1"))
	if _, ok := nd.Filter(host); ok {
		t.Fatal("filter left after delete by a restarted lodged")
	}
}

// The same keys as a profile's default: a profile change reaches the
// running instances that use it, and the instance's own device wins.
func TestNICFilterFromProfile(t *testing.T) {
	e, nd := netEnv(t)
	ctx := context.Background()
	e.launch(t, "c1", nil, false)
	nic := map[string]string{"type": "nic", "network": "nb0"}
	if err := e.d.UpdateProfile(ctx, "default", api.ProfilePut{Devices: map[string]map[string]string{"eth0": nic}}, Update{Patch: true}); err != nil {
		t.Fatal(err)
	}
	e.state(t, "c1", "start")
	host := e.d.vethName("c1", "eth0")
	if _, ok := nd.Filter(host); ok {
		t.Fatal("a filter without filtering keys")
	}
	filtered := map[string]string{"type": "nic", "network": "nb0", "security.ipv4_filtering": "true", "limits.egress": "20Mbit"}
	if err := e.d.UpdateProfile(ctx, "default", api.ProfilePut{Devices: map[string]map[string]string{"eth0": filtered}}, Update{Patch: true}); err != nil {
		t.Fatal(err)
	}
	f, ok := nd.Filter(host)
	if in, _ := e.db.GetInstance(ctx, "c1"); !ok || !f.IPv4 || len(f.IPv4Nets) != 1 || f.IPv4Nets[0].IP.String() != in.Config["volatile.eth0.ipv4.address"] {
		t.Fatalf("the profile's security.ipv4_filtering on a running instance: %+v %v (config %v)", f, ok, in.Config)
	}
	if l := nd.Limit(host); l.Egress != 20_000_000 {
		t.Fatalf("the profile's limits.egress on a running instance: %+v", l)
	}
	// The instance's own device overrides the profile's.
	if err := e.patchDevices(t, "c1", map[string]map[string]string{"eth0": nic}); err != nil {
		t.Fatal(err)
	}
	if _, ok := nd.Filter(host); ok {
		t.Fatal("the instance's device without filtering still filtered")
	}
}

// A NIC's host-side veth is named at each start and the name stored in
// volatile.DEV.host_name: it is this lodged's own (another state directory
// gives another name for the same instance and device), a rename gets a
// new one, and a NIC an older lodge started (no stored name) is still
// found by the name that lodge gave it.
func TestNICHostNames(t *testing.T) {
	e, nd := netEnv(t)
	ctx := context.Background()
	e.launch(t, "c1", nil, false)
	if err := e.patchDevices(t, "c1", map[string]map[string]string{"eth0": {"type": "nic", "network": "nb0", "security.mac_filtering": "true"}}); err != nil {
		t.Fatal(err)
	}
	e.state(t, "c1", "start")
	in, _ := e.db.GetInstance(ctx, "c1")
	host := in.Config["volatile.eth0.host_name"]
	if host != e.d.vethName("c1", "eth0") {
		t.Fatalf("volatile.eth0.host_name = %q, want %q", host, e.d.vethName("c1", "eth0"))
	}
	if other := newDaemonEnv(t).d.vethName("c1", "eth0"); other == host {
		t.Fatalf("two lodgeds name c1's eth0 alike: %s", host)
	}
	if sp, _ := e.drv.Spec("c1"); len(sp.NICs) != 1 || sp.NICs[0].HostName != host {
		t.Fatalf("the runtime spec's NIC is not %s: %+v", host, sp.NICs)
	}
	if _, ok := nd.Filter(host); !ok {
		t.Fatalf("no filter on %s", host)
	}
	e.state(t, "c1", "stop")

	// Renamed while stopped: the next start names it anew.
	if err := e.d.renameInstance(ctx, "c1", "c2"); err != nil {
		t.Fatal(err)
	}
	e.state(t, "c2", "start")
	in, _ = e.db.GetInstance(ctx, "c2")
	if got := in.Config["volatile.eth0.host_name"]; got != e.d.vethName("c2", "eth0") {
		t.Fatalf("after the rename, host_name = %q, want %q", got, e.d.vethName("c2", "eth0"))
	}

	// Started by a lodge that stored no name: found by that lodge's name.
	delete(in.Config, "volatile.eth0.host_name")
	if hs := e.d.hostNICs(ctx, e.d.mustExpand(ctx, in)); len(hs) != 1 || hs[0].host != legacyVethName("c2", "eth0") {
		t.Fatalf("without a stored name: %+v, want %s", hs, legacyVethName("c2", "eth0"))
	}
}

// A list's veths are named from the instance's config: host_name, else
// the name stored at start; an interface that is no veth, one already
// named and one with no NIC stay as the driver gave them.
func TestWithHostNames(t *testing.T) {
	cfg := map[string]string{"volatile.eth0.host_name": "vethabc", "volatile.eth1.host_name": "vethdef"}
	devs := map[string]map[string]string{
		"eth0": {"type": "nic", "network": "nb0", "name": "eth0"},
		"eth1": {"type": "nic", "nictype": "bridged", "parent": "br1"}, // no name: the device's
		"eth2": {"type": "nic", "nictype": "bridged", "parent": "br1", "name": "net2", "host_name": "mine2"},
		"mv":   {"type": "nic", "nictype": "macvlan", "parent": "eno1", "name": "mv0"},
		"root": {"type": "disk", "path": "/", "pool": "default"},
	}
	st := instances.State{Status: instances.StatusRunning, Interfaces: map[string]instances.Interface{
		"lo":   {Type: "loopback"},
		"eth0": {Veth: true},
		"eth1": {Veth: true},
		"net2": {Veth: true},
		"mv0":  {},
		"eth9": {Veth: true, HostName: "told"},
	}}
	got := withHostNames("c1", cfg, devs, st)
	want := map[string]string{"lo": "", "eth0": "vethabc", "eth1": "vethdef", "net2": "mine2", "mv0": "", "eth9": "told"}
	for n, h := range want {
		if got.Interfaces[n].HostName != h {
			t.Errorf("%s: host name %q, want %q", n, got.Interfaces[n].HostName, h)
		}
	}
	if st.Interfaces["eth0"].HostName != "" {
		t.Error("the driver's state was changed in place")
	}
}
