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
	n := 0
	for len(p) > 0 {
		c := p
		if len(c) > sparseChunk {
			c = c[:sparseChunk]
		}
		if !bytes.Equal(c, zeroChunk[:len(c)]) {
			if _, err := w.f.WriteAt(c, w.off); err != nil {
				return n, err
			}
		}
		w.off += int64(len(c))
		n += len(c)
		p = p[len(c):]
	}
	return n, nil
}

// Finish makes the file as long as what was written, holes included.
func (w *sparseWriter) Finish() error { return w.f.Truncate(w.off) }
