package server

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"lodge/api"
	"lodge/network"
	nfake "lodge/network/fake"
	"lodge/server/daemon"
)

func newNetEnv(t *testing.T) (*testEnv, *nfake.Driver) {
	nd := nfake.New()
	e := newTestEnv(t, func(deps *daemon.Deps) { deps.Networks, deps.DefaultNetwork = nd, "nwdef0" })
	return e, nd
}

func TestNetworksAPI(t *testing.T) {
	e, nd := newNetEnv(t)
	if err := e.d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, ok := nd.Get("nwdef0"); !ok || n.Config["ipv4.address"] != "10.99.0.1/22" || n.Config["ipv4.nat"] != "true" {
		t.Fatalf("default network at first start: %+v", n)
	}
	// Sized for density (issue 24): a /22 whose DHCP range holds 1,000.
	def, _ := nd.Get("nwdef0")
	if c, err := network.DHCPCapacity(def.Config); err != nil || c < 1000 {
		t.Fatalf("default network's DHCP capacity: %d %v", c, err)
	}
	// The default profile got eth0 on it, as lxd init does, so the network
	// is in use until the profile lets go of it.
	_, resp, _ := e.do(t, "GET", "/1.0/profiles/default", "")
	var prof api.Profile
	json.Unmarshal(resp.Metadata, &prof)
	if prof.Devices["eth0"]["network"] != "nwdef0" {
		t.Fatalf("default profile after the default network: %+v", prof.Devices)
	}
	if code, resp, _ := e.do(t, "DELETE", "/1.0/networks/nwdef0", ""); code != 400 || !strings.Contains(resp.Error, "profile(s) default") {
		t.Fatalf("delete default network used by the default profile: %d %s", code, resp.Error)
	}
	delete(prof.Devices, "eth0")
	b, _ := json.Marshal(prof.ProfilePut)
	if code, resp, _ := e.do(t, "PUT", "/1.0/profiles/default", string(b)); code != 200 {
		t.Fatalf("drop eth0 from the default profile: %d %s", code, resp.Error)
	}
	// Deleted, the default network is not made again at the next start.
	if code, resp, _ := e.do(t, "DELETE", "/1.0/networks/nwdef0", ""); code != 200 {
		t.Fatalf("delete default: %d %s", code, resp.Error)
	}
	if err := e.d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := nd.Get("nwdef0"); ok {
		t.Fatal("the deleted default network came back")
	}

	for body, want := range map[string]int{
		`{"name":"nw_bad"}`: 400,
		`{"name":"nwbr1","config":{"ipv4.nat":"maybe"}}`:            400,
		`{"name":"nwbr1","config":{"bridge.driver":"openvswitch"}}`: 400,
		`{"name":"nwbr1","type":"macvlan"}`:                         400,
	} {
		if code, resp, _ := e.do(t, "POST", "/1.0/networks", body); code != want {
			t.Errorf("POST %s: %d %s", body, code, resp.Error)
		}
	}
	if code, resp, _ := e.do(t, "POST", "/1.0/networks", `{"name":"nwbr1","description":"lan","config":{"ipv4.address":"10.123.5.1/24","ipv4.nat":"false"}}`); code != 200 {
		t.Fatalf("create: %d %s", code, resp.Error)
	}
	if code, _, _ := e.do(t, "POST", "/1.0/networks", `{"name":"nwbr1"}`); code != 409 {
		t.Fatalf("duplicate: %d", code)
	}
	code, resp, hdr := e.do(t, "GET", "/1.0/networks/nwbr1", "")
	var n api.Network
	json.Unmarshal(resp.Metadata, &n)
	if code != 200 || !n.Managed || n.Type != "bridge" || n.Config["ipv6.address"] != "none" || n.Description != "lan" || hdr.Get("Etag") == "" {
		t.Fatalf("get: %d %+v", code, n)
	}
	_, resp, _ = e.do(t, "GET", "/1.0/networks", "")
	if string(resp.Metadata) != `["/1.0/networks/nwbr1"]` {
		t.Fatalf("list: %s", resp.Metadata)
	}
	if code, resp, _ := e.do(t, "PATCH", "/1.0/networks/nwbr1", `{"config":{"dns.domain":"nwlan"}}`); code != 200 {
		t.Fatalf("patch: %d %s", code, resp.Error)
	}
	if got, _ := nd.Get("nwbr1"); got.Config["dns.domain"] != "nwlan" || got.Config["ipv4.nat"] != "false" {
		t.Fatalf("patch not applied: %+v", got.Config)
	}
	if code, _, _ := e.do(t, "PUT", "/1.0/networks/nwbr1", `{"config":{}}`, "If-Match", `"stale"`); code != 412 {
		t.Fatalf("stale ETag: %d", code)
	}
	code, resp, _ = e.do(t, "GET", "/1.0/networks/nwbr1/state", "")
	var st api.NetworkState
	json.Unmarshal(resp.Metadata, &st)
	if code != 200 || st.State != "up" || st.Addresses[0].Netmask != "24" {
		t.Fatalf("state: %d %s", code, resp.Metadata)
	}
	if code, _, _ := e.do(t, "GET", "/1.0/networks/nope", ""); code != 404 {
		t.Fatalf("missing network: %d", code)
	}

	// NICs on it: a reservation is checked and reaches dnsmasq's hosts.
	e.uploadImage(t, "busybox", "bb")
	mk := func(name, dev string) (int, api.Response) {
		code, resp, _ := e.do(t, "POST", "/1.0/instances", `{"name":"`+name+`","source":{"type":"image","alias":"bb"},"devices":{"eth0":`+dev+`}}`)
		return code, resp
	}
	for _, bad := range []string{`{"type":"nic","network":"nope"}`, `{"type":"nic","network":"nwbr1","ipv4.address":"10.1.1.5"}`,
		`{"type":"nic","network":"nwbr1","ipv4.address":"10.123.5.1"}`, `{"type":"nic","network":"nwbr1","parent":"lo"}`,
		`{"type":"nic","network":"nwbr1","host_name":"a-name-longer-than-15"}`} {
		if code, resp := mk("nwc0", bad); code != 400 {
			t.Errorf("device %s: %d %s", bad, code, resp.Error)
		}
	}
	code, resp = mk("nwc1", `{"type":"nic","network":"nwbr1","ipv4.address":"10.123.5.50"}`)
	if code != 202 || e.wait(t, resp).StatusCode != api.Success {
		t.Fatalf("create with reservation: %d %s", code, resp.Error)
	}
	if code, resp := mk("nwc2", `{"type":"nic","network":"nwbr1","ipv4.address":"10.123.5.50"}`); code != 400 || !strings.Contains(resp.Error, "nwc1") {
		t.Fatalf("duplicate reservation: %d %s", code, resp.Error)
	}
	in, _ := e.db.GetInstance(context.Background(), "nwc1")
	mac := in.Config["volatile.eth0.hwaddr"]
	if got, _ := nd.Get("nwbr1"); len(got.Hosts) != 1 || got.Hosts[0] != (network.Host{HWAddr: mac, Name: "nwc1", Address: "10.123.5.50"}) {
		t.Fatalf("hosts: %+v (mac %s)", got.Hosts, mac)
	}
	// What the runtime was given at the create.
	spec, ok := e.drv.Spec("nwc1")
	if !ok || len(spec.NICs) != 1 || spec.NICs[0].Type != "veth" || spec.NICs[0].Link != "nwbr1" ||
		!strings.HasPrefix(spec.NICs[0].HostName, "veth") || spec.NICs[0].HWAddr != mac || len(spec.NICs[0].HostName) > 15 {
		t.Fatalf("spec: %+v %v", spec.NICs, ok)
	}
	nd.Leased["nwbr1"] = []network.Lease{{HWAddr: mac, Address: "10.123.5.50"}, {HWAddr: "00:16:3e:00:00:77", Address: "10.123.5.9", Hostname: "other"}}
	_, resp, _ = e.do(t, "GET", "/1.0/networks/nwbr1/leases", "")
	var leases []api.NetworkLease
	json.Unmarshal(resp.Metadata, &leases)
	if len(leases) != 2 || leases[0].Hostname != "nwc1" || leases[0].Type != "static" || leases[1].Type != "dynamic" {
		t.Fatalf("leases: %s", resp.Metadata)
	}
	if code, resp, _ := e.do(t, "DELETE", "/1.0/networks/nwbr1", ""); code != 400 || !strings.Contains(resp.Error, "nwc1") {
		t.Fatalf("delete in use: %d %s", code, resp.Error)
	}
	_, resp, _ = e.do(t, "DELETE", "/1.0/instances/nwc1", "")
	e.wait(t, resp)
	if got, _ := nd.Get("nwbr1"); len(got.Hosts) != 0 {
		t.Fatalf("hosts after the instance went: %+v", got.Hosts)
	}
	if code, resp, _ := e.do(t, "DELETE", "/1.0/networks/nwbr1", ""); code != 200 {
		t.Fatalf("delete: %d %s", code, resp.Error)
	}
}

// New instances get eth0 on the default network (the default profile's NIC).
func TestDefaultNIC(t *testing.T) {
	e, _ := newNetEnv(t)
	if err := e.d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.uploadImage(t, "busybox", "bb")
	_, resp, _ := e.do(t, "POST", "/1.0/instances", `{"name":"nwc3","source":{"type":"image","alias":"bb"}}`)
	e.wait(t, resp)
	_, resp, _ = e.do(t, "GET", "/1.0/instances/nwc3", "")
	var inst api.Instance
	json.Unmarshal(resp.Metadata, &inst)
	if inst.ExpandedDevices["eth0"]["network"] != "nwdef0" || inst.Config["volatile.eth0.hwaddr"] == "" || len(inst.Devices) != 0 {
		t.Fatalf("default NIC: %+v", inst)
	}
	if code, resp, _ := e.do(t, "DELETE", "/1.0/networks/nwdef0", ""); code != 400 || !strings.Contains(resp.Error, "nwc3") {
		t.Fatalf("delete default in use: %d %s", code, resp.Error)
	}
}

// TestDefaultNetworkNameTaken: a name held by another lodged or by an
// interface lodge did not make gives the next free one, said in the
// network's description; a left-over of lodge's own is taken over.
func TestDefaultNetworkNameTaken(t *testing.T) {
	e, nd := newNetEnv(t)
	nd.Held = map[string]network.Ownership{
		"nwdef0": {Holder: network.InUse, Why: "bridge nwdef0 belongs to the lodged of /other, whose dnsmasq (pid 1) serves it"},
		"nwdef1": {Holder: network.Foreign, Why: "host interface nwdef1 is a veth that lodge did not make"},
		"nwdef2": {Holder: network.Ours, Why: "bridge nwdef2 is a left-over of another lodged that nothing serves or uses"},
	}
	if err := e.d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := nd.Get("nwdef2"); !ok {
		t.Fatalf("default network: %v", nd.Nets)
	}
	_, resp, _ := e.do(t, "GET", "/1.0/networks/nwdef2", "")
	var n api.Network
	json.Unmarshal(resp.Metadata, &n)
	if !strings.Contains(n.Description, "nwdef0 was taken") || !strings.Contains(n.Description, "/other") {
		t.Fatalf("description: %q", n.Description)
	}
	_, resp, _ = e.do(t, "GET", "/1.0/profiles/default", "")
	var prof api.Profile
	json.Unmarshal(resp.Metadata, &prof)
	if prof.Devices["eth0"]["network"] != "nwdef2" {
		t.Fatalf("default profile: %+v", prof.Devices)
	}
	// A network created by hand on a name another lodged holds is refused.
	if code, resp, _ := e.do(t, "POST", "/1.0/networks", `{"name":"nwdef0"}`); code != 409 || !strings.Contains(resp.Error, "/other") {
		t.Fatalf("create on a held name: %d %s", code, resp.Error)
	}
}

// A create whose NIC (from a profile too) would find no free DHCP address
// on its network is refused with a 4xx naming the network and its range,
// and leaves no instance; reservations outside the range take none of it,
// and a copy is counted as a create is.
func TestCreateRefusedOnFullNetwork(t *testing.T) {
	e, _ := newNetEnv(t)
	ctx := context.Background()
	if err := e.d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if code, resp, _ := e.do(t, "POST", "/1.0/networks", `{"name":"nwfull","config":{"ipv4.address":"10.124.5.1/24","ipv4.dhcp.ranges":"10.124.5.10-10.124.5.11"}}`); code != 200 {
		t.Fatalf("create network: %d %s", code, resp.Error)
	}
	if code, resp, _ := e.do(t, "POST", "/1.0/profiles", `{"name":"nwfull","devices":{"eth1":{"type":"nic","network":"nwfull","name":"eth1"}}}`); code != 200 {
		t.Fatalf("create profile: %d %s", code, resp.Error)
	}
	e.uploadImage(t, "busybox", "bb")
	mk := func(name, extra string) (int, api.Response) {
		code, resp, _ := e.do(t, "POST", "/1.0/instances", `{"name":"`+name+`","source":{"type":"image","alias":"bb"},"profiles":["default","nwfull"]`+extra+`}`)
		if code == 202 {
			if op := e.wait(t, resp); op.StatusCode != api.Success {
				t.Fatalf("create %s: %s", name, op.Err)
			}
		}
		return code, resp
	}
	// A reservation outside the range does not use it up.
	if code, resp := mk("nwf0", `,"devices":{"eth1":{"type":"nic","network":"nwfull","name":"eth1","ipv4.address":"10.124.5.50"}}`); code != 202 {
		t.Fatalf("create with a reservation outside the range: %d %s", code, resp.Error)
	}
	for _, n := range []string{"nwf1", "nwf2"} {
		if code, resp := mk(n, ""); code != 202 {
			t.Fatalf("create %s on a network with room: %d %s", n, code, resp.Error)
		}
	}
	code, resp := mk("nwf3", "")
	if code != 409 || !strings.Contains(resp.Error, `"nwfull"`) || !strings.Contains(resp.Error, "10.124.5.10-10.124.5.11") || !strings.Contains(resp.Error, "/22") {
		t.Fatalf("create on the full network: %d %s", code, resp.Error)
	}
	if code, _, _ := e.do(t, "GET", "/1.0/instances/nwf3", ""); code != 404 {
		t.Fatalf("the refused create left an instance: %d", code)
	}
	if code, resp, _ := e.do(t, "POST", "/1.0/instances", `{"name":"nwf4","source":{"type":"copy","source":"nwf1"}}`); code != 409 || !strings.Contains(resp.Error, `"nwfull"`) {
		t.Fatalf("copy onto the full network: %d %s", code, resp.Error)
	}
	// A migration target checks before it connects to its source.
	_, resp, _ = e.do(t, "GET", "/1.0", "")
	var info api.Server
	if err := json.Unmarshal(resp.Metadata, &info); err != nil {
		t.Fatal(err)
	}
	cert, _ := json.Marshal(info.Environment.Certificate)
	mig := `{"name":"nwf5","profiles":["default","nwfull"],"source":{"type":"migration","certificate":` + string(cert) +
		`,"operation":"https://127.0.0.1:1/1.0/operations/x","secrets":{"control":"a","fs":"b"}}}`
	if code, resp, _ := e.do(t, "POST", "/1.0/instances", mig); code != 409 || !strings.Contains(resp.Error, `"nwfull"`) {
		t.Fatalf("migration onto the full network: %d %s", code, resp.Error)
	}
	if code, _, _ := e.do(t, "GET", "/1.0/instances/nwf5", ""); code != 404 {
		t.Fatalf("the refused migration left an instance: %d", code)
	}
	// Deleting one makes room again.
	if code, resp, _ := e.do(t, "DELETE", "/1.0/instances/nwf2", ""); code != 202 || e.wait(t, resp).StatusCode != api.Success {
		t.Fatalf("delete: %d %s", code, resp.Error)
	}
	if code, resp := mk("nwf3", ""); code != 202 {
		t.Fatalf("create after a delete made room: %d %s", code, resp.Error)
	}
}
