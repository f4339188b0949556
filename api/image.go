package api

import "time"

// ImagePut is the writable part of an image.
type ImagePut struct {
	AutoUpdate bool              `json:"auto_update" yaml:"auto_update"`
	Properties map[string]string `json:"properties" yaml:"properties"`
	Public     bool              `json:"public" yaml:"public"`
	ExpiresAt  time.Time         `json:"expires_at" yaml:"expires_at"`
	Profiles   []string          `json:"profiles" yaml:"profiles"`
}

// Image is GET /1.0/images/{fingerprint}.
type Image struct {
	ImagePut     `yaml:",inline"`
	Aliases      []ImageAlias `json:"aliases" yaml:"aliases"`
	Architecture string       `json:"architecture" yaml:"architecture"`
	Cached       bool         `json:"cached" yaml:"cached"`
	Filename     string       `json:"filename" yaml:"filename"`
	Fingerprint  string       `json:"fingerprint" yaml:"fingerprint"`
	Size         int64        `json:"size" yaml:"size"`
	Type         string       `json:"type" yaml:"type"`
	CreatedAt    time.Time    `json:"created_at" yaml:"created_at"`
	LastUsedAt   time.Time    `json:"last_used_at" yaml:"last_used_at"`
	UploadedAt   time.Time    `json:"uploaded_at" yaml:"uploaded_at"`
}

// ImageAlias is an alias as listed inside an image.
type ImageAlias struct {
	Name        string `json:"name" yaml:"name"`
	Description string `json:"description" yaml:"description"`
}

// ImageAliasesPost is the body of POST /1.0/images/aliases.
type ImageAliasesPost struct {
	ImageAliasesEntryPut `yaml:",inline"`
	Name                 string `json:"name" yaml:"name"`
	Type                 string `json:"type" yaml:"type"`
}

// ImageAliasesEntryPut is the writable part of an alias.
type ImageAliasesEntryPut struct {
	Description string `json:"description" yaml:"description"`
	Target      string `json:"target" yaml:"target"`
}

// ImageAliasesEntry is GET /1.0/images/aliases/{name}.
type ImageAliasesEntry struct {
	ImageAliasesEntryPut `yaml:",inline"`
	Name                 string `json:"name" yaml:"name"`
	Type                 string `json:"type" yaml:"type"`
}

// ImageMetadata is the metadata.yaml inside an image tarball.
type ImageMetadata struct {
	Architecture string            `json:"architecture" yaml:"architecture"`
	CreationDate int64             `json:"creation_date" yaml:"creation_date"`
	ExpiryDate   int64             `json:"expiry_date" yaml:"expiry_date"`
	Properties   map[string]string `json:"properties" yaml:"properties"`
}
