package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"time"

	"lodge/api"
	"lodge/errdefs"
	"lodge/images"
	"lodge/server/db"
)

// What untrusted HTTPS clients see: public images and their aliases only.
// A private image answers 404, as if it did not exist.

func (s *Server) publicImage(r *http.Request, ref string) (db.Image, error) {
	im, err := s.d.findImage(r.Context(), ref)
	if err == nil && !im.Public && !s.d.validImageSecret(r.URL.Query().Get("secret"), im.Fingerprint) {
		err = errdefs.NotFoundf("image %q not found", ref)
	}
	return im, err
}

func (s *Server) handlePublicImagesGet(w http.ResponseWriter, r *http.Request) {
	ims, err := s.d.db.ListImages(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	urls, out := []string{}, []api.Image{}
	for _, im := range ims {
		if !im.Public {
			continue
		}
		urls = append(urls, imageURL(im.Fingerprint))
		a, err := s.renderImage(r.Context(), im)
		if err != nil {
			writeError(w, err)
			return
		}
		out = append(out, a)
	}
	if recursion(r) == 0 {
		writeSync(w, urls)
		return
	}
	writeSync(w, out)
}

func (s *Server) handlePublicImageGet(w http.ResponseWriter, r *http.Request) {
	im, err := s.publicImage(r, r.PathValue("fingerprint"))
	if err != nil {
		writeError(w, err)
		return
	}
	out, err := s.renderImage(r.Context(), im)
	if err != nil {
		writeError(w, err)
		return
	}
	writeSync(w, out)
}

func (s *Server) handlePublicImageSub(w http.ResponseWriter, r *http.Request) {
	if _, err := s.publicImage(r, r.PathValue("fingerprint")); err != nil {
		writeError(w, err)
		return
	}
	s.handleImageSub(w, r)
}

func (s *Server) publicAlias(r *http.Request, a db.Alias) bool {
	im, err := s.d.db.GetImage(r.Context(), a.Fingerprint)
	return err == nil && im.Public
}

func (s *Server) handlePublicAliasesGet(w http.ResponseWriter, r *http.Request) {
	as, err := s.d.db.ListAliases(r.Context(), "")
	if err != nil {
		writeError(w, err)
		return
	}
	urls, out := []string{}, []api.ImageAliasesEntry{}
	for _, a := range as {
		if s.publicAlias(r, a) {
			urls = append(urls, "/1.0/images/aliases/"+a.Name)
			out = append(out, renderAlias(a))
		}
	}
	if recursion(r) == 0 {
		writeSync(w, urls)
		return
	}
	writeSync(w, out)
}

func (s *Server) handlePublicAliasGet(w http.ResponseWriter, r *http.Request) {
	a, err := s.d.db.GetAlias(r.Context(), r.PathValue("name"))
	if errors.Is(err, db.ErrNotFound) || (err == nil && !s.publicAlias(r, a)) {
		err = errdefs.NotFoundf("image alias %q not found", r.PathValue("name"))
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeSync(w, renderAlias(a))
}

// exportSplit sends a split image as LXD does: multipart/form-data with a
// "metadata" and a "rootfs" part. It reports false for a unified image.
func (s *Server) exportSplit(w http.ResponseWriter, im db.Image) bool {
	if !s.d.images.IsSplit(im.Fingerprint) {
		return false
	}
	meta, err := os.Open(s.d.images.Path(im.Fingerprint))
	if err != nil {
		writeError(w, fmt.Errorf("image %s: %w", short(im.Fingerprint), err))
		return true
	}
	defer meta.Close()
	root, err := os.Open(s.d.images.RootfsPath(im.Fingerprint))
	if err != nil {
		writeError(w, fmt.Errorf("image %s: %w", short(im.Fingerprint), err))
		return true
	}
	defer root.Close()
	mw := multipart.NewWriter(w)
	w.Header().Set("Content-Type", mw.FormDataContentType())
	for _, p := range []struct {
		name, file string
		f          *os.File
	}{{"metadata", im.Fingerprint + ".tar.xz", meta}, {"rootfs", im.Fingerprint + ".squashfs", root}} {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, p.name, p.file))
		h.Set("Content-Type", "application/octet-stream")
		if fi, err := p.f.Stat(); err == nil {
			h.Set("Content-Length", strconv.FormatInt(fi.Size(), 10))
		}
		pw, err := mw.CreatePart(h)
		if err != nil {
			return true
		}
		if _, err := io.Copy(pw, p.f); err != nil {
			return true
		}
	}
	_ = mw.Close()
	return true
}

type imageSecret struct {
	fp      string
	expires time.Time
}

// validImageSecret reports whether secret unlocks the private image fp.
func (d *Daemon) validImageSecret(secret, fp string) bool {
	if secret == "" {
		return false
	}
	d.rm.mu.Lock()
	defer d.rm.mu.Unlock()
	e, ok := d.rm.secrets[secret]
	return ok && e.fp == fp && time.Now().Before(e.expires)
}

// handleImageSecret is POST /1.0/images/{fingerprint}/secret: a trusted
// client gets a secret that lets another server (one that does not trust
// it) fetch this private image for the next hour, as LXD's clients ask
// for when they launch from a private image on one server into another.
func (s *Server) handleImageSecret(w http.ResponseWriter, r *http.Request) {
	im, err := s.d.findImage(r.Context(), r.PathValue("fingerprint"))
	if err != nil {
		writeError(w, err)
		return
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		writeError(w, err)
		return
	}
	secret := hex.EncodeToString(b)
	now := time.Now()
	s.d.rm.mu.Lock()
	if s.d.rm.secrets == nil {
		s.d.rm.secrets = map[string]imageSecret{}
	}
	for k, e := range s.d.rm.secrets {
		if now.After(e.expires) {
			delete(s.d.rm.secrets, k)
		}
	}
	s.d.rm.secrets[secret] = imageSecret{fp: im.Fingerprint, expires: now.Add(time.Hour)}
	s.d.rm.mu.Unlock()
	spec := imageOpSpec("Executing operation", im.Fingerprint)
	spec.Class, spec.Metadata = api.OperationClassToken, map[string]any{"secret": secret}
	op := s.d.ops.Start(spec, func(ctx context.Context, op *opT) error { return nil })
	writeAsync(w, op)
}

// importUpload stores the body of POST /1.0/images: one tarball, or
// multipart/form-data with a "metadata" then a "rootfs" part (what
// `lxc image import META ROOTFS` sends), streamed into the store.
func (s *Server) importUpload(r *http.Request, expected string) (images.Info, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if !strings.HasPrefix(mt, "multipart/") {
		return s.d.images.Import(r.Context(), r.Body, expected)
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return images.Info{}, errdefs.Invalidf("multipart image upload: %v", err)
	}
	next := func(names ...string) (io.Reader, error) {
		p, err := mr.NextPart()
		if err != nil {
			return nil, errdefs.Invalidf("multipart image upload: no %s part (%v)", names[0], err)
		}
		for _, n := range names {
			if p.FormName() == n {
				return p, nil
			}
		}
		return nil, errdefs.Invalidf("multipart image upload: expected a %q part, got %q", names[0], p.FormName())
	}
	meta, err := next("metadata")
	if err != nil {
		return images.Info{}, err
	}
	root := &partAfter{next: func() (io.Reader, error) { return next("rootfs", "rootfs.img") }}
	info, err := s.d.images.ImportSplit(r.Context(), meta, root, expected)
	if root.err != nil {
		return info, root.err
	}
	return info, err
}

// partAfter opens the next multipart part when first read.
type partAfter struct {
	next func() (io.Reader, error)
	r    io.Reader
	err  error
}

func (p *partAfter) Read(b []byte) (int, error) {
	if p.r == nil && p.err == nil {
		p.r, p.err = p.next()
	}
	if p.err != nil {
		return 0, p.err
	}
	return p.r.Read(b)
}
