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
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// rsyncFeatureArgs are the arguments of the negotiated features, the same
// on both ends (LXD's rsyncFeatureArgs for rsync >= 3.1.3). No -H, no -A:
// LXD sends neither, and ACLs travel as their system.posix_acl_* xattrs.
func rsyncFeatureArgs(features []string) []string {
	var args []string
	for _, f := range rsyncArgFeatures(features) {
		switch f {
		case FeatureXattrs:
			args = append(args, "--xattrs", "--filter=-x security.selinux")
		case FeatureDelete:
			args = append(args, "--delete")
		case FeatureCompress:
			args = append(args, "--compress", "--compress-level=2")
		}
	}
	return args
}

// senderRelay is the remote shell the sending rsync starts in place of
// ssh: it joins rsync's end of the conversation to two pipes lodge holds
// (fd 3 carries the receiver's bytes in, fd 4 takes rsync's bytes out).
// The foreground cat is the process rsync waits for at the end, so it is
// the one that ends when lodge closes fd 3 after the receiver is done.
// (A background job's stdin is /dev/null in a script, hence fd 5.)
const senderRelay = `sh -c 'exec 5<&0; cat <&5 >&4 3<&- 5<&- & exec cat <&3 4>&- 5<&-'`

// SendArgs are the sending rsync's arguments for dir.
func sendArgs(dir string, features []string, bwlimit string) []string {
	args := []string{"-ar", "--devices", "--numeric-ids", "--partial", "--sparse"}
	if bwlimit != "" {
		args = append(args, "--bwlimit", bwlimit)
	}
	args = append(args, rsyncFeatureArgs(features)...)
	// The remote path is ignored: the receiver names its own destination.
	return append(args, strings.TrimSuffix(dir, "/")+"/", "localhost:/tmp/lodge-migration", "-e", senderRelay)
}

// recvArgs are the receiving rsync's arguments (LXD's rsync.Recv): the
// server side of a push, which is what the sending client expects.
//
// Two differ from LXD's. --modify-window=-1 makes the receiver (which
// decides what to fetch) compare times to the nanosecond: each snapshot's
// tree goes into the same volume, and a same-size file changed within the
// second of the snapshot before it was otherwise skipped, the copy keeping
// the old content; the option is the receiver's alone. With negotiate, the
// capabilities the server takes its client to have (-e.) are those an
// rsync 3.2 client sends itself (C, I, v, u after LXD's iLsfx): with them
// the two negotiate xxh128 instead of the MD5 of the older protocol, which
// costs both sides about 2 s of CPU per GiB. The server tells the client
// what it chose (compat flags), so the sender needs nothing; but a sender
// older than 3.2 cannot negotiate, which is why only a lodge source, which
// announces its rsync, gets it (LXD's sender may be any rsync).
func recvArgs(dir string, features []string, negotiate, sparse bool) []string {
	caps := "-vlogDtpre.iLsfx"
	if negotiate {
		caps += "CIvu"
	}
	args := []string{"--server", caps, "--numeric-ids", "--devices", "--partial", "--modify-window=-1"}
	if sparse {
		args = append(args, "--sparse")
	}
	args = append(args, rsyncFeatureArgs(features)...)
	return append(args, ".", strings.TrimSuffix(dir, "/")+"/")
}

var rsyncVersion = sync.OnceValue(func() string {
	out, err := exec.Command("rsync", "--version").Output()
	if err != nil {
		return ""
	}
	return parseRsyncVersion(string(out))
})

// localRsyncVersion is this host's rsync version ("3.2.7"; "" if unknown).
func localRsyncVersion() string { return rsyncVersion() }

// parseRsyncVersion reads "rsync  version 3.2.7  protocol version 31".
func parseRsyncVersion(out string) string {
	f := strings.Fields(out)
	for i := 0; i+1 < len(f); i++ {
		if v := strings.TrimPrefix(f[i+1], "v"); f[i] == "version" && v != "" && v[0] >= '0' && v[0] <= '9' {
			return v
		}
	}
	return ""
}

// rsyncNegotiates tells whether rsync version v (3.2.0 or later)
// negotiates its checksum and compression.
func rsyncNegotiates(v string) bool {
	var major, minor int
	if _, err := fmt.Sscanf(v, "%d.%d", &major, &minor); err != nil {
		return false
	}
	return major > 3 || major == 3 && minor >= 2
}

// Progress is one report on a running transfer, for the operation's
// fs_progress metadata.
type Progress struct {
	Volume string // "c1" or "c1/snap0"
	Bytes  int64  // moved so far on the fs connection in this run
	Rate   int64  // bytes per second since the run started
}

// String renders p as LXD does: "c1/snap0: 12.35MB (3.09MB/s)".
func (p Progress) String() string {
	return fmt.Sprintf("%s: %s (%s/s)", p.Volume, byteSize(p.Bytes), byteSize(p.Rate))
}

func byteSize(n int64) string {
	if n < 1000 {
		return fmt.Sprintf("%dB", n)
	}
	v := float64(n)
	for _, u := range []string{"kB", "MB", "GB", "TB", "PB", "EB"} {
		v /= 1000
		if v < 1000 {
			return fmt.Sprintf("%.2f%s", v, u)
		}
	}
	return fmt.Sprintf("%.2fEB", v)
}

// ProgressFunc receives progress reports, at most about once a second.
type ProgressFunc func(Progress)

// counter counts bytes and reports them through fn.
type counter struct {
	volume string
	fn     ProgressFunc
	start  time.Time
	last   time.Time
	n      atomic.Int64
	mu     sync.Mutex
}

func newCounter(volume string, fn ProgressFunc) *counter {
	now := time.Now()
	return &counter{volume: volume, fn: fn, start: now, last: now}
}

func (c *counter) add(n int) {
	total := c.n.Add(int64(n))
	if c.fn == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if now.Sub(c.last) < time.Second {
		return
	}
	c.last = now
	c.fn(Progress{Volume: c.volume, Bytes: total, Rate: int64(float64(total) / now.Sub(c.start).Seconds())})
}

// final sends the last report of a run.
func (c *counter) final() {
	if c.fn == nil {
		return
	}
	total := c.n.Load()
	c.fn(Progress{Volume: c.volume, Bytes: total, Rate: int64(float64(total) / max(time.Since(c.start).Seconds(), 0.001))})
}

type countingReader struct {
	r io.Reader
	c *counter
}

func (r countingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.c.add(n)
	return n, err
}

// SendOptions tune one sending run.
type SendOptions struct {
	Features          []string
	BWLimit           string
	AllowInconsistent bool // rsync's exit 24 (files vanished) is not an error
	Progress          ProgressFunc
	// Confine runs the sending rsync chrooted into a throw-away root with
	// the volume mounted read-only: a running container that swaps a
	// directory of its rootfs for a symlink to / mid-copy makes rsync read
	// that root, not the host's files. Needs CAP_SYS_ADMIN.
	Confine bool
}

// sendDir runs the sending rsync for dir over s: its output goes out as
// binary frames and one empty text frame when it ends; the receiver's
// frames feed its input until the receiver's own empty text frame.
func sendDir(ctx context.Context, name, dir string, s *fsStream, o SendOptions) error {
	inR, inW, err := os.Pipe() // receiver -> rsync
	if err != nil {
		return err
	}
	outR, outW, err := os.Pipe() // rsync -> receiver
	if err != nil {
		inR.Close()
		inW.Close()
		return err
	}
	growPipe(inW)
	growPipe(outR)
	var cmd *exec.Cmd
	if o.Confine {
		root, err := os.MkdirTemp("", "lodge-rsync-root-")
		if err != nil {
			inR.Close()
			inW.Close()
			outR.Close()
			outW.Close()
			return fmt.Errorf("rsync send failed: %s, %s: %w", name, dir, err)
		}
		defer os.Remove(root)
		cmd = confinedCommand(root, dir, true, append([]string{"rsync"}, sendArgs(confinedDst, o.Features, o.BWLimit)...)...)
	} else {
		cmd = exec.Command("rsync", sendArgs(dir, o.Features, o.BWLimit)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.ExtraFiles = []*os.File{inR, outW}
	var stderr bytes.Buffer
	cmd.Stderr = &limitedBuffer{buf: &stderr, max: 64 << 10}
	cmd.SysProcAttr.Setpgid = true
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return fmt.Errorf("rsync send failed: %s, %s: start rsync: %w", name, dir, err)
	}
	stop := killOnCancel(ctx, cmd)
	defer stop()

	cnt := newCounter(name, o.Progress)
	outDone := make(chan error, 1)
	go func() {
		_, err := copyBig(s, countingReader{outR, cnt})
		outR.Close()
		if cerr := s.CloseWrite(); err == nil {
			err = cerr
		}
		outDone <- err
	}()
	inDone := make(chan error, 1)
	go func() {
		_, err := copyDraining(inW, s.reader())
		inW.Close()
		inDone <- err
	}()
	werr := cmd.Wait()
	outErr := <-outDone
	if ctx.Err() != nil {
		// The reader goroutine ends when the caller closes the connection.
		return fmt.Errorf("rsync send failed: %s, %s: %w (%s)", name, dir, context.Cause(ctx), strings.TrimSpace(stderr.String()))
	}
	inErr := <-inDone
	cnt.final()
	if werr != nil {
		var ee *exec.ExitError
		if o.AllowInconsistent && errors.As(werr, &ee) && ee.ExitCode() == 24 {
			werr = nil
		}
	}
	if werr != nil || outErr != nil || inErr != nil {
		return fmt.Errorf("rsync send failed: %s, %s: %v (%s)", name, dir, errors.Join(werr, outErr, inErr), strings.TrimSpace(stderr.String()))
	}
	return nil
}

// copyChunk is the unit data moves in between rsync and the fs
// connection: large, so that 1 GiB is a thousand frames and pipe writes,
// not tens of thousands (each a wakeup of the process at the other end).
const copyChunk = 1 << 20

var chunks = sync.Pool{New: func() any { b := make([]byte, copyChunk); return &b }}

// copyBig copies r to w in copyChunk pieces. (io.Copy would use 32 KiB,
// as an *os.File's ReadFrom does for a reader that is not a file.)
func copyBig(w io.Writer, r io.Reader) (int64, error) {
	b := chunks.Get().(*[]byte)
	defer chunks.Put(b)
	return io.CopyBuffer(struct{ io.Writer }{w}, struct{ io.Reader }{r}, *b)
}

// growPipe makes a pipe hold copyChunk bytes (the default is 64 KiB), so
// that rsync and lodged each move a chunk per wakeup. Best effort: a
// smaller pipe only costs time.
func growPipe(f any) {
	if sc, ok := f.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) { _, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, copyChunk) })
		}
	}
}

// copyDraining copies r to w; once w fails (rsync is gone) it keeps
// reading r to its end, so the socket stays in step for what follows.
func copyDraining(w io.Writer, r io.Reader) (int64, error) {
	n, err := copyBig(w, r)
	if err == nil {
		return n, nil
	}
	var werr error
	if _, rerr := io.Copy(io.Discard, r); rerr == nil {
		werr = err
	} else {
		werr = rerr
	}
	return n, werr
}

// killOnCancel kills cmd's process group when ctx ends; stop undoes it.
func killOnCancel(ctx context.Context, cmd *exec.Cmd) (stop func()) {
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		case <-done:
		}
	}()
	return func() { close(done) }
}

type limitedBuffer struct {
	buf *bytes.Buffer
	max int
	mu  sync.Mutex
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
