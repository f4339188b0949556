// Package remotestest builds simplestreams trees for tests: a busybox root
// (or a given unified image) published as split and unified items, for two
// architectures and two versions, plus deliberately broken items.
package remotestest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"lodge/remotes"
	"lodge/remotes/simplestreams"
)

// Fixture is a tree on disk and the fingerprints it publishes.
type Fixture struct {
	Dir string
	// HostArch, OtherArch are Debian names (amd64, arm64).
	HostArch, OtherArch string
	// Newest/Older host-arch builds of alias "busybox": squashfs split (what the alias picks), root.tar.xz split, unified.
	NewestSquashfs, NewestRootxz, NewestUnified string
	OlderSquashfs, OlderUnified                 string
	// Other is the other architecture's newest (alias busybox/ARCH).
	Other string
	// Tampered's rootfs bytes differ from its published sha256 (alias "tampered").
	Tampered string
	// Truncated and Stalled are served broken by Handler (aliases "truncated", "stalled").
	Truncated, Stalled string
	// Paths of the rootfs files the handler breaks.
	TruncatedPath, StalledPath string
}

// Build writes the tree into dir. If unified is "", a tiny root is made up
// (etc/hostname, sbin/init → busybox and the host's busybox if present).
func Build(t testing.TB, dir, unified string) *Fixture {
	t.Helper()
	if _, err := exec.LookPath("mksquashfs"); err != nil {
		t.Skip("mksquashfs not installed (squashfs-tools)")
	}
	host := remotes.DebianArchitecture(remotes.HostArchitecture())
	other := "arm64"
	if host == "arm64" {
		other = "amd64"
	}
	f := &Fixture{Dir: dir, HostArch: host, OtherArch: other}
	work := t.TempDir()
	base := filepath.Join(work, "base")
	must(t, os.MkdirAll(base, 0o755))
	if unified != "" {
		run(t, "tar", "-xf", unified, "-C", base, "--numeric-owner")
	} else {
		root := filepath.Join(base, "rootfs")
		must(t, os.MkdirAll(filepath.Join(root, "etc"), 0o755))
		must(t, os.MkdirAll(filepath.Join(root, "sbin"), 0o755))
		must(t, os.MkdirAll(filepath.Join(root, "bin"), 0o755))
		must(t, os.WriteFile(filepath.Join(root, "etc", "hostname"), []byte("busybox\n"), 0o644))
		must(t, os.Symlink("/bin/busybox", filepath.Join(root, "sbin", "init")))
		if b, err := os.ReadFile("/bin/busybox"); err == nil {
			must(t, os.WriteFile(filepath.Join(root, "bin", "busybox"), b, 0o755))
		}
	}
	tree := simplestreams.NewTree(dir)
	n := 0
	variant := func(os_, alias, arch, serial string) (simplestreams.ProductInfo, string, string, string, string) {
		n++
		w := filepath.Join(work, fmt.Sprint(n))
		run(t, "cp", "-a", base, w)
		lxdArch := remotes.ArchitectureName(arch)
		md := fmt.Sprintf("architecture: %s\ncreation_date: %d\nproperties:\n  os: %s\n  release: \"1\"\n  architecture: %s\n  description: %s %s %s\n",
			lxdArch, 1700000000+n, os_, arch, os_, arch, serial)
		must(t, os.WriteFile(filepath.Join(w, "metadata.yaml"), []byte(md), 0o644))
		// Each build differs in content, as real builds do.
		must(t, os.WriteFile(filepath.Join(w, "rootfs", "etc", "lodge-build"), []byte(serial+" "+arch+" "+os_+"\n"), 0o644))
		meta := filepath.Join(work, fmt.Sprintf("%d.meta.tar.xz", n))
		run(t, "tar", "-cJf", meta, "-C", w, "metadata.yaml")
		sq := filepath.Join(work, fmt.Sprintf("%d.squashfs", n))
		run(t, "mksquashfs", filepath.Join(w, "rootfs"), sq, "-noappend", "-quiet", "-no-progress", "-comp", "gzip")
		rx := filepath.Join(work, fmt.Sprintf("%d.root.tar.xz", n))
		run(t, "tar", "-cJf", rx, "-C", filepath.Join(w, "rootfs"), ".")
		uni := filepath.Join(work, fmt.Sprintf("%d.tar.gz", n))
		run(t, "tar", "-czf", uni, "-C", w, "metadata.yaml", "rootfs")
		p := simplestreams.ProductInfo{OS: os_, Release: "1", Variant: "default", Arch: arch, Aliases: []string{alias + "/1", alias}}
		return p, meta, sq, rx, uni
	}
	add := func(fp string, err error) string {
		t.Helper()
		must(t, err)
		return fp
	}
	p, meta, sq, _, uni := variant("busybox", "busybox", host, "20240101_00:00")
	f.OlderSquashfs = add(tree.AddSplit(p, "20240101_00:00", meta, sq, "squashfs"))
	f.OlderUnified = add(tree.AddUnified(p, "20240101_00:00", uni))
	p, meta, sq, rx, uni := variant("busybox", "busybox", host, "20240102_00:00")
	f.NewestSquashfs = add(tree.AddSplit(p, "20240102_00:00", meta, sq, "squashfs"))
	f.NewestRootxz = add(tree.AddSplit(p, "20240102_00:00", meta, rx, "root.tar.xz"))
	f.NewestUnified = add(tree.AddUnified(p, "20240102_00:00", uni))
	p, meta, sq, _, _ = variant("busybox", "busybox", other, "20240102_00:00")
	f.Other = add(tree.AddSplit(p, "20240102_00:00", meta, sq, "squashfs"))

	p, meta, sq, _, _ = variant("tampered", "tampered", host, "20240102_00:00")
	f.Tampered = add(tree.AddSplit(p, "20240102_00:00", meta, sq, "squashfs"))
	// Flip a byte of the published rootfs after its sums were recorded.
	sqItem := tree.Items(p, "20240102_00:00")["squashfs"]
	b, err := os.ReadFile(filepath.Join(dir, sqItem.Path))
	must(t, err)
	b[len(b)/2] ^= 0xff
	must(t, os.WriteFile(filepath.Join(dir, sqItem.Path), b, 0o644))

	p, meta, sq, _, _ = variant("truncated", "truncated", host, "20240102_00:00")
	f.Truncated = add(tree.AddSplit(p, "20240102_00:00", meta, sq, "squashfs"))
	f.TruncatedPath = "/" + tree.Items(p, "20240102_00:00")["squashfs"].Path
	p, meta, sq, _, _ = variant("stalled", "stalled", host, "20240102_00:00")
	f.Stalled = add(tree.AddSplit(p, "20240102_00:00", meta, sq, "squashfs"))
	f.StalledPath = "/" + tree.Items(p, "20240102_00:00")["squashfs"].Path
	must(t, tree.Write())
	return f
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	// Fast compression: these trees are rebuilt by every test.
	cmd.Env = append(os.Environ(), "XZ_OPT=-0", "GZIP=-1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}
