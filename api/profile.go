package api

// ProfilePut is the writable part of a profile (PUT /1.0/profiles/{name}).
type ProfilePut struct {
	Config      map[string]string            `json:"config" yaml:"config"`
	Description string                       `json:"description" yaml:"description"`
	Devices     map[string]map[string]string `json:"devices" yaml:"devices"`
}

// Profile is GET /1.0/profiles/{name}.
type Profile struct {
	ProfilePut `yaml:",inline"`
	Name       string   `json:"name" yaml:"name"`
	UsedBy     []string `json:"used_by" yaml:"used_by"`
}

// ProfilesPost is the body of POST /1.0/profiles.
type ProfilesPost struct {
	ProfilePut `yaml:",inline"`
	Name       string `json:"name" yaml:"name"`
}

// ProfilePost renames a profile (POST /1.0/profiles/{name}).
type ProfilePost struct {
	Name string `json:"name" yaml:"name"`
}
