package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lodge/api"
	"lodge/remotes/remotestest"
)

// run runs the CLI in-process with its config in dir.
func runCLI(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	t.Setenv("LODGE_CONF", dir)
	root := rootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestRemoteCommands(t *testing.T) {
	dir := t.TempDir()
	fx := remotestest.Build(t, t.TempDir(), "")
	srv := remotestest.Serve(t, fx)

	out, err := runCLI(t, dir, "remote", "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"local (current)", "https://images.linuxcontainers.org", "https://cloud-images.ubuntu.com/releases", "ubuntu-daily", "simplestreams"} {
		if !strings.Contains(out, want) {
			t.Errorf("remote list lacks %q:\n%s", want, out)
		}
	}
	if _, err := runCLI(t, dir, "remote", "add", "streams", srv.URL, "--protocol", "simplestreams", "--public"); err != nil {
		t.Fatal(err)
	}
	out, _ = runCLI(t, dir, "remote", "list")
	if !strings.Contains(out, srv.URL+" *") || !strings.Contains(out, "index is unauthenticated") {
		t.Errorf("plain http remote not flagged:\n%s", out)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "config.yml"))
	if !strings.Contains(string(b), "streams:") || !strings.Contains(string(b), "protocol: simplestreams") {
		t.Errorf("config.yml:\n%s", b)
	}
	// Errors: duplicate, unreachable (naming the URL), static remotes, unknown.
	if _, err := runCLI(t, dir, "remote", "add", "streams", srv.URL, "--protocol", "simplestreams"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("duplicate: %v", err)
	}
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	if _, err := runCLI(t, dir, "remote", "add", "dead", dead.URL, "--protocol", "simplestreams"); err == nil || !strings.Contains(err.Error(), dead.URL) {
		t.Errorf("unreachable: %v", err)
	}
	if _, err := runCLI(t, dir, "remote", "remove", "ubuntu"); err == nil || !strings.Contains(err.Error(), "built in") {
		t.Errorf("static remove: %v", err)
	}
	if _, err := runCLI(t, dir, "remote", "switch", "streams"); err == nil {
		t.Error("switch to an image server accepted")
	}
	// image list / info against the simplestreams remote (read on the client side).
	out, err = runCLI(t, dir, "image", "list", "streams:")
	if err != nil || !strings.Contains(out, fx.NewestSquashfs[:12]) || !strings.Contains(out, fx.Other[:12]) {
		t.Fatalf("image list: %v\n%s", err, out)
	}
	out, err = runCLI(t, dir, "image", "list", "streams:", "architecture="+fx.OtherArch)
	if err != nil || strings.Contains(out, fx.NewestSquashfs[:12]) || !strings.Contains(out, fx.Other[:12]) {
		t.Fatalf("image list filtered: %v\n%s", err, out)
	}
	out, err = runCLI(t, dir, "image", "info", "streams:busybox")
	if err != nil || !strings.Contains(out, "Fingerprint: "+fx.NewestSquashfs) || !strings.Contains(out, "rootfs: images/") {
		t.Fatalf("image info: %v\n%s", err, out)
	}
	if _, err := runCLI(t, dir, "image", "info", "nope:busybox"); err == nil || !strings.Contains(err.Error(), `remote "nope" does not exist`) {
		t.Errorf("unknown remote: %v", err)
	}
	// rename, set-url, remove.
	if _, err := runCLI(t, dir, "remote", "rename", "streams", "mirror"); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, dir, "remote", "set-url", "mirror", srv.URL+"/"); err != nil {
		t.Fatal(err)
	}
	out, _ = runCLI(t, dir, "remote", "get-default")
	if strings.TrimSpace(out) != "local" {
		t.Errorf("get-default: %q", out)
	}
	if _, err := runCLI(t, dir, "remote", "remove", "mirror"); err != nil {
		t.Fatal(err)
	}
	out, _ = runCLI(t, dir, "remote", "list", "--format", "csv")
	if strings.Contains(out, "mirror,") || strings.Contains(out, "streams,http") {
		t.Errorf("after remove:\n%s", out)
	}
}

func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	p := &progress{w: &buf, desc: "Retrieving image"}
	for _, done := range []string{"0", "5000000", "10000000"} {
		p.update(api.Operation{Metadata: map[string]any{"progress": map[string]any{"stage": "download", "processed": done, "total": "10000000", "percent": "50"}}})
	}
	p.finish()
	out := buf.String()
	for _, want := range []string{"Retrieving image", "100%", "10 MB", "B/s"} {
		if !strings.Contains(out, want) {
			t.Errorf("bar lacks %q: %q", want, out)
		}
	}
}
