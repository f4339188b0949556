package main

import (
	"fmt"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"lodge/api"
)

// column is one `lodge list -c` column, keyed by LXD's short letters.
type column struct {
	name string
	data func(api.InstanceFull) string
}

var columns = map[rune]column{
	'n': {"NAME", func(i api.InstanceFull) string { return i.Name }},
	's': {"STATE", func(i api.InstanceFull) string { return upper(i.Status) }},
	'4': {"IPV4", func(i api.InstanceFull) string { return addresses(i.State, "inet") }},
	'6': {"IPV6", func(i api.InstanceFull) string { return addresses(i.State, "inet6") }},
	't': {"TYPE", func(i api.InstanceFull) string {
		if i.Ephemeral {
			return "CONTAINER (EPHEMERAL)"
		}
		return "CONTAINER"
	}},
	'S': {"SNAPSHOTS", func(i api.InstanceFull) string { return strconv.Itoa(len(i.Snapshots)) }},
	'a': {"ARCHITECTURE", func(i api.InstanceFull) string { return i.Architecture }},
	'c': {"CREATED AT", func(i api.InstanceFull) string { return i.CreatedAt.UTC().Format("2006/01/02 15:04 MST") }},
	'd': {"DESCRIPTION", func(i api.InstanceFull) string { return i.Description }},
	'p': {"PID", func(i api.InstanceFull) string {
		if i.State == nil || i.State.Pid == 0 {
			return ""
		}
		return strconv.FormatInt(i.State.Pid, 10)
	}},
	'P': {"PROFILES", func(i api.InstanceFull) string { return strings.Join(i.Profiles, "\n") }},
	'L': {"LOCATION", func(i api.InstanceFull) string { return i.Location }},
}

// parseColumns turns "ns4" into columns, refusing unknown letters.
func parseColumns(spec string) ([]column, error) {
	var out []column
	for _, r := range strings.ReplaceAll(spec, ",", "") {
		c, ok := columns[r]
		if !ok {
			return nil, fmt.Errorf("unknown column %q in -c %s (known: n s 4 6 t S a c d p P L)", string(r), spec)
		}
		out = append(out, c)
	}
	return out, nil
}

// addresses renders "10.0.3.5 (eth0)" lines, skipping loopback and link-local.
func addresses(st *api.InstanceState, family string) string {
	if st == nil {
		return ""
	}
	names := make([]string, 0, len(st.Network))
	for n := range st.Network {
		names = append(names, n)
	}
	sort.Strings(names)
	var lines []string
	for _, n := range names {
		if n == "lo" {
			continue
		}
		for _, a := range st.Network[n].Addresses {
			ip := net.ParseIP(a.Address)
			if a.Family != family || a.Scope == "link" || ip == nil || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
				continue
			}
			lines = append(lines, fmt.Sprintf("%s (%s)", a.Address, n))
		}
	}
	return strings.Join(lines, "\n")
}

// matchFilter keeps instances whose name matches any filter, as a prefix or
// as a regular expression over the whole name (like lxc list).
func matchFilter(name string, filters []string) bool {
	if len(filters) == 0 {
		return true
	}
	for _, f := range filters {
		if strings.HasPrefix(name, f) {
			return true
		}
		if re, err := regexp.Compile("^(?:" + f + ")$"); err == nil && re.MatchString(name) {
			return true
		}
	}
	return false
}

// splitFilters separates list's FILTER args: name patterns (matchFilter's)
// and KEY=VALUE, which as for lxc list become the server's filter, every
// one to match ("status=running location=m2": status eq running and
// location eq m2; VALUE is a regular expression over the whole value).
func splitFilters(args []string) (names []string, filter string) {
	var clauses []string
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			names = append(names, a)
			continue
		}
		if strings.ContainsAny(v, " \t") {
			v = `"` + v + `"`
		}
		clauses = append(clauses, k+" eq "+v)
	}
	return names, strings.Join(clauses, " and ")
}

// clustered tells whether the instances come from a cluster (they are
// located on members, "none" standalone).
func clustered(all []api.InstanceFull) bool {
	for _, i := range all {
		if i.Location != "" && i.Location != "none" {
			return true
		}
	}
	return false
}

func listCmd() *cobra.Command {
	var format, cols string
	cmd := &cobra.Command{
		Use: "list [REMOTE:] [FILTER...]",
		Long: `List instances. A FILTER is a name (a prefix, or a regular expression
over the whole name; any of them matches) or KEY=VALUE, which the server
answers over every member of a cluster (all of them must match; KEY is a
field of the instance: status, location, architecture, description,
config.KEY, expanded_config.KEY, ...; VALUE a regular expression over the
whole value, case-insensitive): lodge list status=running location=m2.`,
		Aliases: []string{"ls"},
		Short:   "List instances",
		RunE: func(cmd *cobra.Command, args []string) error {
			cs, err := parseColumns(cols)
			if err != nil {
				return err
			}
			c, args, err := remoteClient(args)
			if err != nil {
				return err
			}
			names, filter := splitFilters(args)
			if format == "json" && len(args) == 0 {
				// Unfiltered JSON is what the server sent (sorted by
				// name): passed on, not decoded and encoded again.
				raw, err := c.GetInstancesJSON(cmd.Context())
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", raw)
				return err
			}
			var all []api.InstanceFull
			if filter != "" {
				// Answered by the server, over every member of a cluster.
				all, err = c.QueryInstances(cmd.Context(), filter)
			} else {
				all, err = c.GetInstances(cmd.Context())
			}
			if err != nil {
				return err
			}
			insts := make([]api.InstanceFull, 0, len(all))
			for _, i := range all {
				if matchFilter(i.Name, names) {
					insts = append(insts, i)
				}
			}
			sort.Slice(insts, func(a, b int) bool { return insts[a].Name < insts[b].Name })
			if !cmd.Flags().Changed("columns") && clustered(all) {
				// As lxc list: a cluster's list says where each instance is.
				cs = append(cs, columns['L'])
			}
			header := make([]string, len(cs))
			for i, c := range cs {
				header[i] = c.name
			}
			rows := make([][]string, 0, len(insts))
			for _, inst := range insts {
				row := make([]string, len(cs))
				for i, c := range cs {
					row[i] = c.data(inst)
				}
				rows = append(rows, row)
			}
			return render(cmd.OutOrStdout(), format, header, rows, insts)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "table, csv, json or yaml")
	cmd.Flags().StringVarP(&cols, "columns", "c", "ns46tS", "columns: n name, s state, 4 IPv4, 6 IPv6, t type, S snapshots, a arch, c created, d description, p pid, P profiles, L location (default in a cluster)")
	return cmd
}
