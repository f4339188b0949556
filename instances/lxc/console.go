//go:build linux && cgo

package lxc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	golxc "github.com/lxc/go-lxc"

	"lodge/instances"
)

// Console is instances.Driver's through the forkconsole helper, so
// the console allocation liblxc hands out is released when the helper exits.
func (d *Driver) Console(ctx context.Context, name string, tty *os.File) (instances.Process, error) {
	c, err := d.container(name)
	if err != nil {
		return nil, err
	}
	running := c.Running()
	golxc.Release(c)
	if !running {
		return nil, fmt.Errorf("container %q: %w", name, instances.ErrNotRunning)
	}
	cmd := exec.Command(d.Helper, "forkconsole", name, d.lxcpath)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("container %q: console: %w", name, err)
	}
	p := &process{pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				p.code = 128 + int(ws.Signal())
			} else {
				p.code = ee.ExitCode()
			}
		} else if err != nil {
			p.err = err
		}
		close(p.done)
	}()
	return p, nil
}

// ClearConsoleLog is instances.Driver's.
func (d *Driver) ClearConsoleLog(ctx context.Context, name string) error {
	if !d.defined(name) {
		return fmt.Errorf("container %q: %w", name, instances.ErrNotFound)
	}
	if c, err := d.container(name); err == nil {
		if c.Running() {
			_, _ = c.ConsoleLog(golxc.ConsoleLogOptions{ClearLog: true})
		}
		golxc.Release(c)
	}
	err := os.Truncate(filepath.Join(d.dir(name), "console.log"), 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
