// Package imagestest is an image store for tests of the daemon and the
// server: the body is the "image", its metadata comes from its first line
// ("IMAGE <os>").
package imagestest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"lodge/api"
	"lodge/images"
)

// MemStore keeps unified images in memory and writes each to Dir, where
// the daemon's unpack finds it.
type MemStore struct {
	Dir  string
	mu   sync.Mutex
	blob map[string][]byte
}

// New returns an empty store writing its files to dir.
func New(dir string) *MemStore {
	os.MkdirAll(dir, 0o700)
	return &MemStore{Dir: dir, blob: map[string][]byte{}}
}

func (m *MemStore) Import(ctx context.Context, r io.Reader, expected string) (images.Info, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return images.Info{}, err
	}
	if !bytes.HasPrefix(b, []byte("IMAGE ")) {
		return images.Info{}, fmt.Errorf("image tarball: no metadata.yaml found: %w", images.ErrInvalid)
	}
	sum := sha256.Sum256(b)
	fp := hex.EncodeToString(sum[:])
	if expected != "" && expected != fp {
		return images.Info{}, fmt.Errorf("fingerprint mismatch: %w", images.ErrInvalid)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.blob[fp]; ok {
		return images.Info{Fingerprint: fp}, fmt.Errorf("image %s: %w", fp, images.ErrExists)
	}
	m.blob[fp] = b
	if err := os.WriteFile(m.Path(fp), b, 0o600); err != nil {
		return images.Info{}, err
	}
	return images.Info{Fingerprint: fp, Size: int64(len(b)), Metadata: api.ImageMetadata{Architecture: "x86_64",
		Properties: map[string]string{"os": strings.TrimSpace(string(b[6:]))}}}, nil
}

// ImportSplit refuses: this store holds unified images only.
func (m *MemStore) ImportSplit(ctx context.Context, meta, rootfs io.Reader, expected string) (images.Info, error) {
	return images.Info{}, fmt.Errorf("this test store holds unified images only: %w", images.ErrInvalid)
}

func (m *MemStore) Path(fp string) string       { return filepath.Join(m.Dir, fp) }
func (m *MemStore) IsSplit(fp string) bool      { return false }
func (m *MemStore) RootfsPath(fp string) string { return m.Path(fp) + ".rootfs" }

// List is the fingerprints of the images stored.
func (m *MemStore) List() ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.blob))
	for fp := range m.blob {
		out = append(out, fp)
	}
	return out, nil
}

func (m *MemStore) Delete(fp string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.blob, fp)
	return os.Remove(m.Path(fp))
}
