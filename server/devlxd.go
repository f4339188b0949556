package server

import (
	"context"
	"net/http"

	"lodge/devlxd"
)

// The guest API (/dev/lxd/sock in each instance, package devlxd) is a
// listener of lodged's like the unix socket and HTTPS: the server makes
// it, gives the daemon its sockets and events (daemon.GuestAPI) and
// answers its requests from the daemon (guestBackend).

// guestAPI joins devlxd's per-instance sockets and its event hub into
// what the daemon drives.
type guestAPI struct {
	*devlxd.Sockets
	*devlxd.Hub
}

// guestBackend answers the guest API from the daemon.
type guestBackend struct{ s *Server }

func (b guestBackend) Instance(ctx context.Context, name string) (devlxd.Instance, error) {
	return b.s.d.GuestInstance(ctx, name)
}

func (b guestBackend) SetReady(ctx context.Context, name string, ready bool) error {
	return b.s.d.SetReady(ctx, name, ready)
}

// ExportImage is the main API's export of an image a guest may have
// (public or cached, by its whole fingerprint), errors as plain text.
func (b guestBackend) ExportImage(w http.ResponseWriter, r *http.Request, fingerprint string) {
	f, err := b.s.d.GuestImageFiles(r.Context(), fingerprint)
	if err == nil {
		var resp response
		if resp, err = exportImage(f); err == nil {
			resp.write(w)
			return
		}
	}
	http.Error(w, err.Error(), statusOf(err))
}

// newGuestAPI makes the guest API with its sockets under dir.
func (s *Server) newGuestAPI(dir string) (*devlxd.Server, *guestAPI, error) {
	g := devlxd.New(guestBackend{s}, devlxd.CgroupResolver{}, s.log)
	ss, err := g.Sockets(dir)
	if err != nil {
		return nil, nil, err
	}
	return g, &guestAPI{Sockets: ss, Hub: g.Events()}, nil
}
