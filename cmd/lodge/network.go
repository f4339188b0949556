package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"lodge/api"
	"lodge/client"
)

func networkCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "network", Short: "Manage networks (managed bridges with DHCP, DNS and NAT)"}
	cmd.AddCommand(networkListCmd(), networkShowCmd(), networkCreateCmd(), networkSetCmd(), networkUnsetCmd(),
		networkGetCmd(), networkDeleteCmd(), networkInfoCmd(), networkLeasesCmd(), networkForwardCmd())
	return cmd
}

// networkClient parses a network argument and connects to the daemon.
func networkClient(arg string) (string, *client.Client, error) { return instanceClient(arg) }

func networkListCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:     "list [REMOTE:]",
		Aliases: []string{"ls"},
		Short:   "List networks",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := remoteOnly(args)
			if err != nil {
				return err
			}
			nets, err := c.GetNetworks(cmd.Context())
			if err != nil {
				return err
			}
			var rows [][]string
			for _, n := range nets {
				rows = append(rows, []string{n.Name, n.Type, "YES", n.Config["ipv4.address"], n.Config["ipv6.address"], n.Description,
					fmt.Sprint(len(n.UsedBy)), strings.ToUpper(n.Status)})
			}
			return render(cmd.OutOrStdout(), format, []string{"NAME", "TYPE", "MANAGED", "IPV4", "IPV6", "DESCRIPTION", "USED BY", "STATE"}, rows, nets)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "output format: table, csv, json or yaml")
	return cmd
}

func networkShowCmd() *cobra.Command {
	var target string
	cmd := &cobra.Command{
		Use:   "show NETWORK",
		Short: "Show a network's configuration as YAML",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, c, err := networkClient(args[0])
			if err != nil {
				return err
			}
			n, _, err := c.GetNetworkOn(cmd.Context(), name, target)
			if err != nil {
				return err
			}
			return writeYAML(cmd.OutOrStdout(), n)
		},
	}
	cmd.Flags().StringVar(&target, "target", "", "in a cluster: that member's view (its state)")
	return cmd
}

func networkCreateCmd() *cobra.Command {
	var desc, typ, target string
	cmd := &cobra.Command{
		Use:   "create NETWORK [KEY=VALUE...]",
		Short: "Create a managed bridge (ipv4.address=auto picks a free 10.x.y.1/24)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, c, err := networkClient(args[0])
			if err != nil {
				return err
			}
			cfg, err := parseKV(args[1:])
			if err != nil {
				return err
			}
			if err := c.CreateNetworkOn(cmd.Context(), api.NetworksPost{NetworkPut: api.NetworkPut{Config: cfg, Description: desc}, Name: name, Type: typ}, target); err != nil {
				return err
			}
			if target != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "Network %s pending on member %s\n", name, target)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Network %s created\n", name)
			return nil
		},
	}
	cmd.Flags().StringVar(&desc, "description", "", "description")
	cmd.Flags().StringVarP(&typ, "type", "t", "bridge", "network type (bridge)")
	cmd.Flags().StringVar(&target, "target", "", "in a cluster: define the network on this member (pending); then create it without --target to make it on every member")
	return cmd
}

// updateNetwork applies change to a network's config under its ETag.
func updateNetwork(cmd *cobra.Command, arg string, change func(map[string]string) error) error {
	name, c, err := networkClient(arg)
	if err != nil {
		return err
	}
	n, etag, err := c.GetNetwork(cmd.Context(), name)
	if err != nil {
		return err
	}
	if n.Config == nil {
		n.Config = map[string]string{}
	}
	if err := change(n.Config); err != nil {
		return err
	}
	return c.UpdateNetwork(cmd.Context(), name, n.NetworkPut, etag)
}

func networkSetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "set NETWORK KEY VALUE | NETWORK KEY=VALUE...",
		Short: "Set network config keys",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kv := map[string]string{}
			var err error
			if len(args) == 3 && !containsEq(args[1]) {
				kv[args[1]] = args[2]
			} else if kv, err = parseKV(args[1:]); err != nil {
				return err
			}
			return updateNetwork(cmd, args[0], func(cfg map[string]string) error {
				for k, v := range kv {
					cfg[k] = v
				}
				return nil
			})
		},
	}
}

func networkUnsetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "unset NETWORK KEY...",
		Short: "Remove network config keys",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return updateNetwork(cmd, args[0], func(cfg map[string]string) error {
				for _, k := range args[1:] {
					if _, ok := cfg[k]; !ok {
						return fmt.Errorf("config key %q is not set on network %s", k, args[0])
					}
					delete(cfg, k)
				}
				return nil
			})
		},
	}
}

func networkGetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "get NETWORK KEY",
		Short: "Print one network config value (empty if unset)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, c, err := networkClient(args[0])
			if err != nil {
				return err
			}
			n, _, err := c.GetNetwork(cmd.Context(), name)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), n.Config[args[1]])
			return nil
		},
	}
}

func networkDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "delete NETWORK",
		Aliases: []string{"rm"},
		Short:   "Delete a network no instance uses (bridge, dnsmasq and NAT rules go with it)",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, c, err := networkClient(args[0])
			if err != nil {
				return err
			}
			if err := c.DeleteNetwork(cmd.Context(), name); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Network %s deleted\n", name)
			return nil
		},
	}
}

func networkInfoCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "info NETWORK",
		Short: "Show a network's live state: addresses, counters, ports",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, c, err := networkClient(args[0])
			if err != nil {
				return err
			}
			st, err := c.GetNetworkState(cmd.Context(), name)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "Name: %s\nMAC address: %s\nMTU: %d\nState: %s\nType: %s\n\nIP addresses:\n", name, st.Hwaddr, st.Mtu, st.State, st.Type)
			for _, a := range st.Addresses {
				fmt.Fprintf(w, "  %s\t%s/%s (%s)\n", a.Family, a.Address, a.Netmask, a.Scope)
			}
			fmt.Fprintf(w, "\nNetwork usage:\n  Bytes received: %d\n  Bytes sent: %d\n  Packets received: %d\n  Packets sent: %d\n",
				st.Counters.BytesReceived, st.Counters.BytesSent, st.Counters.PacketsReceived, st.Counters.PacketsSent)
			if st.Bridge != nil {
				ports := append([]string(nil), st.Bridge.UpperDevices...)
				sort.Strings(ports)
				fmt.Fprintf(w, "\nBridge:\n  ID: %s\n  Upper devices: %s\n", st.Bridge.ID, strings.Join(ports, ", "))
			}
			return nil
		},
	}
}

func networkLeasesCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "list-leases NETWORK",
		Short: "List a network's DHCP leases",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, c, err := networkClient(args[0])
			if err != nil {
				return err
			}
			leases, err := c.GetNetworkLeases(cmd.Context(), name)
			if err != nil {
				return err
			}
			var rows [][]string
			for _, l := range leases {
				rows = append(rows, []string{l.Hostname, l.Hwaddr, l.Address, strings.ToUpper(l.Type)})
			}
			return render(cmd.OutOrStdout(), format, []string{"HOSTNAME", "MAC ADDRESS", "IP ADDRESS", "TYPE"}, rows, leases)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "output format: table, csv, json or yaml")
	return cmd
}
