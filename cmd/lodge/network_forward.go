package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"lodge/api"
)

// lodge network forward ...: LXD 5.0's `lxc network forward` commands.
func networkForwardCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "forward", Short: "Manage network forwards (a host address's ports sent to instances on the network)"}
	port := &cobra.Command{Use: "port", Short: "Manage a forward's port rules"}
	port.AddCommand(networkForwardPortAddCmd(), networkForwardPortRemoveCmd())
	cmd.AddCommand(networkForwardListCmd(), networkForwardShowCmd(), networkForwardCreateCmd(), networkForwardGetCmd(),
		networkForwardSetCmd(), networkForwardUnsetCmd(), networkForwardEditCmd(), networkForwardDeleteCmd(), port)
	return cmd
}

func networkForwardListCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:     "list [REMOTE:]NETWORK",
		Aliases: []string{"ls"},
		Short:   "List a network's forwards",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, c, err := networkClient(args[0])
			if err != nil {
				return err
			}
			fwds, err := c.GetNetworkForwards(cmd.Context(), name)
			if err != nil {
				return err
			}
			var rows [][]string
			for _, f := range fwds {
				rows = append(rows, []string{f.ListenAddress, f.Description, f.Config["target_address"], fmt.Sprint(len(f.Ports))})
			}
			return render(cmd.OutOrStdout(), format, []string{"LISTEN ADDRESS", "DESCRIPTION", "DEFAULT TARGET ADDRESS", "PORTS"}, rows, fwds)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "output format: table, csv, json or yaml")
	return cmd
}

func networkForwardShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show [REMOTE:]NETWORK LISTEN_ADDRESS",
		Short: "Show a forward as YAML",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, c, err := networkClient(args[0])
			if err != nil {
				return err
			}
			f, _, err := c.GetNetworkForward(cmd.Context(), name, args[1])
			if err != nil {
				return err
			}
			return writeYAML(cmd.OutOrStdout(), f)
		},
	}
}

func networkForwardCreateCmd() *cobra.Command {
	var desc string
	cmd := &cobra.Command{
		Use:   "create [REMOTE:]NETWORK LISTEN_ADDRESS [target_address=ADDRESS] [user.KEY=VALUE...]",
		Short: "Create a forward of a host address (target_address= takes what no port rule takes)",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, c, err := networkClient(args[0])
			if err != nil {
				return err
			}
			cfg, err := parseKV(args[2:])
			if err != nil {
				return err
			}
			req := api.NetworkForwardsPost{ListenAddress: args[1], NetworkForwardPut: api.NetworkForwardPut{Description: desc, Config: cfg}}
			if err := c.CreateNetworkForward(cmd.Context(), name, req); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Network forward %s created\n", args[1])
			return nil
		},
	}
	cmd.Flags().StringVar(&desc, "description", "", "description")
	return cmd
}

// updateForward applies change to a forward under its ETag.
func updateForward(cmd *cobra.Command, netArg, listen string, change func(*api.NetworkForwardPut) error) error {
	name, c, err := networkClient(netArg)
	if err != nil {
		return err
	}
	f, etag, err := c.GetNetworkForward(cmd.Context(), name, listen)
	if err != nil {
		return err
	}
	put := f.NetworkForwardPut
	if put.Config == nil {
		put.Config = map[string]string{}
	}
	if err := change(&put); err != nil {
		return err
	}
	return c.UpdateNetworkForward(cmd.Context(), name, listen, put, etag)
}

func networkForwardGetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "get [REMOTE:]NETWORK LISTEN_ADDRESS KEY",
		Short: "Print one config value of a forward (empty if unset)",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, c, err := networkClient(args[0])
			if err != nil {
				return err
			}
			f, _, err := c.GetNetworkForward(cmd.Context(), name, args[1])
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), f.Config[args[2]])
			return nil
		},
	}
}

func networkForwardSetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "set [REMOTE:]NETWORK LISTEN_ADDRESS KEY=VALUE...",
		Short: "Set config keys of a forward (target_address, user.*)",
		Args:  cobra.MinimumNArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			kv := map[string]string{}
			var err error
			if len(args) == 4 && !containsEq(args[2]) {
				kv[args[2]] = args[3]
			} else if kv, err = parseKV(args[2:]); err != nil {
				return err
			}
			return updateForward(cmd, args[0], args[1], func(p *api.NetworkForwardPut) error {
				for k, v := range kv {
					p.Config[k] = v
				}
				return nil
			})
		},
	}
}

func networkForwardUnsetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "unset [REMOTE:]NETWORK LISTEN_ADDRESS KEY...",
		Short: "Remove config keys of a forward",
		Args:  cobra.MinimumNArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return updateForward(cmd, args[0], args[1], func(p *api.NetworkForwardPut) error {
				for _, k := range args[2:] {
					if _, ok := p.Config[k]; !ok {
						return fmt.Errorf("config key %q is not set on forward %s", k, args[1])
					}
					delete(p.Config, k)
				}
				return nil
			})
		},
	}
}

func networkForwardEditCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "edit [REMOTE:]NETWORK LISTEN_ADDRESS",
		Short: "Edit a forward as YAML ($EDITOR, or YAML on stdin)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, c, err := networkClient(args[0])
			if err != nil {
				return err
			}
			f, etag, err := c.GetNetworkForward(cmd.Context(), name, args[1])
			if err != nil {
				return err
			}
			text, err := yaml.Marshal(f.NetworkForwardPut)
			if err != nil {
				return err
			}
			return editYAML(cmd, text, func(b []byte) error {
				var put api.NetworkForwardPut
				if err := yaml.Unmarshal(b, &put); err != nil {
					return fmt.Errorf("the YAML does not parse: %w", err)
				}
				return c.UpdateNetworkForward(cmd.Context(), name, args[1], put, etag)
			})
		},
	}
}

func networkForwardDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "delete [REMOTE:]NETWORK LISTEN_ADDRESS",
		Aliases: []string{"rm"},
		Short:   "Delete a forward",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, c, err := networkClient(args[0])
			if err != nil {
				return err
			}
			if err := c.DeleteNetworkForward(cmd.Context(), name, args[1]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Network forward %s deleted\n", args[1])
			return nil
		},
	}
}

func networkForwardPortAddCmd() *cobra.Command {
	var desc string
	cmd := &cobra.Command{
		Use:   "add [REMOTE:]NETWORK LISTEN_ADDRESS tcp|udp LISTEN_PORTS TARGET_ADDRESS [TARGET_PORTS]",
		Short: "Send listen ports (80,8000-8010) of a protocol to a target (its ports, or the same)",
		Args:  cobra.RangeArgs(5, 6),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := api.NetworkForwardPort{Description: desc, Protocol: args[2], ListenPort: args[3], TargetAddress: args[4]}
			if len(args) == 6 {
				p.TargetPort = args[5]
			}
			return updateForward(cmd, args[0], args[1], func(put *api.NetworkForwardPut) error {
				put.Ports = append(put.Ports, p)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&desc, "description", "", "description of the port rule")
	return cmd
}

func networkForwardPortRemoveCmd() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "remove [REMOTE:]NETWORK LISTEN_ADDRESS [tcp|udp] [LISTEN_PORTS]",
		Short: "Remove the port rule that matches (--force: every one that matches)",
		Args:  cobra.RangeArgs(2, 4),
		RunE: func(cmd *cobra.Command, args []string) error {
			proto, ports := "", ""
			if len(args) > 2 {
				proto = args[2]
			}
			if len(args) > 3 {
				ports = args[3]
			}
			return updateForward(cmd, args[0], args[1], func(put *api.NetworkForwardPut) error {
				var keep []api.NetworkForwardPort
				for _, p := range put.Ports {
					if (proto == "" || p.Protocol == proto) && (ports == "" || samePorts(p.ListenPort, ports)) {
						continue
					}
					keep = append(keep, p)
				}
				switch removed := len(put.Ports) - len(keep); {
				case removed == 0:
					return fmt.Errorf("no port rule of forward %s matches", args[1])
				case removed > 1 && !force:
					return fmt.Errorf("%d port rules of forward %s match; give the protocol and listen ports, or --force to remove them all", removed, args[1])
				}
				put.Ports = keep
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "remove every port rule that matches")
	return cmd
}

// samePorts compares port lists ignoring blanks: "80, 443" is "80,443".
func samePorts(a, b string) bool {
	norm := func(s string) string { return strings.ReplaceAll(s, " ", "") }
	return norm(a) == norm(b)
}
