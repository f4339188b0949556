package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"lodge/builder"
	"lodge/remotes/remotestest"
)

// secondDaemon starts another lodged on its own state directory, with no
// default network (a second bridge would outlive the test); lodge commands
// run against it with the returned run. Whatever the test leaves on it goes
// with it, failed or not.
func secondDaemon(t *testing.T) (dir string, run func(args ...string) (string, error)) {
	t.Helper()
	// Not under t.TempDir(): its 0700 parent would keep unprivileged
	// containers' root from walking down to their rootfs.
	dir, err := os.MkdirTemp("", "lodge-it-rm2-")
	if err != nil {
		t.Fatal(err)
	}
	l := startLodged(t, dir, "none")
	t.Cleanup(l.teardown)
	return dir, l.run
}

// unixAPI sends one request to a lodged's socket.
func unixAPI(t *testing.T, dir, method, path string, body any) int {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", filepath.Join(dir, "unix.socket"))
	}}}
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, "http://unix.socket"+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestImagesBetweenLodgeds: a second lodged serves its images over HTTPS
// as an LXD-protocol remote; trust by join token; public images for
// untrusted clients; the first lodged launches and copies from it.
func TestImagesBetweenLodgeds(t *testing.T) {
	needIntegration(t)
	tarball, err := builder.Build(context.Background(), "busybox", builder.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fx := remotestest.Build(t, t.TempDir(), tarball)
	ss := remotestest.Serve(t, fx)
	dir2, run2 := secondDaemon(t)
	must := func(out string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	conf2 := t.TempDir()
	t.Setenv("LODGE_CONF", conf2)
	// The second lodged gets a public split image (through simplestreams) and a private unified one.
	lodge(t, "remote", "add", "rmss", ss.URL, "--protocol", "simplestreams")
	must(run2("image", "copy", "rmss:busybox", "local:", "--alias", "rm-split", "--public"))
	must(run2("image", "import", tarball, "--alias", "rm-private"))
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	must(run2("config", "set", "core.https_address", addr))
	if _, err := os.Stat(filepath.Join(dir2, "server.crt")); err != nil {
		t.Fatalf("server certificate: %v", err)
	}
	out := must(run2("config", "trust", "add", "rmclient"))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	token := lines[len(lines)-1]

	// Untrusted, public only.
	lodge(t, "remote", "add", "rmpub", "https://"+addr, "--accept-certificate", "--public")
	if out := lodge(t, "image", "list", "rmpub:"); !strings.Contains(out, "rm-split") || strings.Contains(out, "rm-private") {
		t.Fatalf("public list:\n%s", out)
	}
	// Trusted by token (LXD's `remote add NAME TOKEN` form: the token names the address and pins the certificate).
	if out := lodge(t, "remote", "add", "rmsecond", token); !strings.Contains(out, "now trusted") {
		t.Fatalf("remote add with token: %s", out)
	}
	if out := lodge(t, "image", "list", "rmsecond:"); !strings.Contains(out, "rm-private") {
		t.Fatalf("trusted list:\n%s", out)
	}
	// The CLI drives the second lodged over HTTPS: named, then as the default remote.
	must(run2("launch", "rm-split", "rm-sec1"))
	t.Cleanup(func() { run2("delete", "-f", "rm-sec1") })
	if out := lodge(t, "exec", "rmsecond:rm-sec1", "--", "echo", "over-https"); out != "over-https\n" {
		t.Fatalf("exec over HTTPS: %q", out)
	}
	lodge(t, "remote", "switch", "rmsecond")
	if out := lodge(t, "image", "info", "rm-private"); !strings.Contains(out, "Fingerprint:") {
		t.Fatalf("image info on the default remote:\n%s", out)
	}
	if out := lodge(t, "list", "--format", "csv", "-c", "ns"); !strings.Contains(out, "rm-sec1,RUNNING") {
		t.Fatalf("list on the default remote: %q", out)
	}
	lodge(t, "remote", "switch", "local")
	// The token is spent: another client cannot use it.
	t.Setenv("LODGE_CONF", t.TempDir())
	if msg := lodgeFail(t, "remote", "add", "rmthird", "https://"+addr, "--accept-certificate", "--token", token); !strings.Contains(msg, "not valid") {
		t.Fatalf("token reuse: %s", msg)
	}
	t.Setenv("LODGE_CONF", conf2)

	// Debian's lxc (LXD 5.0.2) joins with a token, lists, and launches
	// into the first lodged from the second: the first pulls the public
	// split image over HTTPS (multipart export).
	if lxcBin, err := exec.LookPath("lxc"); err == nil {
		lxcConf := t.TempDir()
		lxc := func(args ...string) string {
			t.Helper()
			cmd := exec.Command(lxcBin, args...)
			cmd.Env = append(os.Environ(), "LXD_DIR="+stateDir, "LXD_CONF="+lxcConf, "HOME="+lxcConf)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("lxc %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
			}
			return stdout.String()
		}
		out := must(run2("config", "trust", "add", "rmlxc"))
		lxc("remote", "add", "rmlxd", strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:]))
		if out := lxc("image", "list", "rmlxd:"); !strings.Contains(out, "rm-split") || !strings.Contains(out, "rm-private") {
			t.Fatalf("lxc image list:\n%s", out)
		}
		lxc("launch", "rmlxd:rm-split", "rm-lxc1")
		t.Cleanup(func() { lodgeOut("delete", "-f", "rm-lxc1") })
		// A private image: lxc asks the second lodged for a secret and passes it on.
		lxc("launch", "rmlxd:rm-private", "rm-lxc2")
		t.Cleanup(func() { lodgeOut("delete", "-f", "rm-lxc2") })
		if out := lxc("list", "--format", "csv", "-c", "ns"); !strings.Contains(out, "rm-lxc1,RUNNING") || !strings.Contains(out, "rm-lxc2,RUNNING") {
			t.Fatalf("lxc list: %q", out)
		}
	}
	lodge(t, "launch", "rmpub:rm-split", "rm-lx1")
	t.Cleanup(func() { lodgeOut("delete", "-f", "rm-lx1") })
	if out := lodge(t, "exec", "rm-lx1", "--", "cat", "/etc/lodge-build"); !strings.HasPrefix(out, "20240102_00:00") {
		t.Fatalf("launched image: %q", out)
	}
	// A private image: the trusted client gets a one-time secret from the
	// second lodged and hands it to the first, which is not trusted there.
	lodge(t, "image", "copy", "rmsecond:rm-private", "local:", "--alias", "rm-priv")
	if out := lodge(t, "image", "info", "rm-priv"); !strings.Contains(out, "Fingerprint:") {
		t.Fatalf("copied private image:\n%s", out)
	}
	// Trusting the first daemon's own certificate there (added as a PEM over the unix socket).
	pemBytes, err := os.ReadFile(filepath.Join(stateDir, "server.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if code := unixAPI(t, dir2, "POST", "/1.0/certificates", map[string]any{"name": "rmfirst", "type": "client", "certificate": string(pemBytes)}); code != 200 {
		t.Fatalf("trust the first daemon: %d", code)
	}
	// Revoking the client: it is refused again.
	if out := must(run2("config", "trust", "list")); !strings.Contains(out, "rmclient") || !strings.Contains(out, "rmfirst") {
		t.Fatalf("trust list:\n%s", out)
	}
	must(run2("config", "trust", "remove", "rmclient"))
	if msg := lodgeFail(t, "image", "info", "rmsecond:rm-private"); !strings.Contains(msg, "not found") {
		t.Fatalf("revoked client still sees the private image: %s", msg)
	}
	if msg := lodgeFail(t, "list", "rmsecond:"); !strings.Contains(msg, "not trusted") {
		t.Fatalf("revoked client lists instances: %s", msg)
	}
	lodge(t, "image", "delete", "rm-priv")

	// The second lodged's public images as a static simplestreams tree, served by a plain file server.
	out = must(run2("image", "streams", filepath.Join(dir2, "streams-out")))
	if !strings.Contains(out, "Wrote 1 image") {
		t.Fatalf("image streams: %s", out)
	}
	static := httptest.NewServer(http.FileServer(http.Dir(filepath.Join(dir2, "streams-out"))))
	defer static.Close()
	lodge(t, "remote", "add", "rmstatic", static.URL, "--protocol", "simplestreams")
	splitFP := strings.Fields(strings.SplitN(lodge(t, "image", "info", "rmpub:rm-split"), "\n", 2)[0])[1]
	if out := lodge(t, "image", "info", "rmstatic:rm-split"); !strings.Contains(out, "Fingerprint: "+splitFP) || !strings.Contains(out, "squashfs") {
		t.Fatalf("streams tree:\n%s", out)
	}
}
