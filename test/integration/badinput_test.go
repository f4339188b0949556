package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Bad requests get a 4xx with a clear message and leave nothing behind.
func TestBadInputChangesNothing(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	lodge(t, "init", "busybox", "bad1")
	t.Cleanup(func() { lodgeOut("delete", "-f", "bad1") })

	tests := []struct {
		name   string
		method string
		path   string
		body   string
		code   int
		msg    string
	}{
		{"invalid name", "POST", "/1.0/instances", `{"name":"bad_name!","source":{"type":"image","alias":"busybox"}}`, 400, "not valid"},
		{"long name", "POST", "/1.0/instances", `{"name":"` + strings.Repeat("a", 64) + `","source":{"type":"image","alias":"busybox"}}`, 400, "limit is 63"},
		{"duplicate", "POST", "/1.0/instances", `{"name":"bad1","source":{"type":"image","alias":"busybox"}}`, 409, "already exists"},
		{"unknown image", "POST", "/1.0/instances", `{"name":"bad2","source":{"type":"image","alias":"no-such-image"}}`, 404, "not found"},
		{"unknown key", "POST", "/1.0/instances", `{"name":"bad3","config":{"limits.bogus":"1"},"source":{"type":"image","alias":"busybox"}}`, 400, "unknown key"},
		{"bad value", "POST", "/1.0/instances", `{"name":"bad3","config":{"limits.memory":"lots"},"source":{"type":"image","alias":"busybox"}}`, 400, "limits.memory"},
		{"malformed json", "POST", "/1.0/instances", `{"name":`, 400, "malformed JSON"},
		{"exec stopped", "POST", "/1.0/instances/bad1/exec", `{"command":["true"],"wait-for-websocket":true}`, 400, "not running"},
		{"unknown action", "PUT", "/1.0/instances/bad1/state", `{"action":"explode"}`, 400, "unknown action"},
		{"unknown key on update", "PATCH", "/1.0/instances/bad1", `{"config":{"nope":"1"}}`, 400, "unknown key"},
		{"missing instance", "GET", "/1.0/instances/nope", ``, 404, "not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, env := apiDo(t, tc.method, tc.path, tc.body)
			if code != tc.code || env.Type != "error" || env.ErrorCode != tc.code || !strings.Contains(env.Error, tc.msg) {
				t.Fatalf("got %d %q (%s), want %d containing %q", code, env.Error, env.Type, tc.code, tc.msg)
			}
		})
	}
	out := lodge(t, "list", "--format", "csv", "-c", "n")
	if strings.TrimSpace(out) != "bad1" {
		t.Fatalf("instances after bad requests: %q", out)
	}
	for _, dir := range []string{filepath.Join(stateDir, "containers"), filepath.Join(stateDir, "storage-pools", "default", "containers")} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if e.Name() != "bad1" {
				t.Errorf("%s: unexpected leftover %s", dir, e.Name())
			}
		}
	}
	// The CLI shows the server's message on one line.
	if msg := lodgeFail(t, "launch", "busybox", "Bad_Name"); !strings.HasPrefix(msg, "Error: ") || !strings.Contains(msg, "not valid") {
		t.Fatalf("CLI error: %q", msg)
	}
}

// A launch whose image unpack fails is rolled back completely.
func TestFailedLaunchRollsBack(t *testing.T) {
	needIntegration(t)
	dir := t.TempDir()
	// A valid unified tarball whose rootfs cannot be unpacked: GNU tar refuses
	// entries that escape the target, so the unpack step fails mid-launch.
	img := filepath.Join(dir, "broken.tar")
	writeBrokenImage(t, img)
	lodge(t, "image", "import", img, "--alias", "broken")
	t.Cleanup(func() { lodgeOut("image", "delete", "broken") })
	msg := lodgeFail(t, "launch", "broken", "rb1")
	if !strings.Contains(msg, "Error:") || !strings.Contains(msg, "unpack") {
		t.Fatalf("failed launch message: %q", msg)
	}
	if code, _ := apiDo(t, "GET", "/1.0/instances/rb1", ""); code != 404 {
		t.Fatalf("instance row left after failed launch: %d", code)
	}
	for _, p := range []string{filepath.Join(stateDir, "containers", "rb1"), filepath.Join(stateDir, "storage-pools", "default", "containers", "rb1")} {
		if _, err := os.Stat(p); err == nil {
			t.Fatalf("left behind: %s", p)
		}
	}
}
