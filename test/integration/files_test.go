package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestFiles(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	lodge(t, "launch", "busybox", "f1")
	t.Cleanup(func() { lodgeOut("delete", "-f", "f1") })
	dir := t.TempDir()
	src := filepath.Join(dir, "hosts")
	os.WriteFile(src, []byte("10.0.0.1 a\n"), 0o640)

	lodge(t, "file", "push", src, "f1/tmp/")
	if out := lodge(t, "exec", "f1", "--", "stat", "-c", "%a %u %s", "/tmp/hosts"); out != "640 0 11\n" {
		t.Fatalf("pushed file: %q", out)
	}
	lodge(t, "file", "push", "--uid", "1000", "--gid", "1000", "--mode", "0600", "-p", src, "f1/srv/deep/dir/h")
	if out := lodge(t, "exec", "f1", "--", "stat", "-c", "%a %u %g", "/srv/deep/dir/h"); out != "600 1000 1000\n" {
		t.Fatalf("pushed with flags: %q", out)
	}
	if out := lodge(t, "file", "pull", "f1/tmp/hosts", "-"); out != "10.0.0.1 a\n" {
		t.Fatalf("pull to stdout: %q", out)
	}
	// A tree goes in and comes back out, symlinks as symlinks.
	tree := filepath.Join(dir, "site")
	os.MkdirAll(filepath.Join(tree, "css"), 0o755)
	os.WriteFile(filepath.Join(tree, "index.html"), []byte("<h1>x</h1>"), 0o644)
	os.WriteFile(filepath.Join(tree, "css", "a.css"), []byte("a{}"), 0o644)
	os.Symlink("index.html", filepath.Join(tree, "home.html"))
	lodge(t, "file", "push", "-r", tree, "f1/var/www/")
	back := filepath.Join(dir, "back")
	lodge(t, "file", "pull", "-r", "-p", "f1/var/www/site", back)
	if b, _ := os.ReadFile(filepath.Join(back, "site", "css", "a.css")); string(b) != "a{}" {
		t.Fatalf("pulled tree: %q", b)
	}
	if l, err := os.Readlink(filepath.Join(back, "site", "home.html")); err != nil || l != "index.html" {
		t.Fatalf("pulled symlink: %q %v", l, err)
	}
	lodge(t, "file", "delete", "f1/tmp/hosts")
	if msg := lodgeFail(t, "file", "pull", "f1/tmp/hosts", "-"); !strings.Contains(msg, "/tmp/hosts") || !strings.Contains(msg, "no such file") {
		t.Fatalf("pull of a deleted file: %q", msg)
	}

	// A hostile container plants symlinks out of its root; pushes through
	// them land inside the container, never on the host.
	lodge(t, "exec", "f1", "--", "sh", "-c", "ln -s /etc /tmp/evil; ln -s ../../../../../../etc /tmp/rel; mkfifo /tmp/fifo")
	hostPasswd, _ := os.ReadFile("/etc/passwd")
	lodge(t, "file", "push", src, "f1/tmp/evil/passwd")
	lodge(t, "file", "push", src, "f1/tmp/rel/shadow-test")
	if now, _ := os.ReadFile("/etc/passwd"); string(now) != string(hostPasswd) {
		t.Fatal("a push through a container symlink changed the host's /etc/passwd")
	}
	if _, err := os.Stat("/etc/shadow-test"); err == nil {
		os.Remove("/etc/shadow-test")
		t.Fatal("a push through a relative symlink landed on the host")
	}
	if out := lodge(t, "exec", "f1", "--", "cat", "/etc/passwd"); out != "10.0.0.1 a\n" {
		t.Fatalf("push through /tmp/evil should land in the container's /etc: %q", out)
	}
	// A recursive push (over SFTP, chrooted into the container) through a
	// symlink that points out of the container lands inside it.
	lodge(t, "exec", "f1", "--", "sh", "-c", "mkdir -p /srv/w "+dir+" && ln -s "+dir+" /srv/w/site")
	lodge(t, "file", "push", "-r", tree, "f1/srv/w/")
	if _, err := os.Stat(filepath.Join(dir, "index.html")); err == nil {
		t.Fatal("a recursive push followed a container symlink onto the host")
	}
	if out := lodge(t, "exec", "f1", "--", "cat", dir+"/index.html"); out != "<h1>x</h1>" {
		t.Fatalf("push through an in-container symlink: %q", out)
	}
	lodge(t, "file", "push", src, "f1/../../../tmp/dots")
	if out := lodge(t, "exec", "f1", "--", "cat", "/tmp/dots"); out != "10.0.0.1 a\n" {
		t.Fatalf("../ clamps to the container root: %q", out)
	}
	if msg := lodgeFail(t, "file", "pull", "f1/proc/self/root/etc/hostname", "-"); !strings.Contains(msg, "Error:") {
		t.Fatalf("pull through /proc/self/root: %q", msg)
	}
	done := make(chan string, 1)
	go func() { done <- lodgeFail(t, "file", "pull", "f1/tmp/fifo", "-") }()
	select {
	case msg := <-done:
		if !strings.Contains(msg, "FIFO") {
			t.Fatalf("pull of a FIFO: %q", msg)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("pull of a FIFO hangs")
	}

	// The upstream LXD client's file push and pull work against lodged.
	if lxcBin, err := exec.LookPath("lxc"); err == nil {
		env := append(os.Environ(), "LXD_DIR="+stateDir, "HOME="+t.TempDir())
		push := exec.Command(lxcBin, "file", "push", src, "f1/root/up.txt")
		push.Env = env
		if out, err := push.CombinedOutput(); err != nil {
			t.Fatalf("lxc file push: %v %s", err, out)
		}
		pull := exec.Command(lxcBin, "file", "pull", "f1/root/up.txt", filepath.Join(dir, "up.txt"))
		pull.Env = env
		if out, err := pull.CombinedOutput(); err != nil {
			t.Fatalf("lxc file pull: %v %s", err, out)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "up.txt")); string(b) != "10.0.0.1 a\n" {
			t.Fatalf("lxc round trip: %q", b)
		}
		// And trees, both ways.
		rpush := exec.Command(lxcBin, "file", "push", "-r", tree, "f1/srv/up/", "--create-dirs")
		rpush.Env = env
		if out, err := rpush.CombinedOutput(); err != nil {
			t.Fatalf("lxc file push -r: %v %s", err, out)
		}
		rback := filepath.Join(dir, "upback")
		os.Mkdir(rback, 0o755)
		rpull := exec.Command(lxcBin, "file", "pull", "-r", "f1/srv/up/site", rback)
		rpull.Env = env
		if out, err := rpull.CombinedOutput(); err != nil {
			t.Fatalf("lxc file pull -r: %v %s", err, out)
		}
		if b, _ := os.ReadFile(filepath.Join(rback, "site", "css", "a.css")); string(b) != "a{}" {
			t.Fatalf("lxc file pull -r brought back %q", b)
		}
	}

	// lodge file mount: the instance's tree through sshfs over SFTP.
	if _, err := exec.LookPath("sshfs"); err == nil {
		mnt := filepath.Join(dir, "mnt")
		os.Mkdir(mnt, 0o755)
		mount := lodgeCmd("file", "mount", "f1/var/www", mnt)
		if err := mount.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the mount", 10*time.Second, func() bool {
			b, _ := os.ReadFile(filepath.Join(mnt, "site", "css", "a.css"))
			return string(b) == "a{}"
		})
		os.WriteFile(filepath.Join(mnt, "from-mount"), []byte("m"), 0o644)
		if out := lodge(t, "exec", "f1", "--", "cat", "/var/www/from-mount"); out != "m" {
			t.Fatalf("write through the mount: %q", out)
		}
		exec.Command("fusermount3", "-u", mnt).Run()
		mdone := make(chan error, 1)
		go func() { mdone <- mount.Wait() }()
		select {
		case <-mdone:
		case <-time.After(10 * time.Second):
			mount.Process.Kill()
			t.Fatal("lodge file mount did not exit after unmount")
		}
	}

	// Files of a stopped instance are reachable too.
	lodge(t, "stop", "-f", "f1")
	if out := lodge(t, "file", "pull", "f1/tmp/dots", "-"); out != "10.0.0.1 a\n" {
		t.Fatalf("pull from a stopped instance: %q", out)
	}
}

// A pull of a 20 GiB sparse file streams: lodged's peak memory stays far
// below the file size, and the CLI writes the holes back as holes.
func TestPullSparseFileStreams(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	lodge(t, "launch", "busybox", "sp1")
	t.Cleanup(func() { lodgeOut("delete", "-f", "sp1") })
	// 20 GiB with one block of data in the middle: the pull streams all of
	// it through lodged and the CLI writes holes, not zeros.
	lodge(t, "exec", "sp1", "--", "sh", "-c", "truncate -s 20G /root/sparse && echo middle | dd of=/root/sparse bs=1M seek=10240 conv=notrunc 2>/dev/null")
	dst := filepath.Join(t.TempDir(), "sparse")
	lodge(t, "file", "pull", "sp1/root/sparse", dst)
	var st syscall.Stat_t
	if err := syscall.Stat(dst, &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != 20<<30 {
		t.Fatalf("pulled file is %d bytes, want 20 GiB", st.Size)
	}
	if st.Blocks*512 > 16<<20 {
		t.Errorf("pulled file uses %d bytes on disk: the client wrote zeros instead of holes", st.Blocks*512)
	}
	f, err := os.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	mid := make([]byte, 7)
	_, err = f.ReadAt(mid, 10<<30)
	f.Close()
	if err != nil || string(mid) != "middle\n" {
		t.Fatalf("data in the middle of the pulled file: %q %v", mid, err)
	}
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", daemon.Process.Pid))
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			var kb int
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:")), "%d", &kb)
			t.Logf("lodged peak RSS after a 20 GiB pull: %d KiB", kb)
			if kb > 256<<10 {
				t.Fatalf("lodged peak RSS %d KiB: the pull was not streamed", kb)
			}
		}
	}
}

func TestFilesBadInput(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	lodge(t, "launch", "busybox", "fb1")
	t.Cleanup(func() { lodgeOut("delete", "-f", "fb1") })
	tests := []struct {
		name, method, path string
		hdr                map[string]string
		code               int
		msg                string
	}{
		{"bad mode", "POST", "/1.0/instances/fb1/files?path=/tmp/x", map[string]string{"X-LXD-mode": "999"}, 400, "octal"},
		{"bad uid", "POST", "/1.0/instances/fb1/files?path=/tmp/x", map[string]string{"X-LXD-uid": "abc"}, 400, "not a valid id"},
		{"bad type", "POST", "/1.0/instances/fb1/files?path=/tmp/x", map[string]string{"X-LXD-type": "pipe"}, 400, "file, directory or symlink"},
		{"bad write mode", "POST", "/1.0/instances/fb1/files?path=/tmp/x", map[string]string{"X-LXD-write": "sideways"}, 400, "overwrite or append"},
		{"no path", "GET", "/1.0/instances/fb1/files", nil, 400, "path"},
		{"missing file", "GET", "/1.0/instances/fb1/files?path=/nope/x", nil, 404, "/nope/x"},
		{"file over directory", "POST", "/1.0/instances/fb1/files?path=/etc", nil, 400, "/etc is a directory"},
		{"missing instance", "GET", "/1.0/instances/nope/files?path=/etc/hosts", nil, 404, "not found"},
		{"console of a missing instance", "POST", "/1.0/instances/nope/console", nil, 404, "not found"},
		{"sftp without upgrade", "GET", "/1.0/instances/fb1/sftp", nil, 400, "Upgrade: sftp"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, "http://unix.socket"+tc.path, strings.NewReader("{}"))
			for k, v := range tc.hdr {
				req.Header.Set(k, v)
			}
			resp, err := apiClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var env envelope
			json.NewDecoder(resp.Body).Decode(&env)
			if resp.StatusCode != tc.code || !strings.Contains(env.Error, tc.msg) {
				t.Fatalf("got %d %q, want %d containing %q", resp.StatusCode, env.Error, tc.code, tc.msg)
			}
		})
	}
	if out, _ := lodgeOut("exec", "fb1", "--", "ls", "/tmp"); strings.Contains(out, "x") {
		t.Fatalf("a refused push left a file: %q", out)
	}
}

// A container that swaps directories of a recursive push for symlinks to
// /etc while the push runs reaches at most its own /etc, never the host's.
func TestRecursivePushSymlinkRace(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	lodge(t, "launch", "busybox", "race1")
	t.Cleanup(func() { lodgeOut("delete", "-f", "race1") })
	src := filepath.Join(t.TempDir(), "tree")
	for d := 0; d < 20; d++ {
		dir := filepath.Join(src, fmt.Sprintf("d%d", d))
		os.MkdirAll(dir, 0o755)
		for f := 0; f < 50; f++ {
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("lodge-race-%d-%d", d, f)), []byte("x"), 0o644)
		}
	}
	// The swapper runs until the test kills it.
	swapper := lodgeCmd("exec", "race1", "--", "sh", "-c",
		`mkdir -p /srv/r; while :; do for d in 3 7 11 15; do rm -rf /srv/r/tree/d$d; ln -sfn /etc /srv/r/tree/d$d; ln -sfn /proc/1/root/etc /srv/r/tree/d$((d+1)); done; done`)
	if err := swapper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		lodgeOut("exec", "race1", "--", "killall", "sh")
		swapper.Wait()
	}()
	for i := 0; i < 3; i++ {
		// The push may fail where the container broke its target; what
		// matters is where the writes went.
		lodgeOut("file", "push", "-r", src, "race1/srv/r/")
	}
	leaked, _ := filepath.Glob("/etc/lodge-race-*")
	if len(leaked) > 0 {
		t.Fatalf("the recursive push wrote to the host's /etc: %v", leaked)
	}
	if out := lodge(t, "exec", "race1", "--", "sh", "-c", "ls /srv/r/tree | wc -l"); strings.TrimSpace(out) == "0" {
		t.Fatalf("nothing was pushed: %q", out)
	}
	out, _ := lodgeOut("exec", "race1", "--", "sh", "-c", "ls /etc | grep -c lodge-race")
	t.Logf("files the swapper redirected into the container's own /etc: %s", strings.TrimSpace(out))
}
