package main

import (
	"bytes"
	"os"
)

// sparseChunk is the unit checked for zeros: runs of zeros this long (at
// any offset) become holes in the pulled file rather than written blocks.
const sparseChunk = 64 << 10

var zeroChunk = make([]byte, sparseChunk)

// sparseWriter writes to f, leaving holes where the data is all zeros, as
// cp --sparse=auto does: pulling a 20 GiB sparse file writes only its data.
// Finish sets the final size, since a trailing hole writes nothing.
type sparseWriter struct {
	f   *os.File
	off int64
}

func (w *sparseWriter) Write(p []byte) (int, error) {
	// Runs of data chunks go out in one write each; only zero chunks
	// break them (and become holes).
	n := 0
	start := -1 // where the current run of data starts in p
	flush := func(end int) error {
		if start < 0 {
			return nil
		}
		_, err := w.f.WriteAt(p[start:end], w.off+int64(start))
		start = -1
		return err
	}
	for i := 0; i < len(p); i += sparseChunk {
		end := min(i+sparseChunk, len(p))
		if bytes.Equal(p[i:end], zeroChunk[:end-i]) {
			if err := flush(i); err != nil {
				return n, err
			}
			n = end
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if err := flush(len(p)); err != nil {
		return n, err
	}
	w.off += int64(len(p))
	return len(p), nil
}

// Finish makes the file as long as what was written, holes included.
func (w *sparseWriter) Finish() error { return w.f.Truncate(w.off) }
