package images

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
)

func TestHashedCopy(t *testing.T) {
	boom := errors.New("connection reset")
	failingExtra := writerFunc(func(p []byte) (int, error) { return 0, io.ErrClosedPipe })
	tests := []struct {
		name    string
		size    int
		reader  func(data []byte) io.Reader
		extra   io.Writer
		wantErr error
	}{
		{name: "empty", size: 0},
		{name: "one byte", size: 1},
		{name: "a chunk less one", size: copyChunk - 1},
		{name: "exactly a chunk", size: copyChunk},
		{name: "more chunks than buffers, with writeback", size: (copyChunks+1)*copyChunk*3 + 7},
		{name: "one byte per read", size: 3000, reader: func(d []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(d)) }},
		{name: "data then an error", size: 2*copyChunk + 5, wantErr: boom,
			reader: func(d []byte) io.Reader { return io.MultiReader(bytes.NewReader(d), iotest.ErrReader(boom)) }},
		{name: "error on the read that ends the data", size: 100, wantErr: boom,
			reader: func(d []byte) io.Reader {
				return iotest.DataErrReader(io.MultiReader(bytes.NewReader(d), iotest.ErrReader(boom)))
			}},
		{name: "extra writer fails", size: 10, extra: failingExtra, wantErr: io.ErrClosedPipe},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := make([]byte, tt.size)
			rand.New(rand.NewSource(int64(tt.size))).Read(data)
			var r io.Reader = bytes.NewReader(data)
			if tt.reader != nil {
				r = tt.reader(data)
			}
			f, err := os.Create(filepath.Join(t.TempDir(), "out"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var seen bytes.Buffer
			extra := tt.extra
			if extra == nil {
				extra = &seen
			}
			h := sha256.New()
			n, err := hashedCopy(context.Background(), f, h, r, extra)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || n != int64(tt.size) {
				t.Fatalf("copied %d, %v; want %d, nil", n, err, tt.size)
			}
			if want := sha256.Sum256(data); !bytes.Equal(h.Sum(nil), want[:]) {
				t.Error("hash differs from the data's SHA-256")
			}
			got, _ := os.ReadFile(f.Name())
			if !bytes.Equal(got, data) || !bytes.Equal(seen.Bytes(), data) {
				t.Errorf("file has %d bytes, extra saw %d, want the %d given", len(got), seen.Len(), len(data))
			}
		})
	}
}

func TestHashedCopyCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := hashedCopy(ctx, f, sha256.New(), bytes.NewReader(make([]byte, 10)), nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
