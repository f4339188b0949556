package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// requireSubcommands makes every command group (a command with
// subcommands and no action of its own) refuse an unknown subcommand with
// `unknown command "nosuch" for "lodge image"` and exit status 1; cobra
// would print the group's help and exit 0, so a mistyped subcommand in a
// script looked like success. A group called bare prints its help and
// exits 0, as in LXD (lxc image) and docker.
func requireSubcommands(root *cobra.Command) {
	// cobra adds its completion group at Execute; add it now so it is
	// covered too.
	root.InitDefaultCompletionCmd()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if !c.HasSubCommands() || c.Runnable() {
			return
		}
		c.Args = cobra.ArbitraryArgs
		if c.SuggestionsMinimumDistance <= 0 {
			c.SuggestionsMinimumDistance = 2
		}
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				hint := ""
				if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
					hint = "did you mean " + strings.Join(s, " or ") + "? "
				}
				return fmt.Errorf("unknown command %q for %q (%ssee %s --help)", args[0], cmd.CommandPath(), hint, cmd.CommandPath())
			}
			return cmd.Help()
		}
	}
	walk(root)
}
