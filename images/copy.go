package images

import (
	"context"
	"hash"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

const (
	copyChunk = 1 << 20
	// Chunks in flight between the reader and the hasher: enough to ride
	// out a slow moment of either side, small enough not to matter in RSS.
	copyChunks = 8
	// Writeback is started every this many bytes, so the fsync at the end
	// waits for the tail only instead of the whole file.
	writebackEvery = 16 << 20
)

// hashedCopy copies r into f and feeds the same bytes to h (and to extra,
// if not nil, on the writing side). Hashing runs in its own goroutine: on a
// download the socket copy and the file write take one core and SHA-256 the
// other, so the image is verified at about the speed it arrives instead of
// at the sum of both. Writeback of f is started as it fills. It returns the
// bytes copied; on error the hash is incomplete and must not be used.
func hashedCopy(ctx context.Context, f *os.File, h hash.Hash, r io.Reader, extra io.Writer) (int64, error) {
	type chunk struct {
		b []byte
		n int
	}
	free := make(chan []byte, copyChunks)
	for i := 0; i < copyChunks; i++ {
		free <- make([]byte, copyChunk)
	}
	work := make(chan chunk, copyChunks)
	hashed := make(chan struct{})
	go func() {
		defer close(hashed)
		for c := range work {
			h.Write(c.b[:c.n])
			free <- c.b
		}
	}()
	defer func() {
		close(work)
		<-hashed
	}()

	var total, started int64
	fd := int(f.Fd())
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		b := <-free
		n, rerr := io.ReadFull(r, b)
		if n > 0 {
			if _, err := f.Write(b[:n]); err != nil {
				return total, err
			}
			if extra != nil {
				if _, err := extra.Write(b[:n]); err != nil {
					return total, err
				}
			}
			work <- chunk{b, n}
			total += int64(n)
			if total-started >= writebackEvery {
				// Asynchronous: queues the range for writeback and returns.
				_ = unix.SyncFileRange(fd, started, total-started, unix.SYNC_FILE_RANGE_WRITE)
				started = total
			}
		} else {
			free <- b
		}
		switch rerr {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			return total, nil
		default:
			return total, rerr
		}
	}
}
