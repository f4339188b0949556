// Command lodge is the CLI for lodged, with the verbs an LXD user knows.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"lodge/client"
)

var version = "0.1.0"

// exitError carries an exit status without a message (exec's own status).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	// No signal handling here: exec forwards signals to the remote process,
	// and every other command may simply die.
	err := rootCmd().ExecuteContext(context.Background())
	var ee exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		os.Exit(ee.code)
	default:
		// One line: the server's message already says what failed and on what.
		fmt.Fprintln(os.Stderr, "Error: "+strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "\n  "))
		os.Exit(1)
	}
}

func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "lodge",
		Short:         "Manage system containers run by lodged",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(launchCmd(true), launchCmd(false), startCmd(), stopCmd(), restartCmd(), pauseCmd(), resumeCmd(),
		deleteCmd(), listCmd(), infoCmd(), execCmd(), imageCmd(), fileCmd(), consoleCmd(), configCmd(), profileCmd(),
		storageCmd(), snapshotCmd(), restoreCmd(), copyCmd(), moveCmd(), publishCmd(), rebuildCmd(), networkCmd(), remoteCmd(), operationCmd())
	return root
}

// connect opens the daemon's socket: LODGE_SOCKET, else LODGE_DIR/unix.socket,
// else /var/lib/lodge/unix.socket.
func connect() (*client.Client, error) {
	// A remote named in an argument, or a non-local default remote (remote.go).
	if c, ok, err := connectTarget(); ok {
		return c, err
	}
	if s := os.Getenv("LODGE_SOCKET"); s != "" {
		return client.Connect("unix://" + s)
	}
	dir := os.Getenv("LODGE_DIR")
	if dir == "" {
		dir = "/var/lib/lodge"
	}
	return client.Connect("unix://" + filepath.Join(dir, "unix.socket"))
}

// localName strips a "REMOTE:" prefix; a remote other than local: becomes
// the one connect() talks to (target.go).
func localName(s string) (string, error) {
	return splitRemote(s)
}

// instanceClient parses an instance argument and connects to the daemon.
func instanceClient(arg string) (string, *client.Client, error) {
	name, err := localName(arg)
	if err != nil {
		return "", nil, err
	}
	c, err := connect()
	return name, c, err
}
