package integration

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"lodge/builder"
)

// TestBenchMigrate (LODGE_BENCH=1) measures the copy of a stopped
// instance holding 1 GiB of random data between two lodgeds on this host
// (pull and push), next to plain rsync -a of the same tree (the floor)
// and to Debian's lxc copying the same from Debian's LXD 5.0.2 into
// lodged. Medians of 3.
func TestBenchMigrate(t *testing.T) {
	needIntegration(t)
	if os.Getenv("LODGE_BENCH") != "1" {
		t.Skip("set LODGE_BENCH=1")
	}
	tarball, err := builder.Build(context.Background(), "busybox", builder.Options{})
	if err != nil {
		t.Fatal(err)
	}
	work, err := os.MkdirTemp("", "lodge-it-mgbench-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	tree := filepath.Join(work, "tree")
	os.MkdirAll(tree, 0o755)
	if out, err := exec.Command("tar", "-xf", tarball, "-C", tree, "--numeric-owner").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	big := filepath.Join(tree, "rootfs", "root", "big")
	os.MkdirAll(filepath.Dir(big), 0o700)
	f, _ := os.Create(big)
	if _, err := io.CopyN(f, rand.Reader, 1<<30); err != nil {
		t.Fatal(err)
	}
	f.Close()

	median := func(n int, f func(i int) time.Duration) time.Duration {
		var d []time.Duration
		for i := 0; i < n; i++ {
			d = append(d, f(i))
		}
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[n/2]
	}
	timed := func(f func()) time.Duration {
		start := time.Now()
		f()
		return time.Since(start)
	}

	floor := median(3, func(i int) time.Duration {
		dst := filepath.Join(work, fmt.Sprintf("rsync%d", i))
		defer os.RemoveAll(dst)
		exec.Command("sync").Run()
		return timed(func() {
			if out, err := exec.Command("rsync", "-a", "--numeric-ids", tree+"/", dst+"/").CombinedOutput(); err != nil {
				t.Fatalf("rsync: %v %s", err, out)
			}
			exec.Command("sync", "-f", dst).Run()
		})
	})

	p := newMigratePair(t)
	a, b := p.a, p.b
	a.must("image", "import", tarball, "--alias", "mgb-bb")
	a.must("init", "mgb-bb", "mgb1")
	a.must("file", "push", big, "mgb1/root/big")
	copyOnce := func(mode string) func(i int) time.Duration {
		return func(i int) time.Duration {
			name := fmt.Sprintf("mgb-%s%d", mode, i)
			d := timed(func() {
				a.must("copy", "mgb1", "hostb:"+name, "--mode", mode)
				exec.Command("sync", "-f", b.dir).Run()
			})
			b.must("delete", name)
			return d
		}
	}
	pull := median(3, copyOnce("pull"))
	push := median(3, copyOnce("push"))

	lxc := realLXD(t, fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	tok := strings.TrimSpace(b.must("config", "trust", "add", "mgblxc"))
	lxc("remote", "add", "mgblodge", tok[strings.LastIndex(tok, "\n")+1:])
	lxc("image", "import", tarball, "--alias", "mgb-bb")
	lxc("init", "mgb-bb", "mgb1", "-s", "default")
	lxc("file", "push", big, "mgb1/root/big")
	fromLXD := median(3, func(i int) time.Duration {
		name := fmt.Sprintf("mgb-lxd%d", i)
		d := timed(func() {
			lxc("copy", "local:mgb1", "mgblodge:"+name)
			exec.Command("sync", "-f", b.dir).Run()
		})
		b.must("delete", name)
		return d
	})
	ms := func(d time.Duration) string { return d.Round(10 * time.Millisecond).String() }
	t.Logf("1 GiB of random data in a stopped busybox instance, medians of 3, page cache warm:")
	t.Logf("  rsync -a of the same tree on this host (floor) %8s", ms(floor))
	t.Logf("  lodge copy A -> B, pull                       %8s = %.2fx the floor", ms(pull), float64(pull)/float64(floor))
	t.Logf("  lodge copy A -> B, push                       %8s = %.2fx the floor", ms(push), float64(push)/float64(floor))
	t.Logf("  lxc copy LXD 5.0.2 -> lodged (pull)           %8s = %.2fx the floor", ms(fromLXD), float64(fromLXD)/float64(floor))
}
