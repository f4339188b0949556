package integration

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

func TestImageCommands(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	var ims []struct {
		Fingerprint string `json:"fingerprint"`
	}
	info := lodge(t, "image", "info", "busybox")
	fp := strings.TrimSpace(strings.TrimPrefix(strings.SplitN(info, "\n", 2)[0], "Fingerprint:"))
	if len(fp) != 64 {
		t.Fatalf("image info: %q", info)
	}
	out := filepath.Join(t.TempDir(), "bb.tar.zst")
	lodge(t, "image", "export", "busybox", out)
	// Importing the same tarball again finds the existing image and adds the alias.
	if got := lodge(t, "image", "import", out, "--alias", "bb-copy"); !strings.Contains(got, fp) {
		t.Fatalf("re-import: %q", got)
	}
	if aliases := lodge(t, "image", "alias", "list"); !strings.Contains(aliases, "bb-copy") || !strings.Contains(aliases, fp[:12]) {
		t.Fatalf("alias list: %q", aliases)
	}
	if err := json.Unmarshal([]byte(lodge(t, "image", "list", "--format", "json")), &ims); err != nil || len(ims) == 0 {
		t.Fatalf("image list json: %v", err)
	}
	if got := lodge(t, "image", "info", fp[:10]); !strings.Contains(got, "bb-copy") {
		t.Fatalf("info by fingerprint prefix: %q", got)
	}
	lodge(t, "image", "alias", "delete", "bb-copy")
	if msg := lodgeFail(t, "image", "info", "bb-copy"); !strings.Contains(msg, "not found") {
		t.Fatalf("deleted alias: %q", msg)
	}
	lodge(t, "image", "alias", "create", "bb-again", fp)
	lodge(t, "image", "alias", "delete", "bb-again")
	if msg := lodgeFail(t, "image", "import", filepath.Join(t.TempDir(), "missing.tar")); !strings.Contains(msg, "no such file") {
		t.Fatalf("import of a missing file: %q", msg)
	}
}
