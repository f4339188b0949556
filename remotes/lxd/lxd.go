// Package lxd reads images from a server speaking LXD's REST API (another
// lodged, or LXD/Incus): GET /1.0/images?recursion=1 (the public ones for
// an untrusted client), /1.0/images/aliases/{name}, and
// /1.0/images/{fp}/export (one tarball, or multipart metadata + rootfs).
package lxd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"

	"lodge/api"
	"lodge/remotes"
)

// Source is an LXD-protocol image server.
type Source struct {
	base   string
	secret string
	http   *remotes.HTTPClient
}

// New returns the source at base (https://host:port); opts.TLS carries the
// pinned server certificate and the client certificate (remotes.PinnedTLS).
// secret, if not empty, is a private image's one-time secret (POST
// /1.0/images/{fp}/secret on that server), sent with the image requests.
func New(base string, opts remotes.HTTPOptions, secret string) *Source {
	base = strings.TrimRight(base, "/")
	return &Source{base: base, secret: secret, http: remotes.NewHTTPClient(base, opts)}
}

func (s *Source) withSecret(path string) string {
	if s.secret == "" {
		return path
	}
	return path + "?secret=" + url.QueryEscape(s.secret)
}

// URL is the base URL.
func (s *Source) URL() string { return s.base }

// get fetches an API path and decodes the sync envelope's metadata.
func (s *Source) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var env api.Response
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&env); err != nil {
		return fmt.Errorf("remote %s: GET %s: not an LXD API reply (HTTP %d): %w", s.base, path, resp.StatusCode, remotes.ErrUnreachable)
	}
	if env.Type == api.ErrorResponse {
		if env.ErrorCode == http.StatusNotFound {
			return fmt.Errorf("remote %s: %s: %w", s.base, env.Error, remotes.ErrNotFound)
		}
		return fmt.Errorf("remote %s: GET %s: %s (HTTP %d)", s.base, path, env.Error, env.ErrorCode)
	}
	return json.Unmarshal(env.Metadata, out)
}

func convert(im api.Image) remotes.Image {
	out := remotes.Image{Fingerprint: im.Fingerprint, Architecture: im.Architecture, Properties: im.Properties,
		CreatedAt: im.CreatedAt, ExpiresAt: im.ExpiresAt, Public: im.Public, Bytes: im.Size}
	for _, a := range im.Aliases {
		out.Aliases = append(out.Aliases, a.Name)
	}
	return out
}

// List returns the images this client may see.
func (s *Source) List(ctx context.Context) ([]remotes.Image, error) {
	var ims []api.Image
	if err := s.get(ctx, "/1.0/images?recursion=1", &ims); err != nil {
		return nil, err
	}
	out := make([]remotes.Image, 0, len(ims))
	for _, im := range ims {
		out = append(out, convert(im))
	}
	return out, nil
}

// Resolve finds an image by alias, else by fingerprint (prefix).
func (s *Source) Resolve(ctx context.Context, ref string) (remotes.Image, error) {
	var a api.ImageAliasesEntry
	target := ref
	if err := s.get(ctx, "/1.0/images/aliases/"+url.PathEscape(ref), &a); err == nil {
		target = a.Target
	} else if !errors.Is(err, remotes.ErrNotFound) {
		return remotes.Image{}, err
	}
	var im api.Image
	if err := s.get(ctx, s.withSecret("/1.0/images/"+url.PathEscape(target)), &im); err != nil {
		if errors.Is(err, remotes.ErrNotFound) {
			return remotes.Image{}, fmt.Errorf("remote %s has no image %q visible to this client (no such alias or fingerprint, or not public): %w", s.base, ref, remotes.ErrNotFound)
		}
		return remotes.Image{}, err
	}
	return convert(im), nil
}

// Open is not used: LXD serves an image as one export (see Export).
func (s *Source) Open(ctx context.Context, im remotes.Image, f remotes.File) (io.ReadCloser, error) {
	return nil, fmt.Errorf("remote %s: images are downloaded with Export", s.base)
}

// Export starts the download of an image: one part for a unified image,
// metadata then rootfs for a split one (multipart/form-data, as LXD sends
// it). The parts must be read in order; sizes and per-part hashes are not
// known, the caller checks the whole against the fingerprint.
func (s *Source) Export(ctx context.Context, im remotes.Image) ([]remotes.File, []io.Reader, io.Closer, error) {
	path := "/1.0/images/" + url.PathEscape(im.Fingerprint) + "/export"
	body, hdr, size, err := s.http.GetHeader(ctx, s.base+s.withSecret(path))
	if err != nil {
		return nil, nil, nil, err
	}
	mt, params, _ := mime.ParseMediaType(hdr.Get("Content-Type"))
	if !strings.HasPrefix(mt, "multipart/") {
		if size <= 0 {
			size = -1
		}
		return []remotes.File{{Role: "combined", Path: path, Size: size}}, []io.Reader{body}, body, nil
	}
	mr := multipart.NewReader(body, params["boundary"])
	part := func(want ...string) io.Reader {
		return &partReader{next: func() (io.Reader, error) {
			p, err := mr.NextPart()
			if err != nil {
				return nil, fmt.Errorf("remote %s: %s: reading the %s part: %w", s.base, path, want[0], err)
			}
			for _, w := range want {
				if p.FormName() == w {
					return p, nil
				}
			}
			return nil, fmt.Errorf("remote %s: %s: expected a %s part, got %q", s.base, path, want[0], p.FormName())
		}}
	}
	files := []remotes.File{{Role: "metadata", Path: path + "#metadata", Size: -1}, {Role: "rootfs", Path: path + "#rootfs", Size: -1}}
	return files, []io.Reader{part("metadata"), part("rootfs", "rootfs.img")}, body, nil
}

// partReader moves to its multipart part on first read.
type partReader struct {
	next func() (io.Reader, error)
	r    io.Reader
	err  error
}

func (p *partReader) Read(b []byte) (int, error) {
	if p.r == nil && p.err == nil {
		p.r, p.err = p.next()
	}
	if p.err != nil {
		return 0, p.err
	}
	return p.r.Read(b)
}
