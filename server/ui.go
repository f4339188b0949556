package server

import (
	"context"
	"net"
	"net/http"
	"os"
	"strings"

	"lodge/api"
	"lodge/errdefs"
	"lodge/ui"
)

// The web UI (package ui, issue 25) on the HTTPS listener: its files and
// session endpoints at /ui/, served outside the API's request log (a
// login link carries its token in the URL); a browser's GET / sent
// there; and ui.Protect in front of the API, so that a browser session
// is authorized exactly as a trusted client certificate is
// (httpsHandler). Login links come from the unix socket only
// (POST /internal/ui/login-token, `lodge ui`).

// newUI makes the daemon's UI: a browser presenting a trusted client
// certificate needs no session.
func (s *Server) newUI() *ui.UI { return ui.New(ui.Config{TrustedCert: s.isTrustedCert}) }

// withUI serves /ui/ and /ui with the UI, redirects a browser's GET / to
// it, and everything else with api.
func (s *Server) withUI(api http.Handler) http.Handler {
	mux := http.NewServeMux()
	files := s.ui.Handler()
	mux.Handle("/ui/", files)
	mux.Handle("/ui", files)
	mux.Handle("/", api)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/" && isBrowser(r) {
			// As LXD does: an API client's GET / keeps its JSON.
			http.Redirect(w, r, "/ui/", http.StatusFound)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// isBrowser tells a web browser from an API client by its User-Agent.
func isBrowser(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("User-Agent"), "Mozilla/")
}

// authMethods are GET /1.0's auth_methods for r: a browser session's
// shows how it got in.
func authMethods(r *http.Request) []string {
	if ui.AuthOf(r) == ui.AuthSession {
		return []string{"tls", "session"}
	}
	return []string{"tls"}
}

// uiLoginToken is POST /internal/ui/login-token (`lodge ui`): a fresh
// single-use login link to the HTTPS listener's /ui/.
func (s *Server) uiLoginToken(r *http.Request) (response, error) {
	base, err := s.uiBase(r.Context())
	if err != nil {
		return nil, err
	}
	tok, exp := s.ui.IssueLoginToken()
	return reply(api.UILoginToken{URL: base + "?login=" + tok, Token: tok, ExpiresAt: exp.UTC()}), nil
}

// uiBase is the UI's address, https://HOST:PORT/ui/, from the address
// the HTTPS listener is bound to (the host's name for a wildcard).
func (s *Server) uiBase(ctx context.Context) (string, error) {
	addr := s.HTTPSAddress()
	if addr == "" {
		if conf := s.d.ServerConfigValue(ctx, "core.https_address"); conf != "" {
			return "", errdefs.Conflictf("the web UI is served on the HTTPS API, which is not listening on core.https_address %q (see lodged's log for why; set the key again to retry)", conf)
		}
		return "", errdefs.Invalidf("the web UI is served on the HTTPS API: lodge config set core.https_address :8443 first")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil && h != "" {
			host = h
		}
	}
	return "https://" + net.JoinHostPort(host, port) + "/ui/", nil
}
