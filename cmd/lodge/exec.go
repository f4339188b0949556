package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"lodge/api"
	"lodge/client"
)

type execOpts struct {
	env        []string
	cwd        string
	user, grp  uint32
	forceTTY   bool
	disableTTY bool
}

func execCmd() *cobra.Command {
	o := &execOpts{}
	cmd := &cobra.Command{
		Use:   "exec [REMOTE:]NAME [flags] -- COMMAND [ARGS...]",
		Short: "Run a command in an instance",
		Args:  cobra.MinimumNArgs(2),
		RunE:  func(cmd *cobra.Command, args []string) error { return o.run(cmd, args) },
	}
	cmd.Flags().StringArrayVar(&o.env, "env", nil, "environment variable KEY=VALUE (repeatable)")
	cmd.Flags().StringVar(&o.cwd, "cwd", "", "working directory inside the instance")
	cmd.Flags().Uint32Var(&o.user, "user", 0, "user id to run as")
	cmd.Flags().Uint32Var(&o.grp, "group", 0, "group id to run as")
	cmd.Flags().BoolVarP(&o.forceTTY, "force-interactive", "t", false, "use a pseudo-terminal even if stdin/stdout are not terminals")
	cmd.Flags().BoolVarP(&o.disableTTY, "force-noninteractive", "T", false, "use pipes even on a terminal")
	return cmd
}

func (o *execOpts) run(cmd *cobra.Command, args []string) error {
	name, c, err := instanceClient(args[0])
	if err != nil {
		return err
	}
	env, err := parseKV(o.env)
	if err != nil {
		return fmt.Errorf("--env: %w", err)
	}
	if o.forceTTY && o.disableTTY {
		return fmt.Errorf("-t and -T contradict each other")
	}
	stdinFd, stdoutFd := int(os.Stdin.Fd()), int(os.Stdout.Fd())
	interactive := term.IsTerminal(stdinFd) && term.IsTerminal(stdoutFd)
	if o.forceTTY {
		interactive = true
	}
	if o.disableTTY {
		interactive = false
	}
	req := api.InstanceExecPost{Command: args[1:], Environment: env, Interactive: interactive, Cwd: o.cwd, User: o.user, Group: o.grp}
	resize := make(chan [2]int, 4)
	signals := make(chan int, 4)
	var stdin io.Reader = os.Stdin
	if interactive {
		if t := os.Getenv("TERM"); t != "" {
			req.Environment["TERM"] = t
		}
		if w, h, err := term.GetSize(stdoutFd); err == nil {
			req.Width, req.Height = w, h
		}
		if term.IsTerminal(stdinFd) {
			old, err := term.MakeRaw(stdinFd)
			if err == nil {
				defer term.Restore(stdinFd, old)
			}
		}
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
		go func() {
			for range winch {
				if w, h, err := term.GetSize(stdoutFd); err == nil {
					resize <- [2]int{w, h}
				}
			}
		}()
	} else {
		// Signals to lodge go to the remote process, as lxc exec does.
		sigs := make(chan os.Signal, 4)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
		defer signal.Stop(sigs)
		go func() {
			for s := range sigs {
				signals <- int(s.(syscall.Signal))
			}
		}()
	}
	code, err := c.Exec(cmd.Context(), name, req, client.ExecArgs{Stdin: stdin, Stdout: os.Stdout, Stderr: os.Stderr, Resize: resize, Signals: signals})
	if err != nil {
		return err
	}
	if code != 0 {
		return exitError{code}
	}
	return nil
}
