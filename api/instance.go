package api

import "time"

// InstancePut is the writable part of an instance (PUT /1.0/instances/{name}).
type InstancePut struct {
	Architecture string                       `json:"architecture" yaml:"architecture"`
	Config       map[string]string            `json:"config" yaml:"config"`
	Devices      map[string]map[string]string `json:"devices" yaml:"devices"`
	Ephemeral    bool                         `json:"ephemeral" yaml:"ephemeral"`
	Profiles     []string                     `json:"profiles" yaml:"profiles"`
	Stateful     bool                         `json:"stateful" yaml:"stateful"`
	Description  string                       `json:"description" yaml:"description"`
	// Restore names a snapshot to restore; lodge refuses it until snapshots exist.
	Restore string `json:"restore,omitempty" yaml:"restore,omitempty"`
}

// Instance is GET /1.0/instances/{name}.
type Instance struct {
	InstancePut     `yaml:",inline"`
	CreatedAt       time.Time                    `json:"created_at" yaml:"created_at"`
	ExpandedConfig  map[string]string            `json:"expanded_config" yaml:"expanded_config"`
	ExpandedDevices map[string]map[string]string `json:"expanded_devices" yaml:"expanded_devices"`
	Name            string                       `json:"name" yaml:"name"`
	Status          string                       `json:"status" yaml:"status"`
	StatusCode      StatusCode                   `json:"status_code" yaml:"status_code"`
	LastUsedAt      time.Time                    `json:"last_used_at" yaml:"last_used_at"`
	Location        string                       `json:"location" yaml:"location"`
	Type            string                       `json:"type" yaml:"type"`
	Project         string                       `json:"project" yaml:"project"`
}

// InstanceFull is an instance with its state, as returned by recursion=2.
type InstanceFull struct {
	Instance  `yaml:",inline"`
	State     *InstanceState `json:"state" yaml:"state"`
	Snapshots []any          `json:"snapshots" yaml:"snapshots"`
	Backups   []any          `json:"backups" yaml:"backups"`
}

// InstanceSource says where a new instance's rootfs comes from.
type InstanceSource struct {
	Type              string            `json:"type" yaml:"type"`
	Certificate       string            `json:"certificate" yaml:"certificate"`
	Alias             string            `json:"alias,omitempty" yaml:"alias,omitempty"`
	Fingerprint       string            `json:"fingerprint,omitempty" yaml:"fingerprint,omitempty"`
	Properties        map[string]string `json:"properties,omitempty" yaml:"properties,omitempty"`
	Server            string            `json:"server,omitempty" yaml:"server,omitempty"`
	Secret            string            `json:"secret,omitempty" yaml:"secret,omitempty"`
	Protocol          string            `json:"protocol,omitempty" yaml:"protocol,omitempty"`
	AllowInconsistent bool              `json:"allow_inconsistent" yaml:"allow_inconsistent"`
	// For type "copy": the source instance or "instance/snapshot".
	Source        string `json:"source,omitempty" yaml:"source,omitempty"`
	BaseImage     string `json:"base-image,omitempty" yaml:"base-image,omitempty"`
	InstanceOnly  bool   `json:"instance_only,omitempty" yaml:"instance_only,omitempty"`
	ContainerOnly bool   `json:"container_only,omitempty" yaml:"container_only,omitempty"`
	Live          bool   `json:"live,omitempty" yaml:"live,omitempty"`
	Refresh       bool   `json:"refresh,omitempty" yaml:"refresh,omitempty"`
	// For type "migration": pull (the target connects to the source's
	// operation, with the source's certificate and websocket secrets) or
	// push (the target's operation waits for the source).
	Mode       string            `json:"mode,omitempty" yaml:"mode,omitempty"`
	Operation  string            `json:"operation,omitempty" yaml:"operation,omitempty"`
	Websockets map[string]string `json:"secrets,omitempty" yaml:"secrets,omitempty"`
	// ClusterMoveSourceName: a move between members of a cluster (LXD's
	// cluster_move_source_name): the instance's record exists already and
	// the target takes over its volume; only members send it.
	ClusterMoveSourceName string `json:"cluster_move_source_name,omitempty" yaml:"cluster_move_source_name,omitempty"`
}

// InstancesPost is the body of POST /1.0/instances.
type InstancesPost struct {
	InstancePut  `yaml:",inline"`
	Name         string         `json:"name" yaml:"name"`
	Source       InstanceSource `json:"source" yaml:"source"`
	InstanceType string         `json:"instance_type" yaml:"instance_type"`
	Type         string         `json:"type" yaml:"type"`
	// Start is a lodge extension: create and start in one operation.
	Start bool `json:"start,omitempty" yaml:"start,omitempty"`
}

// InstanceStatePut is the body of PUT /1.0/instances/{name}/state.
type InstanceStatePut struct {
	Action   string `json:"action" yaml:"action"`
	Timeout  int    `json:"timeout" yaml:"timeout"`
	Force    bool   `json:"force" yaml:"force"`
	Stateful bool   `json:"stateful" yaml:"stateful"`
}

// InstanceState is GET /1.0/instances/{name}/state.
type InstanceState struct {
	Status     string                          `json:"status" yaml:"status"`
	StatusCode StatusCode                      `json:"status_code" yaml:"status_code"`
	Disk       map[string]InstanceStateDisk    `json:"disk" yaml:"disk"`
	Memory     InstanceStateMemory             `json:"memory" yaml:"memory"`
	Network    map[string]InstanceStateNetwork `json:"network" yaml:"network"`
	Pid        int64                           `json:"pid" yaml:"pid"`
	Processes  int64                           `json:"processes" yaml:"processes"`
	CPU        InstanceStateCPU                `json:"cpu" yaml:"cpu"`
}

// InstanceStateDisk is one disk's usage.
type InstanceStateDisk struct {
	Usage int64 `json:"usage" yaml:"usage"`
}

// InstanceStateCPU is the instance's CPU time in nanoseconds.
type InstanceStateCPU struct {
	Usage int64 `json:"usage" yaml:"usage"`
}

// InstanceStateMemory is the instance's memory use in bytes.
type InstanceStateMemory struct {
	Usage         int64 `json:"usage" yaml:"usage"`
	UsagePeak     int64 `json:"usage_peak" yaml:"usage_peak"`
	SwapUsage     int64 `json:"swap_usage" yaml:"swap_usage"`
	SwapUsagePeak int64 `json:"swap_usage_peak" yaml:"swap_usage_peak"`
}

// InstanceStateNetwork is one interface inside the instance.
type InstanceStateNetwork struct {
	Addresses []InstanceStateNetworkAddress `json:"addresses" yaml:"addresses"`
	Counters  InstanceStateNetworkCounters  `json:"counters" yaml:"counters"`
	Hwaddr    string                        `json:"hwaddr" yaml:"hwaddr"`
	HostName  string                        `json:"host_name" yaml:"host_name"`
	Mtu       int                           `json:"mtu" yaml:"mtu"`
	State     string                        `json:"state" yaml:"state"`
	Type      string                        `json:"type" yaml:"type"`
}

// InstanceStateNetworkAddress is one address on an interface.
type InstanceStateNetworkAddress struct {
	Family  string `json:"family" yaml:"family"`
	Address string `json:"address" yaml:"address"`
	Netmask string `json:"netmask" yaml:"netmask"`
	Scope   string `json:"scope" yaml:"scope"`
}

// InstanceStateNetworkCounters are an interface's traffic counters.
type InstanceStateNetworkCounters struct {
	BytesReceived   int64 `json:"bytes_received" yaml:"bytes_received"`
	BytesSent       int64 `json:"bytes_sent" yaml:"bytes_sent"`
	PacketsReceived int64 `json:"packets_received" yaml:"packets_received"`
	PacketsSent     int64 `json:"packets_sent" yaml:"packets_sent"`
}

// InstanceExecPost is the body of POST /1.0/instances/{name}/exec.
type InstanceExecPost struct {
	Command      []string          `json:"command" yaml:"command"`
	WaitForWS    bool              `json:"wait-for-websocket" yaml:"wait-for-websocket"`
	Interactive  bool              `json:"interactive" yaml:"interactive"`
	Environment  map[string]string `json:"environment" yaml:"environment"`
	Width        int               `json:"width" yaml:"width"`
	Height       int               `json:"height" yaml:"height"`
	RecordOutput bool              `json:"record-output" yaml:"record-output"`
	User         uint32            `json:"user" yaml:"user"`
	Group        uint32            `json:"group" yaml:"group"`
	Cwd          string            `json:"cwd" yaml:"cwd"`
}

// InstanceExecControl is a message on an exec's control websocket.
type InstanceExecControl struct {
	Command string            `json:"command" yaml:"command"`
	Args    map[string]string `json:"args" yaml:"args"`
	Signal  int               `json:"signal" yaml:"signal"`
}

// InstanceConsolePost is the body of POST /1.0/instances/{name}/console.
type InstanceConsolePost struct {
	Width  int    `json:"width" yaml:"width"`
	Height int    `json:"height" yaml:"height"`
	Type   string `json:"type" yaml:"type"`
}
