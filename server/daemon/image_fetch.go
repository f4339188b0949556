package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"lodge/api"
	"lodge/errdefs"
	"lodge/images"
	"lodge/remotes"
	"lodge/remotes/lxd"
	"lodge/remotes/simplestreams"
	"lodge/server/db"
	"lodge/server/operations"
)

// remoteState is the daemon's side of image remotes: one Source per remote
// (so indexes are cached) and one download per fingerprint. The zero value
// is ready to use.
type remoteState struct {
	mu        sync.Mutex
	sources   map[string]remotes.Source
	downloads map[string]*download
	// httpOpts are the network limits (tests shorten them).
	httpOpts remotes.HTTPOptions
	// secrets are one-time image secrets (POST /1.0/images/{fp}/secret):
	// secret → fingerprint and expiry.
	secrets map[string]imageSecret
}

// remoteSource returns the (cached) Source for an image server.
func (d *Daemon) remoteSource(server, protocol, certificate, secret string) (remotes.Source, error) {
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errdefs.Invalidf("image server %q is not an http:// or https:// URL", server)
	}
	if protocol == "" {
		protocol = "lxd"
	}
	key := protocol + " " + server + " " + certificate + " " + secret
	d.rm.mu.Lock()
	defer d.rm.mu.Unlock()
	if src, ok := d.rm.sources[key]; ok {
		return src, nil
	}
	var src remotes.Source
	switch protocol {
	case "simplestreams":
		src = simplestreams.New(server, simplestreams.Options{HTTP: d.rm.httpOpts})
	case "lxd", "incus":
		if u.Scheme != "https" {
			return nil, errdefs.Invalidf("image server %s: the lxd protocol needs https://", server)
		}
		// The daemon's own certificate is its client certificate: a server
		// that trusts it shows this lodged its private images too.
		client, _ := d.serverCert()
		tcfg, err := remotes.PinnedTLS(certificate, client)
		if err != nil {
			return nil, errdefs.Invalidf("image server %s: %v", server, err)
		}
		opts := d.rm.httpOpts
		opts.TLS = tcfg
		src = lxd.New(server, opts, secret)
	default:
		return nil, errdefs.Invalidf("image server %s: protocol %q is not supported (use simplestreams or lxd)", server, protocol)
	}
	if d.rm.sources == nil {
		d.rm.sources = map[string]remotes.Source{}
	}
	// A secret is single-purpose: such a source is not kept.
	if secret == "" {
		d.rm.sources[key] = src
	}
	return src, nil
}

// remoteImage is an image resolved on a remote, not yet downloaded.
type remoteImage struct {
	src      remotes.Source
	server   string
	protocol string
	cert     string
	alias    string
	im       remotes.Image
}

// resolveRemote finds the image a remote source names. If it is already in
// the local store, the local row is returned and the remoteImage is nil.
// remoteRef names an image on a remote, as a request's source does.
type remoteRef struct {
	Server, Protocol, Certificate, Secret, Alias, Fingerprint string
}

func instanceRemoteRef(src api.InstanceSource) remoteRef {
	return remoteRef{src.Server, src.Protocol, src.Certificate, src.Secret, src.Alias, src.Fingerprint}
}

func (d *Daemon) resolveRemote(ctx context.Context, ref remoteRef) (db.Image, *remoteImage, error) {
	server, protocol, cert, alias, fingerprint := ref.Server, ref.Protocol, ref.Certificate, ref.Alias, ref.Fingerprint
	src, err := d.remoteSource(server, protocol, cert, ref.Secret)
	if err != nil {
		return db.Image{}, nil, err
	}
	name := alias
	if name == "" {
		name = fingerprint
	}
	if name == "" {
		return db.Image{}, nil, errdefs.Invalidf("image source on %s needs an alias or a fingerprint", server)
	}
	// Bounded so that an unreachable remote fails the request in seconds.
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	im, err := src.Resolve(rctx, name)
	if err != nil {
		return db.Image{}, nil, err
	}
	// The fingerprint names files and rows here: a server that offers
	// anything but a SHA-256 (a path, say) is not trusted with it.
	im.Fingerprint = strings.ToLower(im.Fingerprint)
	if len(im.Fingerprint) != 64 || !images.ValidFingerprintPrefix(im.Fingerprint) {
		return db.Image{}, nil, errdefs.Invalidf("image server %s offered image %q with fingerprint %q, which is not a SHA-256; refusing it", server, name, im.Fingerprint)
	}
	if row, err := d.db.GetImage(ctx, im.Fingerprint); err == nil {
		return row, nil, nil
	}
	if protocol == "" {
		protocol = "lxd"
	}
	if strings.HasPrefix(im.Fingerprint, strings.ToLower(alias)) {
		alias = "" // named by fingerprint: nothing newer can ever match it
	}
	ri := &remoteImage{src: src, server: server, protocol: protocol, cert: cert, alias: alias, im: im}
	props := map[string]string{}
	for k, v := range im.Properties {
		props[k] = v
	}
	return db.Image{Fingerprint: im.Fingerprint, Architecture: im.Architecture, Properties: props, Type: "container"}, ri, nil
}

// download is one image download that any number of operations wait for.
type download struct {
	done chan struct{}
	img  db.Image
	err  error

	mu   sync.Mutex
	ops  map[*operations.Op]bool
	last map[string]any // latest progress, for operations that join late
}

func (d *download) publish(md map[string]any) {
	d.mu.Lock()
	d.last = md
	ops := make([]*operations.Op, 0, len(d.ops))
	for op := range d.ops {
		ops = append(ops, op)
	}
	d.mu.Unlock()
	for _, op := range ops {
		for k, v := range md {
			op.SetMetadata(k, v)
		}
	}
}

// fetchImage downloads ri into the store and the database, once per
// fingerprint however many operations ask at the same time; op (may be
// nil) gets LXD's download_progress metadata. cached marks an image copied
// only because an instance needed it.
func (d *Daemon) fetchImage(ctx context.Context, op *operations.Op, ri *remoteImage, cached bool) (db.Image, error) {
	fp := ri.im.Fingerprint
	d.rm.mu.Lock()
	if row, err := d.db.GetImage(ctx, fp); err == nil {
		d.rm.mu.Unlock()
		return row, nil
	}
	if d.rm.downloads == nil {
		d.rm.downloads = map[string]*download{}
	}
	dl := d.rm.downloads[fp]
	if dl == nil {
		dl = &download{done: make(chan struct{}), ops: map[*operations.Op]bool{}}
		d.rm.downloads[fp] = dl
		go func() {
			dl.img, dl.err = d.doFetch(d.ctx, dl, ri, cached)
			d.rm.mu.Lock()
			delete(d.rm.downloads, fp)
			d.rm.mu.Unlock()
			close(dl.done)
		}()
	}
	d.rm.mu.Unlock()
	if op != nil {
		dl.mu.Lock()
		dl.ops[op] = true
		last := dl.last
		dl.mu.Unlock()
		for k, v := range last {
			op.SetMetadata(k, v)
		}
		defer func() { dl.mu.Lock(); delete(dl.ops, op); dl.mu.Unlock() }()
	}
	select {
	case <-dl.done:
		return dl.img, dl.err
	case <-ctx.Done():
		return db.Image{}, ctx.Err()
	}
}

// lazyReader opens its stream on first read, so a split image's rootfs is
// requested only once its metadata has arrived and checked out.
type lazyReader struct {
	open func() (io.ReadCloser, error)
	rc   io.ReadCloser
	err  error
}

func (l *lazyReader) Read(p []byte) (int, error) {
	if l.rc == nil && l.err == nil {
		l.rc, l.err = l.open()
	}
	if l.err != nil {
		return 0, l.err
	}
	return l.rc.Read(p)
}

func (l *lazyReader) Close() {
	if l.rc != nil {
		l.rc.Close()
	}
}

// stageReader names the download stage when its part starts.
type stageReader struct {
	r    io.Reader
	set  func()
	done bool
}

func (s *stageReader) Read(p []byte) (int, error) {
	if !s.done {
		s.set()
		s.done = true
	}
	return s.r.Read(p)
}

func humanRate(bps float64) string {
	units := []string{"B/s", "kB/s", "MB/s", "GB/s"}
	i := 0
	for bps >= 1000 && i < len(units)-1 {
		bps /= 1000
		i++
	}
	return fmt.Sprintf("%.2f%s", bps, units[i])
}

// storeRemote downloads ri's files into the store, checked against the
// fingerprint, with progress on dl; images.ErrExists if they are there.
// files are the files as the server sent them (an export says only then).
func (d *Daemon) storeRemote(ctx context.Context, dl *download, ri *remoteImage) (info images.Info, files []remotes.File, err error) {
	im := ri.im
	start := time.Now()
	var lastPub time.Time
	lastPct := -1
	stage := "rootfs"
	progress := func(done, total int64) {
		pct := 0
		if total > 0 {
			pct = int(done * 100 / total)
		}
		now := time.Now()
		if pct == lastPct && now.Sub(lastPub) < 500*time.Millisecond {
			return
		}
		if now.Sub(lastPub) < 100*time.Millisecond && pct != 100 {
			return
		}
		lastPct, lastPub = pct, now
		speed := float64(done) / now.Sub(start).Seconds()
		dl.publish(map[string]any{
			"download_progress": fmt.Sprintf("%s: %d%% (%s)", stage, pct, humanRate(speed)),
			"progress": map[string]string{"stage": "download", "percent": fmt.Sprint(pct), "speed": fmt.Sprint(int64(speed)),
				"processed": fmt.Sprint(done), "total": fmt.Sprint(total)},
		})
	}
	var raw []io.Reader
	if ex, ok := ri.src.(remotes.Exporter); ok {
		files, parts, closer, err := ex.Export(ctx, im)
		if err != nil {
			return images.Info{}, nil, fmt.Errorf("image %s from %s: %w", short(im.Fingerprint), ri.server, err)
		}
		defer closer.Close()
		im.Files, raw = files, parts
	} else {
		for _, f := range im.Files {
			f := f
			lr := &lazyReader{open: func() (io.ReadCloser, error) { return ri.src.Open(ctx, im, f) }}
			defer lr.Close()
			raw = append(raw, lr)
		}
	}
	v := remotes.NewVerifier(im, progress)
	// The store hashes the stream and compares it with the fingerprint
	// before keeping anything: one SHA-256 pass over the rootfs, not two.
	v.FingerprintCheckedByConsumer()
	readers := make([]io.Reader, len(im.Files))
	for i, f := range im.Files {
		role := f.Role
		if role == "combined" {
			role = "rootfs"
		}
		readers[i] = v.Wrap(i, &stageReader{r: raw[i], set: func() { stage = role }})
	}
	switch len(im.Files) {
	case 1:
		info, err = d.images.Import(ctx, readers[0], im.Fingerprint)
	case 2:
		info, err = d.images.ImportSplit(ctx, readers[0], readers[1], im.Fingerprint)
	default:
		return images.Info{}, nil, fmt.Errorf("image %s from %s: %d files, expected 1 or 2", short(im.Fingerprint), ri.server, len(im.Files))
	}
	return info, im.Files, err
}

func (d *Daemon) doFetch(ctx context.Context, dl *download, ri *remoteImage, cached bool) (db.Image, error) {
	im := ri.im
	start := time.Now()
	info, files, err := d.storeRemote(ctx, dl, ri)
	if errors.Is(err, images.ErrExists) {
		// Stored by an earlier run whose database write did not happen.
		if row, gerr := d.db.GetImage(ctx, im.Fingerprint); gerr == nil {
			return row, nil
		}
		err = nil
	}
	if err != nil {
		d.log.Warn("image download failed", "server", ri.server, "fingerprint", im.Fingerprint, "err", err)
		return db.Image{}, fmt.Errorf("image %s from %s: %w", short(im.Fingerprint), ri.server, err)
	}
	took := time.Since(start)
	now := time.Now().UTC()
	props := map[string]string{}
	for k, v := range info.Metadata.Properties {
		props[k] = v
	}
	for k, v := range im.Properties {
		props[k] = v
	}
	arch := info.Metadata.Architecture
	if arch == "" {
		arch = im.Architecture
	}
	created := im.CreatedAt
	if created.IsZero() && info.Metadata.CreationDate > 0 {
		created = time.Unix(info.Metadata.CreationDate, 0).UTC()
	}
	if created.IsZero() {
		created = now
	}
	filename := path.Base(files[len(files)-1].Path)
	row := db.Image{Fingerprint: im.Fingerprint, Filename: filename, Size: info.Size, Architecture: arch, Type: "container",
		Cached: cached, AutoUpdate: cached && ri.alias != "", Properties: props, CreatedAt: created, UploadedAt: now, LastUsedAt: now}
	if err := d.db.CreateImage(ctx, row); err != nil && !errors.Is(err, db.ErrExists) {
		_ = d.images.Delete(im.Fingerprint)
		return db.Image{}, err
	}
	if err := d.db.SetImageSource(ctx, db.ImageSource{Fingerprint: im.Fingerprint, Server: ri.server, Protocol: ri.protocol,
		Certificate: ri.cert, Alias: ri.alias}); err != nil {
		return db.Image{}, err
	}
	d.log.Info("image downloaded", "server", ri.server, "fingerprint", im.Fingerprint, "bytes", info.Size, "took", took,
		"MBps", float64(info.Size)/took.Seconds()/1e6)
	d.events.lifecycle("image-created", ImageURL(im.Fingerprint), nil)
	return d.db.GetImage(ctx, im.Fingerprint)
}

// srcKey is for logs and messages.
func (ri *remoteImage) String() string {
	return strings.TrimSpace(ri.server + " " + ri.alias + " " + short(ri.im.Fingerprint))
}

// CopyImage copies an image from a remote (simplestreams or another
// server) into the store, once per fingerprint, with the settings and
// aliases req gives it; an image already here only takes those.
func (d *Daemon) CopyImage(ctx context.Context, req api.ImagesPost) (*operations.Op, error) {
	if req.Source == nil {
		return nil, errdefs.Invalidf("image source missing: give source.type (image, for a copy from a remote)")
	}
	switch req.Source.Type {
	case "image":
	default:
		return nil, errdefs.Invalidf("image source type %q is not supported yet (use image, with server and protocol)", req.Source.Type)
	}
	if req.Source.Server == "" {
		return nil, errdefs.Invalidf("image copy needs source.server (copying from this server to itself is a no-op)")
	}
	if req.Source.Mode != "" && req.Source.Mode != "pull" {
		return nil, errdefs.Invalidf("image copy mode %q is not supported: lodged pulls", req.Source.Mode)
	}
	for _, a := range req.Aliases {
		if err := validateAliasName(a.Name); err != nil {
			return nil, err
		}
	}
	local, ri, err := d.resolveRemote(ctx, remoteRef{req.Source.Server, req.Source.Protocol, req.Source.Certificate,
		req.Source.Secret, req.Source.Alias, req.Source.Fingerprint})
	if err != nil {
		return nil, err
	}
	op := d.ops.Start(imageOpSpec("Downloading image", local.Fingerprint), func(ctx context.Context, op *operations.Op) error {
		img := local
		if ri != nil {
			if img, err = d.fetchImage(ctx, op, ri, false); err != nil {
				return err
			}
		} else if img.Cached {
			// Asked for explicitly now: no longer a cache entry that expires.
			if err := d.db.SetImageCached(ctx, img.Fingerprint, false); err != nil {
				return err
			}
		}
		if req.Public || req.AutoUpdate || len(req.Properties) > 0 {
			img.Public, img.AutoUpdate = req.Public, req.AutoUpdate
			for k, v := range req.Properties {
				if img.Properties == nil {
					img.Properties = map[string]string{}
				}
				img.Properties[k] = v
			}
			if err := d.db.UpdateImage(ctx, img); err != nil {
				return err
			}
		}
		if req.AutoUpdate && ri == nil {
			// Already local: remember where it came from so it can be refreshed.
			_ = d.db.SetImageSource(ctx, db.ImageSource{Fingerprint: img.Fingerprint, Server: req.Source.Server,
				Protocol: req.Source.Protocol, Certificate: req.Source.Certificate, Alias: req.Source.Alias})
		}
		for _, a := range req.Aliases {
			err := d.db.CreateAlias(ctx, db.Alias{Name: a.Name, Fingerprint: img.Fingerprint, Description: a.Description})
			if errors.Is(err, db.ErrExists) {
				err = d.db.UpdateAlias(ctx, db.Alias{Name: a.Name, Fingerprint: img.Fingerprint, Description: a.Description})
			}
			if err != nil {
				return fmt.Errorf("alias %q: %w", a.Name, err)
			}
		}
		op.SetMetadata("fingerprint", img.Fingerprint)
		op.SetMetadata("size", img.Size)
		return nil
	})
	return op, nil
}
