package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestSparseWriter(t *testing.T) {
	data := func(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }
	tests := []struct {
		name   string
		chunks [][]byte
		// maxBlocks bounds the 512-byte blocks allocated: holes must not be written.
		maxBlocks int64
	}{
		{"all zeros", [][]byte{data(8<<20, 0)}, 0},
		{"data then trailing hole", [][]byte{data(4096, 'x'), data(4<<20, 0)}, 256},
		{"hole then data", [][]byte{data(4<<20, 0), data(10, 'y')}, 256},
		{"small odd writes", [][]byte{data(3, 'a'), data(70000, 0), data(5, 'b')}, 512},
		{"empty", nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "out")
			f, err := os.Create(p)
			if err != nil {
				t.Fatal(err)
			}
			w := &sparseWriter{f: f}
			var want []byte
			for _, c := range tc.chunks {
				want = append(want, c...)
				if n, err := w.Write(c); err != nil || n != len(c) {
					t.Fatalf("write: %d %v", n, err)
				}
			}
			if err := w.Finish(); err != nil {
				t.Fatal(err)
			}
			f.Close()
			got, _ := os.ReadFile(p)
			if !bytes.Equal(got, want) {
				t.Fatalf("content differs: got %d bytes, want %d", len(got), len(want))
			}
			var st syscall.Stat_t
			if err := syscall.Stat(p, &st); err != nil {
				t.Fatal(err)
			}
			if st.Blocks > tc.maxBlocks {
				t.Errorf("%d blocks allocated, want at most %d: zeros were written", st.Blocks, tc.maxBlocks)
			}
		})
	}
	var _ io.Writer = (*sparseWriter)(nil)
}
