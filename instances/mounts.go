package instances

// Mount is a disk device: Source on the host bind-mounted at Path inside
// the container (storage lane).
type Mount struct {
	Source   string
	Path     string
	ReadOnly bool
	// IsFile makes the mount point a file rather than a directory.
	IsFile bool
	// Shift makes an idmapped mount (mount_setattr MOUNT_ATTR_IDMAP with
	// the container's user namespace): a file owned by host id n shows
	// as container id n inside, as LXD's shift=true. Ignored for a
	// privileged container.
	Shift bool
}
