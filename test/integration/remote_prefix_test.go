package integration

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"lodge/builder"
)

// TestRemotePrefixActsOnNamedServer: every command that takes
// [REMOTE:]NAME changes the server it names and leaves this host's twin
// alone. Two lodgeds, A (this host's, the default remote) and B (added as
// hostb over HTTPS), hold an instance, an image and more of the same names;
// each command runs against hostb: and both sides are checked afterwards.
func TestRemotePrefixActsOnNamedServer(t *testing.T) {
	needIntegration(t)
	tarball, err := builder.Build(context.Background(), "busybox", builder.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir2, run2 := secondDaemon(t)
	onB := func(args ...string) string {
		t.Helper()
		out, err := run2(args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	t.Setenv("LODGE_CONF", t.TempDir())

	// Twins: image rp-bb and a running instance rpc1 on both servers.
	lodge(t, "image", "import", tarball, "--alias", "rp-bb")
	t.Cleanup(func() { lodgeOut("image", "delete", "rp-bb") })
	onB("image", "import", tarball, "--alias", "rp-bb")
	lodge(t, "launch", "rp-bb", "rpc1")
	t.Cleanup(func() { lodgeOut("delete", "-f", "rpc1") })
	onB("launch", "rp-bb", "rpc1")

	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	onB("config", "set", "core.https_address", addr)
	tok := strings.TrimSpace(onB("config", "trust", "add", "rpclient"))
	tok = tok[strings.LastIndex(tok, "\n")+1:]
	lodge(t, "remote", "add", "hostb", tok)

	// What each side holds, read without a prefix on its own socket.
	status := func(onA bool, name string) string {
		t.Helper()
		var out string
		if onA {
			out = lodge(t, "list", "--format", "csv", "-c", "ns")
		} else {
			out = onB("list", "--format", "csv", "-c", "ns")
		}
		for _, l := range strings.Split(out, "\n") {
			if n, st, ok := strings.Cut(l, ","); ok && n == name {
				return st
			}
		}
		return "ABSENT"
	}
	both := func(name, wantA, wantB string) {
		t.Helper()
		if a, b := status(true, name), status(false, name); a != wantA || b != wantB {
			t.Fatalf("%s: A %s, B %s; want A %s, B %s", name, a, b, wantA, wantB)
		}
	}
	hasA := func(substr string, args ...string) bool {
		t.Helper()
		out, _ := lodgeOut(args...)
		return strings.Contains(out, substr)
	}
	hasB := func(substr string, args ...string) bool {
		t.Helper()
		out, _ := run2(args...)
		return strings.Contains(out, substr)
	}
	only := func(what, substr string, args ...string) {
		t.Helper()
		if a, b := hasA(substr, args...), hasB(substr, args...); a || !b {
			t.Fatalf("%s: %q on A %v, on B %v; want only on B (%s)", what, substr, a, b, strings.Join(args, " "))
		}
	}
	both("rpc1", "RUNNING", "RUNNING")

	// Instance state.
	lodge(t, "stop", "hostb:rpc1", "--force")
	both("rpc1", "RUNNING", "STOPPED")
	lodge(t, "stop", "rpc1", "--force")
	lodge(t, "start", "hostb:rpc1")
	both("rpc1", "STOPPED", "RUNNING")
	lodge(t, "start", "rpc1")
	lodge(t, "pause", "hostb:rpc1")
	both("rpc1", "RUNNING", "FROZEN")
	lodge(t, "resume", "hostb:rpc1")
	both("rpc1", "RUNNING", "RUNNING")
	pidA := lodge(t, "list", "--format", "csv", "-c", "np")
	lodge(t, "restart", "hostb:rpc1", "--force")
	if pidA != lodge(t, "list", "--format", "csv", "-c", "np") {
		t.Fatal("restart hostb:rpc1 restarted A's rpc1")
	}
	both("rpc1", "RUNNING", "RUNNING")

	// Config and devices.
	lodge(t, "config", "set", "hostb:rpc1", "user.side=b")
	only("config set", "user.side: b", "config", "show", "rpc1")
	if out := lodge(t, "config", "get", "hostb:rpc1", "user.side"); out != "b\n" {
		t.Fatalf("config get hostb: %q", out)
	}
	lodge(t, "config", "unset", "hostb:rpc1", "user.side")
	if hasB("user.side", "config", "show", "rpc1") {
		t.Fatal("config unset hostb: left the key on B")
	}
	share := t.TempDir()
	lodge(t, "config", "device", "add", "hostb:rpc1", "rpshare", "disk", "source="+share, "path=/mnt/rp")
	only("device add", "rpshare", "config", "device", "list", "rpc1")
	lodge(t, "config", "device", "remove", "hostb:rpc1", "rpshare")
	if hasB("rpshare", "config", "device", "list", "rpc1") {
		t.Fatal("device remove hostb: left the device on B")
	}
	lodge(t, "config", "set", "hostb:", "images.auto_update_interval", "7")
	if a, b := strings.TrimSpace(lodge(t, "config", "get", "images.auto_update_interval")), strings.TrimSpace(onB("config", "get", "images.auto_update_interval")); a == "7" || b != "7" {
		t.Fatalf("server config set hostb:: A %q, B %q", a, b)
	}
	only("trust list", "rpclient", "config", "trust", "list")
	if out := lodge(t, "config", "trust", "list", "hostb:"); !strings.Contains(out, "rpclient") {
		t.Fatalf("config trust list hostb::\n%s", out)
	}

	// Files, exec, console.
	src := filepath.Join(t.TempDir(), "rpfile")
	os.WriteFile(src, []byte("for B\n"), 0o644)
	lodge(t, "file", "push", src, "hostb:rpc1/tmp/")
	only("file push", "for B", "exec", "rpc1", "--", "cat", "/tmp/rpfile")
	if out := lodge(t, "file", "pull", "hostb:rpc1/tmp/rpfile", "-"); out != "for B\n" {
		t.Fatalf("file pull hostb: %q", out)
	}
	lodge(t, "file", "delete", "hostb:rpc1/tmp/rpfile")
	if hasB("for B", "exec", "rpc1", "--", "cat", "/tmp/rpfile") {
		t.Fatal("file delete hostb: left the file on B")
	}
	lodge(t, "exec", "hostb:rpc1", "--", "touch", "/tmp/rpexec")
	only("exec", "rpexec", "exec", "rpc1", "--", "ls", "/tmp")
	if out := lodge(t, "info", "hostb:rpc1"); !strings.Contains(out, "Name: rpc1") {
		t.Fatalf("info hostb::\n%s", out)
	}
	lodge(t, "console", "hostb:rpc1", "--show-log")

	// Snapshots.
	lodge(t, "snapshot", "hostb:rpc1", "rps1")
	only("snapshot", "rps1", "info", "rpc1")
	lodge(t, "rename", "hostb:rpc1/rps1", "hostb:rpc1/rps2")
	only("snapshot rename", "rps2", "info", "rpc1")
	lodge(t, "restore", "hostb:rpc1", "rps2")
	lodge(t, "delete", "hostb:rpc1/rps2")
	if hasB("rps2", "info", "rpc1") {
		t.Fatal("delete hostb:rpc1/rps2 left the snapshot")
	}

	// Profiles.
	lodge(t, "profile", "create", "hostb:rpprof")
	lodge(t, "profile", "set", "hostb:rpprof", "user.p=1")
	only("profile create", "rpprof", "profile", "list")
	lodge(t, "profile", "copy", "hostb:rpprof", "hostb:rpprof2")
	only("profile copy", "rpprof2", "profile", "list")
	if out := lodge(t, "profile", "list", "hostb:"); !strings.Contains(out, "rpprof2") {
		t.Fatalf("profile list hostb::\n%s", out)
	}
	lodge(t, "profile", "delete", "hostb:rpprof")
	lodge(t, "profile", "delete", "hostb:rpprof2")
	if hasB("rpprof", "profile", "list") {
		t.Fatal("profile delete hostb: left the profile on B")
	}

	// Images.
	fpB := strings.Fields(strings.SplitN(onB("image", "info", "rp-bb"), "\n", 2)[0])[1]
	lodge(t, "image", "alias", "create", "hostb:rp-al", fpB)
	only("alias create", "rp-al", "image", "alias", "list")
	if out := lodge(t, "image", "alias", "list", "hostb:"); !strings.Contains(out, "rp-al") {
		t.Fatalf("alias list hostb::\n%s", out)
	}
	lodge(t, "image", "alias", "delete", "hostb:rp-al")
	lodge(t, "image", "set-property", "hostb:rp-bb", "rp.side", "b")
	only("image set-property", "rp.side: b", "image", "show", "rp-bb")
	if out := lodge(t, "image", "get-property", "hostb:rp-bb", "rp.side"); out != "b\n" {
		t.Fatalf("image get-property hostb: %q", out)
	}
	lodge(t, "image", "import", recompressed(t, tarball), "hostb:", "--alias", "rp-imp", "--public", "rp.note=imported")
	only("image import hostb:", "rp-imp", "image", "alias", "list")
	if out := onB("image", "show", "rp-imp"); !strings.Contains(out, "public: true") || !strings.Contains(out, "rp.note: imported") {
		t.Fatalf("imported image on B:\n%s", out)
	}
	// This host's image to B, through the client.
	lodge(t, "image", "alias", "create", "rp-mine", strings.Fields(strings.SplitN(lodge(t, "image", "info", "rp-bb"), "\n", 2)[0])[1])
	t.Cleanup(func() { lodgeOut("image", "alias", "delete", "rp-mine") })
	lodge(t, "image", "copy", "local:rp-mine", "hostb:", "--alias", "rp-copied")
	only("image copy local: hostb:", "rp-copied", "image", "alias", "list")
	exported := filepath.Join(t.TempDir(), "rp.tar")
	lodge(t, "image", "export", "hostb:rp-copied", exported)
	if fi, err := os.Stat(exported); err != nil || fi.Size() == 0 {
		t.Fatalf("image export hostb:: %v", err)
	}

	// Instances made, copied, renamed, moved, published and deleted on B.
	lodge(t, "launch", "rp-bb", "hostb:rpc2")
	both("rpc2", "ABSENT", "RUNNING")
	lodge(t, "stop", "hostb:rpc2", "--force")
	lodge(t, "copy", "hostb:rpc2", "hostb:rpc3")
	both("rpc3", "ABSENT", "STOPPED")
	// Between servers, a migration: B's rpc2 lands on A alone.
	lodge(t, "copy", "hostb:rpc2", "rpc3")
	both("rpc3", "STOPPED", "STOPPED")
	lodge(t, "delete", "local:rpc3")
	both("rpc3", "ABSENT", "STOPPED")
	lodge(t, "rename", "hostb:rpc3", "hostb:rpc4")
	both("rpc4", "ABSENT", "STOPPED")
	lodge(t, "move", "hostb:rpc4", "hostb:rpc5")
	both("rpc5", "ABSENT", "STOPPED")
	lodge(t, "publish", "hostb:rpc5", "--alias", "rp-pub")
	only("publish hostb:", "rp-pub", "image", "alias", "list")
	lodge(t, "publish", "hostb:rpc5", "local:", "--alias", "rp-pub-here")
	t.Cleanup(func() { lodgeOut("image", "delete", "rp-pub-here") })
	if !hasA("rp-pub-here", "image", "alias", "list") || hasB("rp-pub-here", "image", "alias", "list") {
		t.Fatal("publish hostb:rpc5 local: did not land on A alone")
	}
	lodge(t, "delete", "hostb:rpc5", "hostb:rpc2", "--force")
	both("rpc5", "ABSENT", "ABSENT")
	both("rpc2", "ABSENT", "ABSENT")

	// Pools and volumes.
	lodge(t, "storage", "create", "hostb:rppool", "dir")
	only("storage create", "rppool", "storage", "list")
	if out := lodge(t, "storage", "list", "hostb:"); !strings.Contains(out, "rppool") {
		t.Fatalf("storage list hostb::\n%s", out)
	}
	lodge(t, "storage", "volume", "create", "hostb:rppool", "rpvol")
	only("volume create", "rpvol", "storage", "volume", "list", "rppool")
	lodge(t, "storage", "volume", "delete", "hostb:rppool", "rpvol")
	lodge(t, "storage", "delete", "hostb:rppool")
	if hasB("rppool", "storage", "list") {
		t.Fatal("storage delete hostb: left the pool on B")
	}

	// Networks (a real bridge on this host, owned by B).
	netName := fmt.Sprintf("rpn%d", os.Getpid()%100000)
	lodge(t, "network", "create", "hostb:"+netName)
	t.Cleanup(func() { run2("network", "delete", netName) })
	only("network create", netName, "network", "list")
	if out := lodge(t, "network", "show", "hostb:"+netName); !strings.Contains(out, "ipv4.address") {
		t.Fatalf("network show hostb::\n%s", out)
	}
	lodge(t, "network", "delete", "hostb:"+netName)
	if hasB(netName, "network", "list") {
		t.Fatal("network delete hostb: left the network on B")
	}

	// Operations: B's are listed and shown through hostb:, and A does not know them.
	ops := lodge(t, "operation", "list", "hostb:", "--format", "csv")
	id := strings.SplitN(strings.SplitN(ops, "\n", 2)[0], ",", 2)[0]
	if id == "" {
		t.Fatalf("operation list hostb::\n%s", ops)
	}
	lodge(t, "operation", "show", "hostb:"+id)
	lodgeFail(t, "operation", "show", id)

	// The original data loss: deleting B's instance and image.
	lodge(t, "delete", "hostb:rpc1", "--force")
	both("rpc1", "RUNNING", "ABSENT")
	lodge(t, "image", "delete", "hostb:rp-bb")
	if !hasA("rp-bb", "image", "list") || hasB("rp-bb", "image", "list") {
		t.Fatal("image delete hostb:rp-bb did not act on B alone")
	}

	// A prefix that names no remote, or an image server, changes nothing anywhere.
	if msg := lodgeFail(t, "delete", "nosuch:rpc1", "--force"); !strings.Contains(msg, `remote "nosuch" does not exist`) {
		t.Fatalf("unknown remote: %s", msg)
	}
	if msg := lodgeFail(t, "delete", "images:rpc1", "--force"); !strings.Contains(msg, "image server") {
		t.Fatalf("image server: %s", msg)
	}
	both("rpc1", "RUNNING", "ABSENT")
	_ = dir2
}

// recompressed writes the image tarball again at another zstd level: the
// same image under another fingerprint.
func recompressed(t *testing.T, tarball string) string {
	t.Helper()
	in, err := os.Open(tarball)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	dec, err := zstd.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	out := filepath.Join(t.TempDir(), "variant.tar.zst")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := zstd.NewWriter(f, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if _, err := io.Copy(enc, dec); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}
