// Package builder makes LXD unified image tarballs on the host for
// `lodge image build`: a tiny busybox image from Debian's busybox-static and
// a Debian image with systemd from debootstrap. Results are cached, keyed by
// everything that goes into them.
package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// recipeVersion changes whenever what a build produces changes, so that
// cached tarballs of an older recipe are not reused.
const recipeVersion = "2"

// Options tune a build.
type Options struct {
	Release  string    // debian: suite (default bookworm)
	Arch     string    // default: the host's
	CacheDir string    // default /var/cache/lodge/images
	Log      io.Writer // progress messages (default: discarded)
	Mirror   string    // debian: overrides the host's apt mirror
	// Variant is debian's flavour: "" or "default" (systemd, ifupdown, DHCP
	// on eth0) or "cloud" (adds cloud-init, openssh-server and the
	// hostname, hosts and cloud-init NoCloud templates).
	Variant string
	// Packages are extra Debian packages installed into a debian image.
	Packages []string
}

// Build returns the path of a unified image tarball of kind ("busybox" or
// "debian"), building it unless the cache has it.
func Build(ctx context.Context, kind string, opt Options) (string, error) {
	if opt.CacheDir == "" {
		opt.CacheDir = "/var/cache/lodge/images"
	}
	if opt.Log == nil {
		opt.Log = io.Discard
	}
	if opt.Arch == "" {
		opt.Arch = hostArch()
	}
	var r recipe
	switch kind {
	case "busybox":
		if opt.Variant != "" || len(opt.Packages) > 0 {
			return "", fmt.Errorf("busybox images have no variants or packages: --variant and --packages are for debian")
		}
		r = busyboxRecipe(opt)
	case "debian":
		if opt.Release == "" {
			opt.Release = "bookworm"
		}
		if opt.Mirror == "" {
			m, err := HostMirror()
			if err != nil {
				return "", err
			}
			opt.Mirror = m
		}
		if err := checkDebianOptions(opt); err != nil {
			return "", err
		}
		if opt.Variant == "default" {
			opt.Variant = ""
		}
		r = debianRecipe(opt)
	default:
		return "", fmt.Errorf("unknown image kind %q: use busybox or debian", kind)
	}
	if err := os.MkdirAll(opt.CacheDir, 0o755); err != nil {
		return "", fmt.Errorf("image cache %s: %w", opt.CacheDir, err)
	}
	out := filepath.Join(opt.CacheDir, fmt.Sprintf("%s-%s-%s.tar.zst", r.name, opt.Arch, r.key()))
	if _, err := os.Stat(out); err == nil {
		fmt.Fprintf(opt.Log, "Using cached %s image %s\n", kind, out)
		return out, nil
	}
	work, err := os.MkdirTemp(opt.CacheDir, ".build-"+kind+"-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	rootfs := filepath.Join(work, "rootfs")
	start := time.Now()
	fmt.Fprintf(opt.Log, "Building %s image...\n", kind)
	if err := r.build(ctx, rootfs); err != nil {
		return "", fmt.Errorf("build %s image: %w", kind, err)
	}
	meta := metadataYAML(opt.Arch, r.props) + templatesYAML(r.templates)
	if err := os.WriteFile(filepath.Join(work, "metadata.yaml"), []byte(meta), 0o644); err != nil {
		return "", err
	}
	if err := writeTemplates(work, r.templates); err != nil {
		return "", err
	}
	tmp := filepath.Join(work, "image.tar.zst")
	if err := pack(ctx, work, tmp, len(r.templates) > 0); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", err
	}
	fi, _ := os.Stat(out)
	fmt.Fprintf(opt.Log, "Built %s image in %s (%d MiB): %s\n", kind, time.Since(start).Round(100*time.Millisecond), fi.Size()>>20, out)
	return out, nil
}

type recipe struct {
	name  string
	parts []string // everything the result depends on
	props map[string]string
	build func(ctx context.Context, rootfs string) error
	// templates go into metadata.yaml's templates: and templates/.
	templates []imageTemplate
}

func (r recipe) key() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", recipeVersion, r.name)
	for _, p := range r.parts {
		fmt.Fprintln(h, p)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func hostArch() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "x86_64"
	}
	return unix.ByteSliceToString(u.Machine[:])
}

// debArch maps the kernel's architecture name to Debian's.
func debArch(arch string) string {
	switch arch {
	case "x86_64":
		return "amd64"
	case "aarch64":
		return "arm64"
	case "i686":
		return "i386"
	}
	return arch
}

func metadataYAML(arch string, props map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "architecture: %s\ncreation_date: %d\nproperties:\n", arch, time.Now().Unix())
	for _, k := range []string{"os", "release", "variant", "architecture", "description", "lodge.init"} {
		if v, ok := props[k]; ok {
			fmt.Fprintf(&b, "  %s: %q\n", k, v)
		}
	}
	return b.String()
}

// pack writes metadata.yaml (then templates/) then rootfs/ as a
// zstd-compressed tarball, keeping numeric owners and xattrs (file
// capabilities).
func pack(ctx context.Context, dir, out string, withTemplates bool) error {
	members := []string{"metadata.yaml", "rootfs"}
	if withTemplates {
		members = []string{"metadata.yaml", "templates", "rootfs"}
	}
	args := append([]string{"--create", "--file", out, "--directory", dir, "--numeric-owner",
		"--xattrs", "--xattrs-include=*", "--acls", "--sort=name", "-I", "zstd -T0 -3 -q"}, members...)
	cmd := exec.CommandContext(ctx, "tar", args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pack image: %v: %s", err, strings.TrimSpace(string(b)))
	}
	return nil
}

func run(ctx context.Context, log io.Writer, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	var tail tailBuffer
	cmd.Stdout = io.MultiWriter(log, &tail)
	cmd.Stderr = io.MultiWriter(log, &tail)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %v: %s", name, err, tail.String())
	}
	return nil
}

// tailBuffer keeps the last 2 KiB written, for error messages.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 2048 {
		t.b = t.b[len(t.b)-2048:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return strings.TrimSpace(string(t.b)) }
