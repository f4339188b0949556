package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"lodge/api"
	"lodge/client"
)

// lodge cluster: LXD's `lxc cluster` for clusters of lodged (issue 17).
func clusterCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Manage a cluster of lodged servers"}
	cmd.AddCommand(clusterEnableCmd(), clusterAddCmd(), clusterListCmd(), clusterShowCmd(), clusterRemoveCmd(), clusterRoleCmd(),
		clusterListTokensCmd(), clusterRevokeTokenCmd(), clusterEvacuateCmd("evacuate"), clusterEvacuateCmd("restore"))
	return cmd
}

// memberArg splits [REMOTE:]NAME for a member name.
func memberArg(arg string) (string, *client.Client, error) { return instanceClient(arg) }

func clusterEnableCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "enable [REMOTE:]NAME",
		Short: "Make this server the first member of a new cluster, called NAME (core.https_address must be set)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, c, err := memberArg(args[0])
			if err != nil {
				return err
			}
			op, err := c.UpdateCluster(cmd.Context(), api.ClusterPut{Cluster: api.Cluster{ServerName: name, Enabled: true}})
			if err != nil {
				return err
			}
			if err := op.Wait(cmd.Context()); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Clustering enabled")
			return nil
		},
	}
}

func clusterAddCmd() *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:   "add [REMOTE:]NAME",
		Short: "Print a single-use join token for a new member NAME (lodged init --join TOKEN on it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, c, err := memberArg(args[0])
			if err != nil {
				return err
			}
			tok, err := c.CreateClusterJoinToken(cmd.Context(), name)
			if err != nil {
				return err
			}
			if quiet {
				fmt.Fprintln(cmd.OutOrStdout(), tok.String())
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Member %s join token:\n%s\n", name, tok.String())
			return nil
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print the token only")
	return cmd
}

func clusterListCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use: "list [REMOTE:]", Aliases: []string{"ls"}, Short: "List the members: URL, database role, state", Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := remoteOnly(args)
			if err != nil {
				return err
			}
			ms, err := c.GetClusterMembers(cmd.Context())
			if err != nil {
				return err
			}
			sep := "\n"
			if format == "csv" {
				sep = ","
			}
			rows := make([][]string, 0, len(ms))
			for _, m := range ms {
				rows = append(rows, []string{m.ServerName, m.URL, strings.Join(m.Roles, sep), m.Architecture, m.FailureDomain, m.Description, upper(m.Status), m.Message})
			}
			return render(cmd.OutOrStdout(), format, []string{"NAME", "URL", "ROLES", "ARCHITECTURE", "FAILURE DOMAIN", "DESCRIPTION", "STATE", "MESSAGE"}, rows, ms)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "output format: table, csv, json or yaml")
	return cmd
}

func clusterShowCmd() *cobra.Command {
	return &cobra.Command{
		Use: "show [REMOTE:]NAME", Short: "Show a member as YAML", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, c, err := memberArg(args[0])
			if err != nil {
				return err
			}
			m, _, err := c.GetClusterMember(cmd.Context(), name)
			if err != nil {
				return err
			}
			return writeYAML(cmd.OutOrStdout(), m)
		},
	}
}

func clusterRemoveCmd() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use: "remove [REMOTE:]NAME", Aliases: []string{"rm"}, Args: cobra.ExactArgs(1),
		Short: "Remove a member (--force: one lost for good, its instances' records too)",
		RunE: func(cmd *cobra.Command, args []string) error {
			name, c, err := memberArg(args[0])
			if err != nil {
				return err
			}
			if err := c.DeleteClusterMember(cmd.Context(), name, force); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Member %s removed\n", name)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "remove a member that is lost for good, with its instances' records")
	return cmd
}

func clusterRoleCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "role", Short: "Change a member's roles (the database roles are the cluster's to assign: refused, as by LXD)"}
	edit := func(add bool) *cobra.Command {
		verb := "remove"
		if add {
			verb = "add"
		}
		return &cobra.Command{
			Use: verb + " [REMOTE:]NAME ROLE", Short: strings.ToUpper(verb[:1]) + verb[1:] + " a role (database or database-standby)", Args: cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				name, c, err := memberArg(args[0])
				if err != nil {
					return err
				}
				m, etag, err := c.GetClusterMember(cmd.Context(), name)
				if err != nil {
					return err
				}
				roles := []string{}
				has := false
				for _, r := range m.Roles {
					if r == "database-leader" {
						continue
					}
					if r == args[1] {
						has = true
						if !add {
							continue
						}
					}
					roles = append(roles, r)
				}
				switch {
				case add && has:
					return fmt.Errorf("member %s has the role %q already", name, args[1])
				case !add && !has:
					return fmt.Errorf("member %s does not have the role %q", name, args[1])
				case add:
					// A member is a voter or a stand-by: the new role replaces the other.
					kept := roles[:0]
					for _, r := range roles {
						if r != "database" && r != "database-standby" {
							kept = append(kept, r)
						}
					}
					roles = append(kept, args[1])
				}
				m.Roles = roles
				return c.UpdateClusterMember(cmd.Context(), name, m.ClusterMemberPut, etag)
			},
		}
	}
	cmd.AddCommand(edit(true), edit(false))
	return cmd
}

func clusterListTokensCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use: "list-tokens [REMOTE:]", Short: "List the pending join tokens", Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := remoteOnly(args)
			if err != nil {
				return err
			}
			toks, err := c.GetClusterJoinTokens(cmd.Context())
			if err != nil {
				return err
			}
			rows := make([][]string, 0, len(toks))
			for _, t := range toks {
				exp := "never"
				if !t.ExpiresAt.IsZero() {
					exp = t.ExpiresAt.Local().Format("2006/01/02 15:04 MST")
				}
				rows = append(rows, []string{t.ServerName, t.String(), exp})
			}
			return render(cmd.OutOrStdout(), format, []string{"NAME", "TOKEN", "EXPIRES AT"}, rows, toks)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "output format: table, csv, json or yaml")
	return cmd
}

func clusterRevokeTokenCmd() *cobra.Command {
	return &cobra.Command{
		Use: "revoke-token [REMOTE:]NAME", Short: "Revoke the pending join token for a member name", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, c, err := memberArg(args[0])
			if err != nil {
				return err
			}
			return c.RevokeClusterJoinToken(cmd.Context(), name)
		},
	}
}

// clusterEvacuateCmd is lodge cluster evacuate|restore NAME.
func clusterEvacuateCmd(action string) *cobra.Command {
	var mode string
	short := "Move a member's instances to other members (stopped, moved, started) and mark it EVACUATED"
	if action == "restore" {
		short = "Bring an evacuated member's instances back (started if they run) and mark it ONLINE"
	}
	cmd := &cobra.Command{
		Use: action + " [REMOTE:]NAME", Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, c, err := memberArg(args[0])
			if err != nil {
				return err
			}
			op, err := c.UpdateClusterMemberState(cmd.Context(), name, api.ClusterMemberStatePost{Action: action, Mode: mode})
			if err != nil {
				return err
			}
			if err := op.Wait(cmd.Context()); err != nil {
				return err
			}
			if action == "evacuate" {
				fmt.Fprintf(cmd.OutOrStdout(), "Member %s evacuated\n", name)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "Member %s restored\n", name)
			}
			return nil
		},
	}
	if action == "evacuate" {
		cmd.Flags().StringVar(&mode, "action", "", "what to do with each instance instead of its cluster.evacuate: migrate, stop or auto")
	}
	cmd.Flags().Bool("force", false, "do not ask (lodge never asks; accepted as lxc's)")
	return cmd
}
