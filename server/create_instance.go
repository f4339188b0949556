package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"

	"lodge/api"
	"lodge/errdefs"
	"lodge/instances"
	"lodge/server/db"
)

func (s *Server) handleInstancesPost(w http.ResponseWriter, r *http.Request) {
	var req api.InstancesPost
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if err := instances.ValidateName(req.Name); err != nil {
		writeError(w, err)
		return
	}
	switch req.Type {
	case "", "container":
	default:
		writeError(w, errdefs.Invalidf("instance type %q is not supported: lodge runs containers only", req.Type))
		return
	}
	switch req.Source.Type {
	case "image":
	case "copy":
		s.handleInstanceCopy(w, r, req)
		return
	case "", "none":
		writeError(w, errdefs.Invalidf("instance %q: source type %q: lodge needs an image to create an instance from", req.Name, req.Source.Type))
		return
	default:
		writeError(w, errdefs.Invalidf("instance %q: source type %q is not supported yet (use image)", req.Name, req.Source.Type))
		return
	}
	if req.Stateful {
		writeError(w, errdefs.Invalidf("instance %q: stateful instances are not supported (CRIU does not work on this host)", req.Name))
		return
	}
	if err := validateConfig(req.Config); err != nil {
		writeError(w, err)
		return
	}
	if req.Profiles == nil {
		req.Profiles = []string{"default"}
	}
	// The root disk's pool picks the instance's pool: the instance's own
	// root device (lodge launch -s POOL) over its profiles'.
	poolName := rootPool(s.d.mustExpand(r.Context(), db.Instance{Name: req.Name, Profiles: req.Profiles, Devices: req.Devices}).Devices, s.d.poolName)
	if _, err := s.d.pool(poolName); err != nil {
		writeError(w, errdefs.Invalidf("instance %q: storage pool %q not found or not available (see `lodge storage list`)", req.Name, poolName))
		return
	}
	keepRootSize(req.Devices, poolName)
	if err := validateDevices(req.Devices, nil); err != nil {
		writeError(w, err)
		return
	}
	if err := s.d.checkNewInstanceConfig(r.Context(), req); err != nil {
		writeError(w, err)
		return
	}
	if err := s.d.validateNICNetworks(r.Context(), req.Name, req.Devices, nil); err != nil {
		writeError(w, err)
		return
	}
	var img db.Image
	var remote *remoteImage // an image still to download from req.Source.Server
	var err error
	if req.Source.Server != "" {
		img, remote, err = s.d.resolveRemote(r.Context(), instanceRemoteRef(req.Source))
	} else {
		img, err = s.d.resolveImage(r.Context(), req.Source)
	}
	if err != nil {
		writeError(w, err)
		return
	}

	cfg := map[string]string{}
	for k, v := range img.Properties {
		cfg["image."+k] = v
	}
	for k, v := range req.Config {
		cfg[k] = v
	}
	cfg["volatile.base_image"] = img.Fingerprint
	cfg["volatile.uuid"] = uuid.NewString()
	// Every NIC, the profiles' included, keeps its MAC in volatile, so its
	// DHCP lease and reservation follow it across restarts.
	for name, d := range s.d.mustExpand(r.Context(), db.Instance{Name: req.Name, Profiles: req.Profiles, Devices: req.Devices}).Devices {
		if d["type"] == "nic" && d["hwaddr"] == "" {
			cfg["volatile."+name+".hwaddr"] = randomMAC()
		}
	}
	arch := req.Architecture
	if arch == "" {
		arch = img.Architecture
	}
	row := db.Instance{
		Name: req.Name, Type: "container", Architecture: arch, ImageFingerprint: img.Fingerprint, Pool: poolName,
		Phase: db.PhaseCreating, Ephemeral: req.Ephemeral, Description: req.Description, Config: cfg,
		Devices: req.Devices, Profiles: req.Profiles, CreatedAt: time.Now().UTC(),
	}
	// The row is inserted before replying so a duplicate name is a 409 now,
	// not a failed operation later.
	s.d.idmapMu.Lock()
	defer s.d.idmapMu.Unlock()
	if err := s.d.allocateIsolated(r.Context(), row.Config, row.Profiles); err != nil {
		writeError(w, err)
		return
	}
	if _, err := s.d.db.CreateInstance(r.Context(), row); err != nil {
		if errors.Is(err, db.ErrExists) {
			err = errdefs.Existsf("instance %q already exists; pick another name or delete it first", req.Name)
		}
		writeError(w, err)
		return
	}
	spec := operationsSpec("Creating instance", req.Name)
	// Cancelling stops the unpack or copy under way and rolls the create back.
	spec.MayCancel = true
	op := s.d.ops.Start(spec, func(ctx context.Context, op *opT) error {
		if remote != nil {
			if _, err := s.d.fetchImage(ctx, op, remote, true); err != nil {
				_ = s.d.db.DeleteInstance(context.WithoutCancel(ctx), row.Name)
				return fmt.Errorf("instance %q: %w", row.Name, err)
			}
		}
		// A use, for images.remote_cache_expiry.
		_ = s.d.db.TouchImage(ctx, row.ImageFingerprint, time.Now().UTC())
		return s.d.createInstance(ctx, op, row, req.Start)
	})
	writeAsync(w, op)
}
