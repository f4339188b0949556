package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"strings"

	"lodge/api"
	"lodge/errdefs"
	"lodge/images"
	"lodge/server/daemon"
	"lodge/server/db"
)

// visibility is what the request may see of the images: untrusted HTTPS
// clients see public images, and the one a ?secret= opens.
func visibility(r *http.Request) daemon.Visibility {
	return daemon.Visibility{PublicOnly: !isTrusted(r), Secret: r.URL.Query().Get("secret")}
}

// writableImage is the writable part of an image, as GET shows it (and its ETag covers).
func writableImage(im db.Image) api.ImagePut {
	out := api.ImagePut{AutoUpdate: im.AutoUpdate, Properties: im.Properties, Public: im.Public, Profiles: []string{"default"}}
	if out.Properties == nil {
		out.Properties = map[string]string{}
	}
	return out
}

func renderImage(im daemon.Image) api.Image {
	out := api.Image{
		ImagePut: writableImage(im.Image), Aliases: []api.ImageAlias{}, Architecture: im.Architecture, Cached: im.Cached, Filename: im.Filename,
		Fingerprint: im.Fingerprint, Size: im.Size, Type: im.Type, CreatedAt: im.CreatedAt, LastUsedAt: im.LastUsedAt,
		UploadedAt: im.UploadedAt,
	}
	for _, a := range im.Aliases {
		out.Aliases = append(out.Aliases, api.ImageAlias{Name: a.Name, Description: a.Description})
	}
	return out
}

func renderAlias(a db.Alias) api.ImageAliasesEntry {
	return api.ImageAliasesEntry{ImageAliasesEntryPut: api.ImageAliasesEntryPut{Description: a.Description, Target: a.Fingerprint},
		Name: a.Name, Type: a.Type}
}

// imagesGet lists the images the client may see (public ones only for an
// untrusted one).
func (s *Server) imagesGet(r *http.Request) (response, error) {
	ims, err := s.d.Images(r.Context(), visibility(r), recursion(r) > 0)
	if err != nil {
		return nil, err
	}
	if recursion(r) == 0 {
		urls := make([]string, 0, len(ims))
		for _, im := range ims {
			urls = append(urls, daemon.ImageURL(im.Fingerprint))
		}
		return reply(urls), nil
	}
	out := make([]api.Image, 0, len(ims))
	for _, im := range ims {
		out = append(out, renderImage(im))
	}
	return reply(out), nil
}

func (s *Server) imageGet(r *http.Request) (response, error) {
	im, err := s.d.Image(r.Context(), r.PathValue("fingerprint"), visibility(r))
	if err != nil {
		return nil, err
	}
	out := renderImage(im)
	if !isTrusted(r) {
		return reply(out), nil
	}
	return replyETag(out, out.ImagePut), nil
}

func (s *Server) imagePut(r *http.Request) (response, error)   { return s.updateImage(r, false) }
func (s *Server) imagePatch(r *http.Request) (response, error) { return s.updateImage(r, true) }

// updateImage is PUT (replace) and PATCH (merge) of an image's public flag,
// auto-update and properties, guarded by If-Match as LXD's are.
func (s *Server) updateImage(r *http.Request, patch bool) (response, error) {
	etagOf := func(im db.Image) any { return writableImage(im) }
	what := func(im db.Image) string { return "image " + shortFP(im.Fingerprint) }
	decode := func(into *api.ImagePut) error { return decodeBody(r, into) }
	return replyEmpty(), s.d.UpdateImage(r.Context(), r.PathValue("fingerprint"), decode, daemon.Update{Patch: patch, IfMatch: ifMatch(r, etagOf, what)})
}

// imagesPost is POST /1.0/images: an uploaded tarball (or split image as
// multipart), or, as JSON, a publish of an instance or a copy from a remote.
func (s *Server) imagesPost(r *http.Request) (response, error) {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			return nil, errdefs.Invalidf("reading the request body: %v", err)
		}
		var pub api.ImagesPublishPost
		if json.Unmarshal(body, &pub) == nil {
			switch pub.Source.Type {
			case "instance", "container", "snapshot":
				op, err := s.d.PublishImage(r.Context(), pub)
				return replyAsync(op), err
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var req api.ImagesPost
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		op, err := s.d.CopyImage(r.Context(), req)
		return replyAsync(op), err
	}
	up, root, err := readUpload(r)
	if err != nil {
		return nil, err
	}
	op, err := s.d.ImportImage(r.Context(), up)
	if root != nil && root.err != nil {
		return nil, root.err // what was wrong with the upload, not what the store made of it
	}
	return replyAsync(op), err
}

// readUpload reads the headers of an image upload and finds its parts:
// one tarball, or multipart/form-data with a "metadata" then a "rootfs"
// part (what `lxc image import META ROOTFS` sends), streamed into the
// store from the body. root is the rootfs part, opened when first read.
func readUpload(r *http.Request) (up daemon.ImageUpload, root *partAfter, err error) {
	up.Fingerprint = strings.ToLower(r.Header.Get("X-LXD-fingerprint"))
	if up.Fingerprint == "" {
		up.Fingerprint = strings.ToLower(r.Header.Get("X-Incus-fingerprint"))
	}
	if up.Fingerprint != "" && (len(up.Fingerprint) != 64 || !images.ValidFingerprintPrefix(up.Fingerprint)) {
		return up, nil, errdefs.Invalidf("X-LXD-fingerprint %q is not a SHA-256 fingerprint", up.Fingerprint)
	}
	up.Public = r.Header.Get("X-LXD-public") == "1" || r.Header.Get("X-Incus-public") == "1"
	up.Filename = r.Header.Get("X-LXD-filename")
	// lxc image import FILE key=value: properties added to the metadata's.
	if hp := r.Header.Get("X-LXD-properties"); hp != "" {
		q, err := url.ParseQuery(hp)
		if err != nil {
			return up, nil, errdefs.Invalidf("X-LXD-properties %q is not a URL-encoded key=value list: %v", hp, err)
		}
		up.Properties = map[string]string{}
		for k := range q {
			up.Properties[k] = q.Get(k)
		}
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if !strings.HasPrefix(mt, "multipart/") {
		up.Tarball = r.Body
		return up, nil, nil
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return up, nil, errdefs.Invalidf("multipart image upload: %v", err)
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
	if up.Tarball, err = next("metadata"); err != nil {
		return up, nil, err
	}
	root = &partAfter{next: func() (io.Reader, error) { return next("rootfs", "rootfs.img") }}
	up.Rootfs = root
	return up, root, nil
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

func (s *Server) imageDelete(r *http.Request) (response, error) {
	op, err := s.d.DeleteImage(r.Context(), r.PathValue("fingerprint"))
	return replyAsync(op), err
}

// imageDropFiles is DELETE /internal/images/{fingerprint}: the member
// that deleted an image tells the others that held its files.
func (s *Server) imageDropFiles(r *http.Request) (response, error) {
	return replyEmpty(), s.d.DropImageFiles(r.Context(), r.PathValue("fingerprint"))
}

func (s *Server) imageRefresh(r *http.Request) (response, error) {
	op, err := s.d.RefreshImage(r.Context(), r.PathValue("fingerprint"))
	return replyAsync(op), err
}

// imageSecret is POST /1.0/images/{fingerprint}/secret (Daemon.ImageSecret).
func (s *Server) imageSecret(r *http.Request) (response, error) {
	op, err := s.d.ImageSecret(r.Context(), r.PathValue("fingerprint"))
	return replyAsync(op), err
}

// imageSub serves /1.0/images/{fingerprint}/export; the path is a pattern
// of its own so that it does not clash with /1.0/images/aliases/{name}.
func (s *Server) imageSub(r *http.Request) (response, error) {
	if r.PathValue("sub") != "export" && isTrusted(r) {
		return nil, errdefs.NotFoundf("not found: %s %s", r.Method, r.URL.Path)
	}
	f, err := s.d.ImageFiles(r.Context(), r.PathValue("fingerprint"), visibility(r))
	if err != nil {
		return nil, err
	}
	if r.PathValue("sub") != "export" {
		return nil, errdefs.NotFoundf("not found: %s %s", r.Method, r.URL.Path)
	}
	return exportImage(f)
}

// exportImage sends an image's files as LXD's export does: the tarball,
// or a split image as multipart.
func exportImage(f daemon.ImageFiles) (response, error) {
	if f.RootfsPath != "" {
		return exportSplit(f)
	}
	file, err := os.Open(f.Path)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", shortFP(f.Fingerprint), err)
	}
	return stream(func(w http.ResponseWriter) {
		defer file.Close()
		name := f.Filename
		if name == "" {
			name = f.Fingerprint + ".tar"
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", "attachment;filename="+strconv.Quote(name))
		w.Header().Set("Content-Length", strconv.FormatInt(f.Size, 10))
		_, _ = io.Copy(w, file)
	}), nil
}

// exportSplit sends a split image as LXD does: multipart/form-data with a
// "metadata" and a "rootfs" part.
func exportSplit(f daemon.ImageFiles) (response, error) {
	meta, err := os.Open(f.Path)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", shortFP(f.Fingerprint), err)
	}
	root, err := os.Open(f.RootfsPath)
	if err != nil {
		meta.Close()
		return nil, fmt.Errorf("image %s: %w", shortFP(f.Fingerprint), err)
	}
	return stream(func(w http.ResponseWriter) {
		defer meta.Close()
		defer root.Close()
		mw := multipart.NewWriter(w)
		w.Header().Set("Content-Type", mw.FormDataContentType())
		for _, p := range []struct {
			name, file string
			f          *os.File
		}{{"metadata", f.Fingerprint + ".tar.xz", meta}, {"rootfs", f.Fingerprint + ".squashfs", root}} {
			h := textproto.MIMEHeader{}
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, p.name, p.file))
			h.Set("Content-Type", "application/octet-stream")
			if fi, err := p.f.Stat(); err == nil {
				h.Set("Content-Length", strconv.FormatInt(fi.Size(), 10))
			}
			pw, err := mw.CreatePart(h)
			if err != nil {
				return
			}
			if _, err := io.Copy(pw, p.f); err != nil {
				return
			}
		}
		_ = mw.Close()
	}), nil
}

// aliasesGet lists the aliases the client may see (of public images only
// for an untrusted one).
func (s *Server) aliasesGet(r *http.Request) (response, error) {
	as, err := s.d.Aliases(r.Context(), visibility(r))
	if err != nil {
		return nil, err
	}
	if recursion(r) == 0 {
		urls := make([]string, 0, len(as))
		for _, a := range as {
			urls = append(urls, "/1.0/images/aliases/"+a.Name)
		}
		return reply(urls), nil
	}
	out := make([]api.ImageAliasesEntry, 0, len(as))
	for _, a := range as {
		out = append(out, renderAlias(a))
	}
	return reply(out), nil
}

func (s *Server) aliasesPost(r *http.Request) (response, error) {
	var req api.ImageAliasesPost
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	return replyEmpty(), s.d.CreateAlias(r.Context(), req)
}

func (s *Server) aliasGet(r *http.Request) (response, error) {
	a, err := s.d.Alias(r.Context(), r.PathValue("name"), visibility(r))
	if err != nil {
		return nil, err
	}
	out := renderAlias(a)
	if !isTrusted(r) {
		return reply(out), nil
	}
	return replyETag(out, out.ImageAliasesEntryPut), nil
}

func (s *Server) aliasPut(r *http.Request) (response, error) {
	var req api.ImageAliasesEntryPut
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	return replyEmpty(), s.d.UpdateAlias(r.Context(), r.PathValue("name"), req)
}

func (s *Server) aliasDelete(r *http.Request) (response, error) {
	return replyEmpty(), s.d.DeleteAlias(r.Context(), r.PathValue("name"))
}

// shortFP is a fingerprint's first 12 characters, as messages show it.
func shortFP(fp string) string {
	if len(fp) > 12 {
		return fp[:12]
	}
	return fp
}
