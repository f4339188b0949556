package backup

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
)

// Compressions are the compression_algorithm values lodge accepts, for
// backups and the backups.compression_algorithm key. LXD 5.0 ran any
// command named there (only its first word was looked up), which let a
// value inject arguments or a shell; lodge knows each algorithm by name,
// runs no shell and passes no argument from the request.
var Compressions = []string{"gzip", "bzip2", "xz", "zstd", "lzma", "none"}

// DefaultCompression is LXD's default.
const DefaultCompression = "gzip"

// CheckCompression refuses a compression_algorithm outside Compressions.
func CheckCompression(name string) error {
	for _, c := range Compressions {
		if name == c {
			return nil
		}
	}
	return invalidf("compression_algorithm %q is not supported; use one of %s", name, strings.Join(Compressions, ", "))
}

// Extension is the file name suffix lodge and LXD give a backup file.
func Extension(name string) string {
	switch name {
	case "gzip":
		return ".tar.gz"
	case "bzip2":
		return ".tar.bz2"
	case "xz":
		return ".tar.xz"
	case "zstd":
		return ".tar.zst"
	case "lzma":
		return ".tar.lzma"
	}
	return ".tar"
}

// helper runs a fixed compressor command between r and w. Arguments come
// from this file only.
type helper struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	done chan error
}

var helperArgs = map[string][]string{
	"bzip2": {"bzip2", "-c"},
	"xz":    {"xz", "-c", "-T0"},
	"lzma":  {"xz", "--format=lzma", "-c"},
}

var unhelperArgs = map[string][]string{
	"bzip2": {"bzip2", "-dc"},
	"xz":    {"xz", "-dc", "-T0"},
	"lzma":  {"xz", "--format=lzma", "-dc"},
}

func command(ctx context.Context, argv []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	// The helper dies with lodged.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// NewCompressor returns a writer compressing into w with algorithm name;
// Close flushes it (and waits for a helper process) but does not close w.
func NewCompressor(ctx context.Context, w io.Writer, name string) (io.WriteCloser, error) {
	if err := CheckCompression(name); err != nil {
		return nil, err
	}
	switch name {
	case "none":
		return nopWriteCloser{w}, nil
	case "gzip":
		zw, err := pgzip.NewWriterLevel(w, pgzip.DefaultCompression)
		if err != nil {
			return nil, err
		}
		// Blocks of 1 MiB, two per CPU in flight: gzip is the default and
		// the slow part of an export.
		if err := zw.SetConcurrency(1<<20, 2*runtime.GOMAXPROCS(0)); err != nil {
			return nil, err
		}
		return zw, nil
	case "zstd":
		return zstd.NewWriter(w, zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)))
	}
	argv := helperArgs[name]
	cmd := command(ctx, argv)
	cmd.Stdout = w
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("backup: start %s: %w", argv[0], err)
	}
	h := &helper{cmd: cmd, in: in, done: make(chan error, 1)}
	go func() {
		err := cmd.Wait()
		if err != nil {
			err = fmt.Errorf("backup: %s: %v: %s", strings.Join(argv, " "), err, strings.TrimSpace(stderr.String()))
		}
		h.done <- err
	}()
	return h, nil
}

func (h *helper) Write(p []byte) (int, error) { return h.in.Write(p) }

func (h *helper) Close() error {
	err := h.in.Close()
	if werr := <-h.done; werr != nil {
		return werr
	}
	return err
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// Detect names the compression of a stream from its first bytes ("none"
// for a plain tarball). Formats lodge does not read are refused by name.
func Detect(head []byte) (string, error) {
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return "gzip", nil
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return "zstd", nil
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return "xz", nil
	case bytes.HasPrefix(head, []byte("BZh")):
		return "bzip2", nil
	case bytes.HasPrefix(head, []byte{0x5d, 0, 0}):
		return "lzma", nil
	case bytes.HasPrefix(head, []byte("hsqs")):
		return "", invalidf("a squashfs backup; lodge reads tarballs (export it again with another --compression)")
	case len(head) >= 262 && bytes.Equal(head[257:262], []byte("ustar")):
		return "none", nil
	}
	return "", invalidf("not a backup tarball: the data is neither a tar archive nor compressed with %s", strings.Join(Compressions[:len(Compressions)-1], ", "))
}

// Decompress detects the compression of r and returns the tarball's bytes;
// the closer stops a helper process and must be called.
func Decompress(ctx context.Context, r io.Reader) (io.Reader, io.Closer, string, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	head, err := br.Peek(512)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, "", fmt.Errorf("backup: read: %w", err)
	}
	if len(head) == 0 {
		return nil, nil, "", invalidf("the upload is empty")
	}
	name, err := Detect(head)
	if err != nil {
		return nil, nil, "", err
	}
	switch name {
	case "none":
		return br, io.NopCloser(nil), name, nil
	case "gzip":
		zr, err := pgzip.NewReaderN(br, 1<<20, 4)
		if err != nil {
			return nil, nil, "", invalidf("gzip: %v", err)
		}
		return zr, zr, name, nil
	case "zstd":
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)))
		if err != nil {
			return nil, nil, "", invalidf("zstd: %v", err)
		}
		return zr, closerFunc(func() error { zr.Close(); return nil }), name, nil
	}
	argv := unhelperArgs[name]
	cmd := command(ctx, argv)
	cmd.Stdin = br
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, "", fmt.Errorf("backup: start %s: %w", argv[0], err)
	}
	u := &unhelper{cmd: cmd, out: out, stderr: &stderr, argv: argv}
	return u, u, name, nil
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// unhelper reads a decompressor's output; its exit status is checked at
// EOF, so a corrupt stream is an error, not a short tarball.
type unhelper struct {
	cmd    *exec.Cmd
	out    io.ReadCloser
	stderr *bytes.Buffer
	argv   []string
	once   sync.Once
	err    error
}

func (u *unhelper) Read(p []byte) (int, error) {
	n, err := u.out.Read(p)
	if errors.Is(err, io.EOF) {
		if werr := u.wait(); werr != nil {
			return n, werr
		}
	}
	return n, err
}

func (u *unhelper) wait() error {
	u.once.Do(func() {
		if err := u.cmd.Wait(); err != nil {
			u.err = invalidf("%s: %v: %s", strings.Join(u.argv, " "), err, strings.TrimSpace(u.stderr.String()))
		}
	})
	return u.err
}

func (u *unhelper) Close() error {
	if u.cmd.ProcessState == nil {
		_ = u.cmd.Process.Kill()
	}
	u.out.Close()
	_ = u.wait()
	return nil
}
