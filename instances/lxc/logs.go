//go:build linux && cgo

package lxc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"lodge/instances"
)

// logFiles maps the names LXD's logs API lists to the files liblxc and
// lodge keep in the container's directory. LXD 5.0 also lists
// migration_*, snapshot_* and exec_* files, which lodge never writes.
var logFiles = map[string]string{
	"lxc.log":  "lxc.log",
	"lxc.conf": "config",
}

// Logs implements instances.LogReader.
func (d *Driver) Logs(ctx context.Context, name string) ([]string, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if !d.defined(name) {
		return nil, fmt.Errorf("container %q: %w", name, instances.ErrNotFound)
	}
	var out []string
	for api, file := range logFiles {
		if fi, err := os.Lstat(filepath.Join(d.dir(name), file)); err == nil && fi.Mode().IsRegular() {
			out = append(out, api)
		}
	}
	sort.Strings(out)
	return out, nil
}

// OpenLog implements instances.LogReader.
func (d *Driver) OpenLog(ctx context.Context, name, file string) (*os.File, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	real, ok := logFiles[file]
	if !ok {
		return nil, fmt.Errorf("container %q: log file %q: %w (the logs are %s)", name, file, instances.ErrNotFound, strings.Join(logNames(), ", "))
	}
	f, err := os.OpenFile(filepath.Join(d.dir(name), real), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("container %q: log file %q: %w", name, file, instances.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("container %q: log file %q: %w", name, file, err)
	}
	return f, nil
}

// DeleteLog implements instances.LogReader: the two files lodge keeps are
// the ones LXD refuses to delete, so every delete is refused or not found.
func (d *Driver) DeleteLog(ctx context.Context, name, file string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if _, ok := logFiles[file]; ok {
		return instances.Invalidf("container %q: lxc.log and lxc.conf may not be deleted", name)
	}
	return fmt.Errorf("container %q: log file %q: %w", name, file, instances.ErrNotFound)
}

func logNames() []string {
	var out []string
	for k := range logFiles {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func checkName(name string) error {
	if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
		return instances.Invalidf("container %q: invalid name", name)
	}
	return nil
}
