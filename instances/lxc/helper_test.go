//go:build linux && cgo

package lxc

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The request helper_c.c reads: NUL-terminated fields, lists as a count
// and their items; any byte but NUL survives.
func TestExecRequestEncoding(t *testing.T) {
	r := execRequest{Argv: []string{"sh", "-c", "echo 'a b'\nexit 3"}, Env: []string{"A=1", "B=x=y z"}, Cwd: "", UID: 65534, GID: 7, TTY: true}
	got := strings.Split(strings.TrimSuffix(string(r.encode()), "\x00"), "\x00")
	want := []string{"1", "", "65534", "7", "1", "3", "sh", "-c", "echo 'a b'\nexit 3", "2", "A=1", "B=x=y z"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fields %q, want %q", got, want)
	}
}

// The post-stop hook (helper_c.c's call_hook, run by this test binary's
// own constructor): a stop reaches lodged's onstop route once, escaped; a
// reboot asks nothing; a socket nobody listens on is not an error.
func TestCallHook(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "unix.socket")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 4)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Method + " " + r.URL.EscapedPath()
		_, _ = w.Write([]byte(`{"type":"sync"}`))
	})}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	run := func(target, sock, name string) {
		t.Helper()
		cmd := exec.Command(self, "callhook", sock, name, "lxc", "post-stop")
		cmd.Env = append(os.Environ(), "LXC_TARGET="+target)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("callhook %s %s: %v: %s", target, name, err, out)
		}
	}
	run("stop", sock, "c-1")
	run("stop", sock, "odd name/x")
	run("reboot", sock, "c-2")
	run("stop", filepath.Join(t.TempDir(), "none.socket"), "c-3")
	want := []string{"POST /internal/instances/c-1/onstop", "POST /internal/instances/odd%20name%2Fx/onstop"}
	for _, w := range want {
		select {
		case g := <-got:
			if g != w {
				t.Fatalf("hook asked %q, want %q", g, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("hook never asked %q", w)
		}
	}
	select {
	case g := <-got:
		t.Fatalf("a reboot asked %q", g)
	default:
	}
}
