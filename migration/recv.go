package migration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// RecvOptions tune one receiving run.
type RecvOptions struct {
	Features []string
	Progress ProgressFunc
	// Confine runs the receiving rsync chrooted into a throw-away root in
	// a mount namespace of its own, where the destination is the only
	// writable tree: whatever a hostile sender makes rsync follow (a
	// symlink it sent, "..") ends in that root or on a read-only mount.
	// Needs CAP_SYS_ADMIN; lodged always sets it.
	Confine bool
	// MaxBytes stops the run once more bytes than this arrived on the fs
	// connection (0: no limit).
	MaxBytes int64
	// MinFree stops the run when the destination's filesystem has fewer
	// free bytes than this (0: not watched).
	MinFree uint64
	// Negotiate: the sender is an rsync 3.2 or later (a lodge source says
	// so in the index header), so the receiver announces the capabilities
	// such a client sends itself, and the two negotiate their checksum.
	Negotiate bool
	// Dense: rsync writes every byte (no --sparse); the caller punches
	// the holes of the files the source names (see sparse.go).
	Dense bool
}

// errLimit marks a run stopped by one of RecvOptions' limits.
var errLimit = errors.New("limit reached")

// recvDir runs the receiving rsync into dir: the sender's frames feed its
// input until the sender's empty text frame, its output goes back as
// binary frames and one empty text frame when it ends.
func recvDir(ctx context.Context, name, dir string, s *fsStream, o RecvOptions) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	args := recvArgs(dir, o.Features, o.Negotiate, !o.Dense)
	var cmd *exec.Cmd
	var root string
	if o.Confine {
		var err error
		root, err = os.MkdirTemp("", "lodge-rsync-root-")
		if err != nil {
			return fmt.Errorf("rsync receive failed: %s: %w", dir, err)
		}
		defer os.Remove(root)
		cmd = confinedCommand(root, dir, false, append([]string{"rsync"}, recvArgs(confinedDst, o.Features, o.Negotiate, !o.Dense)...)...)
	} else {
		cmd = exec.Command("rsync", args...)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	growPipe(stdin)
	growPipe(stdout)
	var stderr bytes.Buffer
	cmd.Stderr = &limitedBuffer{buf: &stderr, max: 64 << 10}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("rsync receive failed: %s: start rsync: %w", dir, err)
	}
	stop := killOnCancel(ctx, cmd)
	defer stop()
	if o.MinFree > 0 {
		go watchFree(ctx, dir, o.MinFree, cancel)
	}

	cnt := newCounter(name, o.Progress)
	outDone := make(chan error, 1)
	go func() {
		_, err := copyBig(s, stdout)
		if cerr := s.CloseWrite(); err == nil {
			err = cerr
		}
		outDone <- err
	}()
	inDone := make(chan error, 1)
	go func() {
		_, err := copyDraining(stdin, o.incoming(s, cnt, cancel))
		stdin.Close()
		inDone <- err
	}()
	// Wait closes stdout: read it to its end first.
	outErr := <-outDone
	werr := cmd.Wait()
	if ctx.Err() != nil {
		return fmt.Errorf("rsync receive failed: %s: %w (%s)", dir, context.Cause(ctx), strings.TrimSpace(stderr.String()))
	}
	inErr := <-inDone
	cnt.final()
	if werr != nil || outErr != nil || inErr != nil {
		return fmt.Errorf("rsync receive failed: %s: %v (%s)", dir, errors.Join(werr, outErr, inErr), strings.TrimSpace(stderr.String()))
	}
	return nil
}

// incoming is one exchange's data as a run reads it: counted for the
// progress, and cut off (the run cancelled) past MaxBytes.
func (o RecvOptions) incoming(s *fsStream, cnt *counter, cancel context.CancelCauseFunc) io.Reader {
	var src io.Reader = countingReader{s.reader(), cnt}
	if o.MaxBytes > 0 {
		src = &budgetReader{r: src, left: o.MaxBytes, over: func() {
			cancel(fmt.Errorf("%w: more than %d bytes arrived", errLimit, o.MaxBytes))
		}}
	}
	return src
}

type budgetReader struct {
	r    io.Reader
	left int64
	over func()
}

func (b *budgetReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		b.over()
		return n, errLimit
	}
	return n, err
}

// watchFree cancels the run when dir's filesystem runs low.
func watchFree(ctx context.Context, dir string, minFree uint64, cancel context.CancelCauseFunc) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		var st unix.Statfs_t
		if err := unix.Statfs(dir, &st); err == nil {
			if free := st.Bavail * uint64(st.Bsize); free < minFree {
				cancel(fmt.Errorf("%w: the destination has %d bytes free, below the %d bytes kept free", errLimit, free, minFree))
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// confinedDst is where the destination appears inside the confined root.
const confinedDst = "/dst"

// confineScript builds the rsync's root inside its own mount namespace
// (Go makes the namespace's mounts private before the script runs): a
// small tmpfs holding the host's /usr (and /lib*, /bin, /sbin where they
// are directories) read-only, /dev/null, and the volume at /dst with the
// mounts below it (an overlay pool's rootfs is one; read-only ones are
// made read-only all the way down), then chroots rsync into it. The
// namespace, and with it every mount, goes away when rsync exits.
const confineScript = `set -e
root=$1 dst=$2 mode=$3
shift 3
mount -t tmpfs -o mode=0755,size=1m,nosuid,nodev lodge-rsync "$root"
for d in usr lib lib32 lib64 libx32 bin sbin; do
	if [ -L "/$d" ]; then
		ln -s "$(readlink "/$d")" "$root/$d"
	elif [ -d "/$d" ]; then
		mkdir "$root/$d"
		mount --bind "/$d" "$root/$d"
		mount -o remount,bind,ro,nosuid,nodev "$root/$d"
	fi
done
mkdir "$root/dev" "$root/dst"
: > "$root/dev/null"
mount --bind /dev/null "$root/dev/null"
mount --rbind "$dst" "$root/dst"
if [ "$mode" = ro ]; then
	for m in $(findmnt -Rrno TARGET "$root/dst"); do mount -o remount,bind,ro "$m"; done
fi
exec chroot "$root" "$@"
`

// confinedCommand runs argv chrooted into root, with dst at /dst
// (read-only when readOnly).
func confinedCommand(root, dst string, readOnly bool, argv ...string) *exec.Cmd {
	mode := "rw"
	if readOnly {
		mode = "ro"
	}
	args := append([]string{"-c", confineScript, "sh", root, dst, mode}, argv...)
	cmd := exec.Command("sh", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	return cmd
}
