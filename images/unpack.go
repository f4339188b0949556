package images

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Unpack extracts the rootfs/ of a unified image tarball (or the rootfs file
// of a split one, see ImportSplit) into dst, which becomes the root filesystem. GNU tar keeps numeric owners, modes, setuid
// bits, device nodes, hardlinks and xattrs (file capabilities), detects the
// compression itself, and refuses members that would land outside dst.
func Unpack(ctx context.Context, imagePath, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	// A split image: the rootfs is a file of its own next to the metadata.
	if _, err := os.Stat(imagePath + ".rootfs"); err == nil {
		return unpackSplit(ctx, imagePath+".rootfs", dst)
	}
	cmd := exec.CommandContext(ctx, "tar", "--extract", "--file", imagePath, "--directory", dst,
		"--numeric-owner", "--same-permissions", "--xattrs", "--xattrs-include=*", "--acls",
		"--strip-components=1", "--wildcards", "rootfs/*", "./rootfs/*")
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		// A pattern that matches nothing is reported for the other spelling.
		msg = filterMissingPattern(msg)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if msg == "" && cmd.ProcessState != nil && cmd.ProcessState.ExitCode() == 2 {
			// Only "Not found in archive" for one of the two spellings: fine.
			return nil
		}
		return fmt.Errorf("unpack image: tar: %s", firstLines(msg, 5))
	}
	return nil
}

func filterMissingPattern(msg string) string {
	var keep []string
	for _, l := range strings.Split(msg, "\n") {
		if strings.Contains(l, "Not found in archive") || strings.Contains(l, "Exiting with failure status due to previous errors") || l == "" {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

func firstLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	return strings.Join(lines, "; ")
}
