package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

// uiCmd prints a login link to the web UI: the link on stdout (for
// xdg-open "$(lodge ui)"), how long it lasts on stderr.
func uiCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "ui",
		Short: "Print a one-time link that logs a browser into the web UI",
		Long: `Print a link to lodged's web UI (https://HOST:PORT/ui/?login=...) that logs
a browser in once: it works a single time, within 5 minutes, and becomes a
browser session (12 hours at most, 2 hours idle). The UI is served on the HTTPS
API, so set core.https_address first (lodge config set core.https_address :8443).
Only the local lodged makes links. A browser with a client certificate trusted
by lodged (lodge config trust add) needs no link.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := connectTo("local")
			if err != nil {
				return err
			}
			link, err := c.UILoginToken(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), link.URL)
			fmt.Fprintf(cmd.ErrOrStderr(), "Opens once, within %s (until %s).\n",
				time.Until(link.ExpiresAt).Round(time.Minute), link.ExpiresAt.Local().Format("15:04:05"))
			return nil
		},
	}
}
