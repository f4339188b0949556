package integration

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
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
	"lodge/remotes"
	"lodge/remotes/remotestest"
	"lodge/remotes/simplestreams"
)

// TestBenchRemoteDownload (LODGE_BENCH=1) measures the download and import
// of a 200 MiB split image from a loopback simplestreams server next to
// curl -o /dev/null of the same file in the same run, and a launch from
// the uncached image split into its phases (from lodged's log).
func TestBenchRemoteDownload(t *testing.T) {
	needIntegration(t)
	if os.Getenv("LODGE_BENCH") != "1" {
		t.Skip("set LODGE_BENCH=1")
	}
	tarball, err := builder.Build(context.Background(), "busybox", builder.Options{})
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	run := func(name string, args ...string) {
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v %s", name, args, err, out)
		}
	}
	run("tar", "-xf", tarball, "-C", work, "--numeric-owner")
	f, _ := os.Create(filepath.Join(work, "rootfs", "payload"))
	io.CopyN(f, rand.Reader, 200<<20)
	f.Close()
	run("tar", "-cJf", filepath.Join(work, "meta.tar.xz"), "-C", work, "metadata.yaml")
	run("mksquashfs", filepath.Join(work, "rootfs"), filepath.Join(work, "root.squashfs"), "-noappend", "-quiet", "-no-progress", "-noI", "-noD", "-noF", "-noX")
	tree := simplestreams.NewTree(filepath.Join(work, "tree"))
	arch := remotes.DebianArchitecture(remotes.HostArchitecture())
	fp, err := tree.AddSplit(simplestreams.ProductInfo{OS: "big", Release: "1", Variant: "default", Arch: arch, Aliases: []string{"big"}},
		"20240101_00:00", filepath.Join(work, "meta.tar.xz"), filepath.Join(work, "root.squashfs"), "squashfs")
	if err != nil {
		t.Fatal(err)
	}
	if err := tree.Write(); err != nil {
		t.Fatal(err)
	}
	srv := remotestest.Serve(t, &remotestest.Fixture{Dir: tree.Dir})
	rootURL := srv.URL + "/" + tree.Items(simplestreams.ProductInfo{OS: "big", Release: "1", Variant: "default", Arch: arch}, "20240101_00:00")["squashfs"].Path
	fi, _ := os.Stat(filepath.Join(work, "root.squashfs"))
	size := float64(fi.Size())
	t.Setenv("LODGE_CONF", t.TempDir())
	lodge(t, "remote", "add", "rmbench", srv.URL, "--protocol", "simplestreams")

	median := func(d []time.Duration) time.Duration {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[len(d)/2]
	}
	var curlT, curlHashT, lodgeT, daemonT []time.Duration
	for i := 0; i < 3; i++ {
		start := time.Now()
		run("curl", "-sS", "-o", "/dev/null", rootURL)
		curlT = append(curlT, time.Since(start))
		start = time.Now()
		run("sh", "-c", fmt.Sprintf("curl -sS %s | tee %s | sha256sum >/dev/null && sync -d %s", rootURL, filepath.Join(work, "curl.out"), filepath.Join(work, "curl.out")))
		curlHashT = append(curlHashT, time.Since(start))
		start = time.Now()
		lodge(t, "image", "copy", "rmbench:big", "local:")
		lodgeT = append(lodgeT, time.Since(start))
		daemonT = append(daemonT, lastTook(t, fp, "image downloaded"))
		lodge(t, "image", "delete", fp)
	}
	c, ch, l, d := median(curlT), median(curlHashT), median(lodgeT), median(daemonT)
	mbps := func(d time.Duration) float64 { return size / d.Seconds() / 1e6 }
	t.Logf("%.0f MB split image (squashfs): curl -o /dev/null %s (%.0f MB/s); curl | tee file | sha256sum + fsync %s (%.0f MB/s)",
		size/1e6, c.Round(time.Millisecond), mbps(c), ch.Round(time.Millisecond), mbps(ch))
	t.Logf("lodged download (stream, SHA-256, write, fsync, db) %s (%.0f MB/s): %.2fx curl to /dev/null, %.2fx curl+sha256sum+fsync; whole `lodge image copy` %s",
		d.Round(time.Millisecond), mbps(d), c.Seconds()/d.Seconds(), ch.Seconds()/d.Seconds(), l.Round(time.Millisecond))

	// Launch from the uncached remote image; phases from lodged's log.
	start := time.Now()
	lodge(t, "launch", "rmbench:big", "rm-bench1")
	total := time.Since(start)
	t.Cleanup(func() { lodgeOut("delete", "-f", "rm-bench1"); lodgeOut("image", "delete", fp) })
	phases := map[string]string{}
	lf, _ := os.Open(filepath.Join(stateDir, "lodged.log"))
	defer lf.Close()
	sc := bufio.NewScanner(lf)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil || m["fingerprint"] != fp {
			continue
		}
		switch m["msg"] {
		case "image downloaded":
			phases["download+verify"] = fmt.Sprint(m["took"])
		case "image unpacked into pool":
			phases["unpack"] = fmt.Sprint(m["took"])
		}
	}
	t.Logf("launch from the uncached remote image: %s in all; download+verify (hashed while streaming) %s, unpack (unsquashfs) %s; the rest is clone + start",
		total.Round(time.Millisecond), durStr(phases["download+verify"]), durStr(phases["unpack"]))
}

// lastTook reads the last "took" lodged logged for msg and fingerprint fp.
func lastTook(t *testing.T, fp, msg string) time.Duration {
	lf, err := os.Open(filepath.Join(stateDir, "lodged.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	var took time.Duration
	sc := bufio.NewScanner(lf)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["fingerprint"] == fp && m["msg"] == msg {
			if n, ok := m["took"].(float64); ok {
				took = time.Duration(n)
			}
		}
	}
	return took
}

func durStr(ns string) string {
	var n float64
	if _, err := fmt.Sscan(ns, &n); err == nil {
		return time.Duration(n).Round(time.Millisecond).String()
	}
	return strings.TrimSpace(ns)
}
