package api

import "time"

// StoragePoolPut is the writable part of a storage pool.
type StoragePoolPut struct {
	Config      map[string]string `json:"config" yaml:"config"`
	Description string            `json:"description" yaml:"description"`
}

// StoragePool is GET /1.0/storage-pools/{name}.
type StoragePool struct {
	StoragePoolPut `yaml:",inline"`
	Name           string   `json:"name" yaml:"name"`
	Driver         string   `json:"driver" yaml:"driver"`
	UsedBy         []string `json:"used_by" yaml:"used_by"`
	Status         string   `json:"status" yaml:"status"`
	Locations      []string `json:"locations" yaml:"locations"`
}

// StoragePoolsPost is the body of POST /1.0/storage-pools.
type StoragePoolsPost struct {
	StoragePoolPut `yaml:",inline"`
	Name           string `json:"name" yaml:"name"`
	Driver         string `json:"driver" yaml:"driver"`
}

// ResourcesStoragePool is GET /1.0/storage-pools/{name}/resources.
type ResourcesStoragePool struct {
	Space  ResourcesStoragePoolSpace  `json:"space,omitempty" yaml:"space,omitempty"`
	Inodes ResourcesStoragePoolInodes `json:"inodes,omitempty" yaml:"inodes,omitempty"`
}

// ResourcesStoragePoolSpace is a pool's space in bytes.
type ResourcesStoragePoolSpace struct {
	Used  uint64 `json:"used,omitempty" yaml:"used,omitempty"`
	Total uint64 `json:"total" yaml:"total"`
}

// ResourcesStoragePoolInodes is a pool's inode counts.
type ResourcesStoragePoolInodes struct {
	Used  uint64 `json:"used" yaml:"used"`
	Total uint64 `json:"total" yaml:"total"`
}

// InstanceSnapshotsPost is the body of POST /1.0/instances/{name}/snapshots.
type InstanceSnapshotsPost struct {
	Name      string     `json:"name" yaml:"name"`
	Stateful  bool       `json:"stateful" yaml:"stateful"`
	ExpiresAt *time.Time `json:"expires_at" yaml:"expires_at"`
}

// InstanceSnapshotPost is the body of POST /1.0/instances/{name}/snapshots/{snap}:
// a rename, or with migration the snapshot as a migration source.
type InstanceSnapshotPost struct {
	Name      string              `json:"name" yaml:"name"`
	Migration bool                `json:"migration" yaml:"migration"`
	Live      bool                `json:"live,omitempty" yaml:"live,omitempty"`
	Target    *InstancePostTarget `json:"target,omitempty" yaml:"target,omitempty"`
}

// InstanceSnapshotPut is the writable part of a snapshot.
type InstanceSnapshotPut struct {
	ExpiresAt time.Time `json:"expires_at" yaml:"expires_at"`
}

// InstanceSnapshot is GET /1.0/instances/{name}/snapshots/{snap}.
type InstanceSnapshot struct {
	InstanceSnapshotPut `yaml:",inline"`
	Architecture        string                       `json:"architecture" yaml:"architecture"`
	Config              map[string]string            `json:"config" yaml:"config"`
	CreatedAt           time.Time                    `json:"created_at" yaml:"created_at"`
	Devices             map[string]map[string]string `json:"devices" yaml:"devices"`
	Ephemeral           bool                         `json:"ephemeral" yaml:"ephemeral"`
	ExpandedConfig      map[string]string            `json:"expanded_config,omitempty" yaml:"expanded_config,omitempty"`
	ExpandedDevices     map[string]map[string]string `json:"expanded_devices,omitempty" yaml:"expanded_devices,omitempty"`
	LastUsedAt          time.Time                    `json:"last_used_at" yaml:"last_used_at"`
	Name                string                       `json:"name" yaml:"name"`
	Profiles            []string                     `json:"profiles" yaml:"profiles"`
	Stateful            bool                         `json:"stateful" yaml:"stateful"`
	Size                int64                        `json:"size" yaml:"size"`
}

// InstancePost is the body of POST /1.0/instances/{name}: a rename, with
// pool a move to another storage pool, or with migration (and no pool)
// the instance as the source of a migration to another server.
type InstancePost struct {
	Name      string `json:"name" yaml:"name"`
	Migration bool   `json:"migration" yaml:"migration"`
	// Live asks for a live (CRIU) migration of a running instance; LXD
	// counts a missing value as true.
	Live              *bool               `json:"live,omitempty" yaml:"live,omitempty"`
	InstanceOnly      bool                `json:"instance_only" yaml:"instance_only"`
	ContainerOnly     bool                `json:"container_only" yaml:"container_only"`
	Pool              string              `json:"pool,omitempty" yaml:"pool,omitempty"`
	Project           string              `json:"project,omitempty" yaml:"project,omitempty"`
	AllowInconsistent bool                `json:"allow_inconsistent" yaml:"allow_inconsistent"`
	Target            *InstancePostTarget `json:"target,omitempty" yaml:"target,omitempty"`
}

// InstancePostTarget is where a migration source pushes to: the target's
// websocket operation (https://HOST:PORT/1.0/operations/ID), the secrets
// of its websockets by name (control, fs) and its certificate (PEM).
type InstancePostTarget struct {
	Certificate string            `json:"certificate" yaml:"certificate"`
	Operation   string            `json:"operation,omitempty" yaml:"operation,omitempty"`
	Websockets  map[string]string `json:"secrets,omitempty" yaml:"secrets,omitempty"`
}

// ImagesPublishPost is the body of POST /1.0/images when publishing an
// instance or snapshot (LXD's api.ImagesPost, the fields publish uses).
type ImagesPublishPost struct {
	ImagePut             `yaml:",inline"`
	Filename             string                  `json:"filename" yaml:"filename"`
	Source               ImagesPublishPostSource `json:"source" yaml:"source"`
	CompressionAlgorithm string                  `json:"compression_algorithm" yaml:"compression_algorithm"`
	Aliases              []ImageAlias            `json:"aliases" yaml:"aliases"`
}

// ImagesPublishPostSource names what to publish: type "instance" (or
// "container") with name "c1", or type "snapshot" with name "c1/snap".
type ImagesPublishPostSource struct {
	Type string `json:"type" yaml:"type"`
	Name string `json:"name" yaml:"name"`
}

// StorageVolume is GET /1.0/storage-pools/{pool}/volumes/{type}/{name}.
type StorageVolume struct {
	Config      map[string]string `json:"config" yaml:"config"`
	Description string            `json:"description" yaml:"description"`
	Name        string            `json:"name" yaml:"name"`
	Type        string            `json:"type" yaml:"type"`
	UsedBy      []string          `json:"used_by" yaml:"used_by"`
	Location    string            `json:"location" yaml:"location"`
	ContentType string            `json:"content_type" yaml:"content_type"`
}

// StorageVolumesPost is the body of POST /1.0/storage-pools/{pool}/volumes[/{type}].
type StorageVolumesPost struct {
	Config      map[string]string `json:"config" yaml:"config"`
	Description string            `json:"description" yaml:"description"`
	Name        string            `json:"name" yaml:"name"`
	Type        string            `json:"type" yaml:"type"`
	ContentType string            `json:"content_type" yaml:"content_type"`
}

// InstanceRebuildPost is the body of POST /1.0/instances/{name}/rebuild.
type InstanceRebuildPost struct {
	Source InstanceSource `json:"source" yaml:"source"`
}

// StorageVolumePut is the writable part of a storage volume.
type StorageVolumePut struct {
	Config      map[string]string `json:"config" yaml:"config"`
	Description string            `json:"description" yaml:"description"`
}

// StoragePoolDeleted is the metadata of DELETE /1.0/storage-pools/{name}
// (lodge's own; LXD answers {}): what lodged left on disk.
type StoragePoolDeleted struct {
	// Forgotten is set when only the pool's record went and nothing on
	// disk was touched: why (its marker is missing or another lodged's).
	Forgotten string `json:"forgotten,omitempty" yaml:"forgotten,omitempty"`
	// Left lists lodge's directories that stayed because they still hold
	// what lodge has no record of.
	Left []string `json:"left,omitempty" yaml:"left,omitempty"`
}
