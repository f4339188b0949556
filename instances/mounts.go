package instances

// Mount is a disk device: Source on the host bind-mounted at Path inside
// the container (storage lane).
type Mount struct {
	Source   string
	Path     string
	ReadOnly bool
	// IsFile makes the mount point a file rather than a directory.
	IsFile bool
}
