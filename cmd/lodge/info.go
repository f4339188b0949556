package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"lodge/client"
)

func infoCmd() *cobra.Command {
	var showLog, showResources bool
	cmd := &cobra.Command{
		Use:   "info [REMOTE:]NAME | [REMOTE:] [--resources]",
		Short: "Show an instance's state and resources, or the server's (its host with --resources)",
		Args:  cobra.RangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 || strings.HasSuffix(args[0], ":") {
				c, err := remoteOnly(args)
				if err != nil {
					return err
				}
				if showResources {
					return printResources(cmd, c)
				}
				srv, err := c.GetServer(cmd.Context())
				if err != nil {
					return err
				}
				return writeYAML(cmd.OutOrStdout(), srv)
			}
			if showResources {
				return fmt.Errorf("--resources shows the server's host; give REMOTE: or nothing, not an instance")
			}
			name, c, err := instanceClient(args[0])
			if err != nil {
				return err
			}
			if showLog {
				log, err := c.ConsoleLog(cmd.Context(), name)
				if err != nil {
					return err
				}
				fmt.Fprint(cmd.OutOrStdout(), log)
				return nil
			}
			inst, err := c.GetInstanceFull(cmd.Context(), name)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "Name: %s\nStatus: %s\nType: container\nArchitecture: %s\n", inst.Name, upper(inst.Status), inst.Architecture)
			fmt.Fprintf(w, "Created: %s\n", inst.CreatedAt.Local().Format("2006/01/02 15:04 MST"))
			if !inst.LastUsedAt.IsZero() {
				fmt.Fprintf(w, "Last Used: %s\n", inst.LastUsedAt.Local().Format("2006/01/02 15:04 MST"))
			}
			if st := inst.State; st != nil && st.Pid > 0 {
				fmt.Fprintf(w, "PID: %d\n\nResources:\n  Processes: %d\n", st.Pid, st.Processes)
				fmt.Fprintf(w, "  CPU usage:\n    CPU usage (in seconds): %d\n", st.CPU.Usage/1e9)
				fmt.Fprintf(w, "  Memory usage:\n    Memory (current): %s\n", humanBytes(st.Memory.Usage))
				if st.Memory.UsagePeak > 0 {
					fmt.Fprintf(w, "    Memory (peak): %s\n", humanBytes(st.Memory.UsagePeak))
				}
				if st.Memory.SwapUsage > 0 {
					fmt.Fprintf(w, "    Swap (current): %s\n", humanBytes(st.Memory.SwapUsage))
				}
				names := make([]string, 0, len(st.Network))
				for n := range st.Network {
					names = append(names, n)
				}
				sort.Strings(names)
				if len(names) > 0 {
					fmt.Fprintf(w, "  Network usage:\n")
				}
				for _, n := range names {
					nw := st.Network[n]
					fmt.Fprintf(w, "    %s:\n      Type: %s\n      State: %s\n", n, nw.Type, upper(nw.State))
					if nw.Hwaddr != "" {
						fmt.Fprintf(w, "      MAC address: %s\n", nw.Hwaddr)
					}
					fmt.Fprintf(w, "      MTU: %d\n", nw.Mtu)
					for _, a := range nw.Addresses {
						fmt.Fprintf(w, "      IP address: %s/%s (%s)\n", a.Address, a.Netmask, a.Scope)
					}
				}
			}
			if snaps, err := c.GetSnapshots(cmd.Context(), name); err == nil {
				printSnapshots(w, snaps)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&showLog, "show-log", false, "show the console and liblxc log instead")
	cmd.Flags().BoolVar(&showResources, "resources", false, "show the host's CPUs, memory, disks and the kernel limits lodged raised")
	return cmd
}

func humanBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d%s", n, units[0])
	}
	return fmt.Sprintf("%.2f%s", f, units[i])
}

func printResources(cmd *cobra.Command, c *client.Client) error {
	res, err := c.GetResources(cmd.Context())
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "CPU (%s):\n", res.CPU.Architecture)
	for _, s := range res.CPU.Sockets {
		threads := 0
		for _, c := range s.Cores {
			threads += len(c.Threads)
		}
		fmt.Fprintf(w, "  Socket %d: %s %s, %d cores, %d threads\n", s.Socket, s.Vendor, s.Name, len(s.Cores), threads)
	}
	fmt.Fprintf(w, "  Total: %d\n\nMemory:\n  Used: %s\n  Total: %s\n\nDisks:\n", res.CPU.Total, humanBytes(int64(res.Memory.Used)), humanBytes(int64(res.Memory.Total)))
	for _, d := range res.Storage.Disks {
		ro := ""
		if d.ReadOnly {
			ro = ", read-only"
		}
		kind := d.Type
		if d.Model != "" {
			kind += " " + d.Model
		}
		fmt.Fprintf(w, "  %s (%s): %s, %s%s\n", d.ID, d.Device, humanBytes(int64(d.Size)), kind, ro)
	}
	if len(res.HostLimits) > 0 {
		fmt.Fprintf(w, "\nHost limits (raised by lodged at start, never lowered):\n")
	}
	for _, l := range res.HostLimits {
		switch {
		case l.Error != "":
			fmt.Fprintf(w, "  %s = %d, wanted at least %d: %s\n", l.Key, l.Value, l.Minimum, l.Error)
		case l.RaisedFrom != nil:
			fmt.Fprintf(w, "  %s = %d (raised from %d)\n", l.Key, l.Value, *l.RaisedFrom)
		default:
			fmt.Fprintf(w, "  %s = %d\n", l.Key, l.Value)
		}
	}
	return nil
}
