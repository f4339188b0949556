package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed all:dist
var distFS embed.FS

// CSP is the Content-Security-Policy of every /ui/ reply: scripts, styles,
// fonts and connections only from this origin (websockets included), no
// inline script, no eval, no framing. Style attributes are the one inline
// thing allowed: xterm.js colours terminal cells with them (a <style>
// element is still refused; the UI moves xterm's into constructed sheets).
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; " +
	"img-src 'self' data:; font-src 'self'; connect-src 'self'; manifest-src 'self'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

type asset struct {
	body, gz    []byte
	ctype, etag string
	immutable   bool // a content-hashed name
	public      bool // served without a session: the login page needs it
}

type assets struct{ files map[string]*asset }

// mustAssets reads (and gzips) the embedded files once per process.
var mustAssets = sync.OnceValue(func() *assets {
	a, err := loadAssets(distFS, "dist")
	if err != nil {
		panic("ui: embedded assets: " + err.Error())
	}
	return a
})

// loadAssets reads dist/ once and gzips what compresses.
func loadAssets(fsys fs.FS, root string) (*assets, error) {
	a := &assets{files: map[string]*asset{}}
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, root+"/")
		ct := mime.TypeByExtension(path.Ext(name))
		if ct == "" {
			ct = "application/octet-stream"
		}
		sum := sha256.Sum256(b)
		as := &asset{body: b, ctype: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		base := path.Base(name)
		as.immutable = strings.HasPrefix(name, "assets/")
		as.public = name == "login.html" || name == "favicon.svg" ||
			(as.immutable && (strings.HasPrefix(base, "login-") || strings.HasSuffix(base, ".css")))
		if len(b) > 512 && compressible(ct) {
			var buf bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
			zw.Write(b)
			zw.Close()
			if buf.Len() < len(b) {
				as.gz = buf.Bytes()
			}
		}
		a.files[name] = as
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, must := range []string{"index.html", "login.html"} {
		if a.files[must] == nil {
			return nil, fs.ErrNotExist
		}
	}
	return a, nil
}

func compressible(ct string) bool {
	return strings.HasPrefix(ct, "text/") || strings.Contains(ct, "javascript") || strings.Contains(ct, "json") || strings.Contains(ct, "svg")
}

// Sizes reports the embedded assets' total size and gzipped size (what a
// browser downloads), for the size budget.
func (u *UI) Sizes() (raw, compressed int) {
	for _, a := range u.assets().files {
		raw += len(a.body)
		if a.gz != nil {
			compressed += len(a.gz)
		} else {
			compressed += len(a.body)
		}
	}
	return raw, compressed
}

// Handler serves everything under /ui/ (mount it at "/ui/" and "/ui"):
// the app to a browser with a session or trusted certificate, only the
// login page to any other; and the session endpoints POST /ui/login,
// POST /ui/logout, GET /ui/session. It logs nothing: a login link's token
// is in the URL of the first request.
func (u *UI) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		p := r.URL.Path
		if p == "/ui" {
			http.Redirect(w, r, "/ui/", http.StatusMovedPermanently)
			return
		}
		rel := strings.TrimPrefix(p, "/ui/")
		switch rel {
		case "login":
			u.handleLogin(w, r)
			return
		case "logout":
			u.handleLogout(w, r)
			return
		case "session":
			u.handleSession(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			writeJSONError(w, http.StatusMethodNotAllowed, r.Method+" "+p+": the UI's files are read-only")
			return
		}
		auth, _ := u.authenticate(r)
		if a := u.assets().files[rel]; a != nil && rel != "index.html" && (a.public || auth != AuthNone) {
			u.serveAsset(w, r, a, http.StatusOK)
			return
		}
		if auth == AuthNone {
			// Nothing but the login page, whatever was asked for.
			u.serveAsset(w, r, u.assets().files["login.html"], http.StatusUnauthorized)
			return
		}
		if strings.HasPrefix(rel, "assets/") {
			writeJSONError(w, http.StatusNotFound, "no such UI file: "+p)
			return
		}
		// The app's own routes (/ui/instances/c1, ...) all load index.html.
		u.serveAsset(w, r, u.assets().files["index.html"], http.StatusOK)
	})
}

func (u *UI) serveAsset(w http.ResponseWriter, r *http.Request, a *asset, code int) {
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	switch {
	case code != http.StatusOK:
		h.Set("Cache-Control", "no-store")
	case a.immutable && a.public:
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	case a.immutable:
		h.Set("Cache-Control", "private, max-age=31536000, immutable")
	default:
		h.Set("Cache-Control", "no-cache")
	}
	h.Set("Vary", "Accept-Encoding, Cookie")
	if code == http.StatusOK {
		h.Set("ETag", a.etag)
		if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	body := a.body
	if a.gz != nil && acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		if f := strings.TrimSpace(strings.SplitN(part, ";", 2)[0]); f == "gzip" && !strings.Contains(part, "q=0") {
			return true
		}
	}
	return false
}

// handleLogin redeems a login token (JSON {"token":...} from the login
// page's script, never a GET: a link preview must not use the token up)
// and sets the session cookie.
func (u *UI) handleLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeJSONError(w, http.StatusMethodNotAllowed, "log in with POST /ui/login {\"token\": ...}")
		return
	}
	if msg := crossSite(r); msg != "" {
		writeJSONError(w, http.StatusForbidden, msg)
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		writeJSONError(w, http.StatusUnsupportedMediaType, "POST /ui/login: send the token as application/json")
		return
	}
	var req struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil {
		writeJSONError(w, http.StatusBadRequest, "POST /ui/login: malformed JSON body")
		return
	}
	id, csrf, err := u.st.redeem(req.Token)
	if err != nil {
		writeJSONError(w, http.StatusForbidden, err.Error())
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName(r), Value: id, Path: "/", MaxAge: int(u.cfg.SessionTTL / time.Second),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	writeJSON(w, map[string]any{"auth": AuthSession, "csrf": csrf, "expires_at": u.cfg.Now().Add(u.cfg.SessionTTL).UTC()})
}

// handleLogout ends the session (CSRF-checked: a cross-site page must not
// log the user out either).
func (u *UI) handleLogout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeJSONError(w, http.StatusMethodNotAllowed, "log out with POST /ui/logout")
		return
	}
	if msg := crossSite(r); msg != "" {
		writeJSONError(w, http.StatusForbidden, msg)
		return
	}
	c, err := r.Cookie(cookieName(r))
	if err != nil {
		writeJSONError(w, http.StatusUnauthorized, "not logged in")
		return
	}
	csrf, _, ok := u.st.lookup(c.Value)
	if !ok {
		writeJSONError(w, http.StatusUnauthorized, "not logged in (the session expired)")
		return
	}
	if !equalSecret(r.Header.Get(CSRFHeader), csrf) {
		writeJSONError(w, http.StatusForbidden, "POST /ui/logout: missing or wrong "+CSRFHeader+" header")
		return
	}
	u.st.end(c.Value)
	http.SetCookie(w, &http.Cookie{Name: cookieName(r), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	writeJSON(w, map[string]any{"auth": AuthNone})
}

// handleSession tells the app how it is authenticated and hands a
// session its CSRF token (readable only by a same-origin script).
func (u *UI) handleSession(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		writeJSONError(w, http.StatusMethodNotAllowed, "use GET /ui/session")
		return
	}
	if u.cfg.TrustedCert != nil && u.cfg.TrustedCert(r) {
		writeJSON(w, map[string]any{"auth": AuthCertificate})
		return
	}
	c, err := r.Cookie(cookieName(r))
	if err == nil {
		if csrf, exp, ok := u.st.lookup(c.Value); ok {
			writeJSON(w, map[string]any{"auth": AuthSession, "csrf": csrf, "expires_at": exp.UTC()})
			return
		}
	}
	writeJSONError(w, http.StatusUnauthorized, "not logged in: open a link from `lodge ui`")
}
