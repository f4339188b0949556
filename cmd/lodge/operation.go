package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"lodge/api"
	"lodge/client"
)

// lodge operation: what lodged is doing and how recent work ended, including
// work a crash cut short (recorded as failed at the next start).
func operationCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "operation", Short: "List, show and cancel lodged's background operations"}
	cmd.AddCommand(operationListCmd(), operationShowCmd(), operationDeleteCmd())
	return cmd
}

func operationListCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use: "list [REMOTE:]", Aliases: []string{"ls"}, Short: "List running and recently ended operations", Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := remoteOnly(args)
			if err != nil {
				return err
			}
			byStatus, err := c.GetOperations(cmd.Context())
			if err != nil {
				return err
			}
			var all []api.Operation
			for _, ops := range byStatus {
				all = append(all, ops...)
			}
			sort.SliceStable(all, func(i, j int) bool { return all[i].CreatedAt.Before(all[j].CreatedAt) })
			// A cluster's list has every member's: a LOCATION column
			// says where each runs, as lxc's does.
			clustered := false
			for _, o := range all {
				clustered = clustered || (o.Location != "" && o.Location != "none")
			}
			rows := make([][]string, 0, len(all))
			for _, o := range all {
				cancel := "NO"
				if o.MayCancel {
					cancel = "YES"
				}
				row := []string{o.ID, upper(o.Class), o.Description, upper(o.Status), cancel,
					o.CreatedAt.Local().Format("2006/01/02 15:04 MST")}
				if clustered {
					row = append(row, o.Location)
				}
				rows = append(rows, row)
			}
			header := []string{"ID", "TYPE", "DESCRIPTION", "STATUS", "CANCELABLE", "CREATED"}
			if clustered {
				header = append(header, "LOCATION")
			}
			return render(cmd.OutOrStdout(), format, header, rows, all)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "output format: table, csv, json or yaml")
	return cmd
}

func operationShowCmd() *cobra.Command {
	return &cobra.Command{
		Use: "show [REMOTE:]ID", Short: "Show an operation as YAML (its error says why it failed)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, c, err := operationClient(args[0])
			if err != nil {
				return err
			}
			op, err := c.GetOperation(cmd.Context(), id)
			if err != nil {
				return err
			}
			return writeYAML(cmd.OutOrStdout(), op)
		},
	}
}

func operationDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use: "delete [REMOTE:]ID", Aliases: []string{"rm", "cancel"}, Short: "Cancel a running operation", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, c, err := operationClient(args[0])
			if err != nil {
				return err
			}
			return c.CancelOperation(cmd.Context(), id)
		},
	}
}

// operationClient parses [REMOTE:]ID and connects to that server.
func operationClient(arg string) (string, *client.Client, error) {
	ref, err := parseRef(arg)
	if err != nil {
		return "", nil, err
	}
	id, err := operationID(ref.Name)
	if err != nil {
		return "", nil, err
	}
	c, err := connectTo(ref.Remote)
	return id, c, err
}

// operationID accepts an id or the operation's URL, as printed by --verbose
// runs and in errors.
func operationID(s string) (string, error) {
	if i := strings.LastIndex(s, "/operations/"); i >= 0 {
		s = s[i+len("/operations/"):]
	}
	if s = strings.TrimSuffix(s, "/"); s == "" {
		return "", fmt.Errorf("no operation ID given: see lodge operation list")
	}
	return s, nil
}
