//go:build linux && cgo

package lxc

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	golxc "github.com/lxc/go-lxc"

	"lodge/instances"
	"lodge/trace"
)

// process is an exec's attached process; its parent is a child of the
// exec zygote, which reports the exit status on the status pipe.
type process struct {
	pid  int
	done chan struct{}
	code int
	err  error
}

func (p *process) PID() int { return p.pid }

// Signal goes straight to the attached process; it is not our child, but
// it is a host pid we may signal.
func (p *process) Signal(sig os.Signal) error {
	s, ok := sig.(syscall.Signal)
	if !ok {
		return fmt.Errorf("unsupported signal %v", sig)
	}
	return syscall.Kill(p.pid, s)
}

func (p *process) Wait(ctx context.Context) (int, error) {
	select {
	case <-p.done:
		return p.code, p.err
	case <-ctx.Done():
		_ = syscall.Kill(p.pid, syscall.SIGKILL)
		<-p.done
		return p.code, ctx.Err()
	}
}

// Exec implements instances.Driver through the exec zygote (zygote.go).
func (d *Driver) Exec(ctx context.Context, name string, spec instances.ExecSpec) (instances.Process, error) {
	c, err := d.container(name)
	if err != nil {
		return nil, err
	}
	running := c.State() == golxc.RUNNING
	golxc.Release(c)
	if !running {
		return nil, fmt.Errorf("container %q: %w", name, instances.ErrNotRunning)
	}
	req := execRequest{Argv: spec.Argv, Env: spec.Env, Cwd: spec.Cwd, UID: int(spec.UID), GID: int(spec.GID), TTY: spec.TTY}.encode()
	stdio := [3]*os.File{spec.Stdin, spec.Stdout, spec.Stderr}
	for i, f := range stdio {
		if f != nil {
			continue
		}
		// Absent stdio is /dev/null, as exec.Cmd makes it.
		flag := os.O_WRONLY
		if i == 0 {
			flag = os.O_RDONLY
		}
		if stdio[i], err = os.OpenFile(os.DevNull, flag, 0); err != nil {
			return nil, err
		}
		defer stdio[i].Close()
	}
	// fd 3: the status (timeline, pid, exit) back; fd 4: the request, on
	// a pipe rather than a command line, where anyone could read its
	// environment.
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	reqR, reqW, err := os.Pipe()
	if err != nil {
		pr.Close()
		pw.Close()
		return nil, err
	}
	tr := trace.From(ctx)
	forked := time.Now()
	err = d.zygote().fork(name, d.lxcpath, tr != nil, [5]*os.File{stdio[0], stdio[1], stdio[2], pw, reqR})
	pw.Close()
	reqR.Close()
	if err != nil {
		pr.Close()
		reqW.Close()
		return nil, fmt.Errorf("container %q: exec: %w", name, err)
	}
	// A request larger than the pipe's buffer is written while the helper
	// reads it.
	go func() {
		_, _ = reqW.Write(req)
		reqW.Close()
	}()
	// The helper's timeline (lines with helperTracePrefix, if asked for),
	// then "pid N" once attached, then "exit N".
	var timeline bytes.Buffer
	br := bufio.NewReader(pr)
	var line string
	var rerr error
	for {
		line, rerr = br.ReadString('\n')
		if rerr != nil || !strings.HasPrefix(line, helperTracePrefix) {
			break
		}
		timeline.WriteString(line)
	}
	if tr != nil {
		traceHelper(tr, "forkexec", forked, &timeline)
	}
	p := &process{done: make(chan struct{})}
	if v, ok := strings.CutPrefix(strings.TrimSpace(line), "pid "); ok {
		p.pid, _ = strconv.Atoi(v)
	}
	if rerr != nil || p.pid <= 0 {
		pr.Close()
		code := "no exit status"
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "exit "); ok {
			code = "exit " + v
		}
		return nil, fmt.Errorf("container %q: could not attach to run %q (%s)", name, strings.Join(spec.Argv, " "), code)
	}
	go func() {
		defer pr.Close()
		line, err := br.ReadString('\n')
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "exit ")
		code, cerr := strconv.Atoi(v)
		if err != nil || !ok || cerr != nil {
			// The helper died before it could tell (killed with the
			// process group, or by the OOM killer).
			p.code, p.err = -1, fmt.Errorf("container %q: the exec helper of %q ended without its exit status", name, strings.Join(spec.Argv, " "))
		} else {
			p.code = code
		}
		close(p.done)
	}()
	return p, nil
}

// zygote returns the driver's exec zygote, made on first use (tests set
// Helper after New).
func (d *Driver) zygote() *zygote {
	d.zygOnce.Do(func() { d.zyg = newZygote(d.Helper) })
	return d.zyg
}
