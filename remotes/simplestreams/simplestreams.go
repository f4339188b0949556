// Package simplestreams reads image servers that publish simplestreams
// metadata (images.linuxcontainers.org, cloud-images.ubuntu.com, or any
// static tree): streams/v1/index.json → products file → versions → items.
package simplestreams

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"lodge/remotes"
)

// Index is streams/v1/index.json.
type Index struct {
	Format  string                `json:"format"`
	Updated string                `json:"updated,omitempty"`
	Index   map[string]IndexEntry `json:"index"`
}

// IndexEntry points at one products file.
type IndexEntry struct {
	DataType string   `json:"datatype"`
	Path     string   `json:"path"`
	Format   string   `json:"format,omitempty"`
	Updated  string   `json:"updated,omitempty"`
	Products []string `json:"products"`
}

// Products is a products file (streams/v1/images.json).
type Products struct {
	ContentID string             `json:"content_id"`
	DataType  string             `json:"datatype"`
	Format    string             `json:"format"`
	Updated   string             `json:"updated,omitempty"`
	Products  map[string]Product `json:"products"`
}

// Product is one os/release/arch/variant with its versions.
type Product struct {
	Aliases      string             `json:"aliases"`
	Arch         string             `json:"arch"`
	OS           string             `json:"os"`
	Release      string             `json:"release"`
	ReleaseTitle string             `json:"release_title,omitempty"`
	Variant      string             `json:"variant,omitempty"`
	SupportEOL   string             `json:"support_eol,omitempty"`
	Versions     map[string]Version `json:"versions"`
}

// Version is one build of a product.
type Version struct {
	Label string          `json:"label,omitempty"`
	Items map[string]Item `json:"items"`
}

// Item is one file of a build.
type Item struct {
	FType                  string `json:"ftype"`
	Path                   string `json:"path"`
	Size                   int64  `json:"size"`
	SHA256                 string `json:"sha256"`
	CombinedSHA256         string `json:"combined_sha256,omitempty"`
	CombinedRootxzSHA256   string `json:"combined_rootxz_sha256,omitempty"`
	CombinedSquashfsSHA256 string `json:"combined_squashfs_sha256,omitempty"`
}

// Metadata tarball ftypes (LXD's and Incus's names for the same thing),
// rootfs ftypes in order of preference, and unified tarballs.
var (
	metaTypes     = map[string]bool{"lxd.tar.xz": true, "incus.tar.xz": true}
	rootfsTypes   = []string{"squashfs", "root.tar.xz"}
	combinedTypes = map[string]bool{"lxd_combined.tar.gz": true, "incus_combined.tar.gz": true}
)

// Options tune a Source.
type Options struct {
	HTTP remotes.HTTPOptions
	// Arch is the host architecture short aliases are for (default: this host's).
	Arch string
	// TTL is how long the index and products stay cached (default 1 minute).
	TTL time.Duration
}

// Source is a simplestreams image server.
type Source struct {
	base string
	opts Options
	http *remotes.HTTPClient

	mu      sync.Mutex
	fetched time.Time
	images  []remotes.Image
	aliases map[string]int // alias → index into images
}

// New returns the source at base (http:// or https://).
func New(base string, opts Options) *Source {
	if opts.Arch == "" {
		opts.Arch = remotes.HostArchitecture()
	}
	if opts.TTL == 0 {
		opts.TTL = time.Minute
	}
	base = strings.TrimRight(base, "/")
	return &Source{base: base, opts: opts, http: remotes.NewHTTPClient(base, opts.HTTP)}
}

// URL is the base URL.
func (s *Source) URL() string { return s.base }

func (s *Source) getJSON(ctx context.Context, path string, out any) error {
	url := s.base + "/" + strings.TrimLeft(path, "/")
	body, _, err := s.http.Get(ctx, url)
	if err != nil {
		return err
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, 256<<20))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("remote %s: %s is not simplestreams JSON (%v): %w", s.base, url, err, remotes.ErrUnreachable)
	}
	return nil
}

// load fetches (or reuses) the index and products.
func (s *Source) load(ctx context.Context) ([]remotes.Image, map[string]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.images != nil && time.Since(s.fetched) < s.opts.TTL {
		return s.images, s.aliases, nil
	}
	var idx Index
	if err := s.getJSON(ctx, "streams/v1/index.json", &idx); err != nil {
		return nil, nil, err
	}
	var all []Products
	names := make([]string, 0, len(idx.Index))
	for n := range idx.Index {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		e := idx.Index[n]
		if e.DataType != "image-downloads" || len(e.Products) == 0 || e.Path == "" {
			continue
		}
		var p Products
		if err := s.getJSON(ctx, e.Path, &p); err != nil {
			return nil, nil, err
		}
		all = append(all, p)
	}
	ims, aliases := Build(all, s.opts.Arch, s.base)
	s.images, s.aliases, s.fetched = ims, aliases, time.Now()
	return ims, aliases, nil
}

// List returns the remote's images, newest first within each product.
func (s *Source) List(ctx context.Context) ([]remotes.Image, error) {
	ims, _, err := s.load(ctx)
	return ims, err
}

// Resolve finds an image by alias or unique fingerprint prefix.
func (s *Source) Resolve(ctx context.Context, ref string) (remotes.Image, error) {
	ims, aliases, err := s.load(ctx)
	if err != nil {
		return remotes.Image{}, err
	}
	if i, ok := aliases[ref]; ok {
		return ims[i], nil
	}
	im, ok, err := remotes.MatchFingerprint(ims, ref)
	if err != nil {
		return remotes.Image{}, fmt.Errorf("remote %s: %w", s.base, err)
	}
	if !ok {
		return remotes.Image{}, fmt.Errorf("remote %s has no image %q for %s (no such alias or fingerprint; see `lodge image list REMOTE:`): %w",
			s.base, ref, s.opts.Arch, remotes.ErrNotFound)
	}
	return im, nil
}

// Open streams one file of an image.
func (s *Source) Open(ctx context.Context, im remotes.Image, f remotes.File) (io.ReadCloser, error) {
	body, _, err := s.http.Get(ctx, s.base+"/"+strings.TrimLeft(f.Path, "/"))
	return body, err
}

// parseVersion reads a version key's date (LXD skips keys it cannot parse).
func parseVersion(v string) (time.Time, bool) {
	for _, layout := range []string{"20060102_15:04", "20060102_1504", "200601021504"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	if len(v) >= 8 {
		if t, err := time.Parse("20060102", v[:8]); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

type candidate struct {
	im      remotes.Image
	product Product
	serial  string
	pref    int // rootfs preference, lower first
}

// Build turns products into images and an alias table, following LXD: each
// entry of a product's aliases names the host architecture's newest image
// (short form) and, with "/ARCH" appended, the newest of that architecture.
func Build(all []Products, hostArch, base string) ([]remotes.Image, map[string]int) {
	var cands []candidate
	for _, p := range all {
		for key, prod := range p.Products {
			for serial, ver := range prod.Versions {
				created, ok := parseVersion(serial)
				if !ok {
					continue
				}
				cands = append(cands, versionImages(key, prod, serial, created, ver)...)
			}
		}
	}
	sort.SliceStable(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		switch {
		case a.product.OS != b.product.OS:
			return a.product.OS < b.product.OS
		case a.product.Release != b.product.Release:
			return a.product.Release < b.product.Release
		case a.product.Variant != b.product.Variant:
			return a.product.Variant < b.product.Variant
		case a.serial != b.serial:
			return a.serial > b.serial // newest first
		case a.product.Arch != b.product.Arch:
			return a.product.Arch < b.product.Arch
		}
		return a.pref < b.pref
	})
	ubuntu := strings.HasPrefix(base, "https://cloud-images.ubuntu.com")
	hostDeb := remotes.DebianArchitecture(hostArch)
	aliases := map[string]int{}
	var out []remotes.Image
	seen := map[string]bool{}
	for _, c := range cands {
		if seen[c.im.Fingerprint] {
			continue
		}
		seen[c.im.Fingerprint] = true
		idx := len(out)
		for _, a := range strings.Split(c.product.Aliases, ",") {
			a = strings.TrimSpace(a)
			if a == "" {
				continue
			}
			if ubuntu {
				a = strings.TrimPrefix(a, "ubuntu/")
			}
			claim := func(name string) {
				if _, taken := aliases[name]; !taken {
					aliases[name] = idx
					c.im.Aliases = append(c.im.Aliases, name)
				}
			}
			if c.product.Arch == hostDeb || remotes.ArchitectureName(c.product.Arch) == hostArch {
				claim(a)
			}
			claim(a + "/" + c.product.Arch)
		}
		out = append(out, c.im)
	}
	return out, aliases
}

// isSHA256 tells a SHA-256 in hex (either case).
func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func versionImages(key string, prod Product, serial string, created time.Time, ver Version) []candidate {
	props := map[string]string{
		"os": prod.OS, "release": prod.Release, "architecture": prod.Arch, "serial": serial,
		"description": strings.TrimSpace(fmt.Sprintf("%s %s %s (%s) (%s)", prod.OS, prod.ReleaseTitle, prod.Arch, prod.Variant, serial)),
	}
	if prod.Variant != "" {
		props["variant"] = prod.Variant
	}
	var expires time.Time
	if prod.SupportEOL != "" {
		expires, _ = time.Parse("2006-01-02", prod.SupportEOL)
	}
	mk := func(fp string, files []remotes.File, pref int, typ string) candidate {
		p := make(map[string]string, len(props)+1)
		for k, v := range props {
			p[k] = v
		}
		p["type"] = typ
		return candidate{
			im: remotes.Image{Fingerprint: strings.ToLower(fp), Architecture: remotes.ArchitectureName(prod.Arch), Properties: p,
				CreatedAt: created, ExpiresAt: expires, Public: true, Files: files},
			product: prod, serial: serial, pref: pref,
		}
	}
	names := make([]string, 0, len(ver.Items))
	for n := range ver.Items {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []candidate
	for _, mn := range names {
		meta := ver.Items[mn]
		if !metaTypes[meta.FType] {
			continue
		}
		for pref, rt := range rootfsTypes {
			fp := meta.CombinedSquashfsSHA256
			if rt == "root.tar.xz" {
				fp = meta.CombinedRootxzSHA256
				if fp == "" {
					fp = meta.CombinedSHA256
				}
			}
			// The fingerprint names the image in the store and every hash
			// is checked while downloading: an item with anything but a
			// SHA-256 there is not offered (a hostile index could put a
			// path in it).
			if !isSHA256(fp) || !isSHA256(meta.SHA256) {
				continue
			}
			for _, rn := range names {
				root := ver.Items[rn]
				if root.FType != rt || !isSHA256(root.SHA256) {
					continue
				}
				out = append(out, mk(fp, []remotes.File{
					{Role: "metadata", FType: meta.FType, Path: meta.Path, Size: meta.Size, SHA256: meta.SHA256},
					{Role: "rootfs", FType: root.FType, Path: root.Path, Size: root.Size, SHA256: root.SHA256},
				}, pref, rt))
				break
			}
		}
	}
	for _, n := range names {
		it := ver.Items[n]
		if combinedTypes[it.FType] && isSHA256(it.SHA256) {
			out = append(out, mk(it.SHA256, []remotes.File{{Role: "combined", FType: it.FType, Path: it.Path, Size: it.Size, SHA256: it.SHA256}},
				len(rootfsTypes), "unified"))
		}
	}
	_ = key
	return out
}
