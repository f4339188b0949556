package api

// ImagesPost is the JSON body of POST /1.0/images (LXD's ImagesPost): an
// image copied from a remote (source.type "image"), published from an
// instance, or fetched from a URL.
type ImagesPost struct {
	ImagePut             `yaml:",inline"`
	Filename             string             `json:"filename" yaml:"filename"`
	Source               *ImagesPostSource  `json:"source" yaml:"source"`
	CompressionAlgorithm string             `json:"compression_algorithm" yaml:"compression_algorithm"`
	Aliases              []ImageAliasesPost `json:"aliases" yaml:"aliases"`
}

// ImagesPostSource says where the image of a POST /1.0/images comes from.
type ImagesPostSource struct {
	Type        string `json:"type" yaml:"type"` // image, instance, snapshot, url
	Mode        string `json:"mode" yaml:"mode"` // pull (the daemon downloads)
	Server      string `json:"server" yaml:"server"`
	Protocol    string `json:"protocol" yaml:"protocol"` // lxd or simplestreams
	Certificate string `json:"certificate" yaml:"certificate"`
	Secret      string `json:"secret" yaml:"secret"`
	Alias       string `json:"alias" yaml:"alias"`
	Fingerprint string `json:"fingerprint" yaml:"fingerprint"`
	ImageType   string `json:"image_type" yaml:"image_type"`
	Name        string `json:"name" yaml:"name"`
	URL         string `json:"url" yaml:"url"`
}

// ServerPut is the writable part of GET /1.0 (PUT and PATCH /1.0).
type ServerPut struct {
	Config map[string]any `json:"config" yaml:"config"`
}
