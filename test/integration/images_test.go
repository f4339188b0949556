package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lodge/builder"
	"lodge/remotes"
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

// TestImportPublicThenStreams: lodge image import --public (with
// properties) makes an image that image streams publishes; image edit and
// set-property change what it holds, and a private image is left out.
func TestImportPublicThenStreams(t *testing.T) {
	needIntegration(t)
	tarball, err := builder.Build(context.Background(), "busybox", builder.Options{})
	if err != nil {
		t.Fatal(err)
	}
	variant := recompressed(t, tarball)
	out := lodge(t, "image", "import", variant, "--alias", "ps-pub", "--public", "os=PubTest", "release=7")
	t.Cleanup(func() { lodgeOut("image", "delete", "ps-pub") })
	fp := strings.TrimSpace(out[strings.LastIndex(out, " ")+1:])
	show := lodge(t, "image", "show", "ps-pub")
	for _, want := range []string{"public: true", "os: PubTest", "release: \"7\"", "fingerprint: " + fp} {
		if !strings.Contains(show, want) {
			t.Fatalf("image show lacks %q:\n%s", want, show)
		}
	}
	streams := func() string {
		t.Helper()
		dir := t.TempDir()
		lodge(t, "image", "streams", dir)
		b, err := os.ReadFile(filepath.Join(dir, "streams", "v1", "images.json"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if idx := streams(); !strings.Contains(idx, "ps-pub") || !strings.Contains(idx, "pubtest") {
		t.Fatalf("streams index lacks the public image:\n%.2000s", idx)
	}
	lodge(t, "image", "set-property", "ps-pub", "description", "a test image")
	if out := lodge(t, "image", "get-property", "ps-pub", "description"); out != "a test image\n" {
		t.Fatalf("get-property: %q", out)
	}
	// image edit from stdin: made private, it leaves the published tree.
	edit := lodgeCmd("image", "edit", "ps-pub")
	edit.Stdin = strings.NewReader("auto_update: false\npublic: false\nproperties:\n  os: PubTest\n  release: \"7\"\n")
	if out, err := edit.CombinedOutput(); err != nil {
		t.Fatalf("image edit: %v %s", err, out)
	}
	if show := lodge(t, "image", "show", "ps-pub"); !strings.Contains(show, "public: false") || strings.Contains(show, "a test image") {
		t.Fatalf("after edit:\n%s", show)
	}
	if idx := streams(); strings.Contains(idx, "ps-pub") {
		t.Fatal("a private image is in the streams index")
	}
	if msg := lodgeFail(t, "image", "unset-property", "ps-pub", "nosuch"); !strings.Contains(msg, "no property") {
		t.Fatalf("unset of a missing property: %s", msg)
	}
}

// TestQueryMonitorVersion: lodge query, monitor and version, as lxc's.
func TestQueryMonitorVersion(t *testing.T) {
	needIntegration(t)
	if out := lodge(t, "query", "/1.0"); !strings.Contains(out, `"api_version": "1.0"`) {
		t.Fatalf("query /1.0:\n%s", out)
	}
	if msg := lodgeFail(t, "query", "/1.0/instances/nosuch"); !strings.Contains(msg, "not found") || !strings.Contains(msg, "404") {
		t.Fatalf("query of a missing instance: %s", msg)
	}
	if out := lodge(t, "version"); !strings.Contains(out, "Client version: ") || strings.Contains(out, "unreachable") {
		t.Fatalf("version:\n%s", out)
	}
	mon := lodgeCmd("monitor", "--type", "lifecycle")
	buf := &syncBuffer{}
	mon.Stdout = buf
	if err := mon.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { mon.Process.Kill(); mon.Wait() }()
	time.Sleep(300 * time.Millisecond) // the websocket is up before the event
	lodge(t, "profile", "create", "qm-prof")
	lodge(t, "profile", "delete", "qm-prof")
	waitFor(t, "the profile events in lodge monitor", 10*time.Second, func() bool {
		return strings.Contains(buf.String(), "profile-created") && strings.Contains(buf.String(), "qm-prof")
	})
}

// TestStreamsSplit: image streams --split publishes a unified image as
// image servers do (lxd.tar.xz + squashfs, combined_squashfs_sha256 on the
// metadata item), and lodge reads that tree back as a split image whose
// fingerprint is the combined hash.
func TestStreamsSplit(t *testing.T) {
	needIntegration(t)
	tarball, err := builder.Build(context.Background(), "busybox", builder.Options{})
	if err != nil {
		t.Fatal(err)
	}
	lodge(t, "image", "import", recompressed(t, tarball), "--alias", "ss-unified", "--public", "os=SplitTest", "release=1")
	t.Cleanup(func() { lodgeOut("image", "delete", "ss-unified") })
	dir := t.TempDir()
	lodge(t, "image", "streams", "--split", dir)
	b, err := os.ReadFile(filepath.Join(dir, "streams", "v1", "images.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx struct {
		Products map[string]struct {
			Versions map[string]struct {
				Items map[string]struct {
					FType    string `json:"ftype"`
					Path     string `json:"path"`
					SHA256   string `json:"sha256"`
					Combined string `json:"combined_squashfs_sha256"`
				} `json:"items"`
			} `json:"versions"`
		} `json:"products"`
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	prod, ok := idx.Products["splittest:1:"+remotes.DebianArchitecture(remotes.HostArchitecture())+":default"]
	if !ok {
		t.Fatalf("no splittest product:\n%.3000s", b)
	}
	var combined string
	for _, v := range prod.Versions {
		meta, sq := v.Items["lxd.tar.xz"], v.Items["squashfs"]
		if _, unified := v.Items["lxd_combined.tar.gz"]; unified || meta.Path == "" || sq.Path == "" {
			t.Fatalf("items: %+v", v.Items)
		}
		h := sha256.New()
		for _, p := range []string{meta.Path, sq.Path} {
			f, err := os.Open(filepath.Join(dir, p))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(h, f)
			f.Close()
		}
		combined = hex.EncodeToString(h.Sum(nil))
		if meta.Combined != combined {
			t.Fatalf("combined_squashfs_sha256 %s, files hash to %s", meta.Combined, combined)
		}
	}
	static := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer static.Close()
	lodge(t, "remote", "add", "ss-static", static.URL, "--protocol", "simplestreams")
	t.Cleanup(func() { lodgeOut("remote", "remove", "ss-static") })
	lodge(t, "image", "copy", "ss-static:ss-unified", "local:", "--alias", "ss-split")
	t.Cleanup(func() { lodgeOut("image", "delete", "ss-split") })
	if out := lodge(t, "image", "info", "ss-split"); !strings.Contains(out, "Fingerprint: "+combined) {
		t.Fatalf("copied split image:\n%s", out)
	}
}
