package integration

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// Issue 15 end to end: Debian's cloud-init 22.4 in lodge's cloud image,
// in unprivileged containers, provisions what user-data and
// network-config say, from the NoCloud seed the image's templates write
// (security.devlxd=false) and from the guest API (/dev/lxd, cloud-init's
// LXD datasource); copies and renames give it a new instance.

const cloudAlias = "debian/12/cloud"

// cloudImage builds (or reuses from the build cache) the cloud variant.
func cloudImage(t *testing.T) {
	t.Helper()
	if _, err := lodgeOut("image", "info", cloudAlias); err == nil {
		return
	}
	start := time.Now()
	lodge(t, "image", "build", "debian", "--release", "bookworm", "--variant", "cloud", "--alias", cloudAlias)
	t.Logf("cloud image built (or taken from the build cache) and imported in %v", time.Since(start))
}

// devlxdImage is the cloud image without its four NoCloud seed templates
// (hostname and hosts stay): cloud-init picks NoCloud whenever a seed is
// there, so an image that should read the guest API must not write one,
// as current Ubuntu images do not.
func devlxdImage(t *testing.T) string {
	t.Helper()
	const alias = "debian/12/cloud-devlxd"
	if _, err := lodgeOut("image", "info", alias); err == nil {
		return alias
	}
	cloudImage(t)
	start := time.Now()
	code, env := apiDo(t, "GET", "/1.0/images/aliases/"+url.PathEscape(cloudAlias), "")
	if code != 200 {
		t.Fatalf("alias %s: %d %s", cloudAlias, code, env.Error)
	}
	var a struct{ Target string }
	json.Unmarshal(env.Metadata, &a)
	// Debian's zstd both ways (Go's encoder under -race takes minutes);
	// the tar stream in between is rewritten here.
	dec := exec.Command("zstd", "-dcq", filepath.Join(stateDir, "images", a.Target))
	zr, err := dec.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	outPath := filepath.Join(t.TempDir(), "cloud-devlxd.tar.zst")
	enc := exec.Command("zstd", "-1", "-T0", "-q", "-o", outPath)
	zw, err := enc.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*exec.Cmd{dec, enc} {
		c.Stderr = os.Stderr
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if c.ProcessState == nil {
				c.Process.Kill()
				c.Wait()
			}
		}()
	}
	tr, tw := tar.NewReader(zr), tar.NewWriter(zw)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimPrefix(hdr.Name, "./") != "metadata.yaml" {
			if err := tw.WriteHeader(hdr); err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(tw, tr); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, _ := io.ReadAll(tr)
		var md map[string]any
		if err := yaml.Unmarshal(b, &md); err != nil {
			t.Fatal(err)
		}
		tpls, _ := md["templates"].(map[string]any)
		for target := range tpls {
			if strings.HasPrefix(target, "/var/lib/cloud/seed/") {
				delete(tpls, target)
			}
		}
		if len(tpls) != 2 {
			t.Fatalf("the cloud image's templates: %v", tpls)
		}
		if b, err = yaml.Marshal(md); err != nil {
			t.Fatal(err)
		}
		hdr.Size = int64(len(b))
		tw.WriteHeader(hdr)
		tw.Write(b)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, zr) // the archive's end padding
	if err := dec.Wait(); err != nil {
		t.Fatalf("zstd -d: %v", err)
	}
	if err := enc.Wait(); err != nil {
		t.Fatalf("zstd: %v", err)
	}
	lodge(t, "image", "import", outPath, "--alias", alias)
	t.Logf("the cloud image without its seed templates, repacked and imported in %v", time.Since(start))
	return alias
}

// sshKey makes a key pair for the provisioned user.
func sshKey(t *testing.T) (private, public string) {
	t.Helper()
	private = filepath.Join(t.TempDir(), "key")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lodge-test", "-f", private).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	pub, err := os.ReadFile(private + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return private, strings.TrimSpace(string(pub))
}

// userData creates alice with the key, writes a file and runs a command
// (appending, so a second run of cloud-init shows). No packages:
// containers reach nothing outside this machine.
func userData(pub string) string {
	return `#cloud-config
users:
  - name: alice
    shell: /bin/bash
    ssh_authorized_keys:
      - ` + pub + `
write_files:
  - path: /etc/lodge-cloud-test
    content: "written by cloud-init\n"
runcmd:
  - [sh, -c, "echo ran >> /root/runcmd.log"]
`
}

// cloudDone waits for cloud-init to finish in name and fails unless it
// says done.
func cloudDone(t *testing.T, name string) {
	t.Helper()
	start := time.Now()
	defer func() {
		t.Logf("%s: cloud-init done %v after the start returned", name, time.Since(start).Round(time.Millisecond))
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "lodge"), "exec", name, "--", "timeout", "200", "cloud-init", "status", "--wait", "--long")
	cmd.Env = append(os.Environ(), "LODGE_DIR="+stateDir)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "status: done") {
		log, _ := lodgeOut("exec", name, "--", "sh", "-c", "tail -n 40 /var/log/cloud-init.log; grep -i -E 'warn|error' /var/log/cloud-init-output.log | tail")
		t.Fatalf("cloud-init in %s: %v\n%s\n%s", name, err, out, log)
	}
}

func guestOut(t *testing.T, name string, args ...string) string {
	t.Helper()
	return strings.TrimSpace(lodge(t, append([]string{"exec", name, "--"}, args...)...))
}

// sshAs logs in to addr as user with key, with Debian's ssh client.
func sshAs(t *testing.T, key, user, addr string, cmd ...string) string {
	t.Helper()
	args := []string{"-i", key, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
		"-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", user + "@" + addr}
	var out []byte
	var err error
	// sshd may still be coming up (host keys are made at first boot).
	for i := 0; i < 20; i++ {
		if out, err = exec.Command("ssh", append(args, cmd...)...).CombinedOutput(); err == nil {
			return strings.TrimSpace(string(out))
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("ssh %s@%s: %v %s", user, addr, err, out)
	return ""
}

// checkProvisioned checks what userData asked for, and runs of runcmd.
func checkProvisioned(t *testing.T, name string, runs int) {
	t.Helper()
	if got := guestOut(t, name, "id", "-un", "alice"); got != "alice" {
		t.Errorf("%s: user alice: %q", name, got)
	}
	if got := guestOut(t, name, "cat", "/etc/lodge-cloud-test"); got != "written by cloud-init" {
		t.Errorf("%s: write_files: %q", name, got)
	}
	if got := guestOut(t, name, "cat", "/root/runcmd.log"); got != strings.TrimSpace(strings.Repeat("ran\n", runs)) {
		t.Errorf("%s: runcmd ran %q, want %d runs", name, got, runs)
	}
}

func cloudInstanceID(t *testing.T, name string) string {
	t.Helper()
	return guestOut(t, name, "cat", "/var/lib/cloud/data/instance-id")
}

// bridgeSubnet is the test network's IPv4 address, as a.b.c.1, the prefix
// a.b.c and the network's prefix length.
func bridgeSubnet(t *testing.T) (gw, prefix string, bits int) {
	t.Helper()
	out := lodge(t, "network", "get", defaultNet, "ipv4.address")
	ip, n, err := net.ParseCIDR(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("network %s ipv4.address %q: %v", defaultNet, out, err)
	}
	bits, _ = n.Mask.Size()
	v := ip.To4()
	// The static address below is a.b.c.251: inside any /24 or wider
	// network whose gateway is a.b.c.1 (the default network is a /22).
	if bits > 24 || !n.Contains(net.IPv4(v[0], v[1], v[2], 251)) {
		t.Fatalf("the test network %s has no room for a static a.b.c.251", out)
	}
	return ip.String(), fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2]), bits
}

// The NoCloud path: the guest API off, the image's templates write the
// seed from cloud-init.user-data and cloud-init.network-config. alice logs
// in over the bridge at the static address; a copy is a new instance to
// cloud-init; a rename boots with the new hostname.
func TestCloudInitNoCloud(t *testing.T) {
	needIntegration(t)
	cloudImage(t)
	key, pub := sshKey(t)
	gw, prefix, bits := bridgeSubnet(t)
	addr := prefix + ".251"
	netcfg := "version: 2\nethernets:\n  eth0:\n    addresses: [" + addr + "/" + strconv.Itoa(bits) + "]\n    gateway4: " + gw + "\n"
	for _, n := range []string{"ci-a", "ci-b", "ci-c"} {
		t.Cleanup(func() { lodgeOut("delete", "-f", n) })
	}
	lodge(t, "launch", cloudAlias, "ci-a", "-c", "security.devlxd=false",
		"-c", "cloud-init.user-data="+userData(pub), "-c", "cloud-init.network-config="+netcfg)
	cloudDone(t, "ci-a")
	if got := guestOut(t, "ci-a", "cloud-init", "query", "platform"); got != "nocloud" {
		t.Errorf("datasource: %q, want nocloud", got)
	}
	if out, err := lodgeOut("exec", "ci-a", "--", "test", "-e", "/dev/lxd"); err == nil {
		t.Errorf("/dev/lxd with security.devlxd=false: %s", out)
	}
	checkProvisioned(t, "ci-a", 1)
	if out, err := exec.Command("ping", "-c", "1", "-W", "2", addr).CombinedOutput(); err != nil {
		t.Fatalf("ping the static address %s from the host: %v %s", addr, err, out)
	}
	if got := sshAs(t, key, "alice", addr, "id", "-un"); got != "alice" {
		t.Errorf("ssh as alice: %q", got)
	}
	idA := cloudInstanceID(t, "ci-a")
	if idA != "ci-a" {
		t.Errorf("NoCloud instance-id: %q (the seed's is the name)", idA)
	}

	// A copy (the source stopped: same static address) runs cloud-init
	// again under a new instance-id.
	lodge(t, "stop", "ci-a")
	lodge(t, "copy", "ci-a", "ci-b")
	lodge(t, "start", "ci-b")
	cloudDone(t, "ci-b")
	if id := cloudInstanceID(t, "ci-b"); id != "ci-b" {
		t.Errorf("copy's instance-id: %q", id)
	}
	if got := guestOut(t, "ci-b", "ls", "/var/lib/cloud/instances"); strings.Join(strings.Fields(got), " ") != "ci-a ci-b" {
		t.Errorf("/var/lib/cloud/instances in the copy: %q", got)
	}
	checkProvisioned(t, "ci-b", 2)

	// A rename: the hostname template renders the new name.
	lodge(t, "stop", "ci-b")
	lodge(t, "rename", "ci-b", "ci-c")
	lodge(t, "start", "ci-c")
	cloudDone(t, "ci-c")
	if got := guestOut(t, "ci-c", "cat", "/etc/hostname"); got != "ci-c" {
		t.Errorf("/etc/hostname after the rename: %q", got)
	}
	if got := guestOut(t, "ci-c", "hostname"); got != "ci-c" {
		t.Errorf("hostname after the rename: %q", got)
	}
}

// devlxdPy asks the guest API from inside an instance: METHOD PATH [BODY];
// prints the status, then the body.
const devlxdPy = `
import http.client, socket, sys
class C(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect("/dev/lxd/sock")
c = C("lxd")
c.request(sys.argv[1], sys.argv[2], body=sys.argv[3] if len(sys.argv) > 3 else None)
r = c.getresponse()
print(r.status)
sys.stdout.write(r.read().decode())
`

// guestAPI runs devlxdPy in name (as user, if not "").
func guestAPI(t *testing.T, name, user string, args ...string) (status, body string) {
	t.Helper()
	cmd := []string{"exec", name, "--"}
	if user != "" {
		cmd = append(cmd, "runuser", "-u", user, "--")
	}
	out := lodge(t, append(append(cmd, "python3", "-c", devlxdPy), args...)...)
	status, body, _ = strings.Cut(out, "\n")
	return status, body
}

// The guest API path: an image without a NoCloud seed, cloud-init's LXD
// datasource reads cloud-init.user-data from /dev/lxd/sock; alice logs in
// over the bridge. The API answers the instance's root only, never
// another instance's keys; config events reach the guest; the ready state
// is recorded. A copy and a rename are new instance-ids to cloud-init.
func TestCloudInitGuestAPI(t *testing.T) {
	needIntegration(t)
	img := devlxdImage(t)
	key, pub := sshKey(t)
	for _, n := range []string{"ga-a", "ga-b", "ga-c"} {
		t.Cleanup(func() { lodgeOut("delete", "-f", n) })
	}
	lodge(t, "launch", img, "ga-a", "-c", "cloud-init.user-data="+userData(pub), "-c", "user.role=web")
	cloudDone(t, "ga-a")
	if got := guestOut(t, "ga-a", "cloud-init", "query", "platform"); got != "lxd" {
		t.Fatalf("datasource: %q, want lxd", got)
	}
	want := strings.TrimSpace(lodge(t, "config", "get", "ga-a", "volatile.cloud-init.instance-id"))
	if id := cloudInstanceID(t, "ga-a"); id != want || want == "" {
		t.Errorf("instance-id in the guest %q, volatile.cloud-init.instance-id %q", id, want)
	}
	checkProvisioned(t, "ga-a", 1)
	l := waitLease(t, defaultNet, "ga-a")
	if got := sshAs(t, key, "alice", l.Address, "id", "-un"); got != "alice" {
		t.Errorf("ssh as alice: %q", got)
	}

	// Root reads its keys; alice is refused.
	if st, body := guestAPI(t, "ga-a", "", "GET", "/1.0/config/user.role"); st != "200" || body != "web" {
		t.Errorf("root reads user.role: %s %q", st, body)
	}
	if st, body := guestAPI(t, "ga-a", "alice", "GET", "/1.0/config/user.role"); st != "401" || strings.Contains(body, "web") {
		t.Errorf("alice reads user.role: %s %q", st, body)
	}
	if st, body := guestAPI(t, "ga-a", "", "GET", "/1.0/config/volatile.cloud-init.instance-id"); st != "403" {
		t.Errorf("a volatile key: %s %q", st, body)
	}
	if st, _ := guestAPI(t, "ga-a", "", "GET", "/1.0/images/0000000000000000000000000000000000000000000000000000000000000000/export"); st != "403" {
		t.Errorf("image export without security.devlxd.images: %s", st)
	}
	// A host process (in no instance) gets nothing from the socket.
	sock := filepath.Join(stateDir, "devlxd", "ga-a", "sock")
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	if r, err := hc.Get("http://lxd/1.0/config/user.role"); err != nil {
		t.Errorf("host connect to %s: %v", sock, err)
	} else {
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode == 200 || strings.Contains(string(b), "web") {
			t.Errorf("a host process read %d %q", r.StatusCode, b)
		}
	}

	// Ready state.
	if st, _ := guestAPI(t, "ga-a", "", "PATCH", "/1.0", `{"state":"Ready"}`); st != "200" {
		t.Errorf("PATCH /1.0: %s", st)
	}
	if got := strings.TrimSpace(lodge(t, "config", "get", "ga-a", "volatile.last_state.ready")); got != "true" {
		t.Errorf("volatile.last_state.ready: %q", got)
	}
	if _, body := guestAPI(t, "ga-a", "", "GET", "/1.0"); !strings.Contains(body, `"state":"Ready"`) {
		t.Errorf("GET /1.0: %s", body)
	}

	// A config event reaches the guest listening on /1.0/events.
	ev := exec.Command(filepath.Join(binDir, "lodge"), "exec", "ga-a", "--", "python3", "-c", strings.Replace(devlxdPy, "sys.stdout.write(r.read().decode())",
		"sys.stdout.flush()\nprint(r.fp.readline().decode().strip(), flush=True)", 1), "GET", "/1.0/events?type=config")
	ev.Env = append(os.Environ(), "LODGE_DIR="+stateDir)
	pipe, _ := ev.StdoutPipe()
	if err := ev.Start(); err != nil {
		t.Fatal(err)
	}
	defer ev.Process.Kill()
	lines := bufio.NewScanner(pipe)
	if !lines.Scan() || lines.Text() != "200" {
		t.Fatalf("events: %q", lines.Text())
	}
	lodge(t, "config", "set", "ga-a", "user.role", "api")
	got := make(chan string, 1)
	go func() {
		lines.Scan()
		got <- lines.Text()
	}()
	select {
	case line := <-got:
		var e struct {
			Type     string
			Metadata struct{ Key, OldValue, Value string } `json:"metadata"`
		}
		json.Unmarshal([]byte(line), &e)
		if e.Type != "config" || e.Metadata.Key != "user.role" || e.Metadata.Value != "api" {
			t.Errorf("event: %q", line)
		}
	case <-time.After(20 * time.Second):
		t.Error("no config event in the guest")
	}
	ev.Process.Kill()
	ev.Wait()

	// A copy with its own key: a new instance-id, cloud-init again, and
	// each instance reads only its own keys.
	lodge(t, "copy", "ga-a", "ga-b")
	lodge(t, "config", "set", "ga-b", "user.role", "db")
	idB := strings.TrimSpace(lodge(t, "config", "get", "ga-b", "volatile.cloud-init.instance-id"))
	if idB == "" || idB == want {
		t.Errorf("copy's volatile.cloud-init.instance-id %q (source %q)", idB, want)
	}
	lodge(t, "start", "ga-b")
	cloudDone(t, "ga-b")
	if id := cloudInstanceID(t, "ga-b"); id != idB {
		t.Errorf("copy's instance-id in the guest %q, want %q", id, idB)
	}
	checkProvisioned(t, "ga-b", 2)
	if _, body := guestAPI(t, "ga-b", "", "GET", "/1.0/config/user.role"); body != "db" {
		t.Errorf("the copy reads user.role %q", body)
	}
	if _, body := guestAPI(t, "ga-a", "", "GET", "/1.0/config/user.role"); body != "api" {
		t.Errorf("the source reads user.role %q", body)
	}

	// A rename: a new instance-id and the new hostname.
	lodge(t, "stop", "ga-b")
	lodge(t, "rename", "ga-b", "ga-c")
	idC := strings.TrimSpace(lodge(t, "config", "get", "ga-c", "volatile.cloud-init.instance-id"))
	if idC == idB {
		t.Error("rename kept the instance-id")
	}
	if _, err := os.Stat(filepath.Join(stateDir, "devlxd", "ga-b")); err == nil {
		t.Error("the old name's guest API directory stays")
	}
	lodge(t, "start", "ga-c")
	cloudDone(t, "ga-c")
	if id := cloudInstanceID(t, "ga-c"); id != idC {
		t.Errorf("renamed instance-id in the guest %q, want %q", id, idC)
	}
	for _, c := range [][]string{{"cat", "/etc/hostname"}, {"hostname"}} {
		if got := guestOut(t, "ga-c", c...); got != "ga-c" {
			t.Errorf("%v after the rename: %q", c, got)
		}
	}
	checkProvisioned(t, "ga-c", 3)
}

// A hostile image: template targets with .., a target that is a symlink
// to a host file and one below a symlink to a host directory. The
// instance starts, each file lands inside its rootfs, nothing outside is
// written.
func TestHostileImageTemplates(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	host := t.TempDir()
	victim := filepath.Join(host, "victim")
	os.WriteFile(victim, []byte("host file\n"), 0o644)
	hostDir := filepath.Join(host, "hostdir")
	os.Mkdir(hostDir, 0o755)

	code, env := apiDo(t, "GET", "/1.0/images/aliases/busybox", "")
	if code != 200 {
		t.Fatalf("alias busybox: %d %s", code, env.Error)
	}
	var a struct{ Target string }
	json.Unmarshal(env.Metadata, &a)
	work := t.TempDir()
	if out, err := exec.Command("tar", "-xf", filepath.Join(stateDir, "images", a.Target), "-C", work, "--numeric-owner").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	root := filepath.Join(work, "rootfs")
	os.Remove(filepath.Join(root, "etc/hostname"))
	os.Symlink(victim, filepath.Join(root, "etc/hostname"))
	os.MkdirAll(filepath.Join(root, "var/lib"), 0o755)
	os.Symlink(hostDir, filepath.Join(root, "var/lib/cloud"))
	os.MkdirAll(filepath.Join(root, hostDir), 0o755) // its twin inside, where the kernel resolves it
	meta, _ := os.ReadFile(filepath.Join(work, "metadata.yaml"))
	var md map[string]any
	yaml.Unmarshal(meta, &md)
	rule := map[string]any{"when": []string{"create"}, "template": "t.tpl"}
	md["templates"] = map[string]any{
		"/etc/hostname": rule,
		strings.Repeat("../", 12) + "etc/lodge-hostile-x":              rule,
		"../../" + filepath.Base(host) + "/escaped":                    rule,
		"/var/lib/cloud/seed/nocloud-net/user-data":                    rule,
		"/../../../../../../" + strings.TrimPrefix(host, "/") + "/abs": rule,
	}
	meta, _ = yaml.Marshal(md)
	os.WriteFile(filepath.Join(work, "metadata.yaml"), meta, 0o644)
	os.MkdirAll(filepath.Join(work, "templates"), 0o755)
	os.WriteFile(filepath.Join(work, "templates", "t.tpl"), []byte("{{ container.name }}\n"), 0o644)
	tarball := filepath.Join(t.TempDir(), "hostile.tar")
	if out, err := exec.Command("tar", "-cf", tarball, "-C", work, "--numeric-owner", "metadata.yaml", "templates", "rootfs").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	lodge(t, "image", "import", tarball, "--alias", "hostile")
	t.Cleanup(func() { lodgeOut("image", "delete", "hostile") })
	t.Cleanup(func() { lodgeOut("delete", "-f", "hostile1") })
	lodge(t, "launch", "hostile", "hostile1")

	if b, _ := os.ReadFile(victim); string(b) != "host file\n" {
		t.Errorf("the host file behind /etc/hostname was written: %q", b)
	}
	if ents, _ := os.ReadDir(hostDir); len(ents) != 0 {
		t.Errorf("the host directory behind /var/lib/cloud was written: %v", ents)
	}
	for _, p := range []string{"/etc/lodge-hostile-x", filepath.Join(host, "escaped"), filepath.Join(host, "abs"),
		filepath.Join(filepath.Dir(stateDir), "lodge-hostile-x")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s was written on the host", p)
		}
	}
	for _, p := range []string{"/etc/hostname", "/etc/lodge-hostile-x", "/" + filepath.Base(host) + "/escaped",
		hostDir + "/seed/nocloud-net/user-data", host + "/abs"} {
		if got := guestOut(t, "hostile1", "cat", p); got != "hostile1" {
			t.Errorf("%s inside the instance: %q", p, got)
		}
	}
}
