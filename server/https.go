package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"lodge/errdefs"
	"lodge/server/daemon"
)

// httpsState is the TLS listener of core.https_address.
type httpsState struct {
	mu   sync.Mutex
	srv  *http.Server
	addr string // the address actually listened on
}

// HTTPSAddress is where the HTTPS API listens ("" when it does not).
func (s *Server) HTTPSAddress() string {
	s.tls.mu.Lock()
	defer s.tls.mu.Unlock()
	return s.tls.addr
}

// startHTTPS starts the listener if core.https_address is set (at startup).
func (s *Server) startHTTPS(ctx context.Context) {
	if _, err := s.d.ServerCert(); err != nil {
		s.log.Warn("no server certificate; the HTTPS API is off", "err", err)
		return
	}
	if addr := s.d.ServerConfigValue(ctx, "core.https_address"); addr != "" && addr != s.HTTPSAddress() {
		if err := s.SetHTTPSAddress(addr); err != nil {
			s.log.Warn("HTTPS API not started", "address", addr, "err", err)
		}
	}
	s.startMetrics(ctx)
}

// stopHTTPS closes the listeners (at shutdown).
func (s *Server) stopHTTPS() {
	_ = s.SetHTTPSAddress("")
	_ = s.SetMetricsAddress("")
}

// SetHTTPSAddress (re)starts the HTTPS listener on addr (port 8443 if
// none is given); "" stops it. A refused change (address in use) leaves
// the API reachable where it was.
func (s *Server) SetHTTPSAddress(addr string) error {
	got, err := s.tls.listen(addr, "8443", s.d.ServerCert, s.HTTPSHandler())
	if err == nil && got != "" {
		s.log.Info("HTTPS API listening", "address", got, "certificate_fingerprint", s.d.CertFingerprint())
	}
	return err
}

// listen (re)starts st's TLS listener on addr (defaultPort if addr has
// none), serving h with the certificate cert gives; "" stops it. The new
// address is bound before the old listener goes, so a refused change
// leaves it where it was. It returns the address listened on.
func (st *httpsState) listen(addr, defaultPort string, cert func() (*tls.Certificate, error), h http.Handler) (string, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	stop := func() {
		if st.srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = st.srv.Shutdown(ctx)
			cancel()
			st.srv, st.addr = nil, ""
		}
	}
	if addr == "" {
		stop()
		return "", nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(strings.Trim(addr, "[]"), defaultPort)
	}
	c, err := cert()
	if err != nil {
		return "", err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil && st.srv != nil {
		// Perhaps held by our own listener (same port): let go of it and retry.
		old := st.addr
		stop()
		if l, err = net.Listen("tcp", addr); err != nil {
			if ol, oerr := net.Listen("tcp", old); oerr == nil {
				st.serve(ol, c, h)
			}
		}
	}
	if err != nil {
		return "", fmt.Errorf("listen on %s: %w", addr, err)
	}
	stop()
	st.serve(l, c, h)
	return st.addr, nil
}

// serve serves h over TLS on l (st.mu held).
func (st *httpsState) serve(l net.Listener, cert *tls.Certificate, h http.Handler) {
	tcfg := &tls.Config{Certificates: []tls.Certificate{*cert}, ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second, TLSConfig: tcfg}
	go func() { _ = srv.Serve(tls.NewListener(l, tcfg)) }()
	st.srv, st.addr = srv, l.Addr().String()
}

type ctxKeyTrust struct{}

// ctxKeyMetricsCert marks an HTTPS request whose certificate is trusted
// for /1.0/metrics only (type metrics).
type ctxKeyMetricsCert struct{}

// isTrusted reports whether the request may use the whole API: always on
// the unix socket, over HTTPS only with a client certificate in the trust
// store.
func isTrusted(r *http.Request) bool {
	v, ok := r.Context().Value(ctxKeyTrust{}).(bool)
	return !ok || v
}

// viaHTTPS reports whether the request came through HTTPSHandler.
func viaHTTPS(r *http.Request) bool {
	_, ok := r.Context().Value(ctxKeyTrust{}).(bool)
	return ok
}

// allowed checks a request against a route's access.
func allowed(a access, r *http.Request) error {
	switch {
	case a == accessLocal && viaHTTPS(r):
		// Daemon control (shutdown) stays on the unix socket.
		return errdefs.Forbiddenf("the /internal API is only served on the unix socket")
	case a == accessMember && !fromMember(r):
		return errdefs.Forbiddenf("%s %s: only other members of this cluster may use this", r.Method, r.URL.Path)
	case a == accessTrusted && !isTrusted(r):
		return errdefs.Forbiddenf("%s %s: not authorized: this client certificate is not trusted (add it with a token from `lodge config trust add`)", r.Method, r.URL.Path)
	}
	return nil
}

// withCertTrust looks the client certificate up in the trust store and
// notes in the request how it is trusted: a client certificate for every
// route (isTrusted), a metrics certificate for /1.0/metrics only.
func (s *Server) withCertTrust(r *http.Request) *http.Request {
	typ := ""
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		typ = s.d.CertType(r.Context(), r.TLS.PeerCertificates[0])
	}
	ctx := context.WithValue(r.Context(), ctxKeyTrust{}, typ == daemon.CertTypeClient)
	ctx = context.WithValue(ctx, ctxKeyMetricsCert{}, typ == daemon.CertTypeMetrics)
	return r.WithContext(ctx)
}

// isTrustedCert reports whether the client certificate is in the trust
// store as a client (a metrics certificate is not: it reaches
// /1.0/metrics only).
func (s *Server) isTrustedCert(r *http.Request) bool {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return false
	}
	return s.d.CertType(r.Context(), r.TLS.PeerCertificates[0]) == daemon.CertTypeClient
}

// HTTPSHandler serves the API to remote clients: trusted certificates
// and web UI sessions (ui.Protect) get every route but the local ones,
// metrics certificates /1.0/metrics, others the public routes (GET /1.0,
// the public images, POST /1.0/certificates to join with a token); and
// the web UI (withUI).
func (s *Server) HTTPSHandler() http.Handler {
	h := s.Handler()
	trusted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKeyTrust{}, true)))
	})
	untrusted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, s.withCertTrust(r)) // a metrics certificate, or none
	})
	api := s.ui.Protect(trusted, untrusted)
	return s.withUI(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 && s.d.IsMemberCert(r.TLS.PeerCertificates[0]) {
			// Another member of this cluster (cluster certificate):
			// trusted, and it may use the cluster's /internal routes.
			ctx := context.WithValue(r.Context(), ctxKeyTrust{}, true)
			h.ServeHTTP(w, r.WithContext(context.WithValue(ctx, ctxKeyMember{}, true)))
			return
		}
		if strings.HasPrefix(r.URL.Path, "/internal/") && r.URL.Path != "/internal/cluster/accept" {
			// Before any credential is looked at: daemon control stays
			// on the unix socket (a server joining a cluster presents its
			// token to /internal/cluster/accept, a public route).
			writeError(w, errdefs.Forbiddenf("the /internal API is only served on the unix socket"))
			return
		}
		api.ServeHTTP(w, r)
	}))
}
