// Package ui is lodge's web UI: the built front end (dist/, embedded, so
// `go build` needs no npm; `make ui` rebuilds it from web/), and the browser
// session that stands in for a client certificate: single-use login tokens
// (`lodge ui`), an HttpOnly SameSite=Strict session cookie, and CSRF checks.
//
// The HTTP layer mounts Handler at /ui/ and wraps the API routes with
// Protect; nothing here knows lodged's internals. See README.md beside this
// file for the wiring.
package ui

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"time"
)

// CookieName is the session cookie. The __Host- prefix makes the browser
// refuse it unless it is Secure, Path=/ and without Domain. Browsers keep
// cookies per host, not per port, so on a port other than 443 the name
// ends in -PORT: two lodged on one host (:8443, :9443) keep a session each
// instead of replacing each other's.
const CookieName = "__Host-lodge_session"

func cookieName(r *http.Request) string {
	if _, port, err := net.SplitHostPort(r.Host); err == nil && port != "" && port != "443" {
		return CookieName + "-" + port
	}
	return CookieName
}

// CSRFHeader carries the session's CSRF token on every unsafe request a
// session makes (the token comes from GET /ui/session).
const CSRFHeader = "X-Lodge-CSRF"

// Config tunes a UI; the zero value is usable.
type Config struct {
	// TrustedCert reports whether a request presents a client certificate
	// in the trust store; nil means none does. Such a browser gets the UI
	// without a session, as lxd-ui's users do.
	TrustedCert func(*http.Request) bool
	// TokenTTL, SessionTTL and SessionIdleTTL default to 5 minutes, 12 hours
	// and 2 hours.
	TokenTTL, SessionTTL, SessionIdleTTL time.Duration
	// Now is the clock (tests).
	Now func() time.Time
}

// UI serves the front end and authenticates browsers.
type UI struct {
	cfg    Config
	st     *store
	assets func() *assets
}

// New makes a UI over the embedded dist/.
func New(cfg Config) *UI {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.SessionIdleTTL <= 0 {
		cfg.SessionIdleTTL = DefaultSessionIdleTTL
	}
	// The assets are gzipped once, off lodged's start: the first request
	// for one waits for that if it is not done.
	go mustAssets()
	return &UI{cfg: cfg, st: newStore(cfg.Now, cfg.TokenTTL, cfg.SessionTTL, cfg.SessionIdleTTL), assets: mustAssets}
}

// IssueLoginToken makes a single-use token for a login link
// (https://HOST/ui/?login=TOKEN), valid until the time returned. The
// token is a secret: never log it.
func (u *UI) IssueLoginToken() (string, time.Time) { return u.st.issueToken() }

// Auth is how a request was authenticated.
type Auth string

const (
	AuthNone        Auth = ""
	AuthSession     Auth = "session"
	AuthCertificate Auth = "certificate"
)

type ctxKeyAuth struct{}

// AuthOf reports how Protect authenticated the request (AuthNone outside it).
func AuthOf(r *http.Request) Auth {
	a, _ := r.Context().Value(ctxKeyAuth{}).(Auth)
	return a
}

// authenticate finds the request's credentials: a trusted certificate
// first, then the session cookie.
func (u *UI) authenticate(r *http.Request) (Auth, string) {
	if u.cfg.TrustedCert != nil && u.cfg.TrustedCert(r) {
		return AuthCertificate, ""
	}
	c, err := r.Cookie(cookieName(r))
	if err != nil {
		return AuthNone, ""
	}
	if csrf, _, ok := u.st.lookup(c.Value); ok {
		return AuthSession, csrf
	}
	return AuthNone, ""
}

// Protect wraps the API: a request with a trusted certificate or a live
// session goes to trusted (with AuthOf set), anything else to untrusted
// (the HTTP layer's public routes). Unsafe methods and websocket upgrades
// from a browser must come from this origin (Origin, Sec-Fetch-Site), and
// a session's unsafe requests must carry its CSRF token: the cookie alone
// never authorizes a change. Clients that are not browsers (lodge, lxc)
// send neither header and pass as before.
func (u *UI) Protect(trusted, untrusted http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth, csrf := u.authenticate(r)
		if auth == AuthNone {
			untrusted.ServeHTTP(w, r)
			return
		}
		if msg := crossSite(r); msg != "" {
			writeJSONError(w, http.StatusForbidden, msg)
			return
		}
		if auth == AuthSession {
			if isWebsocket(r) && r.Header.Get("Origin") == "" {
				writeJSONError(w, http.StatusForbidden, "websocket from a browser session without an Origin header refused")
				return
			}
			if !safeMethod(r.Method) && !equalSecret(r.Header.Get(CSRFHeader), csrf) {
				writeJSONError(w, http.StatusForbidden, r.Method+" "+r.URL.Path+": missing or wrong "+CSRFHeader+" header for this session (reload the page)")
				return
			}
		}
		trusted.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKeyAuth{}, auth)))
	})
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func isWebsocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// crossSite explains why a browser request from another site is refused,
// or returns "". It applies to unsafe methods and websocket upgrades (a
// GET handshake carries cookies and certificates as a POST does).
func crossSite(r *http.Request) string {
	if safeMethod(r.Method) && !isWebsocket(r) {
		return ""
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return r.Method + " " + r.URL.Path + ": refused a cross-site request (Sec-Fetch-Site: " + r.Header.Get("Sec-Fetch-Site") + ")"
	}
	if o := r.Header.Get("Origin"); o != "" && o != requestOrigin(r) {
		return r.Method + " " + r.URL.Path + ": refused a request from origin " + o + " (only " + requestOrigin(r) + " may call this API)"
	}
	return ""
}

// requestOrigin is the origin the browser addressed: scheme and Host.
func requestOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func writeJSONError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "error", "error": msg, "error_code": code, "metadata": nil})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

// LoginTokenHandler answers POST with a fresh login token and the link to
// open, for `lodge ui` (mount it where only the unix socket, or a trusted
// client, reaches). base is the UI's URL, such as https://host:8443/ui/.
// The reply is LXD's sync envelope; the token appears nowhere else.
func (u *UI) LoginTokenHandler(base func(*http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			writeJSONError(w, http.StatusMethodNotAllowed, "use POST to make a login link")
			return
		}
		tok, exp := u.IssueLoginToken()
		link := ""
		if base != nil {
			if b := base(r); b != "" {
				link = strings.TrimSuffix(b, "/") + "/?login=" + tok
			}
		}
		writeJSON(w, map[string]any{"type": "sync", "status": "Success", "status_code": 200, "error_code": 0, "error": "",
			"metadata": map[string]any{"token": tok, "url": link, "expires_at": exp.UTC()}})
	})
}
