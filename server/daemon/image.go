package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"maps"
	"strings"
	"time"

	"lodge/api"
	"lodge/errdefs"
	"lodge/images"
	"lodge/server/db"
	"lodge/server/operations"
)

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
			if errors.Is(ferr, errdefs.ErrInvalid) {
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

func imageOpSpec(desc, fp string) operations.Spec {
	return operations.Spec{Description: desc, Resources: map[string][]string{"images": {ImageURL(fp)}}}
}

func validateAliasName(name string) error {
	if name == "" || len(name) > 255 || strings.ContainsAny(name, " \t\n:?#") || strings.HasPrefix(name, "/") || strings.Contains(name, "..") {
		return errdefs.Invalidf("alias name %q is not valid: no spaces, ':', '?', '#', '..' and at most 255 characters", name)
	}
	return nil
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

// Visibility is what a caller may see of the images: all of them, or, for
// an untrusted client, only public ones and the one a secret opens.
type Visibility struct {
	PublicOnly bool
	// Secret is a one-time image secret (ImageSecret) that opens one private image.
	Secret string
}

// Image is an image's record and its aliases.
type Image struct {
	db.Image
	Aliases []db.Alias
}

func (d *Daemon) imageInfo(ctx context.Context, im db.Image) (Image, error) {
	aliases, err := d.db.ListAliases(ctx, im.Fingerprint)
	return Image{im, aliases}, err
}

// Images lists the images vis may see, with their aliases if withAliases.
func (d *Daemon) Images(ctx context.Context, vis Visibility, withAliases bool) ([]Image, error) {
	ims, err := d.db.ListImages(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Image, 0, len(ims))
	for _, im := range ims {
		if vis.PublicOnly && !im.Public {
			continue
		}
		info := Image{Image: im}
		if withAliases {
			if info, err = d.imageInfo(ctx, im); err != nil {
				return nil, err
			}
		}
		out = append(out, info)
	}
	return out, nil
}

// visibleImage finds an image by fingerprint (prefix) among those vis may
// see; a private one is not found for an untrusted caller without its secret.
func (d *Daemon) visibleImage(ctx context.Context, ref string, vis Visibility) (db.Image, error) {
	im, err := d.findImage(ctx, ref)
	if err == nil && vis.PublicOnly && !im.Public && !d.validImageSecret(vis.Secret, im.Fingerprint) {
		err = errdefs.NotFoundf("image %q not found", ref)
	}
	return im, err
}

// Image reads one image (by fingerprint or a unique prefix of one) and its aliases.
func (d *Daemon) Image(ctx context.Context, ref string, vis Visibility) (Image, error) {
	im, err := d.visibleImage(ctx, ref, vis)
	if err != nil {
		return Image{}, err
	}
	return d.imageInfo(ctx, im)
}

// UpdateImage changes an image's public flag, auto-update and
// properties: decode fills in the new values over the current ones (a
// PATCH, with u.Patch) or over nothing (a PUT).
func (d *Daemon) UpdateImage(ctx context.Context, ref string, decode func(*api.ImagePut) error, u Update) error {
	im, err := d.findImage(ctx, ref)
	if err != nil {
		return err
	}
	if err := u.check(im); err != nil {
		return err
	}
	var req api.ImagePut
	if u.Patch {
		// Decoding over the current values keeps what the body leaves
		// out, and merges properties key by key.
		req = api.ImagePut{Public: im.Public, AutoUpdate: im.AutoUpdate, Properties: maps.Clone(im.Properties)}
	}
	if err := decode(&req); err != nil {
		return err
	}
	if req.Properties == nil {
		req.Properties = map[string]string{}
	}
	im.Public, im.AutoUpdate, im.Properties = req.Public, req.AutoUpdate, req.Properties
	if err := d.db.UpdateImage(ctx, im); err != nil {
		return err
	}
	d.events.lifecycle("image-updated", ImageURL(im.Fingerprint), nil)
	return nil
}

// ImageUpload is an uploaded image: a unified tarball (Rootfs nil) or a
// split image's metadata tarball and rootfs, read and verified before the
// reply.
type ImageUpload struct {
	Tarball io.Reader
	Rootfs  io.Reader
	// Fingerprint is the one the uploader expects ("" if none given).
	Fingerprint string
	Public      bool
	// Properties are added to the image metadata's (lxc image import FILE key=value).
	Properties map[string]string
	// Filename overrides the tarball's name.
	Filename string
}

// ImportImage stores an uploaded image and records it; the operation
// only reports the result.
func (d *Daemon) ImportImage(ctx context.Context, up ImageUpload) (*operations.Op, error) {
	var info images.Info
	var err error
	if up.Rootfs == nil {
		info, err = d.images.Import(ctx, up.Tarball, up.Fingerprint)
	} else {
		info, err = d.images.ImportSplit(ctx, up.Tarball, up.Rootfs, up.Fingerprint)
	}
	if errors.Is(err, images.ErrExists) {
		err = errdefs.Existsf("image with fingerprint %s already exists", info.Fingerprint)
	}
	if err != nil {
		return nil, err
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
	maps.Copy(props, up.Properties)
	filename := info.Filename
	if up.Filename != "" {
		filename = up.Filename
	}
	row := db.Image{Fingerprint: info.Fingerprint, Filename: filename, Size: info.Size, Architecture: info.Metadata.Architecture,
		Type: "container", Public: up.Public, Properties: props, CreatedAt: created, UploadedAt: now}
	err = d.db.CreateImage(ctx, row)
	if errors.Is(err, db.ErrExists) && d.db.Clustered() {
		// Another member has the image and this one had not its files
		// (images.Import would have said so): now it holds them too.
		err = d.db.AddImageNode(ctx, info.Fingerprint)
	}
	if err != nil {
		_ = d.images.Delete(info.Fingerprint)
		if errors.Is(err, db.ErrExists) {
			err = errdefs.Existsf("image with fingerprint %s already exists", info.Fingerprint)
		}
		return nil, err
	}
	d.events.lifecycle("image-created", ImageURL(info.Fingerprint), nil)
	op := d.ops.Start(imageOpSpec("Downloading image", info.Fingerprint), func(ctx context.Context, op *operations.Op) error {
		op.SetMetadata("fingerprint", info.Fingerprint)
		op.SetMetadata("size", info.Size)
		return nil
	})
	return op, nil
}

// DeleteImage removes an image's volumes, record and file.
func (d *Daemon) DeleteImage(ctx context.Context, ref string) (*operations.Op, error) {
	im, err := d.findImage(ctx, ref)
	if err != nil {
		return nil, err
	}
	op := d.ops.Start(imageOpSpec("Deleting image", im.Fingerprint), func(ctx context.Context, _ *operations.Op) error {
		return d.deleteImage(ctx, im.Fingerprint)
	})
	return op, nil
}

// ImageFiles are where an image's files are: the tarball (a split image's
// metadata) and, for a split image, its rootfs.
type ImageFiles struct {
	db.Image
	Path, RootfsPath string
}

// ImageFiles finds the files of an image vis may see, for an export.
func (d *Daemon) ImageFiles(ctx context.Context, ref string, vis Visibility) (ImageFiles, error) {
	im, err := d.visibleImage(ctx, ref, vis)
	if err != nil {
		return ImageFiles{}, err
	}
	// In a cluster the files may be on another member only: fetched here
	// first, as for an instance, after the caller's visibility was checked.
	if err := d.imageFromMember(ctx, nil, im.Fingerprint); err != nil {
		return ImageFiles{}, err
	}
	f := ImageFiles{Image: im, Path: d.images.Path(im.Fingerprint)}
	if d.images.IsSplit(im.Fingerprint) {
		f.RootfsPath = d.images.RootfsPath(im.Fingerprint)
	}
	return f, nil
}

// ImageSecret makes a secret that lets another server (one that does not
// trust the caller) fetch this private image for the next hour, as LXD's
// clients ask for when they launch from a private image on one server
// into another; the token operation carries it.
func (d *Daemon) ImageSecret(ctx context.Context, ref string) (*operations.Op, error) {
	im, err := d.findImage(ctx, ref)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	secret := hex.EncodeToString(b)
	now := time.Now()
	d.rm.mu.Lock()
	if d.rm.secrets == nil {
		d.rm.secrets = map[string]imageSecret{}
	}
	for k, e := range d.rm.secrets {
		if now.After(e.expires) {
			delete(d.rm.secrets, k)
		}
	}
	d.rm.secrets[secret] = imageSecret{fp: im.Fingerprint, expires: now.Add(time.Hour)}
	d.rm.mu.Unlock()
	spec := imageOpSpec("Executing operation", im.Fingerprint)
	spec.Class, spec.Metadata = api.OperationClassToken, map[string]any{"secret": secret}
	return d.ops.Start(spec, func(ctx context.Context, op *operations.Op) error { return nil }), nil
}

// publicAlias tells whether an alias points at a public image.
func (d *Daemon) publicAlias(ctx context.Context, a db.Alias) bool {
	im, err := d.db.GetImage(ctx, a.Fingerprint)
	return err == nil && im.Public
}

// Aliases lists the image aliases vis may see.
func (d *Daemon) Aliases(ctx context.Context, vis Visibility) ([]db.Alias, error) {
	as, err := d.db.ListAliases(ctx, "")
	if err != nil {
		return nil, err
	}
	if !vis.PublicOnly {
		return as, nil
	}
	out := []db.Alias{}
	for _, a := range as {
		if d.publicAlias(ctx, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

// Alias reads an image alias vis may see.
func (d *Daemon) Alias(ctx context.Context, name string, vis Visibility) (db.Alias, error) {
	a, err := d.db.GetAlias(ctx, name)
	if vis.PublicOnly && (errors.Is(err, db.ErrNotFound) || err == nil && !d.publicAlias(ctx, a)) {
		return a, errdefs.NotFoundf("image alias %q not found", name)
	}
	if errors.Is(err, db.ErrNotFound) {
		err = errdefs.NotFoundf("image alias %q not found (see `lodge image alias list`)", name)
	}
	return a, err
}

// CreateAlias names an image.
func (d *Daemon) CreateAlias(ctx context.Context, req api.ImageAliasesPost) error {
	if err := validateAliasName(req.Name); err != nil {
		return err
	}
	im, err := d.findImage(ctx, req.Target)
	if err != nil {
		return err
	}
	err = d.db.CreateAlias(ctx, db.Alias{Name: req.Name, Fingerprint: im.Fingerprint, Description: req.Description})
	if errors.Is(err, db.ErrExists) {
		err = errdefs.Existsf("alias %q already exists; delete it first or point it elsewhere with PUT", req.Name)
	}
	return err
}

// UpdateAlias points an alias at another image (or changes its description).
func (d *Daemon) UpdateAlias(ctx context.Context, name string, req api.ImageAliasesEntryPut) error {
	im, err := d.findImage(ctx, req.Target)
	if err != nil {
		return err
	}
	err = d.db.UpdateAlias(ctx, db.Alias{Name: name, Fingerprint: im.Fingerprint, Description: req.Description})
	if errors.Is(err, db.ErrNotFound) {
		err = errdefs.NotFoundf("image alias %q not found", name)
	}
	return err
}

// DeleteAlias removes an alias (not its image).
func (d *Daemon) DeleteAlias(ctx context.Context, name string) error {
	err := d.db.DeleteAlias(ctx, name)
	if errors.Is(err, db.ErrNotFound) {
		err = errdefs.NotFoundf("image alias %q not found", name)
	}
	return err
}
