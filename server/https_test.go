package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lodge/api"
	"lodge/remotes"
	"lodge/server/daemon"
	"lodge/server/db"
)

// serveHTTPS serves e's HTTPS handler on loopback with client certificates requested.
func serveHTTPS(t *testing.T, e *testEnv) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(e.s.HTTPSHandler())
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func clientCert(t *testing.T) tls.Certificate {
	t.Helper()
	dir := t.TempDir()
	c, err := remotes.LoadOrCreateCertificate(filepath.Join(dir, "c.crt"), filepath.Join(dir, "c.key"), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pinnedPEM(srv *httptest.Server) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
}

func httpsDo(t *testing.T, srv *httptest.Server, cert *tls.Certificate, method, path, body string) (int, api.Response) {
	t.Helper()
	tcfg, err := remotes.PinnedTLS(pinnedPEM(srv), cert)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: tcfg}}
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r api.Response
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s %s: %q", method, path, b)
	}
	return resp.StatusCode, r
}

func TestHTTPSTrust(t *testing.T) {
	e := newTestEnv(t)
	pub := e.uploadImage(t, "public-one", "pub")
	priv := e.uploadImage(t, "private-one", "priv")
	if code, r, _ := e.do(t, "PUT", "/1.0/images/"+pub, `{"public":true,"properties":{}}`); code != 200 {
		t.Fatalf("make public: %d %s", code, r.Error)
	}
	srv := serveHTTPS(t, e)

	// Untrusted: GET /1.0 says so; the rest of the API is refused; only public images show.
	code, r := httpsDo(t, srv, nil, "GET", "/1.0", "")
	var info api.Server
	json.Unmarshal(r.Metadata, &info)
	if code != 200 || info.Auth != "untrusted" || info.Config != nil {
		t.Fatalf("GET /1.0 untrusted: %d %+v", code, info)
	}
	if code, r := httpsDo(t, srv, nil, "GET", "/1.0/instances", ""); code != 403 || !strings.Contains(r.Error, "not trusted") {
		t.Fatalf("instances untrusted: %d %s", code, r.Error)
	}
	if code, _ := httpsDo(t, srv, nil, "PATCH", "/1.0", `{"config":{}}`); code != 403 {
		t.Fatalf("PATCH untrusted: %d", code)
	}
	code, r = httpsDo(t, srv, nil, "GET", "/1.0/images?recursion=1", "")
	var ims []api.Image
	json.Unmarshal(r.Metadata, &ims)
	if code != 200 || len(ims) != 1 || ims[0].Fingerprint != pub {
		t.Fatalf("public list: %d %+v", code, ims)
	}
	for _, p := range []string{"/1.0/images/" + priv, "/1.0/images/" + priv + "/export", "/1.0/images/aliases/priv"} {
		if code, _ := httpsDo(t, srv, nil, "GET", p, ""); code != 404 {
			t.Errorf("%s untrusted: %d", p, code)
		}
	}
	if code, _ := httpsDo(t, srv, nil, "GET", "/1.0/images/aliases/pub", ""); code != 200 {
		t.Errorf("public alias: %d", code)
	}
	// A one-time secret, asked for by a trusted client, opens a private image to an untrusted one.
	code, r, _ = e.do(t, "POST", "/1.0/images/"+priv+"/secret", "")
	if code != 202 {
		t.Fatalf("secret: %d %s", code, r.Error)
	}
	sop := e.wait(t, r)
	sec, _ := sop.Metadata["secret"].(string)
	if sec == "" {
		t.Fatalf("secret op: %+v", sop)
	}
	for _, p := range []string{"/1.0/images/" + priv + "?secret=" + sec} {
		if code, _ := httpsDo(t, srv, nil, "GET", p, ""); code != 200 {
			t.Errorf("%s: %d", p, code)
		}
	}
	if code, _ := httpsDo(t, srv, nil, "GET", "/1.0/images/"+priv+"?secret=nope", ""); code != 404 {
		t.Errorf("wrong secret: %d", code)
	}
	if code, _ := httpsDo(t, srv, nil, "GET", "/1.0/images/"+pub+"?secret="+sec, ""); code != 200 {
		t.Errorf("public with a secret: %d", code)
	}

	// A join token, made on the trusted socket, adds a client once.
	code, r, _ = e.do(t, "POST", "/1.0/certificates", `{"name":"laptop","type":"client","token":true}`)
	if code != 202 {
		t.Fatalf("token: %d %s", code, r.Error)
	}
	op := e.wait(t, r)
	secret, _ := op.Metadata["secret"].(string)
	if op.Class != api.OperationClassToken || len(secret) != 64 || op.Metadata["fingerprint"] == "" {
		t.Fatalf("token op: %+v", op)
	}
	cert := clientCert(t)
	if code, r := httpsDo(t, srv, &cert, "POST", "/1.0/certificates", `{"type":"client","password":"wrong"}`); code != 403 {
		t.Fatalf("bad token: %d %s", code, r.Error)
	}
	if code, r := httpsDo(t, srv, &cert, "POST", "/1.0/certificates", fmt.Sprintf(`{"type":"client","trust_token":%q}`, secret)); code != 200 {
		t.Fatalf("join: %d %s", code, r.Error)
	}
	_, r = httpsDo(t, srv, &cert, "GET", "/1.0", "")
	json.Unmarshal(r.Metadata, &info)
	if info.Auth != "trusted" || info.Environment.CertificateFingerprint == "" {
		t.Fatalf("trusted GET /1.0: %+v", info)
	}
	if code, _ := httpsDo(t, srv, &cert, "GET", "/1.0/instances", ""); code != 200 {
		t.Fatalf("trusted instances: %d", code)
	}
	if code, _ := httpsDo(t, srv, &cert, "PUT", "/internal/shutdown", ""); code != 403 {
		t.Fatalf("internal API over HTTPS: %d", code)
	}
	other := clientCert(t)
	if code, _ := httpsDo(t, srv, &other, "POST", "/1.0/certificates", fmt.Sprintf(`{"type":"client","password":%q}`, secret)); code != 403 {
		t.Fatalf("token used twice: %d", code)
	}
	// The list shows the client by name; deleting it revokes it.
	_, r, _ = e.do(t, "GET", "/1.0/certificates?recursion=1", "")
	var certs []api.Certificate
	json.Unmarshal(r.Metadata, &certs)
	if len(certs) != 1 || certs[0].Name != "laptop" {
		t.Fatalf("list: %+v", certs)
	}
	if code, r, _ := e.do(t, "DELETE", "/1.0/certificates/"+certs[0].Fingerprint[:12], ""); code != 200 {
		t.Fatalf("delete: %d %s", code, r.Error)
	}
	if code, _ := httpsDo(t, srv, &cert, "GET", "/1.0/instances", ""); code != 403 {
		t.Fatalf("revoked client: %d", code)
	}
	// An expired token is refused.
	e.db.CreateCertificateToken(context.Background(), db.CertificateToken{Secret: "old", Name: "x", CreatedAt: time.Now().Add(-48 * time.Hour), ExpiresAt: time.Now().Add(-time.Hour)})
	if code, r := httpsDo(t, srv, &other, "POST", "/1.0/certificates", `{"type":"client","password":"old"}`); code != 403 {
		t.Fatalf("expired token: %d %s", code, r.Error)
	}
}

// TestCopyFromLXDRemote: a lodged that downloaded split and unified images
// from simplestreams serves them over HTTPS; a second lodged copies them
// with the lxd protocol (multipart export for the split one).
func TestCopyFromLXDRemote(t *testing.T) {
	a, fx, ss, _ := newRemoteEnv(t)
	for _, ref := range []string{fx.NewestSquashfs, fx.NewestUnified} {
		body := fmt.Sprintf(`{"public":true,"source":{"type":"image","server":%q,"protocol":"simplestreams","fingerprint":%q},"aliases":[{"name":"a-%s"}]}`, ss.URL, ref, ref[:6])
		code, r, _ := a.do(t, "POST", "/1.0/images", body, "Content-Type", "application/json")
		if op := a.wait(t, r); code != 202 || op.StatusCode != api.Success {
			t.Fatalf("copy into a: %d %s", code, op.Err)
		}
	}
	srv := serveHTTPS(t, a)
	b, _, _, storeB := newRemoteEnv(t)
	for _, ref := range []string{"a-" + fx.NewestSquashfs[:6], fx.NewestUnified[:12]} {
		body := fmt.Sprintf(`{"source":{"type":"image","server":%q,"protocol":"lxd","alias":%q,"certificate":%q},"aliases":[{"name":"b1"}]}`, srv.URL, ref, pinnedPEM(srv))
		code, r, _ := b.do(t, "POST", "/1.0/images", body, "Content-Type", "application/json")
		if code != 202 {
			t.Fatalf("copy %s into b: %d %s", ref, code, r.Error)
		}
		if op := b.wait(t, r); op.StatusCode != api.Success {
			t.Fatalf("copy %s into b: %s", ref, op.Err)
		}
	}
	for _, fp := range []string{fx.NewestSquashfs, fx.NewestUnified} {
		if _, err := b.db.GetImage(context.Background(), fp); err != nil {
			t.Errorf("%s not in b: %v", fp[:12], err)
		}
	}
	if files := storeFiles(t, storeB); len(files) != 3 { // split: fp + fp.rootfs; unified: fp
		t.Errorf("b's store: %v", files)
	}
	// A wrong pinned certificate is refused, naming both fingerprints.
	wrong := clientCert(t)
	wrongPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: wrong.Certificate[0]}))
	body := fmt.Sprintf(`{"source":{"type":"image","server":%q,"protocol":"lxd","alias":"x","certificate":%q}}`, srv.URL, wrongPEM)
	if code, r, _ := b.do(t, "POST", "/1.0/images", body, "Content-Type", "application/json"); code != 502 || !strings.Contains(r.Error, "certificate changed") {
		t.Errorf("wrong pin: %d %s", code, r.Error)
	}
}

// TestSplitUploadAndExport: a split image exported as multipart can be
// uploaded back as multipart (what lxc image import META ROOTFS sends).
func TestSplitUploadAndExport(t *testing.T) {
	e, fx, srv, storeDir := newRemoteEnv(t)
	body := fmt.Sprintf(`{"source":{"type":"image","server":%q,"protocol":"simplestreams","alias":"busybox"}}`, srv.URL)
	code, r, _ := e.do(t, "POST", "/1.0/images", body, "Content-Type", "application/json")
	if op := e.wait(t, r); code != 202 || op.StatusCode != api.Success {
		t.Fatalf("copy: %s", op.Err)
	}
	meta, _ := os.ReadFile(filepath.Join(storeDir, fx.NewestSquashfs))
	root, _ := os.ReadFile(filepath.Join(storeDir, fx.NewestSquashfs+".rootfs"))
	// Export: multipart with metadata then rootfs.
	req := httptest.NewRequest("GET", "/1.0/images/"+fx.NewestSquashfs+"/export", nil)
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	mt, params, _ := mime.ParseMediaType(w.Header().Get("Content-Type"))
	if mt != "multipart/form-data" {
		t.Fatalf("export content type %q", mt)
	}
	mr := multipart.NewReader(w.Body, params["boundary"])
	for _, want := range [][]byte{meta, root} {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(p)
		if !bytes.Equal(got, want) {
			t.Fatalf("part %s differs", p.FormName())
		}
	}
	if code, r, _ := e.do(t, "DELETE", "/1.0/images/"+fx.NewestSquashfs, ""); code != 202 || e.wait(t, r).StatusCode != api.Success {
		t.Fatal("delete")
	}
	upload := func(names ...string) (int, api.Response) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for i, data := range [][]byte{meta, root} {
			pw, _ := mw.CreateFormFile(names[i], names[i])
			pw.Write(data)
		}
		mw.Close()
		code, r, _ := e.do(t, "POST", "/1.0/images", buf.String(), "Content-Type", mw.FormDataContentType())
		return code, r
	}
	code, r = upload("metadata", "rootfs")
	if code != 202 {
		t.Fatalf("upload: %d %s", code, r.Error)
	}
	if op := e.wait(t, r); op.Metadata["fingerprint"] != fx.NewestSquashfs {
		t.Fatalf("upload op: %+v", op)
	}
	if code, _ := upload("metadata", "rootfs"); code != 409 {
		t.Fatalf("second upload: %d", code)
	}
	if code, r := upload("rootfs", "metadata"); code != 400 {
		t.Fatalf("parts swapped: %d %s", code, r.Error)
	}
}

func TestHTTPSAddressKey(t *testing.T) {
	e := newTestEnv(t)
	t.Cleanup(e.s.stopHTTPS)
	if code, r, _ := e.do(t, "PATCH", "/1.0", `{"config":{"core.https_address":"127.0.0.1:0"}}`); code != 200 {
		t.Fatalf("set: %d %s", code, r.Error)
	}
	_, r, _ := e.do(t, "GET", "/1.0", "")
	var info api.Server
	json.Unmarshal(r.Metadata, &info)
	if len(info.Environment.Addresses) != 1 || info.Environment.CertificateFingerprint == "" || !strings.Contains(info.Environment.Certificate, "BEGIN CERTIFICATE") {
		t.Fatalf("GET /1.0 environment: %+v", info.Environment)
	}
	// The listener answers with the generated certificate.
	cert, err := remotes.FetchServerCertificate(info.Environment.Addresses[0], 5*time.Second)
	if err != nil || remotes.CertFingerprint(cert.Raw) != info.Environment.CertificateFingerprint {
		t.Fatalf("listener: %v", err)
	}
	// An address in use is refused and not stored; the listener stays.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if code, r, _ := e.do(t, "PATCH", "/1.0", fmt.Sprintf(`{"config":{"core.https_address":%q}}`, busy.Addr().String())); code != 400 || !strings.Contains(r.Error, "listen") {
		t.Fatalf("busy address: %d %s", code, r.Error)
	}
	if _, err := remotes.FetchServerCertificate(info.Environment.Addresses[0], 5*time.Second); err != nil {
		t.Fatalf("listener gone after a refused change: %v", err)
	}
	if cfg, _ := e.db.Config(context.Background()); cfg["core.https_address"] != "127.0.0.1:0" {
		t.Fatalf("config after a refused change: %v", cfg)
	}
	if code, _, _ := e.do(t, "PATCH", "/1.0", `{"config":{"core.https_address":"nonsense"}}`); code != 400 {
		t.Fatalf("bad address accepted")
	}
	if code, _, _ := e.do(t, "PATCH", "/1.0", `{"config":{"core.https_address":""}}`); code != 200 {
		t.Fatal("unset")
	}
	if _, err := remotes.FetchServerCertificate(info.Environment.Addresses[0], time.Second); err == nil {
		t.Fatal("listener still up after unset")
	}
}

// A restarted lodged listens again where core.https_address says, with the
// certificate made on the first start.
func TestHTTPSOnStart(t *testing.T) {
	e := newTestEnv(t)
	t.Cleanup(e.s.stopHTTPS)
	if err := e.db.SetConfig(context.Background(), map[string]string{"core.https_address": "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	e.s.startHTTPS(context.Background())
	if e.s.HTTPSAddress() == "" {
		t.Fatal("no listener after start")
	}
	first, err := os.ReadFile(filepath.Join(e.dir, "server.crt"))
	if err != nil {
		t.Fatal(err)
	}
	// A second server on the same state directory keeps the certificate.
	s2 := New(Config{Config: daemon.Config{Dir: e.dir}}, e.deps)
	if _, err := s2.Daemon().ServerCert(); err != nil {
		t.Fatal(err)
	}
	if s2.Daemon().CertPEM() != string(first) {
		t.Fatal("certificate regenerated on restart")
	}
}
