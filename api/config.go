package api

// ConfigKey documents one config key (GET /1.0/metadata/configuration, a
// simplified form of Incus's endpoint of that name).
type ConfigKey struct {
	Name       string `json:"name" yaml:"name"`
	Type       string `json:"type" yaml:"type"`
	Default    string `json:"default" yaml:"default"`
	LiveUpdate bool   `json:"liveupdate" yaml:"liveupdate"`
	ShortDesc  string `json:"shortdesc" yaml:"shortdesc"`
}

// ConfigNamespace documents a free-form key namespace such as user.*.
type ConfigNamespace struct {
	Prefix    string `json:"prefix" yaml:"prefix"`
	ShortDesc string `json:"shortdesc" yaml:"shortdesc"`
}

// ConfigMetadata is GET /1.0/metadata/configuration: the keys per entity.
type ConfigMetadata struct {
	Instance ConfigEntity `json:"instance" yaml:"instance"`
}

// ConfigEntity lists the keys of one kind of object.
type ConfigEntity struct {
	Keys       []ConfigKey       `json:"keys" yaml:"keys"`
	Namespaces []ConfigNamespace `json:"namespaces" yaml:"namespaces"`
}
