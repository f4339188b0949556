package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzRequestBodies posts arbitrary bodies to the endpoints that decode
// JSON: whatever the bytes, the answer is a JSON envelope with a 2xx or 4xx
// status, never a panic or a 500.
func FuzzRequestBodies(f *testing.F) {
	for _, seed := range []string{
		`{"name":"c1","source":{"type":"image","alias":"busybox"}}`,
		`{"name":"c1","source":{"type":"image","fingerprint":"abc"},"config":{"limits.memory":"1GiB"},"devices":{"eth0":{"type":"nic","nictype":"bridged","parent":"br0"}}}`,
		`{"action":"start","timeout":-1,"force":true}`,
		`{"command":["sh","-c","true"],"environment":{"A":"b"},"wait-for-websocket":false,"interactive":false}`,
		`{"config":{"user.x":"y"},"devices":{},"profiles":["default"]}`,
		`{"name":"../../etc","target":"x"}`,
		`{"name":"a","source":{"type":"copy","source":"c1"}}`,
		`[]`, `null`, `{"name":1}`, `{"config":{"limits.cpu":{"x":1}}}`, "{\"name\":\"\u0000\"}",
	} {
		f.Add(0, []byte(seed))
		f.Add(1, []byte(seed))
		f.Add(2, []byte(seed))
		f.Add(3, []byte(seed))
		f.Add(4, []byte(seed))
		f.Add(5, []byte(seed))
		f.Add(6, []byte(seed))
	}
	env := newTestEnv(f)
	targets := []struct{ method, path string }{
		{"POST", "/1.0/instances"},
		{"PUT", "/1.0/instances/c1/state"},
		{"POST", "/1.0/instances/c1/exec"},
		{"PATCH", "/1.0/instances/c1"},
		{"POST", "/1.0/images/aliases"},
		{"POST", "/1.0/profiles"},
		{"PATCH", "/1.0/profiles/default"},
	}
	f.Fuzz(func(t *testing.T, which int, body []byte) {
		if which < 0 {
			which = -which
		}
		tg := targets[which%len(targets)]
		req := httptest.NewRequest(tg.method, tg.path, bytes.NewReader(body))
		w := httptest.NewRecorder()
		env.h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %s with %q: status %d: %s", tg.method, tg.path, body, w.Code, w.Body.String())
		}
		var env struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || env.Type == "" {
			t.Fatalf("%s %s with %q: not an LXD envelope: %q", tg.method, tg.path, body, w.Body.String())
		}
		if w.Code >= 400 && w.Code != http.StatusNotFound && w.Code != http.StatusBadRequest && w.Code != http.StatusConflict &&
			w.Code != http.StatusPreconditionFailed && w.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("%s %s with %q: unexpected status %d", tg.method, tg.path, body, w.Code)
		}
	})
}
