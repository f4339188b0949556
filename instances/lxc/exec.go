//go:build linux && cgo

package lxc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	golxc "github.com/lxc/go-lxc"

	"lodge/instances"
	"lodge/trace"
)

type process struct {
	cmd  *exec.Cmd
	pid  int
	done chan struct{}
	code int
	err  error
}

func (p *process) PID() int { return p.pid }

// Signal goes straight to the attached process; it is not our child, the
// forkexec helper is, but it is a host pid we may signal.
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

// Exec implements instances.Driver through the forkexec helper.
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
	// fd 3: the helper's pid (and timeline) back; fd 4: the request, on a
	// pipe rather than the command line, where anyone could read its
	// environment.
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer pr.Close()
	reqR, reqW, err := os.Pipe()
	if err != nil {
		pw.Close()
		return nil, err
	}
	// Not CommandContext: the process outlives the request that started it.
	cmd := exec.Command(d.Helper, "forkexec", name, d.lxcpath)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = spec.Stdin, spec.Stdout, spec.Stderr
	cmd.ExtraFiles = []*os.File{pw, reqR}
	tr := trace.From(ctx)
	if tr != nil {
		cmd.Env = append(os.Environ(), helperTraceEnv+"=1")
	}
	forked := time.Now()
	err = cmd.Start()
	pw.Close()
	reqR.Close()
	if err != nil {
		reqW.Close()
		return nil, fmt.Errorf("container %q: exec: %w", name, err)
	}
	// A request larger than the pipe's buffer is written while the helper
	// reads it.
	go func() {
		_, _ = reqW.Write(req)
		reqW.Close()
	}()
	p := &process{cmd: cmd, done: make(chan struct{})}
	// The helper's timeline (lines with helperTracePrefix, if asked for),
	// then the attached process's pid.
	var line string
	var rerr error
	var timeline bytes.Buffer
	br := bufio.NewReader(pr)
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
	p.pid, _ = strconv.Atoi(strings.TrimSpace(line))
	go func() {
		err := cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			p.code = ee.ExitCode()
		default:
			p.err = err
		}
		close(p.done)
	}()
	if rerr != nil || p.pid <= 0 {
		<-p.done
		return nil, fmt.Errorf("container %q: could not attach to run %q (exit %d)", name, strings.Join(spec.Argv, " "), p.code)
	}
	return p, nil
}
