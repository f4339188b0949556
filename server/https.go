package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"lodge/api"
	"lodge/errdefs"
	"lodge/remotes"
)

// httpsState is the TLS listener of core.https_address and the daemon's
// certificate (also its client certificate towards other servers).
type httpsState struct {
	mu       sync.Mutex
	cert     *tls.Certificate
	certPEM  string
	certFP   string
	srv      *http.Server
	addr     string // the address actually listened on
	certOnce sync.Once
	certErr  error
}

// CertFingerprint is the SHA-256 of a certificate's DER bytes.
func CertFingerprint(der []byte) string { return remotes.CertFingerprint(der) }

// serverCert loads DIR/server.crt and server.key, generating them on first start.
func (d *Daemon) serverCert() (*tls.Certificate, error) {
	d.tls.certOnce.Do(func() {
		certPath, keyPath := filepath.Join(d.cfg.Dir, "server.crt"), filepath.Join(d.cfg.Dir, "server.key")
		host, _ := os.Hostname()
		c, err := remotes.LoadOrCreateCertificate(certPath, keyPath, "root@"+host, []string{host, "127.0.0.1", "::1", "localhost"})
		if err != nil {
			d.tls.certErr = err
			return
		}
		b, _ := os.ReadFile(certPath)
		d.tls.cert, d.tls.certPEM, d.tls.certFP = &c, string(b), CertFingerprint(c.Certificate[0])
	})
	return d.tls.cert, d.tls.certErr
}

// startHTTPS starts the listener if core.https_address is set (at startup).
func (s *Server) startHTTPS(ctx context.Context) {
	if _, err := s.d.serverCert(); err != nil {
		s.d.log.Warn("no server certificate; the HTTPS API is off", "err", err)
		return
	}
	if addr := s.d.serverConfig(ctx, "core.https_address"); addr != "" {
		if err := s.applyHTTPSAddress(addr); err != nil {
			s.d.log.Warn("HTTPS API not started", "address", addr, "err", err)
		}
	}
}

// stopHTTPS closes the listener (at shutdown).
func (s *Server) stopHTTPS() { _ = s.applyHTTPSAddress("") }

// applyHTTPSAddress (re)starts the HTTPS listener on addr; "" stops it.
// The new address is bound before the old listener goes, so a refused
// change (address in use) leaves the API reachable where it was.
func (s *Server) applyHTTPSAddress(addr string) error {
	s.d.tls.mu.Lock()
	defer s.d.tls.mu.Unlock()
	stop := func() {
		if s.d.tls.srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = s.d.tls.srv.Shutdown(ctx)
			cancel()
			s.d.tls.srv, s.d.tls.addr = nil, ""
		}
	}
	if addr == "" {
		stop()
		return nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(strings.Trim(addr, "[]"), "8443")
	}
	cert, err := s.d.serverCert()
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil && s.d.tls.srv != nil {
		// Perhaps held by our own listener (same port): let go of it and retry.
		old := s.d.tls.addr
		stop()
		if l, err = net.Listen("tcp", addr); err != nil {
			if ol, oerr := net.Listen("tcp", old); oerr == nil {
				s.serveTLS(ol, cert)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	stop()
	s.serveTLS(l, cert)
	s.d.log.Info("HTTPS API listening", "address", s.d.tls.addr, "certificate_fingerprint", s.d.tls.certFP)
	return nil
}

// serveTLS serves the HTTPS API on l (s.tls.mu held).
func (s *Server) serveTLS(l net.Listener, cert *tls.Certificate) {
	tcfg := &tls.Config{Certificates: []tls.Certificate{*cert}, ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12}
	srv := &http.Server{Handler: s.HTTPSHandler(), ReadHeaderTimeout: 30 * time.Second, TLSConfig: tcfg}
	go func() { _ = srv.Serve(tls.NewListener(l, tcfg)) }()
	s.d.tls.srv, s.d.tls.addr = srv, l.Addr().String()
}

type ctxKeyTrust struct{}

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
	case a == accessTrusted && !isTrusted(r):
		return errdefs.Forbiddenf("%s %s: not authorized: this client certificate is not trusted (add it with a token from `lodge config trust add`)", r.Method, r.URL.Path)
	}
	return nil
}

// isTrustedCert looks the client certificate up in the trust store.
func (s *Server) isTrustedCert(r *http.Request) bool {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return false
	}
	fp := CertFingerprint(r.TLS.PeerCertificates[0].Raw)
	certs, err := s.d.db.ListCertificates(r.Context())
	if err != nil {
		return false
	}
	for _, c := range certs {
		if c.Fingerprint == fp {
			return true
		}
	}
	return false
}

// HTTPSHandler serves the API to remote clients: trusted certificates get
// every route but the local ones, others the public routes (GET /1.0, the
// public images, POST /1.0/certificates to join with a token).
func (s *Server) HTTPSHandler() http.Handler {
	h := s.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(context.WithValue(r.Context(), ctxKeyTrust{}, s.isTrustedCert(r)))
		h.ServeHTTP(w, r)
	})
}

// decorateServer adds what GET /1.0 says about the HTTPS side.
func (s *Server) decorateServer(info *api.Server) {
	if _, err := s.d.serverCert(); err == nil {
		info.Environment.Certificate, info.Environment.CertificateFingerprint = s.d.tls.certPEM, s.d.tls.certFP
	}
	s.d.tls.mu.Lock()
	if s.d.tls.addr != "" {
		info.Environment.Addresses = []string{s.d.tls.addr}
	}
	s.d.tls.mu.Unlock()
}

// handleServerGetUntrusted is GET /1.0 for an untrusted client: no config,
// no host details, as LXD answers it.
func (s *Server) handleServerGetUntrusted(w http.ResponseWriter, r *http.Request) {
	writeSync(w, api.Server{APIExtensions: apiExtensions, APIStatus: "stable", APIVersion: "1.0", Auth: "untrusted",
		AuthMethods: []string{"tls"}, Environment: api.ServerEnvironment{}})
}
