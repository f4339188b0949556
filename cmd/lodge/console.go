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

// detachReader passes input through until Ctrl-a q, then reports EOF.
type detachReader struct {
	r       io.Reader
	pending bool // saw Ctrl-a, waiting for the next byte
	done    bool
}

func (d *detachReader) Read(p []byte) (int, error) {
	if d.done {
		return 0, io.EOF
	}
	buf := make([]byte, len(p))
	n, err := d.r.Read(buf)
	out := p[:0]
	for _, b := range buf[:n] {
		switch {
		case d.pending && b == 'q':
			d.done = true
			return len(out), nil
		case d.pending:
			out = append(out, 0x01, b)
			d.pending = false
		case b == 0x01:
			d.pending = true
		default:
			out = append(out, b)
		}
	}
	return len(out), err
}

func consoleCmd() *cobra.Command {
	var showLog, clearLog bool
	cmd := &cobra.Command{
		Use:   "console NAME",
		Short: "Attach to an instance's console (Ctrl-a q detaches)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, c, err := instanceClient(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if clearLog {
				return c.ClearConsoleLog(ctx, name)
			}
			if showLog {
				log, err := c.ConsoleLog(ctx, name)
				if err != nil {
					return err
				}
				fmt.Fprint(cmd.OutOrStdout(), log)
				return nil
			}
			req := api.InstanceConsolePost{Type: "console"}
			resize := make(chan [2]int, 4)
			fd := int(os.Stdin.Fd())
			if term.IsTerminal(fd) {
				if w, h, err := term.GetSize(fd); err == nil {
					req.Width, req.Height = w, h
				}
				old, err := term.MakeRaw(fd)
				if err == nil {
					defer term.Restore(fd, old)
				}
				winch := make(chan os.Signal, 1)
				signal.Notify(winch, syscall.SIGWINCH)
				defer signal.Stop(winch)
				go func() {
					for range winch {
						if w, h, err := term.GetSize(fd); err == nil {
							resize <- [2]int{w, h}
						}
					}
				}()
				fmt.Fprintf(os.Stderr, "To detach from the console, press: <ctrl>+a q\r\n")
			}
			return c.Console(ctx, name, req, client.ConsoleArgs{Stdin: &detachReader{r: os.Stdin}, Stdout: os.Stdout, Resize: resize})
		},
	}
	cmd.Flags().BoolVar(&showLog, "show-log", false, "print the console log (also for a stopped instance)")
	cmd.Flags().BoolVar(&clearLog, "clear-log", false, "empty the console log")
	return cmd
}
