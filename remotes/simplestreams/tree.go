package simplestreams

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// ProductInfo names a product of a tree being written.
type ProductInfo struct {
	OS, Release, ReleaseTitle, Variant, Arch string // Arch in Debian's naming (amd64)
	Aliases                                  []string
}

func (p ProductInfo) key() string {
	return strings.Join([]string{strings.ToLower(p.OS), p.Release, p.Arch, p.Variant}, ":")
}

// Tree writes a static simplestreams tree (streams/v1/index.json,
// streams/v1/images.json, images/...) that any web server can serve.
type Tree struct {
	Dir      string
	products Products
}

// NewTree starts an empty tree in dir.
func NewTree(dir string) *Tree {
	return &Tree{Dir: dir, products: Products{ContentID: "images", DataType: "image-downloads", Format: "products:1.0",
		Products: map[string]Product{}}}
}

// copyIn copies src to images/<sha256>.<suffix> and returns its item.
func (t *Tree) copyIn(src, ftype, suffix string) (Item, error) {
	f, err := os.Open(src)
	if err != nil {
		return Item{}, err
	}
	defer f.Close()
	if err := os.MkdirAll(filepath.Join(t.Dir, "images"), 0o755); err != nil {
		return Item{}, err
	}
	tmp, err := os.CreateTemp(filepath.Join(t.Dir, "images"), ".tmp-")
	if err != nil {
		return Item{}, err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), f)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Item{}, err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	rel := "images/" + sum + "." + suffix
	if err := os.Rename(tmp.Name(), filepath.Join(t.Dir, rel)); err != nil {
		return Item{}, err
	}
	return Item{FType: ftype, Path: rel, Size: n, SHA256: sum}, nil
}

func (t *Tree) version(p ProductInfo, serial string) Version {
	prod, ok := t.products.Products[p.key()]
	if !ok {
		prod = Product{Aliases: strings.Join(p.Aliases, ","), Arch: p.Arch, OS: p.OS, Release: p.Release,
			ReleaseTitle: p.ReleaseTitle, Variant: p.Variant, Versions: map[string]Version{}}
		t.products.Products[p.key()] = prod
	}
	v, ok := prod.Versions[serial]
	if !ok {
		v = Version{Items: map[string]Item{}}
		prod.Versions[serial] = v
	}
	return v
}

// AddSplit adds a split image (metadata tarball + rootfs, rootfsFType
// "squashfs" or "root.tar.xz"), published under both LXD's and Incus's
// metadata ftypes. It returns the image's fingerprint.
func (t *Tree) AddSplit(p ProductInfo, serial, metaPath, rootfsPath, rootfsFType string) (string, error) {
	meta, err := t.copyIn(metaPath, "lxd.tar.xz", "lxd.tar.xz")
	if err != nil {
		return "", err
	}
	suffix := "squashfs"
	if rootfsFType == "root.tar.xz" {
		suffix = "root.tar.xz"
	}
	root, err := t.copyIn(rootfsPath, rootfsFType, suffix)
	if err != nil {
		return "", err
	}
	fp, err := combinedHash(metaPath, rootfsPath)
	if err != nil {
		return "", err
	}
	v := t.version(p, serial)
	for _, name := range []string{"lxd.tar.xz", "incus.tar.xz"} {
		m := v.Items[name]
		if m.Path == "" {
			m = meta
			m.FType = name
		}
		if rootfsFType == "squashfs" {
			m.CombinedSquashfsSHA256 = fp
		} else {
			m.CombinedRootxzSHA256 = fp
		}
		v.Items[name] = m
	}
	v.Items[suffix] = root
	return fp, nil
}

// AddUnified adds a unified image tarball; its fingerprint is its SHA-256.
func (t *Tree) AddUnified(p ProductInfo, serial, tarPath string) (string, error) {
	it, err := t.copyIn(tarPath, "lxd_combined.tar.gz", "combined.tar")
	if err != nil {
		return "", err
	}
	t.version(p, serial).Items["lxd_combined.tar.gz"] = it
	return it.SHA256, nil
}

// Items gives tests a handle on the recorded items (to tamper with them).
func (t *Tree) Items(p ProductInfo, serial string) map[string]Item {
	return t.version(p, serial).Items
}

// Write writes streams/v1/index.json and streams/v1/images.json.
func (t *Tree) Write() error {
	now := time.Now().UTC().Format(time.RFC1123Z)
	t.products.Updated = now
	keys := make([]string, 0, len(t.products.Products))
	for k := range t.products.Products {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	idx := Index{Format: "index:1.0", Updated: now, Index: map[string]IndexEntry{
		"images": {DataType: "image-downloads", Path: "streams/v1/images.json", Format: "products:1.0", Updated: now, Products: keys},
	}}
	dir := filepath.Join(t.Dir, "streams", "v1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, v := range map[string]any{"index.json": idx, "images.json": t.products} {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		tmp := filepath.Join(dir, "."+name)
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("simplestreams tree: %w", err)
		}
	}
	return nil
}

func combinedHash(paths ...string) (string, error) {
	h := sha256.New()
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return "", err
		}
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
