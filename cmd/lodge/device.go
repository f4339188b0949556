package main

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"lodge/api"
)

// configDeviceCmd is lxc config device: devices are edited by a PUT of the
// instance's devices under its ETag, as LXD's client does.
func configDeviceCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "device", Short: "Manage instance devices (nic, proxy, disk)"}
	cmd.AddCommand(deviceAddCmd(), deviceRemoveCmd(), deviceSetCmd(), deviceUnsetCmd(), deviceGetCmd(), deviceShowCmd(), deviceListCmd(),
		deviceOverrideCmd(), deviceKeysCmd())
	return cmd
}

// updateDevices reads the instance, applies change to its devices and writes
// them back; expanded holds the devices that profiles add.
func updateDevices(cmd *cobra.Command, arg string, change func(inst api.Instance, devs map[string]map[string]string) error) error {
	name, c, err := instanceClient(arg)
	if err != nil {
		return err
	}
	inst, etag, err := c.GetInstance(cmd.Context(), name)
	if err != nil {
		return err
	}
	if inst.Devices == nil {
		inst.Devices = map[string]map[string]string{}
	}
	if err := change(inst, inst.Devices); err != nil {
		return err
	}
	op, err := c.UpdateInstance(cmd.Context(), name, inst.InstancePut, etag)
	if err != nil {
		return err
	}
	// NICs and proxies are applied to a running instance by the operation.
	return op.Wait(cmd.Context())
}

func deviceAddCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "add INSTANCE DEVICE TYPE [KEY=VALUE...]",
		Short: "Add a device, e.g. add c01 eth1 nic network=lodgebr0, or add c01 web proxy listen=tcp:0.0.0.0:8080 connect=tcp:127.0.0.1:80",
		Args:  cobra.MinimumNArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			kv, err := parseKV(args[3:])
			if err != nil {
				return err
			}
			return updateDevices(cmd, args[0], func(inst api.Instance, devs map[string]map[string]string) error {
				if _, ok := devs[args[1]]; ok {
					return fmt.Errorf("device %q already exists on %s", args[1], inst.Name)
				}
				kv["type"] = args[2]
				devs[args[1]] = kv
				return nil
			})
		},
	}
}

func deviceRemoveCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "remove INSTANCE DEVICE...",
		Aliases: []string{"rm"},
		Short:   "Remove devices",
		Args:    cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return updateDevices(cmd, args[0], func(inst api.Instance, devs map[string]map[string]string) error {
				for _, d := range args[1:] {
					if _, ok := devs[d]; !ok {
						if _, prof := inst.ExpandedDevices[d]; prof {
							return fmt.Errorf("device %q comes from a profile; change the profile, or override it with lodge config device override", d)
						}
						return fmt.Errorf("device %q not found on %s", d, inst.Name)
					}
					delete(devs, d)
				}
				return nil
			})
		},
	}
}

// ownDevice returns the instance's own copy of a device; a device that only
// a profile provides is copied in first (an override, as lxc config device
// override does).
func ownDevice(inst api.Instance, devs map[string]map[string]string, dev string) (map[string]string, error) {
	if d, ok := devs[dev]; ok {
		return d, nil
	}
	p, ok := inst.ExpandedDevices[dev]
	if !ok {
		return nil, fmt.Errorf("device %q not found on %s", dev, inst.Name)
	}
	d := map[string]string{}
	for k, v := range p {
		d[k] = v
	}
	devs[dev] = d
	return d, nil
}

func deviceSetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "set INSTANCE DEVICE KEY=VALUE...",
		Short: "Set device keys, e.g. set c01 eth0 ipv4.address=10.x.y.50",
		Args:  cobra.MinimumNArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			kv := map[string]string{}
			var err error
			if len(args) == 4 && !containsEq(args[2]) {
				kv[args[2]] = args[3]
			} else if kv, err = parseKV(args[2:]); err != nil {
				return err
			}
			return updateDevices(cmd, args[0], func(inst api.Instance, devs map[string]map[string]string) error {
				d, err := ownDevice(inst, devs, args[1])
				if err != nil {
					return err
				}
				for k, v := range kv {
					d[k] = v
				}
				return nil
			})
		},
	}
}

func deviceUnsetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "unset INSTANCE DEVICE KEY...",
		Short: "Remove device keys",
		Args:  cobra.MinimumNArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return updateDevices(cmd, args[0], func(inst api.Instance, devs map[string]map[string]string) error {
				d, err := ownDevice(inst, devs, args[1])
				if err != nil {
					return err
				}
				for _, k := range args[2:] {
					delete(d, k)
				}
				return nil
			})
		},
	}
}

func deviceGetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "get INSTANCE DEVICE KEY",
		Short: "Print one device key",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, c, err := instanceClient(args[0])
			if err != nil {
				return err
			}
			inst, _, err := c.GetInstance(cmd.Context(), name)
			if err != nil {
				return err
			}
			d, ok := inst.ExpandedDevices[args[1]]
			if !ok {
				return fmt.Errorf("device %q not found on %s", args[1], name)
			}
			fmt.Fprintln(cmd.OutOrStdout(), d[args[2]])
			return nil
		},
	}
}

func deviceShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show INSTANCE",
		Short: "Show an instance's devices (with those from profiles) as YAML",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, c, err := instanceClient(args[0])
			if err != nil {
				return err
			}
			inst, _, err := c.GetInstance(cmd.Context(), name)
			if err != nil {
				return err
			}
			return writeDevicesMarked(cmd.OutOrStdout(), inst.ExpandedDevices, deviceMetadata(cmd.Context(), c))
		},
	}
}

func deviceListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list INSTANCE",
		Short: "List an instance's device names",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, c, err := instanceClient(args[0])
			if err != nil {
				return err
			}
			inst, _, err := c.GetInstance(cmd.Context(), name)
			if err != nil {
				return err
			}
			names := make([]string, 0, len(inst.ExpandedDevices))
			for n := range inst.ExpandedDevices {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				fmt.Fprintln(cmd.OutOrStdout(), n)
			}
			return nil
		},
	}
}
