package overlay

import (
	"path/filepath"

	"golang.org/x/sys/unix"
)

func filepathGlob(root, p string) ([]string, error) { return filepath.Glob(filepath.Join(root, p)) }

func unmountPath(v string) { unix.Unmount(filepath.Join(v, "rootfs"), unix.MNT_DETACH) }
