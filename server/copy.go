package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"lodge/api"
	"lodge/errdefs"
	"lodge/instances"
	"lodge/server/db"
	"lodge/storage"
)

// handleInstanceCopy is POST /1.0/instances with source type "copy": a new
// instance from another one or from a snapshot ("c1/snap"), on the same or
// another pool, with the source's snapshots unless instance_only.
func (s *Server) handleInstanceCopy(w http.ResponseWriter, r *http.Request, req api.InstancesPost) {
	ctx := r.Context()
	srcName, snap, _ := strings.Cut(req.Source.Source, "/")
	if srcName == "" {
		writeError(w, errdefs.Invalidf("instance %q: copy needs source.source (an instance or instance/snapshot)", req.Name))
		return
	}
	src, err := s.d.getInstance(ctx, srcName)
	if err != nil {
		writeError(w, err)
		return
	}
	if src.Phase != db.PhaseCreated {
		writeError(w, errdefs.Conflictf("instance %q is still being created", srcName))
		return
	}
	srcCfg, srcDev, srcProfiles := src.Config, src.Devices, src.Profiles
	if snap != "" {
		_, sn, err := s.d.getSnapshot(ctx, srcName, snap)
		if err != nil {
			writeError(w, err)
			return
		}
		srcCfg, srcDev, srcProfiles = sn.Config, sn.Devices, sn.Profiles
	}
	// source.live is what LXD's client sets for a running source; a local
	// copy freezes the source instead, as LXD does for containers.
	if req.Stateful {
		writeError(w, errdefs.Invalidf("instance %q: stateful copies need CRIU, which is not available on this host", req.Name))
		return
	}
	if req.Source.Refresh {
		writeError(w, errdefs.Invalidf("instance %q: refreshing an existing copy is not supported yet", req.Name))
		return
	}
	poolName := src.Pool
	if root, ok := req.Devices["root"]; ok && root["pool"] != "" {
		poolName = root["pool"]
	}
	if _, err := s.d.pool(poolName); err != nil {
		writeError(w, errdefs.Invalidf("instance %q: storage pool %q not found or not available (see `lodge storage list`)", req.Name, poolName))
		return
	}
	instanceOnly := req.Source.InstanceOnly || req.Source.ContainerOnly || snap != ""
	cfg := map[string]string{}
	base := req.Config
	if len(base) == 0 {
		base = srcCfg
	}
	for k, v := range base {
		// The copy is a new instance: its own uuid and MAC addresses.
		if !strings.HasPrefix(k, "volatile.") || k == "volatile.base_image" {
			cfg[k] = v
		}
	}
	if err := validateConfig(cfg); err != nil {
		writeError(w, err)
		return
	}
	devices := req.Devices
	if len(devices) == 0 || (len(devices) == 1 && devices["root"] != nil) {
		devices = map[string]map[string]string{}
		for k, v := range srcDev {
			devices[k] = v
		}
	}
	delete(devices, "root")
	// The source's devices as they are (keys stored before lodge refused
	// them included) are not checked again; changes to them are.
	if err := validateDevices(devices, s.d.expandedDevices(s.d.mustExpand(ctx, db.Instance{Name: srcName, Profiles: srcProfiles, Devices: srcDev}))); err != nil {
		writeError(w, err)
		return
	}
	cfg["volatile.uuid"] = uuid.NewString()
	for name, d := range devices {
		if d["type"] == "nic" && d["hwaddr"] == "" {
			cfg["volatile."+name+".hwaddr"] = randomMAC()
		}
	}
	row := db.Instance{
		Name: req.Name, Type: "container", Architecture: src.Architecture, ImageFingerprint: src.ImageFingerprint, Pool: poolName,
		Phase: db.PhaseCreating, Ephemeral: req.Ephemeral, Description: req.Description, Config: cfg,
		Devices: devices, Profiles: srcProfiles, CreatedAt: time.Now().UTC(),
	}
	if _, err := s.d.db.CreateInstance(ctx, row); err != nil {
		if errors.Is(err, db.ErrExists) {
			err = errdefs.Existsf("instance %q already exists; pick another name or delete it first", req.Name)
		}
		writeError(w, err)
		return
	}
	op := s.d.ops.Start(operationsSpec("Creating instance", req.Name), func(ctx context.Context, op *opT) error {
		return s.d.copyInstance(ctx, op, row, srcName, snap, instanceOnly, req.Start)
	})
	writeAsync(w, op)
}

// handleInstancePost is POST /1.0/instances/{name}: rename, or move to
// another pool (with "pool"). The instance must be stopped.
func (s *Server) handleInstancePost(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	in, err := s.d.getInstance(r.Context(), name)
	if err != nil {
		writeError(w, err)
		return
	}
	var req api.InstancePost
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	// "live" (LXD's client sets it) needs nothing here: the instance must be
	// stopped for a rename or move anyway.
	if req.Migration && req.Pool == "" {
		writeError(w, errdefs.Invalidf("instance %q: migration to another server is not supported; rename with {\"name\": NEW}", name))
		return
	}
	if req.Name == "" {
		req.Name = name
	}
	if err := instances.ValidateName(req.Name); err != nil {
		writeError(w, err)
		return
	}
	if req.Pool != "" {
		dst, err := s.d.pool(req.Pool)
		if err != nil {
			writeError(w, errdefs.Invalidf("instance %q: storage pool %q not found or not available", name, req.Pool))
			return
		}
		if _, ok := dst.(storage.Quotaer); !ok && in.Devices["root"]["size"] != "" {
			writeError(w, errdefs.Invalidf("instance %q has a root size limit, which the %s driver of pool %q cannot enforce; remove it first", name, dst.Info().Name, req.Pool))
			return
		}
	}
	if req.Name == name && (req.Pool == "" || req.Pool == in.Pool) {
		writeError(w, errdefs.Invalidf("instance %q: nothing to do (same name and pool)", name))
		return
	}
	if req.Name != name {
		if _, err := s.d.db.GetInstance(r.Context(), req.Name); err == nil {
			writeError(w, errdefs.Existsf("instance %q already exists; pick another name", req.Name))
			return
		}
	}
	if st := s.d.liveStatus(r.Context(), in); st != instances.StatusStopped {
		writeError(w, errdefs.Invalidf("instance %q is running; stop it first (lodge stop %s)", name, name))
		return
	}
	desc := "Renaming instance"
	if req.Pool != "" && req.Pool != in.Pool {
		desc = "Moving instance"
	}
	op := s.d.ops.Start(operationsSpec(desc, name), func(ctx context.Context, op *opT) error {
		if req.Pool != "" && req.Pool != in.Pool {
			if err := s.d.moveInstancePool(ctx, op, name, req.Pool); err != nil {
				return err
			}
		}
		if req.Name != name {
			return s.d.renameInstance(ctx, name, req.Name)
		}
		return nil
	})
	writeAsync(w, op)
}
