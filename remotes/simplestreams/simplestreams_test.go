package simplestreams

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"lodge/remotes"
)

func rep(c string) string { return strings.Repeat(c, 64) }

func serveTestdata(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.StripPrefix("/streams/v1/", http.FileServer(http.Dir("testdata"))))
	t.Cleanup(srv.Close)
	return srv
}

func TestResolve(t *testing.T) {
	srv := serveTestdata(t)
	cases := []struct {
		arch, ref string
		want      string // fingerprint, or "" for not found
	}{
		{"x86_64", "debian/12", rep("e")},         // newest amd64 build, squashfs preferred over root.tar.xz
		{"x86_64", "debian/12/default", rep("e")}, // long form
		{"x86_64", "debian/bookworm", rep("e")},
		{"x86_64", "debian/12/amd64", rep("e")}, // medium alias: entry/arch
		{"x86_64", "debian/12/arm64", rep("5")}, // another architecture by name
		{"x86_64", "debian/12/cloud", rep("8")},
		{"x86_64", "alpine/3.19", rep("a")[:63] + "b"}, // unified (lxd_combined.tar.gz)
		{"x86_64", "alpine/edge/amd64", rep("a")[:63] + "b"},
		{"x86_64", "cccc", rep("c")},       // older build, root.tar.xz variant, by fingerprint prefix
		{"x86_64", "2222", rep("2")},       // other arch by fingerprint
		{"x86_64", "ffff", rep("f")},       // root.tar.xz of the newest build
		{"x86_64", "debian/11", ""},        // no such alias
		{"x86_64", "dddd", ""},             // a metadata file's sha256 is not a fingerprint
		{"aarch64", "debian/12", rep("5")}, // short aliases follow the host architecture
		{"aarch64", "debian/bookworm", ""}, // only the amd64 product has that alias
		{"aarch64", "alpine/3.19", ""},
		{"aarch64", "alpine/3.19/amd64", rep("a")[:63] + "b"},
	}
	for _, c := range cases {
		s := New(srv.URL, Options{Arch: c.arch})
		im, err := s.Resolve(context.Background(), c.ref)
		if c.want == "" {
			if !errors.Is(err, remotes.ErrNotFound) {
				t.Errorf("%s on %s: got %v, %v; want not found", c.ref, c.arch, im.Fingerprint, err)
			} else if !strings.Contains(err.Error(), srv.URL) || !strings.Contains(err.Error(), c.ref) {
				t.Errorf("%s: error does not name the remote and the image: %v", c.ref, err)
			}
			continue
		}
		if err != nil || im.Fingerprint != c.want {
			t.Errorf("%s on %s: got %q, %v; want %s", c.ref, c.arch, im.Fingerprint, err, c.want[:8])
		}
	}
}

func TestImageShape(t *testing.T) {
	srv := serveTestdata(t)
	s := New(srv.URL, Options{Arch: "x86_64"})
	ims, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// 2 debian amd64 builds × 2 rootfs types, 2 arm64 builds (3 images), 1 cloud, 1 alpine; the unparsable version is skipped.
	if len(ims) != 9 {
		t.Fatalf("got %d images, want 9", len(ims))
	}
	im, err := s.Resolve(context.Background(), "debian/12")
	if err != nil {
		t.Fatal(err)
	}
	if !im.Split() || im.Files[0].Role != "metadata" || im.Files[1].FType != "squashfs" || im.Files[0].Path != "images/def/lxd.tar.xz" {
		t.Errorf("files: %+v", im.Files)
	}
	if im.Size() != 1100 || im.Architecture != "x86_64" || im.Properties["os"] != "Debian" || im.Properties["serial"] != "20240102_05:24" {
		t.Errorf("image: %+v", im)
	}
	if im.CreatedAt != time.Date(2024, 1, 2, 5, 24, 0, 0, time.UTC) {
		t.Errorf("created: %v", im.CreatedAt)
	}
	// lxd.tar.xz and incus.tar.xz describe the same file: one image, not two.
	n := 0
	for _, x := range ims {
		if x.Fingerprint == im.Fingerprint {
			n++
		}
	}
	if n != 1 {
		t.Errorf("image listed %d times", n)
	}
}

func TestUnreachable(t *testing.T) {
	// A port nobody listens on: fails at once, naming the remote and URL.
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	s := New(url, Options{})
	start := time.Now()
	_, err := s.Resolve(context.Background(), "debian/12")
	if !errors.Is(err, remotes.ErrUnreachable) || !strings.Contains(err.Error(), url+"/streams/v1/index.json") {
		t.Fatalf("got %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("took %s", time.Since(start))
	}
	// A server that accepts but never answers: the header timeout.
	block := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	t.Cleanup(func() { close(block); hang.Close() })
	s = New(hang.URL, Options{HTTP: remotes.HTTPOptions{HeaderTimeout: 200 * time.Millisecond}})
	if _, err := s.List(context.Background()); !errors.Is(err, remotes.ErrUnreachable) || !strings.Contains(err.Error(), hang.URL) {
		t.Fatalf("hanging server: %v", err)
	}
	// Not simplestreams at all.
	junk := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) }))
	t.Cleanup(junk.Close)
	if _, err := New(junk.URL, Options{}).List(context.Background()); err == nil || !strings.Contains(err.Error(), "not simplestreams") {
		t.Fatalf("junk: %v", err)
	}
}

func TestParseVersion(t *testing.T) {
	for v, ok := range map[string]bool{"20240102_05:24": true, "20240102": true, "20240102.1": true, "202401020524": true, "garbage": false, "": false} {
		if _, got := parseVersion(v); got != ok {
			t.Errorf("%q: %v", v, got)
		}
	}
}

func TestUbuntuAliases(t *testing.T) {
	p := Products{Products: map[string]Product{"com.ubuntu.cloud:server:18.04:amd64": {
		Aliases: "18.04,b,bionic,ubuntu/bionic", Arch: "amd64", OS: "ubuntu", Release: "bionic",
		Versions: map[string]Version{"20230607": {Items: map[string]Item{
			"lxd.tar.xz": {FType: "lxd.tar.xz", Path: "m", SHA256: rep("1"), CombinedSquashfsSHA256: rep("9")},
			"squashfs":   {FType: "squashfs", Path: "r", SHA256: rep("2")},
		}}},
	}}}
	_, aliases := Build([]Products{p}, "x86_64", "https://cloud-images.ubuntu.com/releases")
	for _, a := range []string{"18.04", "b", "bionic", "18.04/amd64"} {
		if _, ok := aliases[a]; !ok {
			t.Errorf("alias %q missing (have %v)", a, aliases)
		}
	}
	if _, ok := aliases["ubuntu/bionic"]; ok {
		t.Error("ubuntu/ prefix not stripped for cloud-images.ubuntu.com")
	}
}
