package main

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"
)

func infoCmd() *cobra.Command {
	var showLog bool
	cmd := &cobra.Command{
		Use:   "info NAME",
		Short: "Show an instance's state and resources",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
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
