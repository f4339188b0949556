package api

// Resources is GET /1.0/resources: the host's CPUs, memory and disks (the
// subset of LXD's object that lodge fills in; field names are LXD's).
type Resources struct {
	CPU     ResourcesCPU     `json:"cpu" yaml:"cpu"`
	Memory  ResourcesMemory  `json:"memory" yaml:"memory"`
	Storage ResourcesStorage `json:"storage" yaml:"storage"`
	// HostLimits are the kernel limits lodged raised (or could not) at
	// its start, in the order it applied them.
	HostLimits []ResourcesHostLimit `json:"host_limits,omitempty" yaml:"host_limits,omitempty"`
}

// ResourcesCPU is the host's processors.
type ResourcesCPU struct {
	Architecture string               `json:"architecture" yaml:"architecture"`
	Sockets      []ResourcesCPUSocket `json:"sockets" yaml:"sockets"`
	Total        uint64               `json:"total" yaml:"total"`
}

// ResourcesCPUSocket is one CPU package.
type ResourcesCPUSocket struct {
	Name   string             `json:"name" yaml:"name"`
	Vendor string             `json:"vendor" yaml:"vendor"`
	Socket uint64             `json:"socket" yaml:"socket"`
	Cores  []ResourcesCPUCore `json:"cores" yaml:"cores"`
}

// ResourcesCPUCore is one core and its hardware threads.
type ResourcesCPUCore struct {
	Core    uint64               `json:"core" yaml:"core"`
	Threads []ResourcesCPUThread `json:"threads" yaml:"threads"`
}

// ResourcesCPUThread is one logical CPU.
type ResourcesCPUThread struct {
	ID     int64  `json:"id" yaml:"id"`
	Thread uint64 `json:"thread" yaml:"thread"`
	Online bool   `json:"online" yaml:"online"`
}

// ResourcesMemory is the host's memory in bytes.
type ResourcesMemory struct {
	Used  uint64 `json:"used" yaml:"used"`
	Total uint64 `json:"total" yaml:"total"`
}

// ResourcesStorage is the host's block devices.
type ResourcesStorage struct {
	Disks []ResourcesStorageDisk `json:"disks" yaml:"disks"`
	Total uint64                 `json:"total" yaml:"total"`
}

// ResourcesStorageDisk is one disk.
type ResourcesStorageDisk struct {
	ID        string `json:"id" yaml:"id"`
	Device    string `json:"device" yaml:"device"`
	Model     string `json:"model" yaml:"model"`
	Type      string `json:"type" yaml:"type"`
	ReadOnly  bool   `json:"read_only" yaml:"read_only"`
	Size      uint64 `json:"size" yaml:"size"`
	Removable bool   `json:"removable" yaml:"removable"`
}

// ResourcesHostLimit is one kernel limit lodged raises at start for many
// containers on one host (a lodge extension; LXD has no such field).
type ResourcesHostLimit struct {
	Key     string `json:"key" yaml:"key"`
	Value   int64  `json:"value" yaml:"value"`
	Minimum int64  `json:"minimum" yaml:"minimum"`
	// RaisedFrom is the value lodged found, when it raised it.
	RaisedFrom *int64 `json:"raised_from,omitempty" yaml:"raised_from,omitempty"`
	Error      string `json:"error,omitempty" yaml:"error,omitempty"`
	Why        string `json:"why" yaml:"why"`
}
