// Command lodge is the CLI for lodged, with the verbs an LXD user knows.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"lodge/cmd/internal/manpage"
	lodgeversion "lodge/version"
)

var version = lodgeversion.String()

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
		storageCmd(), snapshotCmd(), restoreCmd(), copyCmd(), moveCmd(), renameCmd(), publishCmd(), rebuildCmd(), exportCmd(), importCmd(), networkCmd(), remoteCmd(), operationCmd(),
		queryCmd(), monitorCmd(), uiCmd(), versionCmd(), clusterCmd())
	root.AddCommand(manpage.Command(root, version))
	requireSubcommands(root)
	return root
}
