package server

import (
	"context"
	"net/http"

	"lodge/api"
	"lodge/errdefs"
	"lodge/instances"
)

// handleInstanceRebuild is POST /1.0/instances/{name}/rebuild: a fresh
// rootfs from an image, keeping the instance's config, devices and
// snapshots. The instance must be stopped.
func (s *Server) handleInstanceRebuild(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	in, err := s.d.getInstance(r.Context(), name)
	if err != nil {
		writeError(w, err)
		return
	}
	var req api.InstanceRebuildPost
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.Source.Type != "image" {
		writeError(w, errdefs.Invalidf("instance %q: rebuild source type %q is not supported; rebuild from an image", name, req.Source.Type))
		return
	}
	if req.Source.Server != "" {
		writeError(w, errdefs.Invalidf("instance %q: rebuild from a remote server is not supported; import the image first", name))
		return
	}
	img, err := s.d.resolveImage(r.Context(), req.Source)
	if err != nil {
		writeError(w, err)
		return
	}
	if st := s.d.liveStatus(r.Context(), in); st != instances.StatusStopped {
		writeError(w, errdefs.Invalidf("instance %q is running; stop it first (lodge stop %s)", name, name))
		return
	}
	op := s.d.ops.Start(operationsSpec("Rebuilding instance", name), func(ctx context.Context, op *opT) error {
		return s.d.rebuildInstance(ctx, op, name, img)
	})
	writeAsync(w, op)
}
