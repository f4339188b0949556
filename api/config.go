package api

// ConfigKey documents one config key (GET /1.0/metadata/configuration, a
// simplified form of Incus's endpoint of that name).
type ConfigKey struct {
	Name       string `json:"name" yaml:"name"`
	Type       string `json:"type" yaml:"type"`
	Default    string `json:"default" yaml:"default"`
	LiveUpdate bool   `json:"liveupdate" yaml:"liveupdate"`
	ShortDesc  string `json:"shortdesc" yaml:"shortdesc"`
	// AppliesTo limits a device key to some kinds of its device (see
	// DeviceKind); empty means every kind.
	AppliesTo []string `json:"applies_to,omitempty" yaml:"applies_to,omitempty"`
}

// ConfigNamespace documents a free-form key namespace such as user.*.
type ConfigNamespace struct {
	Prefix    string `json:"prefix" yaml:"prefix"`
	ShortDesc string `json:"shortdesc" yaml:"shortdesc"`
}

// ConfigMetadata is GET /1.0/metadata/configuration: the keys per entity.
type ConfigMetadata struct {
	Instance ConfigEntity `json:"instance" yaml:"instance"`
	// Devices documents the keys of each device type lodged accepts.
	Devices map[string]DeviceEntity `json:"devices,omitempty" yaml:"devices,omitempty"`
	// DeviceTypesNotYet are LXD's device types lodged refuses for now.
	DeviceTypesNotYet []string `json:"device_types_not_supported_yet,omitempty" yaml:"device_types_not_supported_yet,omitempty"`
}

// DeviceEntity documents one device type.
type DeviceEntity struct {
	ShortDesc string      `json:"shortdesc" yaml:"shortdesc"`
	Keys      []ConfigKey `json:"keys" yaml:"keys"`
	// Kinds are the flavours of this type that decide which keys apply.
	Kinds []DeviceKindDoc `json:"kinds,omitempty" yaml:"kinds,omitempty"`
	// NotYet are LXD's keys of this type that lodged refuses for now.
	NotYet []string `json:"not_supported_yet,omitempty" yaml:"not_supported_yet,omitempty"`
	// NotYetValues are LXD's values of a key that lodged refuses for now
	// (nictype: routed, ...).
	NotYetValues map[string][]string `json:"not_supported_yet_values,omitempty" yaml:"not_supported_yet_values,omitempty"`
}

// DeviceKindDoc documents one kind of a device type.
type DeviceKindDoc struct {
	Name      string `json:"name" yaml:"name"`
	ShortDesc string `json:"shortdesc" yaml:"shortdesc"`
}

// DeviceKind is the flavour of a device that decides which of its type's
// keys apply: for a nic "network" with network=, else its nictype; for a
// disk "root" (path=/) or "mount"; "" for other types. The server's
// registry and the CLI (which marks refused keys in config show) both use it.
func DeviceKind(d map[string]string) string {
	switch d["type"] {
	case "nic":
		if d["network"] != "" {
			return "network"
		}
		return d["nictype"]
	case "disk":
		if d["path"] == "/" {
			return "root"
		}
		return "mount"
	}
	return ""
}

// ConfigEntity lists the keys of one kind of object.
type ConfigEntity struct {
	Keys       []ConfigKey       `json:"keys" yaml:"keys"`
	Namespaces []ConfigNamespace `json:"namespaces" yaml:"namespaces"`
}
