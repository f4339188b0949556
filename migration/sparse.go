package migration

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Sparse files between two lodges. rsync's --sparse makes the receiver
// compare every byte it writes with zero, one byte at a time: about 0.65 s
// of CPU per GiB, in the receiving rsync, which is the busiest process of
// a copy on a small machine. So when both ends are lodge (the index
// header offers it, the reply accepts), the receiving rsync writes every
// byte, and after each run the source names the files that are sparse on
// its side; the target punches holes in their zero blocks. A name that
// is stale (the file changed since) costs nothing: only blocks that read
// as zero are punched, so the content stays what rsync wrote. An LXD peer
// neither offers nor accepts: its copies use --sparse as LXD's do.

// holeBlock is the unit holes are punched in (the block of lodge's
// filesystems).
const holeBlock = 4096

// maxSparseList bounds the list a target reads after a run.
const maxSparseList = 16 << 20

// sparseFiles lists the regular files under dir (relative paths) that
// take less space than their size: those a dense copy would fill.
func sparseFiles(dir string) []string {
	var out []string
	total := 0
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil || fi.Size() < holeBlock {
			return nil
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok || st.Blocks*512 >= fi.Size() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return nil
		}
		if total += len(rel) + 4; total > maxSparseList {
			return filepath.SkipAll
		}
		out = append(out, rel)
		return nil
	})
	return out
}

// sendSparseList sends the list as one exchange.
func sendSparseList(s *fsStream, list []string) error {
	if list == nil {
		list = []string{}
	}
	return s.sendJSON(list, "the list of sparse files")
}

// recvSparseList reads the source's list of sparse files.
func recvSparseList(s *fsStream) ([]string, error) {
	var list []string
	err := s.recvJSON(&list, maxSparseList, "the list of sparse files")
	return list, err
}

// punchHoles punches holes in the zero blocks of the listed files under
// dir. Names are resolved inside dir (os.Root: no "..", no symlink out of
// it); names that are not regular files there are skipped.
func punchHoles(dir string, list []string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	buf := make([]byte, 1<<20)
	for _, rel := range list {
		f, err := root.OpenFile(rel, os.O_RDWR|syscall.O_NOFOLLOW, 0)
		if err != nil {
			continue
		}
		punched, atime, mtime, err := punchFile(f, buf)
		f.Close()
		if err != nil {
			return fmt.Errorf("punch the holes of %s: %w", rel, err)
		}
		if punched {
			// Punching is a write: the file's times go back to rsync's.
			if err := root.Chtimes(rel, atime, mtime); err != nil {
				return fmt.Errorf("punch the holes of %s: %w", rel, err)
			}
		}
	}
	return nil
}

// punchFile punches f's zero blocks into holes, skipping the holes it
// has; it tells whether it punched any, and f's times before.
func punchFile(f *os.File, buf []byte) (punched bool, atime, mtime time.Time, err error) {
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return false, atime, mtime, err
	}
	st := fi.Sys().(*syscall.Stat_t)
	atime, mtime = time.Unix(st.Atim.Unix()), time.Unix(st.Mtim.Unix())
	fd := int(f.Fd())
	size := fi.Size()
	zero := make([]byte, holeBlock)
	run, runLen := int64(-1), int64(0)
	flush := func() error {
		if runLen == 0 {
			return nil
		}
		err := unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, run, runLen)
		punched = punched || err == nil
		run, runLen = -1, 0
		return err
	}
	for off := int64(0); off < size; {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole is left
		}
		if err != nil {
			return punched, atime, mtime, err
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			return punched, atime, mtime, err
		}
		if err := flush(); err != nil {
			return punched, atime, mtime, err
		}
		// Whole blocks of the data only: a partial one stays written.
		pos := (data + holeBlock - 1) &^ (holeBlock - 1)
		for pos+holeBlock <= hole {
			n, err := f.ReadAt(buf[:min(int64(len(buf)), (hole-pos)&^(holeBlock-1))], pos)
			if n < holeBlock {
				if err == nil || err == io.EOF {
					break
				}
				return punched, atime, mtime, err
			}
			for i := 0; i+holeBlock <= n; i += holeBlock {
				if bytes.Equal(buf[i:i+holeBlock], zero) {
					if runLen == 0 {
						run = pos + int64(i)
					}
					runLen += holeBlock
				} else if err := flush(); err != nil {
					return punched, atime, mtime, err
				}
			}
			pos += int64(n) &^ (holeBlock - 1)
		}
		off = hole
	}
	return punched, atime, mtime, flush()
}
