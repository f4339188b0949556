package files

import (
	"fmt"
	"io"
	"os"

	"github.com/pkg/sftp"
	"golang.org/x/sys/unix"
)

// SFTPHelperMain serves SFTP on stdin/stdout, confined to a container's
// root: `lodged forksftp ROOT` chroots into ROOT (/proc/PID/root of a
// running container, so its mounts are seen, or its rootfs) before serving,
// so every path and symlink the client or the container names resolves
// inside it. cmd/lodged calls it first thing; handled is false for other
// command lines.
func SFTPHelperMain(args []string) (handled bool, exitCode int) {
	if len(args) == 0 || args[0] != "forksftp" {
		return false, 0
	}
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: forksftp ROOT")
		return true, 2
	}
	if err := unix.Chroot(args[1]); err != nil {
		fmt.Fprintf(os.Stderr, "forksftp: chroot %s: %v\n", args[1], err)
		return true, 1
	}
	if err := unix.Chdir("/"); err != nil {
		fmt.Fprintln(os.Stderr, "forksftp:", err)
		return true, 1
	}
	rw := struct {
		io.Reader
		io.WriteCloser
	}{os.Stdin, os.Stdout}
	srv, err := sftp.NewServer(rw)
	if err != nil {
		fmt.Fprintln(os.Stderr, "forksftp:", err)
		return true, 1
	}
	if err := srv.Serve(); err != nil && err != io.EOF {
		return true, 1
	}
	return true, 0
}
