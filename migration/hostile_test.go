package migration

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// patchingRelay joins a sender and a receiver through two websocket
// pairs and rewrites, in every binary frame from the sender, each old
// byte string into its new one (of the same length): a hostile rsync
// sender made from a real one, whose file list says what a real tree
// cannot (names with "..", a name both a symlink and a directory).
func patchingRelay(t *testing.T, repl map[string]string) (sender, receiver *fsStream) {
	sa, sb := wsPair(t)
	ra, rb := wsPair(t)
	go func() { // sender -> receiver, patched
		for {
			mt, data, err := sb.ReadMessage()
			if err != nil {
				ra.Close()
				return
			}
			if mt == websocket.BinaryMessage {
				for o, n := range repl {
					data = bytes.ReplaceAll(data, []byte(o), []byte(n))
				}
			}
			if ra.WriteMessage(mt, data) != nil {
				return
			}
		}
	}()
	go func() { // receiver -> sender
		for {
			mt, data, err := ra.ReadMessage()
			if err != nil {
				sb.Close()
				return
			}
			if sb.WriteMessage(mt, data) != nil {
				return
			}
		}
	}()
	return newFSStream(sa), newFSStream(rb)
}

// hostileRun sends src through the patching relay into a volume four
// levels below base, next to a directory "outside".
func hostileRun(t *testing.T, src map[string]string, repl map[string]string) (base, dst string, rerr error) {
	base = t.TempDir()
	os.MkdirAll(filepath.Join(base, "outside"), 0o755)
	dst = filepath.Join(base, "pool", "containers", "c1", "vol")
	os.MkdirAll(dst, 0o700)
	for k, v := range src {
		src[k] = strings.ReplaceAll(v, "OUTSIDE", filepath.Join(base, "outside"))
	}
	sdir := t.TempDir()
	writeTree(t, sdir, src)
	snd, rcv := patchingRelay(t, repl)
	errc := make(chan error, 1)
	go func() {
		errc <- sendDir(context.Background(), "c1", sdir, snd, SendOptions{Features: []string{FeatureXattrs, FeatureDelete}})
	}()
	rerr = recvDir(context.Background(), "c1", dst, rcv, RecvOptions{Features: []string{FeatureXattrs, FeatureDelete}, Confine: true})
	<-errc
	return base, dst, rerr
}

// written lists what exists under base outside dst.
func written(base, dst string) []string {
	var out []string
	filepath.Walk(base, func(p string, fi os.FileInfo, _ error) error {
		if p == dst {
			return filepath.SkipDir
		}
		if fi != nil && !fi.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// A hostile sender's file list with ".." in a name, or with a name that
// is both a symlink out of the volume and a directory with a file in
// it, is refused, and nothing lands outside the volume.
func TestHostileRsyncNames(t *testing.T) {
	needRoot(t)
	tests := []struct {
		name string
		src  map[string]string
		repl map[string]string
		err  string
	}{
		{"dot-dot", map[string]string{"QQQQQQQQQQQQQevil": "pwned", "rootfs/ok": "ok"}, map[string]string{"QQQQQQQQQQQQQevil": "../../../../evil"}, "unsafe pathname"},
		{"absolute", map[string]string{"QQQQQQQQQQevil": "pwned"}, map[string]string{"QQQQQQQQQQevil": "/tmp/lodgeevil"}, "unsafe pathname"},
		{"through its own symlink", map[string]string{"zzzzzzzz": "->OUTSIDE", "ZZZZZZZZ/pwn": "pwned", "rootfs/ok": "ok"}, map[string]string{"ZZZZZZZZ": "zzzzzzzz"}, "invalid path"},
	}
	for _, tc := range tests {
		base, dst, err := hostileRun(t, tc.src, tc.repl)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want a refusal (%s)", tc.name, err, tc.err)
		}
		if w := written(base, dst); len(w) > 0 {
			t.Errorf("%s: written outside the volume: %v", tc.name, w)
		}
		if _, err := os.Lstat("/tmp/lodgeevil"); err == nil {
			t.Errorf("%s: /tmp/lodgeevil exists", tc.name)
		}
	}
}

// Were the receiving rsync itself fooled (a bug in rsync), the confined
// receiver can still write only into the volume: a receiver that follows
// a symlink to the outside, climbs with "..", or writes into /usr or /
// changes nothing on the host. Without the confinement the same
// receiver does write outside, which this test checks too.
func TestConfinedReceiverContainsWrites(t *testing.T) {
	needRoot(t)
	evil := `ln -s "$OUT" /dst/out; echo x > /dst/out/via-symlink || true
echo x > /dst/../../escaped || true
mkdir -p /dst/rootfs; echo ok > /dst/rootfs/ok`
	// Only confined: the host's own directories.
	evilRoot := `echo x > /usr/lodge-escaped || true; echo x > /lodge-escaped || true`
	run := func(confine bool) (base, dst string) {
		base = t.TempDir()
		out := filepath.Join(base, "outside")
		os.MkdirAll(out, 0o755)
		dst = filepath.Join(base, "a", "b", "vol")
		os.MkdirAll(dst, 0o700)
		var cmd *exec.Cmd
		if confine {
			root, _ := os.MkdirTemp("", "lodge-rsync-root-")
			defer os.Remove(root)
			cmd = confinedCommand(root, dst, false, "sh", "-c", evil+"\n"+evilRoot)
		} else {
			cmd = exec.Command("sh", "-c", strings.ReplaceAll(evil, "/dst", dst))
		}
		cmd.Env = append(os.Environ(), "OUT="+out)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("confine=%v: %v %s", confine, err, b)
		}
		return base, dst
	}
	base, dst := run(true)
	if w := written(base, dst); len(w) > 0 {
		t.Errorf("confined: written outside the volume: %v", w)
	}
	for _, p := range []string{"/usr/lodge-escaped", "/lodge-escaped"} {
		if _, err := os.Lstat(p); err == nil {
			os.Remove(p)
			t.Errorf("confined: %s written", p)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(dst, "rootfs/ok")); string(got) != "ok\n" {
		t.Errorf("confined: the volume itself was not writable (%q)", got)
	}
	base, dst = run(false)
	if w := written(base, dst); len(w) == 0 {
		t.Error("unconfined: the hostile receiver wrote nothing outside; the test proves nothing")
	}
}

// The confined sender sees the volume read-only and the host's files
// through none of its symlinks (what a running container could swap in
// mid-copy).
func TestConfinedSenderSeesOnlyTheVolume(t *testing.T) {
	needRoot(t)
	vol := t.TempDir()
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("host secret"), 0o600)
	os.MkdirAll(filepath.Join(vol, "rootfs"), 0o755)
	os.Symlink(secret, filepath.Join(vol, "rootfs/swapped"))
	root, _ := os.MkdirTemp("", "lodge-rsync-root-")
	defer os.Remove(root)
	out, _ := confinedCommand(root, vol, true, "sh", "-c", "cat /dst/rootfs/swapped; echo x > /dst/rootfs/new && echo WROTE").CombinedOutput()
	if strings.Contains(string(out), "host secret") || strings.Contains(string(out), "WROTE") {
		t.Errorf("confined sender: %s", out)
	}
	if _, err := os.Lstat(filepath.Join(vol, "rootfs/new")); err == nil {
		t.Error("the read-only volume was written")
	}
}

// A volume whose rootfs is a mount of its own (an overlay pool's view)
// is seen whole by the confined sender, and read-only all the way down.
func TestConfinedSenderSeesSubmountsReadOnly(t *testing.T) {
	needRoot(t)
	vol, tree := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(tree, "f"), []byte("in the submount"), 0o644)
	os.MkdirAll(filepath.Join(vol, "rootfs"), 0o755)
	if out, err := exec.Command("mount", "--bind", tree, filepath.Join(vol, "rootfs")).CombinedOutput(); err != nil {
		t.Fatalf("bind mount: %v %s", err, out)
	}
	defer exec.Command("umount", "-l", filepath.Join(vol, "rootfs")).Run()
	root, _ := os.MkdirTemp("", "lodge-rsync-root-")
	defer os.Remove(root)
	out, _ := confinedCommand(root, vol, true, "sh", "-c", "cat /dst/rootfs/f; echo x > /dst/rootfs/new && echo WROTE").CombinedOutput()
	if !strings.Contains(string(out), "in the submount") || strings.Contains(string(out), "WROTE") {
		t.Errorf("confined sender over a submount: %s", out)
	}
	if _, err := os.Lstat(filepath.Join(tree, "new")); err == nil {
		t.Error("the read-only submount was written")
	}
}
