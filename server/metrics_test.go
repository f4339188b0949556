package server

import (
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"lodge/api"
	"lodge/metrics"
	"lodge/remotes"
)

// httpsRaw is httpsDo for a reply that is not JSON.
func httpsRaw(t *testing.T, url, serverPEM string, cert *tls.Certificate) (int, string, http.Header) {
	t.Helper()
	tcfg, err := remotes.PinnedTLS(serverPEM, cert)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: tcfg}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func certPEMOf(c tls.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}))
}

// /1.0/metrics: LXD's text for the socket, trusted clients and metrics
// certificates; a metrics certificate reaches nothing else; untrusted
// clients are refused unless core.metrics_authentication=false.
func TestMetricsAccess(t *testing.T) {
	e := newTestEnv(t)
	e.uploadImage(t, "busybox", "bb")
	code, r, _ := e.do(t, "POST", "/1.0/instances", `{"name":"c1","source":{"type":"image","alias":"bb"},"start":true}`)
	if code != 202 || e.wait(t, r).StatusCode != api.Success {
		t.Fatalf("launch: %d %s", code, r.Error)
	}
	req := httptest.NewRequest("GET", "/1.0/metrics", nil)
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	body := w.Body.String()
	if w.Code != 200 || w.Header().Get("Content-Type") != metrics.ContentType ||
		!strings.Contains(body, `lxd_cpu_seconds_total{cpu="0",mode="user",name="c1",project="default",type="container"} 1.5`) ||
		!strings.Contains(body, `lxd_instances{project="default",type="container"} 1`) || !strings.HasSuffix(body, "# EOF\n") {
		t.Fatalf("metrics on the socket: %d %q\n%s", w.Code, w.Header().Get("Content-Type"), body)
	}

	srv := serveHTTPS(t, e)
	spem := pinnedPEM(srv)
	if code, body, _ := httpsRaw(t, srv.URL+"/1.0/metrics", spem, nil); code != 403 || !strings.Contains(body, "type metrics") {
		t.Fatalf("untrusted: %d %s", code, body)
	}
	mc := clientCert(t)
	// A metrics certificate is added by a trusted client with its PEM,
	// never joined with a token.
	b, _ := json.Marshal(api.CertificatesPost{Name: "prom", Type: "metrics", Certificate: certPEMOf(mc)})
	if code, r, _ := e.do(t, "POST", "/1.0/certificates", string(b)); code != 200 {
		t.Fatalf("add metrics cert: %d %s", code, r.Error)
	}
	if code, r, _ := e.do(t, "POST", "/1.0/certificates", `{"name":"p2","type":"metrics","token":true}`); code != 400 || !strings.Contains(r.Error, "client certificates") {
		t.Fatalf("metrics token: %d %s", code, r.Error)
	}
	if code, r := httpsDo(t, srv, nil, "POST", "/1.0/certificates", `{"type":"metrics","trust_token":"x"}`); code != 403 {
		t.Fatalf("untrusted metrics join: %d %s", code, r.Error)
	}
	if code, body, _ := httpsRaw(t, srv.URL+"/1.0/metrics", spem, &mc); code != 200 || !strings.Contains(body, `name="c1"`) {
		t.Fatalf("metrics certificate: %d %s", code, body)
	}
	for _, p := range []string{"/1.0/instances", "/1.0/certificates", "/1.0/networks"} {
		if code, r := httpsDo(t, srv, &mc, "GET", p, ""); code != 403 {
			t.Errorf("metrics certificate on %s: %d %s", p, code, r.Error)
		}
	}
	if code, r := httpsDo(t, srv, &mc, "GET", "/1.0", ""); code != 200 || !strings.Contains(string(r.Metadata), `"auth":"untrusted"`) {
		t.Errorf("metrics certificate on /1.0: %d %s", code, r.Metadata)
	}
	if code, r, _ := e.do(t, "PATCH", "/1.0", `{"config":{"core.metrics_authentication":"false"}}`); code != 200 {
		t.Fatalf("metrics_authentication: %d %s", code, r.Error)
	}
	if code, _, _ := httpsRaw(t, srv.URL+"/1.0/metrics", spem, nil); code != 200 {
		t.Fatalf("untrusted with core.metrics_authentication=false: %d", code)
	}
	if code, r := httpsDo(t, srv, nil, "GET", "/1.0/instances", ""); code != 403 {
		t.Fatalf("core.metrics_authentication=false opened more than metrics: %d %s", code, r.Error)
	}
}

// core.metrics_address: a TLS listener of its own that serves
// /1.0/metrics only, with the same trust check; moved and closed by the
// key.
func TestMetricsListener(t *testing.T) {
	e := newTestEnv(t)
	t.Cleanup(func() { _ = e.s.SetMetricsAddress("") })
	if code, r, _ := e.do(t, "PATCH", "/1.0", `{"config":{"core.metrics_address":"127.0.0.1:0"}}`); code != 200 {
		t.Fatalf("set: %d %s", code, r.Error)
	}
	addr := e.s.MetricsAddress()
	if addr == "" {
		t.Fatal("no metrics listener")
	}
	spem := e.d.CertPEM()
	mc := clientCert(t)
	b, _ := json.Marshal(api.CertificatesPost{Name: "prom", Type: "metrics", Certificate: certPEMOf(mc)})
	if code, r, _ := e.do(t, "POST", "/1.0/certificates", string(b)); code != 200 {
		t.Fatalf("add metrics cert: %d %s", code, r.Error)
	}
	if code, body, _ := httpsRaw(t, "https://"+addr+"/1.0/metrics", spem, nil); code != 403 {
		t.Fatalf("untrusted: %d %s", code, body)
	}
	if code, body, _ := httpsRaw(t, "https://"+addr+"/1.0/metrics", spem, &mc); code != 200 || !strings.Contains(body, "lxd_uptime_seconds") {
		t.Fatalf("metrics certificate: %d %s", code, body)
	}
	if code, body, _ := httpsRaw(t, "https://"+addr+"/1.0/instances", spem, &mc); code != 404 || !strings.Contains(body, "GET /1.0/metrics only") {
		t.Fatalf("another path: %d %s", code, body)
	}
	if code, r, _ := e.do(t, "PATCH", "/1.0", `{"config":{"core.metrics_address":""}}`); code != 200 || e.s.MetricsAddress() != "" {
		t.Fatalf("unset: %d %s %q", code, r.Error, e.s.MetricsAddress())
	}
}
