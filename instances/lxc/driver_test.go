//go:build linux && cgo

package lxc

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lodge/builder"
	"lodge/images"
	"lodge/instances"
)

// The test binary doubles as the forkstart/forkexec helper.
func TestMain(m *testing.M) {
	if handled, code := HelperMain(os.Args[1:]); handled {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Getenv("LODGE_INTEGRATION") != "1" || os.Geteuid() != 0 {
		t.Skip("set LODGE_INTEGRATION=1 and run as root")
	}
}

func busyboxRootfs(t *testing.T) string {
	t.Helper()
	img, err := builder.Build(context.Background(), "busybox", builder.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "rootfs")
	if err := images.Unpack(context.Background(), img, dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

func run(t *testing.T, d *Driver, name string, argv ...string) (string, string, int) {
	t.Helper()
	outR, outW, _ := os.Pipe()
	errR, errW, _ := os.Pipe()
	devnull, _ := os.Open(os.DevNull)
	defer devnull.Close()
	p, err := d.Exec(context.Background(), name, instances.ExecSpec{Argv: argv, Env: []string{"PATH=/bin:/sbin:/usr/bin"}, Cwd: "/",
		Stdin: devnull, Stdout: outW, Stderr: errW})
	outW.Close()
	errW.Close()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr []byte
	done := make(chan struct{})
	go func() { stderr, _ = io.ReadAll(errR); close(done) }()
	stdout, _ = io.ReadAll(outR)
	<-done
	code, err := p.Wait(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return string(stdout), string(stderr), code
}

func TestBusyboxContainer(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	lxcpath := t.TempDir()
	d, err := New(lxcpath, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	d.Helper, _ = os.Executable()
	name := "t-lxc-bb"
	t.Cleanup(func() { d.Stop(ctx, name, 0, true); d.Delete(ctx, name) })

	if err := d.Define(ctx, instances.Spec{Name: name, Rootfs: busyboxRootfs(t), Init: "busybox"}); err != nil {
		t.Fatal(err)
	}
	if err := d.Define(ctx, instances.Spec{Name: name, Rootfs: "/nonexistent", Config: map[string]string{"raw.lxc": "lxc.no.such.key = 1"}}); !errors.Is(err, instances.ErrInvalid) {
		t.Fatalf("bad raw.lxc accepted: %v", err)
	}
	if _, err := d.Exec(ctx, name, instances.ExecSpec{Argv: []string{"true"}}); !errors.Is(err, instances.ErrNotRunning) {
		t.Fatalf("exec on stopped: %v", err)
	}
	if err := d.Start(ctx, name); err != nil {
		t.Fatal(err)
	}
	st, err := d.State(ctx, name)
	if err != nil || st.Status != instances.StatusRunning || st.PID <= 0 {
		t.Fatalf("state: %+v %v", st, err)
	}
	if _, ok := st.Interfaces["lo"]; !ok {
		t.Fatalf("interfaces read from the netns lack lo: %+v", st.Interfaces)
	}
	if sts := d.States(ctx, []string{name, "t-lxc-missing"}); sts[name].Status != instances.StatusRunning || sts[name].PID != st.PID || len(sts) != 1 {
		t.Fatalf("batch states while running: %+v", sts)
	}
	if out, errOut, code := run(t, d, name, "sh", "-c", "echo out; echo err >&2; exit 7"); out != "out\n" || errOut != "err\n" || code != 7 {
		t.Fatalf("exec: %q %q %d", out, errOut, code)
	}
	if out, _, _ := run(t, d, name, "hostname"); strings.TrimSpace(out) != name {
		t.Fatalf("hostname: %q", out)
	}
	// A driver that did not start the container finds it (as after a restart).
	d2, _ := New(lxcpath, nil)
	if names, _ := d2.List(ctx); len(names) != 1 || names[0] != name {
		t.Fatalf("list: %v", names)
	}
	if st2, _ := d2.State(ctx, name); st2.PID != st.PID {
		t.Fatalf("second driver sees pid %d, want %d", st2.PID, st.PID)
	}
	if err := d.Delete(ctx, name); !errors.Is(err, instances.ErrBusy) {
		t.Fatalf("delete running: %v", err)
	}
	start := time.Now()
	if err := d.Stop(ctx, name, 20*time.Second, false); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 15*time.Second {
		t.Errorf("busybox did not halt on its halt signal (stop took %s)", time.Since(start))
	}
	if st, _ := d.State(ctx, name); st.Status != instances.StatusStopped {
		t.Fatalf("after stop: %+v", st)
	}
	if sts := d.States(ctx, []string{name}); sts[name].Status != instances.StatusStopped {
		t.Fatalf("batch states after stop: %+v", sts)
	}
	if err := d.Stop(ctx, name, time.Second, false); !errors.Is(err, instances.ErrNotRunning) {
		t.Fatalf("stop stopped: %v", err)
	}
	if err := d.Delete(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, err := d.State(ctx, name); !errors.Is(err, instances.ErrNotFound) {
		t.Fatalf("state after delete: %v", err)
	}
}

func TestStartFailureShowsLog(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	d, _ := New(t.TempDir(), nil)
	d.Helper, _ = os.Executable()
	name := "t-lxc-noinit"
	rootfs := t.TempDir() // empty: no /sbin/init to run
	t.Cleanup(func() { d.Stop(ctx, name, 0, true); d.Delete(ctx, name) })
	if err := d.Define(ctx, instances.Spec{Name: name, Rootfs: rootfs}); err != nil {
		t.Fatal(err)
	}
	err := d.Start(ctx, name)
	if err == nil || !strings.Contains(err.Error(), "start failed") {
		t.Fatalf("start of a rootfs without init: %v", err)
	}
}
