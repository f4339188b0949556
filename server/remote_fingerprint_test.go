package server

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A hostile image server that offers a path as an image's fingerprint is
// refused before the fingerprint names anything here.
func TestRemoteFingerprintMustBeSHA256(t *testing.T) {
	e := newTestEnv(t)
	evil := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasPrefix(r.URL.Path, "/1.0/images/aliases/"):
			fmt.Fprint(w, `{"type":"sync","status_code":200,"metadata":{"name":"evil","target":"x"}}`)
		case strings.HasPrefix(r.URL.Path, "/1.0/images/"):
			fmt.Fprint(w, `{"type":"sync","status_code":200,"metadata":{"fingerprint":"../../../etc/passwd","architecture":"x86_64","public":true}}`)
		default:
			fmt.Fprint(w, `{"type":"sync","status_code":200,"metadata":{"api_version":"1.0"}}`)
		}
	}))
	defer evil.Close()
	body := fmt.Sprintf(`{"source":{"type":"image","server":%q,"protocol":"lxd","alias":"evil","certificate":%q}}`, evil.URL, pinnedPEM(evil))
	code, resp, _ := e.do(t, "POST", "/1.0/images", body, "Content-Type", "application/json")
	if code != 400 || !strings.Contains(resp.Error, "not a SHA-256") {
		t.Fatalf("image with a path for a fingerprint: %d %s", code, resp.Error)
	}
}
