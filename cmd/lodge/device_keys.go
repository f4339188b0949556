package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"lodge/api"
	"lodge/client"
)

func deviceKeysCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "keys TYPE",
		Short: "List the keys lodged accepts on a device type (nic, disk, proxy)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := connect()
			if err != nil {
				return err
			}
			md, err := c.GetConfigMetadata(cmd.Context())
			if err != nil {
				return err
			}
			return printDeviceKeys(cmd.OutOrStdout(), md, args[0])
		},
	}
}

func printDeviceKeys(w io.Writer, md api.ConfigMetadata, typ string) error {
	types := make([]string, 0, len(md.Devices))
	for t := range md.Devices {
		types = append(types, t)
	}
	sort.Strings(types)
	e, ok := md.Devices[typ]
	switch {
	case ok:
	case len(md.Devices) == 0:
		return fmt.Errorf("this server does not describe its device keys")
	case slices.Contains(md.DeviceTypesNotYet, typ):
		return fmt.Errorf("device type %q is not supported yet (lodged supports %s)", typ, strings.Join(types, ", "))
	default:
		return fmt.Errorf("unknown device type %q (lodged supports %s)", typ, strings.Join(types, ", "))
	}
	fmt.Fprintf(w, "%s: %s\n", typ, e.ShortDesc)
	for _, k := range e.Kinds {
		fmt.Fprintf(w, "  %s: %s\n", k.Name, k.ShortDesc)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tTYPE\tDEFAULT\tLIVE\tAPPLIES TO\tDESCRIPTION")
	for _, k := range e.Keys {
		live, def, kinds := "no", k.Default, strings.Join(k.AppliesTo, ",")
		if k.LiveUpdate {
			live = "yes"
		}
		if def == "" {
			def = "-"
		}
		if kinds == "" {
			kinds = "all"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.Name, k.Type, def, live, kinds, k.ShortDesc)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var yet []string
	yet = append(yet, e.NotYet...)
	for k, vals := range e.NotYetValues {
		for _, v := range vals {
			yet = append(yet, k+"="+v)
		}
	}
	if len(yet) > 0 {
		sort.Strings(yet)
		fmt.Fprintf(w, "\nNot supported yet (refused): %s\n", strings.Join(yet, ", "))
	}
	return nil
}

func deviceOverrideCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "override INSTANCE DEVICE [KEY=VALUE...]",
		Short: "Copy a device from the instance's profiles into the instance, with keys changed, e.g. override c01 eth0 mtu=1400",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kv, err := parseKV(args[2:])
			if err != nil {
				return err
			}
			dev := args[1]
			return updateDevices(cmd, args[0], func(inst api.Instance, devs map[string]map[string]string) error {
				if _, ok := devs[dev]; ok {
					return fmt.Errorf("device %q already exists on %s (it is the instance's own: change it with lodge config device set)", dev, inst.Name)
				}
				p, ok := inst.ExpandedDevices[dev]
				if !ok {
					return fmt.Errorf("no profile of %s has a device %q (profiles: %s; lodge config device add creates one)", inst.Name, dev, strings.Join(inst.Profiles, ", "))
				}
				d := make(map[string]string, len(p)+len(kv))
				for k, v := range p {
					d[k] = v
				}
				for k, v := range kv {
					d[k] = v
				}
				devs[dev] = d
				return nil
			})
		},
	}
}

// deviceMetadata is the server's device registry, or nil when it does not
// describe one (an LXD server): marking refused keys is then skipped.
func deviceMetadata(ctx context.Context, c *client.Client) *api.ConfigMetadata {
	md, err := c.GetConfigMetadata(ctx)
	if err != nil || len(md.Devices) == 0 {
		return nil
	}
	return &md
}

// refusedDeviceKeys tells which keys of a stored device lodged would refuse
// now (they were stored before it refused them) and why; lodged keeps such
// devices working, but the keys do nothing.
func refusedDeviceKeys(md *api.ConfigMetadata, d map[string]string) map[string]string {
	if md == nil {
		return nil
	}
	e, ok := md.Devices[d["type"]]
	if !ok {
		return nil
	}
	known := map[string]api.ConfigKey{}
	for _, k := range e.Keys {
		known[k.Name] = k
	}
	kind := api.DeviceKind(d)
	out := map[string]string{}
	for k := range d {
		ck, ok := known[k]
		switch {
		case k == "type":
		case !ok && slices.Contains(e.NotYet, k):
			out[k] = "not supported yet by lodge: stored, not enforced"
		case !ok:
			out[k] = "not a " + d["type"] + " key lodge knows: stored, ignored"
		case len(ck.AppliesTo) > 0 && kind != "" && !slices.Contains(ck.AppliesTo, kind):
			out[k] = "does not apply to this " + d["type"] + " (" + kind + "): stored, ignored"
		}
	}
	return out
}

// writeYAMLMarked writes v (an object with devices) as YAML like
// writeYAML, with a comment on each device key lodged would refuse now.
// The YAML stays what lxc shows, so it can be edited and applied again.
func writeYAMLMarked(w io.Writer, v any, md *api.ConfigMetadata) error {
	return writeMarked(w, v, md, func(n *yaml.Node) *yaml.Node { return mappingValue(n, "devices") })
}

// writeDevicesMarked is writeYAMLMarked for a map of devices.
func writeDevicesMarked(w io.Writer, devs map[string]map[string]string, md *api.ConfigMetadata) error {
	if devs == nil {
		devs = map[string]map[string]string{}
	}
	return writeMarked(w, devs, md, func(n *yaml.Node) *yaml.Node { return n })
}

func writeMarked(w io.Writer, v any, md *api.ConfigMetadata, devices func(*yaml.Node) *yaml.Node) error {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return err
	}
	markDevices(devices(&n), md)
	b, err := yaml.Marshal(&n)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func markDevices(devices *yaml.Node, md *api.ConfigMetadata) {
	if md == nil || devices == nil || devices.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(devices.Content); i += 2 {
		dn := devices.Content[i+1]
		if dn.Kind != yaml.MappingNode {
			continue
		}
		d := map[string]string{}
		for j := 0; j+1 < len(dn.Content); j += 2 {
			d[dn.Content[j].Value] = dn.Content[j+1].Value
		}
		refused := refusedDeviceKeys(md, d)
		for j := 0; j+1 < len(dn.Content); j += 2 {
			if why, ok := refused[dn.Content[j].Value]; ok {
				dn.Content[j+1].LineComment = why
			}
		}
	}
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
