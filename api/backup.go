package api

import "time"

// InstanceBackupsPost is the body of POST /1.0/instances/{name}/backups.
type InstanceBackupsPost struct {
	// Name is the backup's name; "" picks backupN.
	Name string `json:"name" yaml:"name"`
	// ExpiresAt, if set, is when lodged deletes the backup.
	ExpiresAt time.Time `json:"expires_at" yaml:"expires_at"`
	// InstanceOnly leaves the snapshots out (ContainerOnly is its old name).
	InstanceOnly  bool `json:"instance_only" yaml:"instance_only"`
	ContainerOnly bool `json:"container_only" yaml:"container_only"`
	// OptimizedStorage writes btrfs send streams (btrfs pools only; on
	// other pools the backup is a plain tarball, as in LXD).
	OptimizedStorage bool `json:"optimized_storage" yaml:"optimized_storage"`
	// CompressionAlgorithm is one of gzip, bzip2, xz, zstd, lzma, none;
	// "" is the server's backups.compression_algorithm.
	CompressionAlgorithm string `json:"compression_algorithm" yaml:"compression_algorithm"`
}

// InstanceBackup is GET /1.0/instances/{name}/backups/{backup}.
type InstanceBackup struct {
	Name             string    `json:"name" yaml:"name"`
	CreatedAt        time.Time `json:"created_at" yaml:"created_at"`
	ExpiresAt        time.Time `json:"expires_at" yaml:"expires_at"`
	InstanceOnly     bool      `json:"instance_only" yaml:"instance_only"`
	ContainerOnly    bool      `json:"container_only" yaml:"container_only"`
	OptimizedStorage bool      `json:"optimized_storage" yaml:"optimized_storage"`
}

// InstanceBackupPost is the body of POST /1.0/instances/{name}/backups/{backup}: a rename.
type InstanceBackupPost struct {
	Name string `json:"name" yaml:"name"`
}
