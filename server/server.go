// Package server is lodged's HTTP layer: the LXD 1.0 route table with
// each route's access (local, trusted, public), handlers that decode a
// request, make one call to the daemon (server/daemon) and render its
// answer, the one place where errors become statuses (statusOf), the
// websocket plumbing of exec, console and events, and the unix socket
// and HTTPS listeners with their trust check. It holds no state of its
// own beyond the listeners; what lodged does is the daemon's.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"lodge/devlxd"
	"lodge/errdefs"
	"lodge/hostlimits"
	"lodge/server/daemon"
	"lodge/trace"
	"lodge/ui"
)

// Server is lodged's HTTP side: the routes and the listeners.
type Server struct {
	cfg Config
	log *slog.Logger
	d   *daemon.Daemon
	// tls is the HTTPS listener (https.go).
	tls httpsState
	// ui is the web UI on the HTTPS listener (ui.go).
	ui *ui.UI
	// metrics is the core.metrics_address listener (metrics.go).
	metrics httpsState
	// guest is the guest API (devlxd.go); nil without one.
	guest *devlxd.Server
	// mem is the client to other cluster members (cluster.go).
	mem memberState
}

// Config is lodged's configuration: the daemon's, and the unix socket's group.
type Config struct {
	daemon.Config
	// SocketGroup is the group owning the unix socket ("" = root's).
	SocketGroup string
	// Trace traces every request (LODGE_TRACE=1); otherwise only those
	// with the trace.Header.
	Trace bool
	// HostLimits is what hostlimits.Apply found and did at lodged's
	// start; GET /1.0/resources reports it.
	HostLimits []hostlimits.State
	// GuestAPIDir is where the guest API's per-instance sockets live
	// (bind-mounted at /dev/lxd in the instances); "": no guest API.
	GuestAPIDir string
}

// New builds a server and the daemon it serves; call Run to serve.
func New(cfg Config, deps daemon.Deps) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	s.ui = s.newUI()
	deps.HTTPS = s
	if cfg.GuestAPIDir != "" {
		g, api, err := s.newGuestAPI(cfg.GuestAPIDir)
		if err != nil {
			s.log.Error("the guest API (/dev/lxd) is off: its socket directory cannot be made", "dir", cfg.GuestAPIDir, "err", err)
		} else {
			s.guest, deps.GuestAPI = g, api
		}
	}
	deps.Cluster = s
	s.d = daemon.New(cfg.Config, deps)
	return s
}

// Daemon is the daemon the server serves.
func (s *Server) Daemon() *daemon.Daemon { return s.d }

// access says who may use a route.
type access int

const (
	// accessTrusted: the unix socket, and HTTPS clients whose certificate
	// is in the trust store.
	accessTrusted access = iota
	// accessPublic: anyone, untrusted HTTPS clients too; the handler shows
	// them only what is public (isTrusted).
	accessPublic
	// accessLocal: the unix socket only (daemon control).
	accessLocal
	// accessMetrics: trusted clients and metrics certificates, anyone
	// with core.metrics_authentication=false (the handler checks).
	accessMetrics
	// accessMember: other members of this cluster only (HTTPS with the
	// cluster certificate).
	accessMember
)

func (a access) String() string {
	return [...]string{"trusted", "public", "local", "metrics", "member"}[a]
}

// handler decodes a request, makes one call to the daemon and says what to
// answer; serve writes the answer, or the error with its status.
type handler func(s *Server, r *http.Request) (response, error)

// route is one REST endpoint.
type route struct {
	method, path string
	access       access
	handler      handler
}

// routes is the REST API as data, with who may use each route; a golden
// test pins it.
var routes = []route{
	{"GET", "/{$}", accessPublic, (*Server).root},
	{"GET", "/1.0", accessPublic, (*Server).serverGet},
	{"PUT", "/1.0", accessTrusted, (*Server).serverPut},
	{"PATCH", "/1.0", accessTrusted, (*Server).serverPatch},
	{"GET", "/1.0/events", accessTrusted, (*Server).events},
	{"GET", "/1.0/instances", accessTrusted, (*Server).instancesGet},
	{"POST", "/1.0/instances", accessTrusted, (*Server).instancesPost},
	{"GET", "/1.0/instances/{name}", accessTrusted, (*Server).instanceGet},
	{"PUT", "/1.0/instances/{name}", accessTrusted, (*Server).instancePut},
	{"PATCH", "/1.0/instances/{name}", accessTrusted, (*Server).instancePatch},
	{"POST", "/1.0/instances/{name}", accessTrusted, (*Server).instancePost},
	{"DELETE", "/1.0/instances/{name}", accessTrusted, (*Server).instanceDelete},
	{"GET", "/1.0/instances/{name}/state", accessTrusted, (*Server).instanceStateGet},
	{"PUT", "/1.0/instances/{name}/state", accessTrusted, (*Server).instanceStatePut},
	{"POST", "/1.0/instances/{name}/exec", accessTrusted, (*Server).instanceExec},
	{"GET", "/1.0/instances/{name}/logs", accessTrusted, (*Server).logsGet},
	{"GET", "/1.0/instances/{name}/logs/console.log", accessTrusted, (*Server).consoleLog},
	{"GET", "/1.0/instances/{name}/logs/{file}", accessTrusted, (*Server).logGet},
	{"DELETE", "/1.0/instances/{name}/logs/{file}", accessTrusted, (*Server).logDelete},
	{"GET", "/1.0/instances/{name}/console", accessTrusted, (*Server).consoleLog},
	{"POST", "/1.0/instances/{name}/console", accessTrusted, (*Server).consolePost},
	{"DELETE", "/1.0/instances/{name}/console", accessTrusted, (*Server).consoleDelete},
	{"GET", "/1.0/instances/{name}/files", accessTrusted, (*Server).fileGet},
	{"POST", "/1.0/instances/{name}/files", accessTrusted, (*Server).filePost},
	{"DELETE", "/1.0/instances/{name}/files", accessTrusted, (*Server).fileDelete},
	{"GET", "/1.0/instances/{name}/sftp", accessTrusted, (*Server).instanceSFTP},
	{"POST", "/1.0/instances/{name}/rebuild", accessTrusted, (*Server).instanceRebuild},
	{"GET", "/1.0/instances/{name}/snapshots", accessTrusted, (*Server).snapshotsGet},
	{"POST", "/1.0/instances/{name}/snapshots", accessTrusted, (*Server).snapshotsPost},
	{"GET", "/1.0/instances/{name}/snapshots/{snap}", accessTrusted, (*Server).snapshotGet},
	{"PUT", "/1.0/instances/{name}/snapshots/{snap}", accessTrusted, (*Server).snapshotPut},
	{"POST", "/1.0/instances/{name}/snapshots/{snap}", accessTrusted, (*Server).snapshotPost},
	{"DELETE", "/1.0/instances/{name}/snapshots/{snap}", accessTrusted, (*Server).snapshotDelete},
	{"GET", "/1.0/instances/{name}/backups", accessTrusted, (*Server).backupsGet},
	{"POST", "/1.0/instances/{name}/backups", accessTrusted, (*Server).backupsPost},
	{"GET", "/1.0/instances/{name}/backups/{backup}", accessTrusted, (*Server).backupGet},
	{"POST", "/1.0/instances/{name}/backups/{backup}", accessTrusted, (*Server).backupPost},
	{"DELETE", "/1.0/instances/{name}/backups/{backup}", accessTrusted, (*Server).backupDelete},
	{"GET", "/1.0/instances/{name}/backups/{backup}/export", accessTrusted, (*Server).backupExport},
	{"GET", "/1.0/images", accessPublic, (*Server).imagesGet},
	{"POST", "/1.0/images", accessTrusted, (*Server).imagesPost},
	{"GET", "/1.0/images/aliases", accessPublic, (*Server).aliasesGet},
	{"POST", "/1.0/images/aliases", accessTrusted, (*Server).aliasesPost},
	{"GET", "/1.0/images/aliases/{name}", accessPublic, (*Server).aliasGet},
	{"PUT", "/1.0/images/aliases/{name}", accessTrusted, (*Server).aliasPut},
	{"DELETE", "/1.0/images/aliases/{name}", accessTrusted, (*Server).aliasDelete},
	{"GET", "/1.0/images/{fingerprint}", accessPublic, (*Server).imageGet},
	{"PUT", "/1.0/images/{fingerprint}", accessTrusted, (*Server).imagePut},
	{"PATCH", "/1.0/images/{fingerprint}", accessTrusted, (*Server).imagePatch},
	{"DELETE", "/1.0/images/{fingerprint}", accessTrusted, (*Server).imageDelete},
	{"GET", "/1.0/images/{fingerprint}/{sub}", accessPublic, (*Server).imageSub},
	{"POST", "/1.0/images/{fingerprint}/refresh", accessTrusted, (*Server).imageRefresh},
	{"POST", "/1.0/images/{fingerprint}/secret", accessTrusted, (*Server).imageSecret},
	{"GET", "/1.0/certificates", accessTrusted, (*Server).certificatesGet},
	{"POST", "/1.0/certificates", accessPublic, (*Server).certificatesPost},
	{"GET", "/1.0/certificates/{fingerprint}", accessTrusted, (*Server).certificateGet},
	{"DELETE", "/1.0/certificates/{fingerprint}", accessTrusted, (*Server).certificateDelete},
	{"GET", "/1.0/operations", accessTrusted, (*Server).operationsGet},
	{"GET", "/1.0/operations/{id}", accessTrusted, (*Server).operationGet},
	{"DELETE", "/1.0/operations/{id}", accessTrusted, (*Server).operationDelete},
	{"GET", "/1.0/operations/{id}/wait", accessTrusted, (*Server).operationWait},
	{"GET", "/1.0/operations/{id}/websocket", accessPublic, (*Server).operationWebsocket},
	{"GET", "/1.0/metadata/configuration", accessTrusted, (*Server).configMetadata},
	{"GET", "/1.0/resources", accessTrusted, (*Server).resources},
	{"GET", "/1.0/profiles", accessTrusted, (*Server).profilesGet},
	{"POST", "/1.0/profiles", accessTrusted, (*Server).profilesPost},
	{"GET", "/1.0/profiles/{name}", accessTrusted, (*Server).profileGet},
	{"PUT", "/1.0/profiles/{name}", accessTrusted, (*Server).profilePut},
	{"PATCH", "/1.0/profiles/{name}", accessTrusted, (*Server).profilePatch},
	{"POST", "/1.0/profiles/{name}", accessTrusted, (*Server).profilePost},
	{"DELETE", "/1.0/profiles/{name}", accessTrusted, (*Server).profileDelete},
	{"GET", "/1.0/storage-pools", accessTrusted, (*Server).poolsGet},
	{"POST", "/1.0/storage-pools", accessTrusted, (*Server).poolsPost},
	{"GET", "/1.0/storage-pools/{name}", accessTrusted, (*Server).poolGet},
	{"PUT", "/1.0/storage-pools/{name}", accessTrusted, (*Server).poolPut},
	{"PATCH", "/1.0/storage-pools/{name}", accessTrusted, (*Server).poolPatch},
	{"DELETE", "/1.0/storage-pools/{name}", accessTrusted, (*Server).poolDelete},
	{"GET", "/1.0/storage-pools/{name}/resources", accessTrusted, (*Server).poolResources},
	{"GET", "/1.0/storage-pools/{name}/volumes", accessTrusted, (*Server).volumesGet},
	{"POST", "/1.0/storage-pools/{name}/volumes", accessTrusted, (*Server).volumesPost},
	{"GET", "/1.0/storage-pools/{name}/volumes/{type}", accessTrusted, (*Server).volumesGet},
	{"POST", "/1.0/storage-pools/{name}/volumes/{type}", accessTrusted, (*Server).volumesPost},
	{"GET", "/1.0/storage-pools/{name}/volumes/{type}/{vol}", accessTrusted, (*Server).volumeGet},
	{"PUT", "/1.0/storage-pools/{name}/volumes/{type}/{vol}", accessTrusted, (*Server).volumePut},
	{"PATCH", "/1.0/storage-pools/{name}/volumes/{type}/{vol}", accessTrusted, (*Server).volumePatch},
	{"DELETE", "/1.0/storage-pools/{name}/volumes/{type}/{vol}", accessTrusted, (*Server).volumeDelete},
	{"GET", "/1.0/networks", accessTrusted, (*Server).networksGet},
	{"POST", "/1.0/networks", accessTrusted, (*Server).networksPost},
	{"GET", "/1.0/networks/{name}", accessTrusted, (*Server).networkGet},
	{"PUT", "/1.0/networks/{name}", accessTrusted, (*Server).networkPut},
	{"PATCH", "/1.0/networks/{name}", accessTrusted, (*Server).networkPatch},
	{"DELETE", "/1.0/networks/{name}", accessTrusted, (*Server).networkDelete},
	{"GET", "/1.0/networks/{name}/state", accessTrusted, (*Server).networkState},
	{"GET", "/1.0/networks/{name}/leases", accessTrusted, (*Server).networkLeases},
	{"GET", "/1.0/networks/{name}/forwards", accessTrusted, (*Server).forwardsGet},
	{"POST", "/1.0/networks/{name}/forwards", accessTrusted, (*Server).forwardsPost},
	{"GET", "/1.0/networks/{name}/forwards/{listen}", accessTrusted, (*Server).forwardGet},
	{"PUT", "/1.0/networks/{name}/forwards/{listen}", accessTrusted, (*Server).forwardPut},
	{"PATCH", "/1.0/networks/{name}/forwards/{listen}", accessTrusted, (*Server).forwardPatch},
	{"DELETE", "/1.0/networks/{name}/forwards/{listen}", accessTrusted, (*Server).forwardDelete},
	{"GET", "/1.0/metrics", accessMetrics, (*Server).metricsGet},
	{"POST", "/internal/instances/{name}/onstop", accessLocal, (*Server).instanceOnStop},
	{"POST", "/internal/ui/login-token", accessLocal, (*Server).uiLoginToken},
	{"PUT", "/internal/shutdown", accessLocal, (*Server).shutdown},
	{"GET", "/internal/stats", accessLocal, (*Server).stats},
	{"GET", "/internal/pprof/{name}", accessLocal, (*Server).profile},
	// cluster.go
	{"GET", "/1.0/cluster", accessTrusted, (*Server).clusterGet},
	{"PUT", "/1.0/cluster", accessTrusted, (*Server).clusterPut},
	{"GET", "/1.0/cluster/members", accessTrusted, (*Server).clusterMembersGet},
	{"POST", "/1.0/cluster/members", accessTrusted, (*Server).clusterMembersPost},
	{"GET", "/1.0/cluster/members/{name}", accessTrusted, (*Server).clusterMemberGet},
	{"PUT", "/1.0/cluster/members/{name}", accessTrusted, (*Server).clusterMemberPut},
	{"POST", "/1.0/cluster/members/{name}", accessTrusted, (*Server).clusterMemberPost},
	{"DELETE", "/1.0/cluster/members/{name}", accessTrusted, (*Server).clusterMemberDelete},
	{"POST", "/1.0/cluster/members/{name}/state", accessTrusted, (*Server).clusterMemberStatePost},
	{"GET", "/1.0/cluster/tokens", accessTrusted, (*Server).clusterTokensGet},
	{"DELETE", "/1.0/cluster/tokens/{name}", accessTrusted, (*Server).clusterTokenDelete},
	{"POST", "/internal/cluster/accept", accessPublic, (*Server).clusterAccept},
	{"PUT", "/internal/cluster/heartbeat", accessMember, (*Server).clusterHeartbeat},
	{"POST", "/internal/cluster/leave", accessMember, (*Server).clusterLeave},
	{"DELETE", "/internal/images/{fingerprint}", accessMember, (*Server).imageDropFiles},
	{"POST", "/internal/database", accessMember, (*Server).dqliteUpgrade},
}

// Handler returns the HTTP handler serving the API, on the unix socket
// (every route) and, behind HTTPSHandler's trust check, over HTTPS.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range routes {
		mux.HandleFunc(rt.method+" "+rt.path, func(w http.ResponseWriter, r *http.Request) {
			s.log.Debug("request", "method", r.Method, "url", r.URL.String())
			if err := allowed(rt.access, r); err != nil {
				writeError(w, err)
				return
			}
			if fwd, err := s.forward(w, r, rt); err != nil {
				writeError(w, err)
				return
			} else if fwd {
				return
			}
			tr := s.traceOf(r)
			defer tr.Release()
			r = r.WithContext(trace.With(r.Context(), tr))
			end := tr.Begin("handler")
			resp, err := rt.handler(s, r)
			end()
			defer tr.Begin("reply")()
			if err != nil {
				writeError(w, err)
				return
			}
			if resp != nil {
				resp.write(w)
			}
		})
	}
	// Unknown paths get LXD's JSON error envelope rather than Go's text 404.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/internal/") {
			if err := allowed(accessLocal, r); err != nil {
				writeError(w, err)
				return
			}
		}
		if err := allowed(accessTrusted, r); err != nil {
			writeError(w, err)
			return
		}
		writeError(w, errdefs.NotFoundf("not found: %s %s", r.Method, r.URL.Path))
	})
	return mux
}

func (s *Server) root(r *http.Request) (response, error) { return reply([]string{"/1.0"}), nil }

// traceOf starts the trace of a request if it is to be traced (lodged's
// LODGE_TRACE, or the client's trace.Header naming it), else nil. The
// trace is logged once the request and any operation it started end.
func (s *Server) traceOf(r *http.Request) *trace.Trace {
	id := r.Header.Get(trace.Header)
	if id == "" && !s.cfg.Trace {
		return nil
	}
	if id == "" || len(id) > 64 {
		id = newSecret()[:8]
	}
	return trace.New(id, r.Method+" "+r.URL.Path, func(t *trace.Trace) { t.Log(s.log) })
}

// SocketPath is where the unix socket lives in a state directory.
func SocketPath(dir string) string { return filepath.Join(dir, "unix.socket") }

// Run serves on DIR/unix.socket until ctx is cancelled (SIGTERM: containers
// keep running) or a client asks for shutdown (containers are stopped first).
func (s *Server) Run(ctx context.Context) error {
	begin := time.Now()
	sock := SocketPath(s.cfg.Dir)
	// First: a second lodged on the same directory must not "recover" the
	// first one's half-made instances.
	if err := removeStaleSocket(sock); err != nil {
		return err
	}
	// A cluster member listens first: the others reach its database there.
	if err := s.startCluster(ctx); err != nil {
		return err
	}
	if err := s.d.Start(ctx); err != nil {
		return err
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", sock, err)
	}
	if err := s.secureSocket(sock); err != nil {
		l.Close()
		return err
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 30 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	s.log.Info("lodged ready", "socket", sock, "pid", os.Getpid(), "version", s.cfg.Version, "took", time.Since(begin).Round(time.Millisecond))
	s.startHTTPS(ctx)
	defer s.stopHTTPS()
	s.d.StartBackground()

	var stopInstances bool
	select {
	case <-ctx.Done():
	case <-s.d.ShutdownRequested():
		stopInstances = true
	case err := <-errc:
		return err
	}
	s.log.Info("shutting down", "stop_instances", stopInstances)
	if stopInstances {
		// Not ctx, which is done: the instances' shutdown is what lodged
		// does before it goes, whoever asked for it.
		s.d.StopInstances(context.Background())
	}
	// A member hands its database role over before it goes.
	s.d.ShutdownCluster(context.Background())
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutCtx)
	if s.guest != nil {
		// The instances keep /dev/lxd mounted; the next lodged's sockets appear there.
		_ = s.guest.Shutdown(shutCtx)
	}
	s.d.Close()
	return nil
}

// removeStaleSocket refuses to start if another lodged answers on the socket.
func removeStaleSocket(sock string) error {
	if _, err := os.Stat(sock); err != nil {
		return nil
	}
	if c, err := net.DialTimeout("unix", sock, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("another lodged is already listening on %s; stop it first", sock)
	}
	return os.Remove(sock)
}

func (s *Server) secureSocket(sock string) error {
	gid := 0
	if s.cfg.SocketGroup != "" {
		g, err := user.LookupGroup(s.cfg.SocketGroup)
		if err != nil {
			return fmt.Errorf("socket group %q: %w", s.cfg.SocketGroup, err)
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	if err := os.Chown(sock, 0, gid); err != nil && !errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("chown %s: %w", sock, err)
	}
	return os.Chmod(sock, 0o660)
}

// shutdown stops every instance, then lodged (`lodged shutdown`).
func (s *Server) shutdown(r *http.Request) (response, error) {
	s.d.ShutdownInstances()
	return replyEmpty(), nil
}
