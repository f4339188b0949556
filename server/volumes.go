package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"lodge/api"
	"lodge/errdefs"
	"lodge/idmap"
	"lodge/instances"
	"lodge/server/db"
	"lodge/storage"
	"lodge/storage/pools"
)

func volumeURL(pool, typ, name string) string {
	return poolURL(pool) + "/volumes/" + typ + "/" + name
}

// volumeUsers lists the instances with a disk device on a custom volume.
func (d *Daemon) volumeUsers(ctx context.Context, pool, name string) []string {
	list, _ := d.db.ListInstances(ctx)
	var out []string
	for _, in := range list {
		for _, dev := range in.Devices {
			if dev["type"] == "disk" && dev["pool"] == pool && dev["source"] == name {
				out = append(out, in.Name)
				break
			}
		}
	}
	return out
}

func (s *Server) renderVolume(ctx context.Context, v db.StorageVolume) api.StorageVolume {
	used := []string{}
	for _, n := range s.d.volumeUsers(ctx, v.Pool, v.Name) {
		used = append(used, instanceURL(n))
	}
	return api.StorageVolume{Config: v.Config, Description: v.Description, Name: v.Name, Type: "custom",
		UsedBy: used, Location: "none", ContentType: "filesystem"}
}

// handleVolumesGet lists a pool's volumes: custom ones, instances and
// images (GET .../volumes), or one type (GET .../volumes/{type}).
func (s *Server) handleVolumesGet(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, err := s.d.getPoolRow(ctx, r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	typ := r.PathValue("type")
	var out []api.StorageVolume
	if typ == "" || typ == "custom" {
		vols, err := s.d.db.ListStorageVolumes(ctx, p.Name)
		if err != nil {
			writeError(w, err)
			return
		}
		for _, v := range vols {
			out = append(out, s.renderVolume(ctx, v))
		}
	}
	if typ == "" || typ == "container" {
		names, _ := s.d.db.PoolUsers(ctx, p.Name)
		for _, n := range names {
			out = append(out, api.StorageVolume{Config: map[string]string{}, Name: n, Type: "container",
				UsedBy: []string{instanceURL(n)}, Location: "none", ContentType: "filesystem"})
		}
	}
	if typ == "" || typ == "image" {
		if d, ok := s.d.pools.get(p.Name); ok {
			vols, _ := d.Volumes(storage.KindImage)
			for _, v := range vols {
				out = append(out, api.StorageVolume{Config: map[string]string{}, Name: v.Name, Type: "image",
					UsedBy: []string{imageURL(v.Name)}, Location: "none", ContentType: "filesystem"})
			}
		}
	}
	if out == nil {
		out = []api.StorageVolume{}
	}
	if recursion(r) == 0 {
		urls := make([]string, 0, len(out))
		for _, v := range out {
			urls = append(urls, volumeURL(p.Name, v.Type, v.Name))
		}
		sort.Strings(urls)
		writeSync(w, urls)
		return
	}
	writeSync(w, out)
}

func (d *Daemon) findVolume(ctx context.Context, pool, typ, name string) (db.StorageVolume, error) {
	if typ != "custom" {
		return db.StorageVolume{}, errdefs.NotFoundf("storage volume %s/%s on pool %q: only custom volumes are addressed here", typ, name, pool)
	}
	vols, err := d.db.ListStorageVolumes(ctx, pool)
	if err != nil {
		return db.StorageVolume{}, err
	}
	for _, v := range vols {
		if v.Name == name {
			return v, nil
		}
	}
	return db.StorageVolume{}, errdefs.NotFoundf("storage volume %q not found on pool %q (see `lodge storage volume list %s`)", name, pool, pool)
}

func (s *Server) handleVolumeGet(w http.ResponseWriter, r *http.Request) {
	v, err := s.d.findVolume(r.Context(), r.PathValue("name"), r.PathValue("type"), r.PathValue("vol"))
	if err != nil {
		writeError(w, err)
		return
	}
	out := s.renderVolume(r.Context(), v)
	writeSyncETag(w, out, out.Config)
}

func (s *Server) handleVolumesPost(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, err := s.d.getPoolRow(ctx, r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	var req api.StorageVolumesPost
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if t := r.PathValue("type"); t != "" {
		req.Type = t
	}
	if req.Type == "" {
		req.Type = "custom"
	}
	if req.Type != "custom" {
		writeError(w, errdefs.Invalidf("storage volume %q: only custom volumes can be created (type %q)", req.Name, req.Type))
		return
	}
	if req.ContentType != "" && req.ContentType != "filesystem" {
		writeError(w, errdefs.Invalidf("storage volume %q: content type %q is not supported (filesystem only)", req.Name, req.ContentType))
		return
	}
	if err := instances.ValidateName(req.Name); err != nil {
		writeError(w, errdefs.Invalidf("storage volume name %q is not valid: use letters, digits and hyphens, start with a letter", req.Name))
		return
	}
	for k := range req.Config {
		if !strings.HasPrefix(k, "user.") {
			writeError(w, errdefs.Invalidf("storage volume %q: config key %q is not supported (only user.*)", req.Name, k))
			return
		}
	}
	d, err := s.d.pool(p.Name)
	if err != nil {
		writeError(w, err)
		return
	}
	vol := storage.Volume{Kind: storage.KindCustom, Name: req.Name}
	if err := s.d.db.CreateStorageVolume(ctx, db.StorageVolume{Pool: p.Name, Name: req.Name, Description: req.Description, Config: req.Config, CreatedAt: time.Now().UTC()}); err != nil {
		if errors.Is(err, db.ErrExists) {
			err = errdefs.Existsf("storage volume %q already exists on pool %q", req.Name, p.Name)
		}
		writeError(w, err)
		return
	}
	err = s.d.clearStale(ctx, p.Name, d, vol) // left by a crash; the row is new
	if err == nil {
		err = d.CreateVolume(ctx, vol)
	}
	if err != nil {
		_ = s.d.db.DeleteStorageVolume(context.WithoutCancel(ctx), p.Name, req.Name)
		writeError(w, fmt.Errorf("storage volume %q on pool %q: %w", req.Name, p.Name, err))
		return
	}
	s.d.events.lifecycle("storage-volume-created", volumeURL(p.Name, "custom", req.Name), nil)
	w.Header().Set("Location", volumeURL(p.Name, "custom", req.Name))
	writeSync(w, map[string]any{})
}

func (s *Server) handleVolumeDelete(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pool := r.PathValue("name")
	v, err := s.d.findVolume(ctx, pool, r.PathValue("type"), r.PathValue("vol"))
	if err != nil {
		writeError(w, err)
		return
	}
	if users := s.d.volumeUsers(ctx, pool, v.Name); len(users) > 0 {
		writeError(w, errdefs.Invalidf("storage volume %q is used by instances %s; remove their disk devices first", v.Name, strings.Join(users, ", ")))
		return
	}
	d, err := s.d.pool(pool)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := d.Delete(ctx, storage.Volume{Kind: storage.KindCustom, Name: v.Name}); err != nil {
		writeError(w, fmt.Errorf("storage volume %q: %w", v.Name, err))
		return
	}
	if err := s.d.db.DeleteStorageVolume(ctx, pool, v.Name); err != nil {
		writeError(w, err)
		return
	}
	s.d.events.lifecycle("storage-volume-deleted", volumeURL(pool, "custom", v.Name), nil)
	writeSync(w, map[string]any{})
}

// diskMounts turns an instance's disk devices into mounts for its spec.
func (d *Daemon) diskMounts(in db.Instance) ([]instances.Mount, error) {
	names := make([]string, 0, len(in.Devices))
	for n := range in.Devices {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []instances.Mount
	for _, n := range names {
		dev := in.Devices[n]
		if dev["type"] != "disk" || dev["path"] == "/" || dev["path"] == "" {
			continue
		}
		src := dev["source"]
		if dev["pool"] != "" {
			p, err := d.pool(dev["pool"])
			if err != nil {
				return nil, fmt.Errorf("device %q: %w", n, err)
			}
			vol := storage.Volume{Kind: storage.KindCustom, Name: src}
			if !p.Exists(vol) {
				return nil, errdefs.Invalidf("device %q: storage volume %q not found on pool %q (lodge storage volume create %s %s)", n, src, dev["pool"], dev["pool"], src)
			}
			src = p.Path(vol)
			// A custom volume belongs to the container's root: its tree
			// is shifted to the instance's id map (once; again only if
			// an instance with another map uses it).
			m, err := d.instanceMap(in)
			if err != nil {
				return nil, err
			}
			cur, err := idmap.Current(src)
			if err != nil {
				return nil, fmt.Errorf("device %q: %w", n, err)
			}
			if err := idmap.Shift(src, cur, m); err != nil {
				return nil, fmt.Errorf("device %q: shift storage volume %q to the instance's ids: %w", n, dev["source"], err)
			}
		}
		fi, err := os.Stat(src)
		if err != nil {
			if dev["required"] == "false" {
				continue
			}
			return nil, errdefs.Invalidf("device %q: source %q: %v", n, dev["source"], err)
		}
		out = append(out, instances.Mount{Source: src, Path: dev["path"], ReadOnly: dev["readonly"] == "true", IsFile: !fi.IsDir()})
	}
	return out, nil
}

// keepRootSize drops a root disk device that only restates the default
// (the default profile provides it) and keeps one that sets a size, on the
// instance's own pool.
func keepRootSize(devs map[string]map[string]string, pool string) {
	root, ok := devs["root"]
	if !ok {
		return
	}
	if root["size"] == "" {
		delete(devs, "root")
		return
	}
	devs["root"] = map[string]string{"type": "disk", "path": "/", "pool": pool, "size": root["size"]}
}

// applyRootQuota sets the root volume's size limit (root device size=), or
// clears it, where the pool's driver can.
func (d *Daemon) applyRootQuota(ctx context.Context, in db.Instance) error {
	size := in.Devices["root"]["size"]
	if in.Phase != db.PhaseCreated && size == "" {
		return nil
	}
	p, err := d.instancePool(in)
	if err != nil {
		return err
	}
	q, ok := p.(storage.Quotaer)
	if !ok {
		if size != "" {
			return errdefs.Invalidf("instance %q: root size=%s: the %s driver cannot limit a volume's size; use a btrfs pool", in.Name, size, p.Info().Name)
		}
		return nil
	}
	var n int64
	if size != "" {
		if n, err = pools.ParseSize(size); err != nil {
			return errdefs.Invalidf("instance %q: root size: %v", in.Name, err)
		}
	}
	vol := storage.Volume{Kind: storage.KindContainer, Name: in.Name}
	if !p.Exists(vol) {
		return nil // being created: applied at the first start
	}
	if err := q.SetQuota(ctx, vol, n); err != nil {
		return fmt.Errorf("instance %q: root size: %w", in.Name, err)
	}
	return nil
}

func (s *Server) handleVolumePut(w http.ResponseWriter, r *http.Request) { s.updateVolume(w, r, false) }
func (s *Server) handleVolumePatch(w http.ResponseWriter, r *http.Request) {
	s.updateVolume(w, r, true)
}

// updateVolume changes a custom volume's description and user.* keys.
func (s *Server) updateVolume(w http.ResponseWriter, r *http.Request, patch bool) {
	ctx := r.Context()
	v, err := s.d.findVolume(ctx, r.PathValue("name"), r.PathValue("type"), r.PathValue("vol"))
	if err != nil {
		writeError(w, err)
		return
	}
	var req api.StorageVolumePut
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	cfg := map[string]string{}
	if patch {
		for k, val := range v.Config {
			cfg[k] = val
		}
	}
	for k, val := range req.Config {
		if !strings.HasPrefix(k, "user.") {
			writeError(w, errdefs.Invalidf("storage volume %q: config key %q is not supported (only user.*)", v.Name, k))
			return
		}
		if val == "" {
			delete(cfg, k)
			continue
		}
		cfg[k] = val
	}
	v.Config = cfg
	if !patch || req.Description != "" {
		v.Description = req.Description
	}
	if err := s.d.db.UpdateStorageVolume(ctx, v); err != nil {
		writeError(w, err)
		return
	}
	s.d.events.lifecycle("storage-volume-updated", volumeURL(v.Pool, "custom", v.Name), nil)
	writeSync(w, map[string]any{})
}
