package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"

	"lodge/api"
	"lodge/metrics"
	"lodge/remotes"
	"lodge/server/daemon"
	"lodge/ui"
)

// lockedBuffer is a log sink safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestUIOnHTTPS: the login link from the unix socket opens a session on
// the HTTPS listener that is authorized as a trusted certificate is (but
// never for /internal, and never for a change without its CSRF token);
// without it a browser gets only the login page and the API's public
// part; a browser's GET / goes to /ui/; the token reaches no log.
func TestUIOnHTTPS(t *testing.T) {
	e := newTestEnv(t)
	// This server logs every request, as lodged --debug does.
	var logs lockedBuffer
	e.s = New(Config{Config: daemon.Config{Dir: e.dir, Version: "test",
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}}, e.deps)
	e.d, e.h = e.s.Daemon(), e.s.Handler()
	t.Cleanup(func() { e.s.stopHTTPS(); e.d.WaitOperations(); e.d.Close() })

	code, r, _ := e.do(t, "POST", "/internal/ui/login-token", "")
	if code != 400 || !strings.Contains(r.Error, "lodge config set core.https_address :8443 first") {
		t.Fatalf("login token without HTTPS: %d %q", code, r.Error)
	}
	if code, r, _ := e.do(t, "PATCH", "/1.0", `{"config":{"core.https_address":"127.0.0.1:0"}}`); code != 200 {
		t.Fatalf("set core.https_address: %d %s", code, r.Error)
	}
	code, r, _ = e.do(t, "POST", "/internal/ui/login-token", "")
	var link api.UILoginToken
	if code != 200 || json.Unmarshal(r.Metadata, &link) != nil {
		t.Fatalf("login token: %d %s", code, r.Error)
	}
	base := "https://" + e.s.HTTPSAddress()
	if link.URL != base+"/ui/?login="+link.Token || len(link.Token) < 40 || link.ExpiresAt.IsZero() {
		t.Fatalf("login link %+v, want %s/ui/?login=TOKEN", link, base)
	}

	tcfg, err := remotes.PinnedTLS(e.d.CertPEM(), nil)
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: tcfg},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path, body string, hdr ...string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}

	// No session: the login page for any /ui/ path, the public API only.
	for _, p := range []string{"/ui/", "/ui/instances/c1"} {
		if code, body, _ := do("GET", p, ""); code != 401 || !strings.Contains(body, `data-testid="login-page"`) {
			t.Errorf("GET %s without a session: %d %.200s", p, code, body)
		}
	}
	if code, body, _ := do("GET", "/1.0/instances", ""); code != 403 || !strings.Contains(body, "not trusted") {
		t.Errorf("GET /1.0/instances without a session: %d %.200s", code, body)
	}
	if code, body, _ := do("GET", "/1.0/metrics", ""); code != 403 || !strings.Contains(body, "not authorized") {
		t.Errorf("GET /1.0/metrics without a session: %d %.200s", code, body)
	}
	if code, body, _ := do("GET", "/1.0", ""); code != 200 || !strings.Contains(body, `"auth":"untrusted"`) {
		t.Errorf("GET /1.0 without a session: %d %.200s", code, body)
	}
	// A browser's GET / goes to the UI; an API client's gets the JSON.
	if code, _, hdr := do("GET", "/", "", "User-Agent", "Mozilla/5.0 (X11; Linux x86_64)"); code != 302 || hdr.Get("Location") != "/ui/" {
		t.Errorf("browser GET /: %d %q", code, hdr.Get("Location"))
	}
	if code, body, _ := do("GET", "/", "", "User-Agent", "LXD 5.0.2"); code != 200 || !strings.Contains(body, `"/1.0"`) {
		t.Errorf("API client GET /: %d %.200s", code, body)
	}

	// Opening the link loads the login page (whose script posts the
	// token); the GET itself uses nothing up.
	if code, body, _ := do("GET", "/ui/?login="+link.Token, ""); code != 401 || !strings.Contains(body, `data-testid="login-page"`) {
		t.Errorf("GET the login link: %d %.200s", code, body)
	}
	// The link logs in once.
	login := func() int {
		code, _, _ := do("POST", "/ui/login", `{"token":"`+link.Token+`"}`, "Content-Type", "application/json")
		return code
	}
	if code := login(); code != 200 {
		t.Fatalf("log in: %d", code)
	}
	if code := login(); code != 403 {
		t.Errorf("second use of the link: %d", code)
	}
	code, body, _ := do("GET", "/ui/session", "")
	var sess struct{ Auth, CSRF string }
	if code != 200 || json.Unmarshal([]byte(body), &sess) != nil || sess.Auth != string(ui.AuthSession) || sess.CSRF == "" {
		t.Fatalf("session: %d %s", code, body)
	}
	// Authorized as a trusted certificate.
	code, body, _ = do("GET", "/1.0", "")
	var env api.Response
	var info api.Server
	if code != 200 || json.Unmarshal([]byte(body), &env) != nil || json.Unmarshal(env.Metadata, &info) != nil ||
		info.Auth != "trusted" || strings.Join(info.AuthMethods, ",") != "tls,session" || info.Config == nil {
		t.Errorf("GET /1.0 with a session: %d %.300s", code, body)
	}
	if code, body, _ := do("GET", "/1.0/instances", ""); code != 200 {
		t.Errorf("GET /1.0/instances with a session: %d %.200s", code, body)
	}
	// The instance page's charts read /1.0/metrics: a session is trusted
	// for it as a client certificate is (not only as a metrics one).
	if code, body, hdr := do("GET", "/1.0/metrics", ""); code != 200 || hdr.Get("Content-Type") != metrics.ContentType || !strings.HasSuffix(body, "# EOF\n") {
		t.Errorf("GET /1.0/metrics with a session: %d %q %.200s", code, hdr.Get("Content-Type"), body)
	}
	if code, body, _ := do("GET", "/ui/", ""); code != 200 || !strings.Contains(body, "assets/app-") {
		t.Errorf("GET /ui/ with a session: %d %.200s", code, body)
	}
	// A change needs the session's CSRF token, and a same-origin browser.
	profile := `{"name":"p-ui"}`
	if code, body, _ := do("POST", "/1.0/profiles", profile); code != 403 || !strings.Contains(body, ui.CSRFHeader) {
		t.Errorf("POST without the CSRF token: %d %.200s", code, body)
	}
	if code, _, _ := do("POST", "/1.0/profiles", profile, ui.CSRFHeader, sess.CSRF, "Origin", "https://evil.example"); code != 403 {
		t.Errorf("POST from another origin: %d", code)
	}
	if code, body, _ := do("POST", "/1.0/profiles", profile, ui.CSRFHeader, sess.CSRF, "Content-Type", "application/json"); code != 201 && code != 200 {
		t.Errorf("POST with the CSRF token: %d %.200s", code, body)
	}
	// Daemon control stays on the unix socket, whoever asks.
	for _, p := range []string{"/internal/stats", "/internal/ui/login-token"} {
		method := "GET"
		if strings.HasSuffix(p, "login-token") {
			method = "POST"
		}
		if code, body, _ := do(method, p, "", ui.CSRFHeader, sess.CSRF); code != 403 || !strings.Contains(body, "unix socket") {
			t.Errorf("%s %s over HTTPS with a session: %d %.200s", method, p, code, body)
		}
	}
	// Neither the token nor the session's secrets reach the log.
	out := logs.String()
	if !strings.Contains(out, "/1.0/instances") {
		t.Fatalf("the request log is empty; the check below would prove nothing:\n%s", out)
	}
	cookie := ""
	u, _ := url.Parse(base)
	for _, ck := range jar.Cookies(u) {
		cookie = ck.Value
	}
	for what, secret := range map[string]string{"login token": link.Token, "CSRF token": sess.CSRF, "session cookie": cookie} {
		if secret == "" || strings.Contains(out, secret) {
			t.Errorf("the %s (%q) is in the log or missing", what, secret)
		}
	}
}

// TestUIClientCertificate: a browser's client certificate, trusted with a
// token as lxd-ui has users do, gets the app without a login link or a
// session, and loses it when the certificate is revoked; its changes must
// still come from this origin.
func TestUIClientCertificate(t *testing.T) {
	e := newTestEnv(t)
	srv := serveHTTPS(t, e)
	code, r, _ := e.do(t, "POST", "/1.0/certificates", `{"name":"browser","type":"client","token":true}`)
	if code != 202 {
		t.Fatalf("token: %d %s", code, r.Error)
	}
	secret, _ := e.wait(t, r).Metadata["secret"].(string)
	cert := clientCert(t)
	tcfg, err := remotes.PinnedTLS(pinnedPEM(srv), &cert)
	if err != nil {
		t.Fatal(err)
	}
	withCert := &http.Client{Transport: &http.Transport{TLSClientConfig: tcfg}}
	get := func(c *http.Client, method, path, body string, hdr ...string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	// Before the certificate is trusted: the login page only.
	if code, body, _ := get(withCert, "GET", "/ui/", ""); code != 401 || !strings.Contains(body, `data-testid="login-page"`) {
		t.Fatalf("GET /ui/ with an untrusted certificate: %d %.200s", code, body)
	}
	if code, body, _ := get(withCert, "POST", "/1.0/certificates", fmt.Sprintf(`{"type":"client","trust_token":%q}`, secret), "Content-Type", "application/json"); code != 200 {
		t.Fatalf("trust the browser's certificate: %d %.200s", code, body)
	}
	code, body, hdr := get(withCert, "GET", "/ui/", "")
	if code != 200 || !strings.Contains(body, "assets/app-") || hdr.Get("Set-Cookie") != "" {
		t.Fatalf("GET /ui/ with a trusted certificate: %d %q %.200s", code, hdr.Get("Set-Cookie"), body)
	}
	code, body, _ = get(withCert, "GET", "/ui/session", "")
	var sess struct{ Auth string }
	if code != 200 || json.Unmarshal([]byte(body), &sess) != nil || sess.Auth != string(ui.AuthCertificate) {
		t.Errorf("GET /ui/session with a certificate: %d %s", code, body)
	}
	code, body, _ = get(withCert, "GET", "/1.0", "")
	var env api.Response
	var info api.Server
	if code != 200 || json.Unmarshal([]byte(body), &env) != nil || json.Unmarshal(env.Metadata, &info) != nil ||
		info.Auth != "trusted" || strings.Join(info.AuthMethods, ",") != "tls" {
		t.Errorf("GET /1.0 with the certificate: %d %.300s", code, body)
	}
	// A browser's certificate is as ambient as a cookie: another site's
	// page cannot use it.
	if code, _, _ := get(withCert, "POST", "/1.0/profiles", `{"name":"p-cert"}`, "Origin", "https://evil.example", "Content-Type", "application/json"); code != 403 {
		t.Errorf("POST from another origin with the certificate: %d", code)
	}
	if code, body, _ := get(withCert, "POST", "/1.0/profiles", `{"name":"p-cert"}`, "Origin", srv.URL, "Content-Type", "application/json"); code != 201 && code != 200 {
		t.Errorf("same-origin POST with the certificate: %d %.200s", code, body)
	}
	// Revoked: back to the login page.
	_, r, _ = e.do(t, "GET", "/1.0/certificates?recursion=1", "")
	var certs []api.Certificate
	json.Unmarshal(r.Metadata, &certs)
	if len(certs) != 1 {
		t.Fatalf("certificates: %+v", certs)
	}
	if code, r, _ := e.do(t, "DELETE", "/1.0/certificates/"+certs[0].Fingerprint, ""); code != 200 {
		t.Fatalf("revoke: %d %s", code, r.Error)
	}
	if code, body, _ := get(withCert, "GET", "/ui/", ""); code != 401 || !strings.Contains(body, `data-testid="login-page"`) {
		t.Errorf("GET /ui/ with a revoked certificate: %d %.200s", code, body)
	}
}
