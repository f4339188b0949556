// Package devlxd serves LXD's guest API (/dev/lxd/sock inside a container)
// that cloud-init's LXD datasource and guest tools read: the instance's
// user.* and cloud-init.* config, its cloud-init meta-data, its devices, a
// stream of config and device events, its ready state, and (when
// security.devlxd.images=true) the host's image exports.
//
// The API has no authentication of its own: the caller is who the kernel
// says it is. Each connection's SO_PEERCRED (and, where the kernel has it,
// a pidfd of the peer) is read when it is accepted; the instance is the one
// the listener belongs to (one socket per instance) and/or the one the
// Resolver finds the peer's pid in, and a connection where both are known
// must agree. Only the instance's root (its host uid) is answered; anyone
// else gets LXD's 401. A process can never name another instance: no
// request carries a name.
//
// Bodies are bare JSON or raw text and errors plain text, as LXD serves
// them to containers.
package devlxd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// Instance is what the guest API tells an instance about itself; the
// orchestration layer reads it fresh for every request.
type Instance struct {
	Name string
	// Type is "container" (default) or "virtual-machine".
	Type string
	// Config and Devices are the expanded config and devices.
	Config  map[string]string
	Devices map[string]map[string]string
	// RootUID is the host uid of the instance's root: 0 for a privileged
	// container, the base of its id map otherwise.
	RootUID uint32
	// Location is what GET /1.0 names as where the instance runs (the host
	// name, or the cluster member).
	Location string
}

// Backend is the orchestration layer's side of the guest API.
type Backend interface {
	// Instance returns the current state of the named instance;
	// ErrNotFound if there is none.
	Instance(ctx context.Context, name string) (Instance, error)
	// SetReady records the instance's ready state
	// (volatile.last_state.ready) and, when ready, emits the
	// instance-ready lifecycle event.
	SetReady(ctx context.Context, name string, ready bool) error
	// ExportImage answers GET /1.0/images/{fingerprint}/export as the main
	// API does, for an image that is public or cached, named by its whole
	// fingerprint; the guest API has checked security.devlxd.images.
	ExportImage(w http.ResponseWriter, r *http.Request, fingerprint string)
}

// Resolver tells which running instance a host pid belongs to.
type Resolver interface {
	InstanceOf(pid int32) (string, error)
}

// ErrNotFound is what a Backend or Resolver returns for no such instance.
var ErrNotFound = errors.New("not found")

// Server is the guest API: one handler, any number of listeners.
type Server struct {
	backend  Backend
	resolver Resolver
	log      *slog.Logger
	events   *Hub
	mux      *http.ServeMux
	http     *http.Server
}

// New makes a guest API server. resolver may be nil when every listener
// belongs to one instance (ListenInstance).
func New(backend Backend, resolver Resolver, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{backend: backend, resolver: resolver, log: log, events: NewHub()}
	s.mux = http.NewServeMux()
	s.route("GET /{$}", false, func(w http.ResponseWriter, r *http.Request, _ Instance) {
		writeJSON(w, []string{"/1.0"})
	})
	s.route("GET /1.0", true, s.getAPI)
	s.route("PATCH /1.0", true, s.patchAPI)
	s.route("GET /1.0/config", true, s.getConfig)
	s.route("GET /1.0/config/{key}", true, s.getConfigKey)
	s.route("GET /1.0/meta-data", true, s.getMetaData)
	s.route("GET /1.0/devices", true, s.getDevices)
	s.route("GET /1.0/events", true, s.getEvents)
	s.route("GET /1.0/images/{fingerprint}/export", true, s.exportImage)
	s.http = &http.Server{
		Handler:     s.mux,
		ConnContext: connContext,
		// Only the request head is timed: event streams stay open.
		ReadHeaderTimeout: 30 * time.Second,
	}
	return s
}

// Events is where the orchestration layer sends config and device events.
func (s *Server) Events() *Hub { return s.events }

// Handler is the guest API handler; requests must come through a listener
// of this server (Serve, ListenInstance) so that their caller is known.
func (s *Server) Handler() http.Handler { return s.mux }

// Serve answers connections on l (a unix socket listener) until it is
// closed. The instance of each connection is l's own if l came from
// ListenInstance, else the Resolver's answer for the peer.
func (s *Server) Serve(l net.Listener) error {
	err := s.http.Serve(wrapListener(l, "", s.resolver))
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Shutdown closes every listener and connection, event streams included.
func (s *Server) Shutdown(ctx context.Context) error {
	s.events.closeAll()
	return s.http.Shutdown(ctx)
}

// route registers a handler that runs only for a known caller who is the
// instance's root, and, if guarded, only while security.devlxd is not false.
func (s *Server) route(pattern string, guarded bool, h func(http.ResponseWriter, *http.Request, Instance)) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		p, _ := r.Context().Value(peerKey{}).(*peer)
		if p == nil || p.err != nil {
			// LXD's answer when the peer is in no container.
			if p != nil {
				s.log.Warn("guest API: caller not in an instance", "pid", p.cred.Pid, "uid", p.cred.Uid, "err", p.err)
			}
			http.Error(w, "pid not in container?", http.StatusInternalServerError)
			return
		}
		inst, err := s.backend.Instance(r.Context(), p.instance)
		if err != nil {
			s.log.Warn("guest API: instance of caller", "instance", p.instance, "pid", p.cred.Pid, "err", err)
			http.Error(w, "pid not in container?", http.StatusInternalServerError)
			return
		}
		if p.cred.Uid != inst.RootUID {
			http.Error(w, "Access denied for non-root user", http.StatusUnauthorized)
			return
		}
		if guarded && isFalse(inst.Config["security.devlxd"]) {
			http.Error(w, "not authorized", http.StatusForbidden)
			return
		}
		h(w, r, inst)
	})
}

func isFalse(v string) bool {
	switch strings.ToLower(v) {
	case "false", "0", "no", "off":
		return true
	}
	return false
}

func isTrue(v string) bool {
	switch strings.ToLower(v) {
	case "true", "1", "yes", "on":
		return true
	}
	return false
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func writeRaw(w http.ResponseWriter, s string) {
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write([]byte(s))
}

// APIInfo is GET /1.0.
type APIInfo struct {
	APIVersion   string `json:"api_version"`
	Location     string `json:"location"`
	InstanceType string `json:"instance_type"`
	State        string `json:"state"`
}

func (s *Server) getAPI(w http.ResponseWriter, r *http.Request, inst Instance) {
	typ := inst.Type
	if typ == "" {
		typ = "container"
	}
	loc := inst.Location
	if loc == "" {
		loc, _ = os.Hostname()
	}
	state := "Started"
	if isTrue(inst.Config["volatile.last_state.ready"]) {
		state = "Ready"
	}
	writeJSON(w, APIInfo{APIVersion: "1.0", Location: loc, InstanceType: typ, State: state})
}

func (s *Server) patchAPI(w http.ResponseWriter, r *http.Request, inst Instance) {
	var req struct {
		State string `json:"state"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
		http.Error(w, fmt.Sprintf("Invalid request body: %v", err), http.StatusBadRequest)
		return
	}
	if req.State != "Started" && req.State != "Ready" {
		http.Error(w, fmt.Sprintf("Invalid state %q", req.State), http.StatusBadRequest)
		return
	}
	if err := s.backend.SetReady(r.Context(), inst.Name, req.State == "Ready"); err != nil {
		http.Error(w, fmt.Sprintf("Failed to set instance state: %v", err), http.StatusInternalServerError)
		return
	}
	writeRaw(w, "")
}

// guestKey tells the keys an instance may read of itself.
func guestKey(k string) bool {
	return strings.HasPrefix(k, "user.") || strings.HasPrefix(k, "cloud-init.")
}

func (s *Server) getConfig(w http.ResponseWriter, r *http.Request, inst Instance) {
	keys := []string{}
	for k := range inst.Config {
		if guestKey(k) {
			keys = append(keys, "/1.0/config/"+k)
		}
	}
	sort.Strings(keys)
	writeJSON(w, keys)
}

func (s *Server) getConfigKey(w http.ResponseWriter, r *http.Request, inst Instance) {
	key := r.PathValue("key")
	if !guestKey(key) {
		http.Error(w, "not authorized", http.StatusForbidden)
		return
	}
	v, ok := inst.Config[key]
	if !ok || v == "" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	writeRaw(w, v)
}

func (s *Server) getMetaData(w http.ResponseWriter, r *http.Request, inst Instance) {
	id := inst.Config["volatile.cloud-init.instance-id"]
	if id == "" {
		id = inst.Name
	}
	writeRaw(w, fmt.Sprintf("#cloud-config\ninstance-id: %s\nlocal-hostname: %s\n%s", id, inst.Name, inst.Config["user.meta-data"]))
}

// getDevices serves the expanded devices; a NIC without hwaddr shows the
// MAC address lodged gave it (volatile.<dev>.hwaddr).
func (s *Server) getDevices(w http.ResponseWriter, r *http.Request, inst Instance) {
	out := make(map[string]map[string]string, len(inst.Devices))
	for name, d := range inst.Devices {
		c := make(map[string]string, len(d)+1)
		for k, v := range d {
			c[k] = v
		}
		if c["type"] == "nic" && c["hwaddr"] == "" {
			if mac := inst.Config["volatile."+name+".hwaddr"]; mac != "" {
				c["hwaddr"] = mac
			}
		}
		out[name] = c
	}
	writeJSON(w, out)
}

func (s *Server) exportImage(w http.ResponseWriter, r *http.Request, inst Instance) {
	if !isTrue(inst.Config["security.devlxd.images"]) {
		http.Error(w, "not authorized", http.StatusForbidden)
		return
	}
	s.backend.ExportImage(w, r, r.PathValue("fingerprint"))
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

func (s *Server) getEvents(w http.ResponseWriter, r *http.Request, inst Instance) {
	types := map[string]bool{}
	spec := r.FormValue("type")
	if spec == "" {
		spec = "config,device"
	}
	for _, t := range strings.Split(spec, ",") {
		if t != "config" && t != "device" {
			http.Error(w, fmt.Sprintf("unknown event type %q (config, device)", t), http.StatusBadRequest)
			return
		}
		types[t] = true
	}
	sub := s.events.subscribe(inst.Name, types)
	defer s.events.unsubscribe(sub)
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		gone := make(chan struct{})
		go func() {
			// Nothing is expected from the guest; a read error is its leaving.
			for {
				if _, _, err := conn.NextReader(); err != nil {
					close(gone)
					return
				}
			}
		}()
		for {
			select {
			case ev, ok := <-sub.ch:
				if !ok {
					return
				}
				_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if err := conn.WriteJSON(ev); err != nil {
					return
				}
			case <-gone:
				return
			}
		}
	}
	// Without a websocket: a long-lived response of one JSON event a line,
	// on the hijacked connection, as LXD does.
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Type: application/json\r\nX-Content-Type-Options: nosniff\r\n\r\n")); err != nil {
		return
	}
	gone := make(chan struct{})
	go func() {
		b := make([]byte, 512)
		for {
			if _, err := conn.Read(b); err != nil {
				close(gone)
				return
			}
		}
	}()
	enc := json.NewEncoder(conn)
	for {
		select {
		case ev, ok := <-sub.ch:
			if !ok {
				return
			}
			_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if err := enc.Encode(ev); err != nil {
				return
			}
		case <-gone:
			return
		}
	}
}
