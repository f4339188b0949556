package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"lodge/api"
	"lodge/client"
)

func snapshotCmd() *cobra.Command {
	var stateful bool
	var expiry string
	cmd := &cobra.Command{
		Use:   "snapshot INSTANCE [SNAPSHOT]",
		Short: "Take a snapshot of an instance (named snapN when no name is given)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, c, err := instanceClient(args[0])
			if err != nil {
				return err
			}
			req := api.InstanceSnapshotsPost{Stateful: stateful}
			if len(args) > 1 {
				req.Name = args[1]
			}
			if expiry != "" {
				d, err := time.ParseDuration(expiry)
				if err != nil {
					return fmt.Errorf("--expiry %q: want a duration such as 72h", expiry)
				}
				t := time.Now().Add(d).UTC()
				req.ExpiresAt = &t
			}
			op, err := c.CreateSnapshot(cmd.Context(), name, req)
			if err != nil {
				return err
			}
			return op.Wait(cmd.Context())
		},
	}
	cmd.Flags().BoolVar(&stateful, "stateful", false, "include the running state (refused: needs CRIU)")
	cmd.Flags().StringVar(&expiry, "expiry", "", "delete the snapshot after this long (e.g. 72h)")
	return cmd
}

func restoreCmd() *cobra.Command {
	var stateful bool
	cmd := &cobra.Command{
		Use:   "restore INSTANCE SNAPSHOT",
		Short: "Restore an instance to a snapshot (a running instance is stopped and started again)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, c, err := instanceClient(args[0])
			if err != nil {
				return err
			}
			if stateful {
				return fmt.Errorf("stateful restore needs CRIU, which is not available on this host")
			}
			op, err := c.RestoreSnapshot(cmd.Context(), name, args[1])
			if err != nil {
				return err
			}
			return op.Wait(cmd.Context())
		},
	}
	cmd.Flags().BoolVar(&stateful, "stateful", false, "restore the running state (refused: needs CRIU)")
	return cmd
}

// deleteSnapshot handles `lodge delete INSTANCE/SNAPSHOT`.
func deleteSnapshot(cmd *cobra.Command, c *client.Client, arg string) error {
	inst, snap, _ := strings.Cut(arg, "/")
	op, err := c.DeleteSnapshot(cmd.Context(), inst, snap)
	if err != nil {
		return err
	}
	return op.Wait(cmd.Context())
}

// printSnapshots is the Snapshots section of `lodge info`.
func printSnapshots(w io.Writer, snaps []api.InstanceSnapshot) {
	if len(snaps) == 0 {
		return
	}
	fmt.Fprintln(w, "\nSnapshots:")
	rows := make([][]string, 0, len(snaps))
	for _, s := range snaps {
		expires := ""
		if !s.ExpiresAt.IsZero() {
			expires = s.ExpiresAt.Local().Format("2006/01/02 15:04 MST")
		}
		size := ""
		if s.Size >= 0 {
			size = humanBytes(s.Size)
		}
		rows = append(rows, []string{s.Name, s.CreatedAt.Local().Format("2006/01/02 15:04 MST"), expires, size, yesNo(s.Stateful)})
	}
	render(w, "table", []string{"NAME", "TAKEN AT", "EXPIRES AT", "SIZE", "STATEFUL"}, rows, snaps)
}
