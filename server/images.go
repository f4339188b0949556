package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"lodge/api"
	"lodge/errdefs"
	"lodge/images"
	"lodge/server/db"
	"lodge/server/operations"
)

func imageURL(fp string) string { return "/1.0/images/" + fp }

// findImage resolves a full fingerprint or a unique prefix of one.
func (d *Daemon) findImage(ctx context.Context, ref string) (db.Image, error) {
	if !images.ValidFingerprintPrefix(ref) {
		return db.Image{}, errdefs.NotFoundf("image %q not found: not a fingerprint (hex) and not resolvable here", ref)
	}
	ims, err := d.db.ImagesByPrefix(ctx, strings.ToLower(ref), 2)
	if err != nil {
		return db.Image{}, err
	}
	switch len(ims) {
	case 0:
		return db.Image{}, errdefs.NotFoundf("image %q not found (see `lodge image list`)", ref)
	case 1:
		return ims[0], nil
	}
	return db.Image{}, errdefs.Invalidf("image fingerprint prefix %q is ambiguous: it matches %s and %s at least; give more characters",
		ref, short(ims[0].Fingerprint), short(ims[1].Fingerprint))
}

// resolveImage finds the image an instance source names: an alias, else a fingerprint (prefix).
func (d *Daemon) resolveImage(ctx context.Context, src api.InstanceSource) (db.Image, error) {
	if src.Alias != "" {
		a, err := d.db.GetAlias(ctx, src.Alias)
		if err == nil {
			return d.db.GetImage(ctx, a.Fingerprint)
		}
		if !errors.Is(err, db.ErrNotFound) {
			return db.Image{}, err
		}
		if src.Fingerprint == "" {
			// `lodge launch PREFIX` sends the prefix as an alias, like lxc does.
			im, ferr := d.findImage(ctx, src.Alias)
			if ferr == nil {
				return im, nil
			}
			if statusOf(ferr) == http.StatusBadRequest {
				return db.Image{}, ferr
			}
			return db.Image{}, errdefs.NotFoundf("image %q not found: no such alias or fingerprint (see `lodge image list`)", src.Alias)
		}
	}
	if src.Fingerprint == "" {
		return db.Image{}, errdefs.Invalidf("source needs an image alias or fingerprint")
	}
	return d.findImage(ctx, src.Fingerprint)
}

func (s *Server) renderImage(ctx context.Context, im db.Image) (api.Image, error) {
	aliases, err := s.d.db.ListAliases(ctx, im.Fingerprint)
	if err != nil {
		return api.Image{}, err
	}
	out := api.Image{
		ImagePut: api.ImagePut{AutoUpdate: im.AutoUpdate, Properties: im.Properties, Public: im.Public,
			Profiles: []string{"default"}},
		Aliases: []api.ImageAlias{}, Architecture: im.Architecture, Cached: im.Cached, Filename: im.Filename,
		Fingerprint: im.Fingerprint, Size: im.Size, Type: im.Type, CreatedAt: im.CreatedAt, LastUsedAt: im.LastUsedAt,
		UploadedAt: im.UploadedAt,
	}
	if out.Properties == nil {
		out.Properties = map[string]string{}
	}
	for _, a := range aliases {
		out.Aliases = append(out.Aliases, api.ImageAlias{Name: a.Name, Description: a.Description})
	}
	return out, nil
}

func (s *Server) handleImagesGet(w http.ResponseWriter, r *http.Request) {
	ims, err := s.d.db.ListImages(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	if recursion(r) == 0 {
		urls := make([]string, 0, len(ims))
		for _, im := range ims {
			urls = append(urls, imageURL(im.Fingerprint))
		}
		writeSync(w, urls)
		return
	}
	out := make([]api.Image, 0, len(ims))
	for _, im := range ims {
		a, err := s.renderImage(r.Context(), im)
		if err != nil {
			writeError(w, err)
			return
		}
		out = append(out, a)
	}
	writeSync(w, out)
}

func (s *Server) handleImageGet(w http.ResponseWriter, r *http.Request) {
	im, err := s.d.findImage(r.Context(), r.PathValue("fingerprint"))
	if err != nil {
		writeError(w, err)
		return
	}
	out, err := s.renderImage(r.Context(), im)
	if err != nil {
		writeError(w, err)
		return
	}
	writeSyncETag(w, out, out.ImagePut)
}

func (s *Server) handleImagePut(w http.ResponseWriter, r *http.Request)   { s.updateImage(w, r, false) }
func (s *Server) handleImagePatch(w http.ResponseWriter, r *http.Request) { s.updateImage(w, r, true) }

// updateImage is PUT (replace) and PATCH (merge) of an image's public flag,
// auto-update and properties, guarded by If-Match as LXD's are.
func (s *Server) updateImage(w http.ResponseWriter, r *http.Request, patch bool) {
	im, err := s.d.findImage(r.Context(), r.PathValue("fingerprint"))
	if err != nil {
		writeError(w, err)
		return
	}
	if m := r.Header.Get("If-Match"); m != "" {
		cur, err := s.renderImage(r.Context(), im)
		if err != nil {
			writeError(w, err)
			return
		}
		if strings.Trim(m, `"`) != etag(cur.ImagePut) {
			writeError(w, errdefs.Preconditionf("image %s changed since you read it (ETag mismatch); read it again and retry", short(im.Fingerprint)))
			return
		}
	}
	var req api.ImagePut
	if patch {
		// Decoding over the current values keeps what the body leaves
		// out, and merges properties key by key.
		req = api.ImagePut{Public: im.Public, AutoUpdate: im.AutoUpdate, Properties: maps.Clone(im.Properties)}
	}
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.Properties == nil {
		req.Properties = map[string]string{}
	}
	im.Public, im.AutoUpdate, im.Properties = req.Public, req.AutoUpdate, req.Properties
	if err := s.d.db.UpdateImage(r.Context(), im); err != nil {
		writeError(w, err)
		return
	}
	s.d.events.lifecycle("image-updated", imageURL(im.Fingerprint), nil)
	writeSync(w, map[string]any{})
}

// handleImagesPost imports an uploaded unified image tarball. The body is
// read and verified before replying; the operation reports the result.
func (s *Server) handleImagesPost(w http.ResponseWriter, r *http.Request) {
	ct := r.Header.Get("Content-Type")
	if strings.HasPrefix(ct, "application/json") {
		if s.tryPublish(w, r) {
			return
		}
		s.handleImagesPostSource(w, r)
		return
	}
	expected := strings.ToLower(r.Header.Get("X-LXD-fingerprint"))
	if expected == "" {
		expected = strings.ToLower(r.Header.Get("X-Incus-fingerprint"))
	}
	if expected != "" && (len(expected) != 64 || !images.ValidFingerprintPrefix(expected)) {
		writeError(w, errdefs.Invalidf("X-LXD-fingerprint %q is not a SHA-256 fingerprint", expected))
		return
	}
	public := r.Header.Get("X-LXD-public") == "1" || r.Header.Get("X-Incus-public") == "1"
	// A unified tarball, or a split image as multipart metadata + rootfs.
	info, err := s.importUpload(r, expected)
	if errors.Is(err, images.ErrExists) {
		err = errdefs.Existsf("image with fingerprint %s already exists", info.Fingerprint)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	now := time.Now().UTC()
	created := now
	if info.Metadata.CreationDate > 0 {
		created = time.Unix(info.Metadata.CreationDate, 0).UTC()
	}
	props := info.Metadata.Properties
	if props == nil {
		props = map[string]string{}
	}
	// lxc image import FILE key=value: properties added to the metadata's.
	if hp := r.Header.Get("X-LXD-properties"); hp != "" {
		q, err := url.ParseQuery(hp)
		if err != nil {
			_ = s.d.images.Delete(info.Fingerprint)
			writeError(w, errdefs.Invalidf("X-LXD-properties %q is not a URL-encoded key=value list: %v", hp, err))
			return
		}
		for k := range q {
			props[k] = q.Get(k)
		}
	}
	filename := info.Filename
	if fn := r.Header.Get("X-LXD-filename"); fn != "" {
		filename = fn
	}
	row := db.Image{Fingerprint: info.Fingerprint, Filename: filename, Size: info.Size, Architecture: info.Metadata.Architecture,
		Type: "container", Public: public, Properties: props, CreatedAt: created, UploadedAt: now}
	if err := s.d.db.CreateImage(r.Context(), row); err != nil {
		_ = s.d.images.Delete(info.Fingerprint)
		if errors.Is(err, db.ErrExists) {
			err = errdefs.Existsf("image with fingerprint %s already exists", info.Fingerprint)
		}
		writeError(w, err)
		return
	}
	s.d.events.lifecycle("image-created", imageURL(info.Fingerprint), nil)
	op := s.d.ops.Start(imageOpSpec("Downloading image", info.Fingerprint), func(ctx context.Context, op *opT) error {
		op.SetMetadata("fingerprint", info.Fingerprint)
		op.SetMetadata("size", info.Size)
		return nil
	})
	writeAsync(w, op)
}

func imageOpSpec(desc, fp string) operations.Spec {
	return operations.Spec{Description: desc, Resources: map[string][]string{"images": {imageURL(fp)}}}
}

func (s *Server) handleImageDelete(w http.ResponseWriter, r *http.Request) {
	im, err := s.d.findImage(r.Context(), r.PathValue("fingerprint"))
	if err != nil {
		writeError(w, err)
		return
	}
	op := s.d.ops.Start(imageOpSpec("Deleting image", im.Fingerprint), func(ctx context.Context, _ *opT) error {
		return s.d.deleteImage(ctx, im.Fingerprint)
	})
	writeAsync(w, op)
}

// handleImageSub serves /1.0/images/{fingerprint}/export; the path is a
// pattern of its own so that it does not clash with /1.0/images/aliases/{name}.
func (s *Server) handleImageSub(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("sub") != "export" {
		writeError(w, errdefs.NotFoundf("not found: %s %s", r.Method, r.URL.Path))
		return
	}
	s.handleImageExport(w, r)
}

func (s *Server) handleImageExport(w http.ResponseWriter, r *http.Request) {
	im, err := s.d.findImage(r.Context(), r.PathValue("fingerprint"))
	if err != nil {
		writeError(w, err)
		return
	}
	if s.exportSplit(w, im) {
		return
	}
	f, err := os.Open(s.d.images.Path(im.Fingerprint))
	if err != nil {
		writeError(w, fmt.Errorf("image %s: %w", short(im.Fingerprint), err))
		return
	}
	defer f.Close()
	name := im.Filename
	if name == "" {
		name = im.Fingerprint + ".tar"
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", "attachment;filename="+strconv.Quote(name))
	w.Header().Set("Content-Length", strconv.FormatInt(im.Size, 10))
	_, _ = io.Copy(w, f)
}

func renderAlias(a db.Alias) api.ImageAliasesEntry {
	return api.ImageAliasesEntry{ImageAliasesEntryPut: api.ImageAliasesEntryPut{Description: a.Description, Target: a.Fingerprint},
		Name: a.Name, Type: a.Type}
}

func (s *Server) handleAliasesGet(w http.ResponseWriter, r *http.Request) {
	as, err := s.d.db.ListAliases(r.Context(), "")
	if err != nil {
		writeError(w, err)
		return
	}
	if recursion(r) == 0 {
		urls := make([]string, 0, len(as))
		for _, a := range as {
			urls = append(urls, "/1.0/images/aliases/"+a.Name)
		}
		writeSync(w, urls)
		return
	}
	out := make([]api.ImageAliasesEntry, 0, len(as))
	for _, a := range as {
		out = append(out, renderAlias(a))
	}
	writeSync(w, out)
}

func validateAliasName(name string) error {
	if name == "" || len(name) > 255 || strings.ContainsAny(name, " \t\n:?#") || strings.HasPrefix(name, "/") || strings.Contains(name, "..") {
		return errdefs.Invalidf("alias name %q is not valid: no spaces, ':', '?', '#', '..' and at most 255 characters", name)
	}
	return nil
}

func (s *Server) handleAliasesPost(w http.ResponseWriter, r *http.Request) {
	var req api.ImageAliasesPost
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if err := validateAliasName(req.Name); err != nil {
		writeError(w, err)
		return
	}
	im, err := s.d.findImage(r.Context(), req.Target)
	if err != nil {
		writeError(w, err)
		return
	}
	err = s.d.db.CreateAlias(r.Context(), db.Alias{Name: req.Name, Fingerprint: im.Fingerprint, Description: req.Description})
	if errors.Is(err, db.ErrExists) {
		err = errdefs.Existsf("alias %q already exists; delete it first or point it elsewhere with PUT", req.Name)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeSync(w, map[string]any{})
}

func (s *Server) handleAliasGet(w http.ResponseWriter, r *http.Request) {
	a, err := s.d.db.GetAlias(r.Context(), r.PathValue("name"))
	if errors.Is(err, db.ErrNotFound) {
		err = errdefs.NotFoundf("image alias %q not found (see `lodge image alias list`)", r.PathValue("name"))
	}
	if err != nil {
		writeError(w, err)
		return
	}
	out := renderAlias(a)
	writeSyncETag(w, out, out.ImageAliasesEntryPut)
}

func (s *Server) handleAliasPut(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var req api.ImageAliasesEntryPut
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	im, err := s.d.findImage(r.Context(), req.Target)
	if err != nil {
		writeError(w, err)
		return
	}
	err = s.d.db.UpdateAlias(r.Context(), db.Alias{Name: name, Fingerprint: im.Fingerprint, Description: req.Description})
	if errors.Is(err, db.ErrNotFound) {
		err = errdefs.NotFoundf("image alias %q not found", name)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeSync(w, map[string]any{})
}

func (s *Server) handleAliasDelete(w http.ResponseWriter, r *http.Request) {
	err := s.d.db.DeleteAlias(r.Context(), r.PathValue("name"))
	if errors.Is(err, db.ErrNotFound) {
		err = errdefs.NotFoundf("image alias %q not found", r.PathValue("name"))
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeSync(w, map[string]any{})
}
