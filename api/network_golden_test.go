package api

// Network shapes, pinned like the others (kept in their own file so the
// goldens map in golden_test.go stays untouched).
func init() {
	goldens["network"] = Network{NetworkPut: NetworkPut{Config: map[string]string{"ipv4.address": "10.12.34.1/24", "ipv4.nat": "true", "ipv6.address": "none"}},
		Name: "lodgebr0", Type: "bridge", UsedBy: []string{"/1.0/instances/c01"}, Managed: true, Status: "Created", Locations: []string{"none"}}
	goldens["network_state"] = NetworkState{Addresses: []NetworkStateAddress{{Family: "inet", Address: "10.12.34.1", Netmask: "24", Scope: "global"}},
		Counters: NetworkStateCounters{BytesReceived: 100, BytesSent: 200, PacketsReceived: 1, PacketsSent: 2},
		Hwaddr:   "00:16:3e:00:00:01", Mtu: 1500, State: "up", Type: "broadcast",
		Bridge: &NetworkStateBridge{ID: "8000.00163e000001", ForwardDelay: 1500, VLANDefault: 1, UpperDevices: []string{"veth1234abcd"}}}
	goldens["network_lease"] = NetworkLease{Hostname: "c01", Hwaddr: "00:16:3e:00:00:02", Address: "10.12.34.50", Type: "dynamic", Location: "none"}
	goldens["network_forward"] = NetworkForward{ListenAddress: "192.0.2.20", Location: "none", NetworkForwardPut: NetworkForwardPut{
		Description: "web", Config: map[string]string{"target_address": "10.12.34.5"},
		Ports: []NetworkForwardPort{{Description: "https", Protocol: "tcp", ListenPort: "443,8443", TargetPort: "443", TargetAddress: "10.12.34.6"}}}}
	goldens["networks_post"] = NetworksPost{NetworkPut: NetworkPut{Config: map[string]string{"ipv4.address": "auto"}}, Name: "lan0", Type: "bridge"}
}
