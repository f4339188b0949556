//go:build linux && cgo

package lxc

import (
	"context"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	golxc "github.com/lxc/go-lxc"

	"lodge/instances"
)

// Benchmarks against a running busybox container (LODGE_INTEGRATION=1, root):
//
//	LODGE_INTEGRATION=1 go test -run '^$' -bench . ./instances/lxc/
//
// Run them without -race: under the race detector every re-exec of the
// test binary costs much more than lodged's does.

func BenchmarkStart(b *testing.B) {
	d := runningBusybox(b, "t-lxc-bstart")
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		if err := d.Stop(ctx, "t-lxc-bstart", 0, true); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := d.Start(ctx, "t-lxc-bstart"); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "ms/start")
	}
}

func BenchmarkState(b *testing.B) {
	d := runningBusybox(b, "t-lxc-bstate")
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if st, err := d.State(ctx, "t-lxc-bstate"); err != nil || st.Status != instances.StatusRunning {
			b.Fatal(st, err)
		}
	}
}

func BenchmarkStatus(b *testing.B) {
	d := runningBusybox(b, "t-lxc-bstatus")
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if st, err := d.Status(ctx, "t-lxc-bstatus"); err != nil || st != instances.StatusRunning {
			b.Fatal(st, err)
		}
	}
}

// BenchmarkExec is the driver's exec (through the exec zygote) of true.
func BenchmarkExec(b *testing.B) {
	d := runningBusybox(b, "t-lxc-bexec")
	ctx := context.Background()
	devnull, _ := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	defer devnull.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, err := d.Exec(ctx, "t-lxc-bexec", instances.ExecSpec{Argv: []string{"true"}, Env: []string{"PATH=/bin"}, Cwd: "/",
			Stdin: devnull, Stdout: devnull, Stderr: devnull})
		if err != nil {
			b.Fatal(err)
		}
		if code, err := p.Wait(ctx); code != 0 || err != nil {
			b.Fatal(code, err)
		}
	}
}

// BenchmarkExecInProcess attaches from the test process itself, without
// the helper: what the helper costs.
func BenchmarkExecInProcess(b *testing.B) {
	d := runningBusybox(b, "t-lxc-bexecin")
	devnull, _ := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	defer devnull.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := golxc.NewContainer("t-lxc-bexecin", d.lxcpath)
		if err != nil {
			b.Fatal(err)
		}
		pid, err := c.RunCommandNoWait([]string{"true"}, golxc.AttachOptions{Namespaces: -1, Arch: -1, Cwd: "/", ClearEnv: true,
			Env: []string{"PATH=/bin"}, StdinFd: devnull.Fd(), StdoutFd: devnull.Fd(), StderrFd: devnull.Fd()})
		golxc.Release(c)
		if err != nil {
			b.Fatal(err)
		}
		var ws syscall.WaitStatus
		if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil || ws.ExitStatus() != 0 {
			b.Fatal(err, ws)
		}
	}
}

// BenchmarkLxcAttach is the reference: liblxc's own lxc-attach.
func BenchmarkLxcAttach(b *testing.B) {
	d := runningBusybox(b, "t-lxc-battach")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := exec.Command("lxc-attach", "-n", "t-lxc-battach", "-P", d.lxcpath, "--clear-env", "--", "true").Run(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStates is one running container's state as a list gets it:
// after the first, from /proc and the cgroup without liblxc.
func BenchmarkStates(b *testing.B) {
	d := runningBusybox(b, "t-lxc-bstates")
	ctx := context.Background()
	names := []string{"t-lxc-bstates"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if st := d.States(ctx, names); st[names[0]].Status != instances.StatusRunning {
			b.Fatal(st)
		}
	}
}
