package btrfs

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"lodge/storage"
)

// Volumes move between btrfs filesystems as btrfs send streams (LXD's
// BTRFS migration type): a read-only subvolume, whole or relative to a
// parent the other side already has. The migration package runs btrfs
// send and receive; the pool says what to send and where.

// NestedSubvolumes lists the subvolumes inside vol's (made inside a
// container: machinectl, docker), which a send stream of vol does not
// carry: they would arrive as empty directories.
func (d *Driver) NestedSubvolumes(ctx context.Context, vol storage.Volume) ([]string, error) {
	out, err := exec.CommandContext(ctx, "btrfs", "subvolume", "list", "-o", d.Path(vol)).Output()
	if err != nil {
		return nil, fmt.Errorf("volume %s: list its subvolumes: %w", vol, err)
	}
	var list []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if _, p, ok := strings.Cut(l, " path "); ok {
			list = append(list, p)
		}
	}
	return list, nil
}

// SendView returns a read-only subvolume holding vol's tree as it is now,
// for Send: a snapshot made under a staging name (which Cleanup removes
// after a crash) and deleted by release.
func (d *Driver) SendView(ctx context.Context, vol storage.Volume) (string, func(), error) {
	dir, err := os.MkdirTemp(filepath.Join(d.l.Root, string(vol.Kind)), ".tmp-send-")
	if err != nil {
		return "", nil, fmt.Errorf("volume %s: %w", vol, err)
	}
	release := func() { _ = storage.RemoveBeneath(filepath.Dir(dir), filepath.Base(dir)) }
	view := filepath.Join(dir, "volume")
	if err := makeSubvolume(d.Path(vol), view, true); err != nil {
		release()
		return "", nil, fmt.Errorf("volume %s: %w", vol, err)
	}
	return view, release, nil
}
