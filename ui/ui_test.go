package ui

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newTestUI(t *testing.T, certOK func(*http.Request) bool) (*UI, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	return New(Config{Now: c.now, TrustedCert: certOK}), c
}

func do(h http.Handler, method, target string, body string, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// login redeems a fresh token and returns the session cookie and CSRF token.
func login(t *testing.T, u *UI) (cookie, csrf string) {
	t.Helper()
	tok, _ := u.IssueLoginToken()
	w := do(u.Handler(), "POST", "/ui/login", `{"token":"`+tok+`"}`, map[string]string{"Content-Type": "application/json", "Origin": "http://example.com", "Sec-Fetch-Site": "same-origin"})
	if w.Code != 200 {
		t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	var j struct{ CSRF string }
	json.Unmarshal(w.Body.Bytes(), &j)
	for _, c := range w.Result().Cookies() {
		if c.Name == CookieName {
			return c.Value, j.CSRF
		}
	}
	t.Fatal("no session cookie")
	return "", ""
}

func TestUnauthenticatedGetsOnlyTheLoginPage(t *testing.T) {
	u, _ := newTestUI(t, nil)
	h := u.Handler()
	var app string
	for name := range u.assets().files {
		if strings.HasPrefix(name, "assets/app-") {
			app = name
		}
	}
	if app == "" {
		t.Fatal("no app bundle in dist/")
	}
	for _, p := range []string{"/ui/", "/ui/instances/c1", "/ui/index.html", "/ui/" + app, "/ui/assets/nothing.js", "/ui/?login=bogus"} {
		w := do(h, "GET", p, "", nil)
		if w.Code != http.StatusUnauthorized {
			t.Errorf("GET %s: %d, want 401", p, w.Code)
		}
		if b := w.Body.String(); !strings.Contains(b, `data-testid="login-page"`) || strings.Contains(b, "assets/app-") {
			t.Errorf("GET %s: not the login page: %.200s", p, b)
		}
		if w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: Cache-Control %q", p, w.Header().Get("Cache-Control"))
		}
	}
	// What the login page itself needs is public.
	for name, a := range u.assets().files {
		if a.public {
			if w := do(h, "GET", "/ui/"+name, "", nil); w.Code != 200 {
				t.Errorf("public %s: %d", name, w.Code)
			}
		}
	}
	if w := do(h, "GET", "/ui", "", nil); w.Code != http.StatusMovedPermanently || w.Header().Get("Location") != "/ui/" {
		t.Errorf("/ui: %d %s", w.Code, w.Header().Get("Location"))
	}
}

func TestHeadersCSPAndCaching(t *testing.T) {
	u, _ := newTestUI(t, nil)
	cookie, _ := login(t, u)
	h := u.Handler()
	ck := map[string]string{"Cookie": CookieName + "=" + cookie, "Accept-Encoding": "gzip"}
	w := do(h, "GET", "/ui/", "", ck)
	if w.Code != 200 || !strings.Contains(decode(t, w), "assets/app-") {
		t.Fatalf("index: %d", w.Code)
	}
	csp := w.Header().Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "default-src 'none'", "frame-ancestors 'none'", "connect-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-eval") || strings.Contains(strings.SplitN(csp, "style-src-attr", 2)[0], "unsafe-inline") {
		t.Errorf("CSP allows inline scripts or eval: %q", csp)
	}
	if w.Header().Get("Cache-Control") != "no-cache" || w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Header().Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("index headers: %v", w.Header())
	}
	// The app's routes load index.html too.
	if w := do(h, "GET", "/ui/instances/c1", "", ck); w.Code != 200 || !strings.Contains(decode(t, w), "assets/app-") {
		t.Errorf("deep link: %d", w.Code)
	}
	for name, a := range u.assets().files {
		if !strings.HasPrefix(name, "assets/") {
			continue
		}
		w := do(h, "GET", "/ui/"+name, "", ck)
		if w.Code != 200 || !strings.Contains(w.Header().Get("Cache-Control"), "max-age=31536000, immutable") {
			t.Errorf("%s: %d %q", name, w.Code, w.Header().Get("Cache-Control"))
		}
		if a.gz != nil && w.Header().Get("Content-Encoding") != "gzip" {
			t.Errorf("%s: not gzipped", name)
		}
		etag := w.Header().Get("ETag")
		if w2 := do(h, "GET", "/ui/"+name, "", map[string]string{"Cookie": ck["Cookie"], "If-None-Match": etag}); w2.Code != http.StatusNotModified {
			t.Errorf("%s with If-None-Match: %d", name, w2.Code)
		}
	}
	if w := do(h, "GET", "/ui/assets/missing-AAAA.js", "", ck); w.Code != 404 {
		t.Errorf("missing asset: %d", w.Code)
	}
	if w := do(h, "POST", "/ui/", "", ck); w.Code != 405 {
		t.Errorf("POST /ui/: %d", w.Code)
	}
	raw, gz := u.Sizes()
	t.Logf("assets: %d bytes, %d gzipped", raw, gz)
	if gz > 500*1024 {
		t.Errorf("assets are %d bytes gzipped, over the 500 KB budget", gz)
	}
}

func decode(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	if w.Header().Get("Content-Encoding") != "gzip" {
		return w.Body.String()
	}
	zr, err := gzip.NewReader(w.Body)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(zr)
	return string(b)
}

func TestLoginTokenSingleUseAndExpiry(t *testing.T) {
	u, c := newTestUI(t, nil)
	h := u.Handler()
	post := func(tok string) *httptest.ResponseRecorder {
		return do(h, "POST", "/ui/login", `{"token":"`+tok+`"}`, map[string]string{"Content-Type": "application/json"})
	}
	tok, exp := u.IssueLoginToken()
	if !exp.Equal(c.now().Add(DefaultTokenTTL)) {
		t.Errorf("expiry %v", exp)
	}
	w := post(tok)
	if w.Code != 200 {
		t.Fatalf("first use: %d %s", w.Code, w.Body)
	}
	var ck *http.Cookie
	for _, x := range w.Result().Cookies() {
		if x.Name == CookieName {
			ck = x
		}
	}
	if ck == nil || !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.Domain != "" {
		t.Fatalf("cookie %+v", ck)
	}
	if ck.Value == tok {
		t.Error("the session id is the login token")
	}
	if w := post(tok); w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "lodge ui") {
		t.Errorf("second use: %d %s", w.Code, w.Body)
	}
	tok2, _ := u.IssueLoginToken()
	c.add(DefaultTokenTTL)
	if w := post(tok2); w.Code != http.StatusForbidden {
		t.Errorf("expired token: %d", w.Code)
	}
	if w := post("made-up"); w.Code != http.StatusForbidden {
		t.Errorf("unknown token: %d", w.Code)
	}
	// Only hashes are kept.
	tok3, _ := u.IssueLoginToken()
	u.st.mu.Lock()
	for h := range u.st.tokens {
		if strings.Contains(string(h[:]), tok3) {
			t.Error("token kept in clear")
		}
	}
	u.st.mu.Unlock()
	// A login is never a GET, and only JSON from this origin.
	if w := do(h, "GET", "/ui/login?token="+tok3, "", nil); w.Code != 405 {
		t.Errorf("GET login: %d", w.Code)
	}
	if w := do(h, "POST", "/ui/login", `{"token":"`+tok3+`"}`, map[string]string{"Content-Type": "text/plain"}); w.Code != 415 {
		t.Errorf("text/plain login: %d", w.Code)
	}
	if w := do(h, "POST", "/ui/login", `{"token":"`+tok3+`"}`, map[string]string{"Content-Type": "application/json", "Origin": "https://evil.example"}); w.Code != 403 {
		t.Errorf("cross-origin login: %d", w.Code)
	}
	if w := post(tok3); w.Code != 200 {
		t.Errorf("refused requests used the token up: %d", w.Code)
	}
}

func TestTokensAndSessionsAreBounded(t *testing.T) {
	u, _ := newTestUI(t, nil)
	for i := 0; i < maxTokens+10; i++ {
		u.IssueLoginToken()
	}
	if n, _ := u.st.counts(); n != maxTokens {
		t.Errorf("%d tokens kept", n)
	}
}

func TestSessionExpiry(t *testing.T) {
	u, c := newTestUI(t, nil)
	cookie, _ := login(t, u)
	h := u.Handler()
	ck := map[string]string{"Cookie": CookieName + "=" + cookie}
	if w := do(h, "GET", "/ui/session", "", ck); w.Code != 200 || !strings.Contains(w.Body.String(), `"csrf"`) {
		t.Fatalf("session: %d %s", w.Code, w.Body)
	}
	// Used within the idle limit, it lives up to the absolute limit.
	for i := 0; i < 5; i++ {
		c.add(DefaultSessionIdleTTL - time.Minute)
		if w := do(h, "GET", "/ui/", "", ck); w.Code != 200 {
			t.Fatalf("after %d idle periods: %d", i+1, w.Code)
		}
	}
	c.add(DefaultSessionTTL)
	if w := do(h, "GET", "/ui/", "", ck); w.Code != 401 {
		t.Errorf("past the absolute limit: %d", w.Code)
	}
	cookie, _ = login(t, u)
	c.add(DefaultSessionIdleTTL)
	if w := do(h, "GET", "/ui/session", "", map[string]string{"Cookie": CookieName + "=" + cookie}); w.Code != 401 {
		t.Errorf("idle session: %d", w.Code)
	}
}

func TestProtect(t *testing.T) {
	certOK := func(r *http.Request) bool { return r.Header.Get("X-Test-Cert") == "trusted" }
	u, _ := newTestUI(t, certOK)
	cookie, csrf := login(t, u)
	var got Auth
	trusted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = AuthOf(r); w.WriteHeader(200) })
	untrusted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = "untrusted"; w.WriteHeader(403) })
	h := u.Protect(trusted, untrusted)
	ck := "__Host-lodge_session=" + cookie
	cases := []struct {
		name, method string
		hdr          map[string]string
		code         int
		auth         Auth
	}{
		{"nothing", "GET", nil, 403, "untrusted"},
		{"bad cookie", "GET", map[string]string{"Cookie": CookieName + "=nope"}, 403, "untrusted"},
		{"session GET", "GET", map[string]string{"Cookie": ck}, 200, AuthSession},
		{"session POST without CSRF", "POST", map[string]string{"Cookie": ck}, 403, ""},
		{"session POST wrong CSRF", "POST", map[string]string{"Cookie": ck, CSRFHeader: "x" + csrf}, 403, ""},
		{"session POST", "POST", map[string]string{"Cookie": ck, CSRFHeader: csrf, "Origin": "http://example.com", "Sec-Fetch-Site": "same-origin"}, 200, AuthSession},
		{"session DELETE cross-site", "DELETE", map[string]string{"Cookie": ck, CSRFHeader: csrf, "Sec-Fetch-Site": "cross-site"}, 403, ""},
		{"session PUT other origin", "PUT", map[string]string{"Cookie": ck, CSRFHeader: csrf, "Origin": "https://evil.example"}, 403, ""},
		{"session websocket same origin", "GET", map[string]string{"Cookie": ck, "Upgrade": "websocket", "Origin": "http://example.com"}, 200, AuthSession},
		{"session websocket other origin", "GET", map[string]string{"Cookie": ck, "Upgrade": "websocket", "Origin": "https://evil.example"}, 403, ""},
		{"session websocket no origin", "GET", map[string]string{"Cookie": ck, "Upgrade": "websocket"}, 403, ""},
		{"certificate POST (lodge, lxc)", "POST", map[string]string{"X-Test-Cert": "trusted"}, 200, AuthCertificate},
		{"certificate POST cross-site", "POST", map[string]string{"X-Test-Cert": "trusted", "Sec-Fetch-Site": "cross-site"}, 403, ""},
		{"certificate websocket other origin", "GET", map[string]string{"X-Test-Cert": "trusted", "Upgrade": "websocket", "Origin": "https://evil.example"}, 403, ""},
	}
	for _, tc := range cases {
		got = ""
		w := do(h, tc.method, "/1.0/instances", "", tc.hdr)
		if w.Code != tc.code || got != tc.auth {
			t.Errorf("%s: %d %q, want %d %q (%s)", tc.name, w.Code, got, tc.code, tc.auth, w.Body)
		}
	}
}

func TestLogout(t *testing.T) {
	u, _ := newTestUI(t, nil)
	cookie, csrf := login(t, u)
	h := u.Handler()
	ck := CookieName + "=" + cookie
	if w := do(h, "POST", "/ui/logout", "", map[string]string{"Cookie": ck}); w.Code != 403 {
		t.Errorf("logout without CSRF: %d", w.Code)
	}
	if w := do(h, "POST", "/ui/logout", "", map[string]string{"Cookie": ck, CSRFHeader: csrf}); w.Code != 200 {
		t.Fatalf("logout: %d %s", w.Code, w.Body)
	}
	if w := do(h, "GET", "/ui/", "", map[string]string{"Cookie": ck}); w.Code != 401 {
		t.Errorf("after logout: %d", w.Code)
	}
}

func TestCertificateGetsTheAppWithoutSession(t *testing.T) {
	u, _ := newTestUI(t, func(*http.Request) bool { return true })
	if w := do(u.Handler(), "GET", "/ui/", "", nil); w.Code != 200 || !strings.Contains(w.Body.String(), "assets/app-") {
		t.Errorf("certificate: %d", w.Code)
	}
	if w := do(u.Handler(), "GET", "/ui/session", "", nil); !strings.Contains(w.Body.String(), `"certificate"`) {
		t.Errorf("session: %s", w.Body)
	}
}

func TestLoginTokenHandler(t *testing.T) {
	u, _ := newTestUI(t, nil)
	h := u.LoginTokenHandler(func(*http.Request) string { return "https://host:8443/ui/" })
	w := do(h, "POST", "/internal/ui/login-token", "", nil)
	var env struct {
		Type     string
		Metadata struct {
			Token, URL string
		}
	}
	if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || env.Type != "sync" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if env.Metadata.URL != "https://host:8443/ui/?login="+env.Metadata.Token {
		t.Errorf("url %q", env.Metadata.URL)
	}
	if _, _, err := u.st.redeem(env.Metadata.Token); err != nil {
		t.Errorf("issued token refused: %v", err)
	}
	if w := do(h, "GET", "/", "", nil); w.Code != 405 {
		t.Errorf("GET: %d", w.Code)
	}
}

func TestSessionCookiePerPort(t *testing.T) {
	u, _ := newTestUI(t, nil)
	h := u.Handler()
	tok, _ := u.IssueLoginToken()
	r := httptest.NewRequest("POST", "https://host:8443/ui/login", strings.NewReader(`{"token":"`+tok+`"}`))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	cs := w.Result().Cookies()
	if w.Code != 200 || len(cs) != 1 || cs[0].Name != CookieName+"-8443" {
		t.Fatalf("login on :8443: %d %v", w.Code, cs)
	}
	get := func(host string) int {
		r := httptest.NewRequest("GET", "https://"+host+"/ui/", nil)
		r.AddCookie(cs[0])
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	if get("host:8443") != 200 || get("host:9443") != 401 {
		t.Errorf("the :8443 session: %d on :8443, %d on :9443", get("host:8443"), get("host:9443"))
	}
}
