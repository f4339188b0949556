package api

// NetworkPut is the writable part of a network (LXD's api.NetworkPut).
type NetworkPut struct {
	Config      map[string]string `json:"config" yaml:"config"`
	Description string            `json:"description" yaml:"description"`
}

// NetworksPost creates a network.
type NetworksPost struct {
	NetworkPut `yaml:",inline"`
	Name       string `json:"name" yaml:"name"`
	Type       string `json:"type" yaml:"type"`
}

// Network is GET /1.0/networks/{name}.
type Network struct {
	NetworkPut `yaml:",inline"`
	Name       string   `json:"name" yaml:"name"`
	Type       string   `json:"type" yaml:"type"`
	UsedBy     []string `json:"used_by" yaml:"used_by"`
	Managed    bool     `json:"managed" yaml:"managed"`
	Status     string   `json:"status" yaml:"status"`
	Locations  []string `json:"locations" yaml:"locations"`
}

// NetworkState is GET /1.0/networks/{name}/state.
type NetworkState struct {
	Addresses []NetworkStateAddress `json:"addresses" yaml:"addresses"`
	Counters  NetworkStateCounters  `json:"counters" yaml:"counters"`
	Hwaddr    string                `json:"hwaddr" yaml:"hwaddr"`
	Mtu       int                   `json:"mtu" yaml:"mtu"`
	State     string                `json:"state" yaml:"state"`
	Type      string                `json:"type" yaml:"type"`
	Bond      any                   `json:"bond" yaml:"bond"`
	Bridge    *NetworkStateBridge   `json:"bridge" yaml:"bridge"`
	VLAN      any                   `json:"vlan" yaml:"vlan"`
}

// NetworkStateAddress is one address of a network's host interface.
type NetworkStateAddress struct {
	Family  string `json:"family" yaml:"family"`
	Address string `json:"address" yaml:"address"`
	Netmask string `json:"netmask" yaml:"netmask"`
	Scope   string `json:"scope" yaml:"scope"`
}

// NetworkStateCounters are a network interface's traffic counters.
type NetworkStateCounters struct {
	BytesReceived   int64 `json:"bytes_received" yaml:"bytes_received"`
	BytesSent       int64 `json:"bytes_sent" yaml:"bytes_sent"`
	PacketsReceived int64 `json:"packets_received" yaml:"packets_received"`
	PacketsSent     int64 `json:"packets_sent" yaml:"packets_sent"`
}

// NetworkStateBridge describes a bridge's settings and ports.
type NetworkStateBridge struct {
	ID            string   `json:"id" yaml:"id"`
	STP           bool     `json:"stp" yaml:"stp"`
	ForwardDelay  uint64   `json:"forward_delay" yaml:"forward_delay"`
	VLANDefault   uint64   `json:"vlan_default" yaml:"vlan_default"`
	VLANFiltering bool     `json:"vlan_filtering" yaml:"vlan_filtering"`
	UpperDevices  []string `json:"upper_devices" yaml:"upper_devices"`
}

// NetworkLease is one DHCP lease on a managed network.
type NetworkLease struct {
	Hostname string `json:"hostname" yaml:"hostname"`
	Hwaddr   string `json:"hwaddr" yaml:"hwaddr"`
	Address  string `json:"address" yaml:"address"`
	Type     string `json:"type" yaml:"type"`
	Location string `json:"location" yaml:"location"`
}

// NetworkForwardPort is one port rule of a network forward (LXD 5.0's
// api.NetworkForwardPort): listen ports of a protocol sent to a target.
type NetworkForwardPort struct {
	Description   string `json:"description" yaml:"description"`
	Protocol      string `json:"protocol" yaml:"protocol"`
	ListenPort    string `json:"listen_port" yaml:"listen_port"`
	TargetPort    string `json:"target_port" yaml:"target_port"`
	TargetAddress string `json:"target_address" yaml:"target_address"`
}

// NetworkForwardPut is the writable part of a network forward; Config
// holds target_address (the default target) and user.* keys.
type NetworkForwardPut struct {
	Description string               `json:"description" yaml:"description"`
	Config      map[string]string    `json:"config" yaml:"config"`
	Ports       []NetworkForwardPort `json:"ports" yaml:"ports"`
}

// NetworkForwardsPost creates a network forward
// (POST /1.0/networks/{name}/forwards).
type NetworkForwardsPost struct {
	NetworkForwardPut `yaml:",inline"`
	ListenAddress     string `json:"listen_address" yaml:"listen_address"`
}

// NetworkForward is GET /1.0/networks/{name}/forwards/{listen_address}.
type NetworkForward struct {
	NetworkForwardPut `yaml:",inline"`
	ListenAddress     string `json:"listen_address" yaml:"listen_address"`
	Location          string `json:"location" yaml:"location"`
}
