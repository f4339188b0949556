package lxc

import (
	"fmt"
	"path/filepath"
	"strings"

	"lodge/instances"
)

// mountEntry renders a disk device as an lxc.mount.entry; the target is
// relative to the rootfs, so liblxc resolves it inside the container's root.
func mountEntry(m instances.Mount) (string, error) {
	if !filepath.IsAbs(m.Source) || !filepath.IsAbs(m.Path) || m.Path == "/" {
		return "", fmt.Errorf("disk mount %q on %q: source and path must be absolute, path not /", m.Source, m.Path)
	}
	if strings.ContainsAny(m.Source+m.Path, " \t\n\\") {
		return "", fmt.Errorf("disk mount %q on %q: paths with blanks or backslashes are not supported", m.Source, m.Path)
	}
	opts := "bind,create=dir"
	if m.IsFile {
		opts = "bind,create=file"
	}
	if m.ReadOnly {
		opts += ",ro"
	}
	if m.Shift {
		// liblxc makes it an idmapped mount onto the container's user
		// namespace (the daemon sets Shift for unprivileged ones only).
		opts += ",idmap=container"
	}
	return fmt.Sprintf("%s %s none %s 0 0", filepath.Clean(m.Source), strings.TrimPrefix(filepath.Clean(m.Path), "/"), opts), nil
}
