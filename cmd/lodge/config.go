package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"lodge/api"
	"lodge/client"
)

func configCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Manage instance configuration"}
	cmd.AddCommand(configSetCmd(), configUnsetCmd(), configGetCmd(), configShowCmd(), configTrustCmd())
	return cmd
}

// updateConfig reads the instance, applies change to its config and writes
// it back guarded by the ETag, as lxc config set does.
func updateConfig(cmd *cobra.Command, c *client.Client, name string, change func(map[string]string) error) error {
	inst, etag, err := c.GetInstance(cmd.Context(), name)
	if err != nil {
		return err
	}
	if inst.Config == nil {
		inst.Config = map[string]string{}
	}
	if err := change(inst.Config); err != nil {
		return err
	}
	op, err := c.UpdateInstance(cmd.Context(), name, inst.InstancePut, etag)
	if err != nil {
		return err
	}
	return op.Wait(cmd.Context())
}

func configSetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "set INSTANCE KEY VALUE | INSTANCE KEY=VALUE... | KEY VALUE (server)",
		Short: "Set instance (or server) config keys",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if isServerKey(args[0]) {
				return setServerConfig(cmd, args)
			}
			if len(args) < 2 {
				return fmt.Errorf("give INSTANCE KEY VALUE, or KEY VALUE for a server key")
			}
			name, err := localName(args[0])
			if err != nil {
				return err
			}
			kv := map[string]string{}
			if len(args) == 3 && !containsEq(args[1]) {
				kv[args[1]] = args[2]
			} else if kv, err = parseKV(args[1:]); err != nil {
				return err
			}
			c, err := connect()
			if err != nil {
				return err
			}
			return updateConfig(cmd, c, name, func(cfg map[string]string) error {
				for k, v := range kv {
					cfg[k] = v
				}
				return nil
			})
		},
	}
}

func containsEq(s string) bool {
	for _, r := range s {
		if r == '=' {
			return true
		}
	}
	return false
}

func configUnsetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "unset INSTANCE KEY... | KEY (server)",
		Short: "Remove instance (or server) config keys",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if isServerKey(args[0]) {
				return unsetServerConfig(cmd, args)
			}
			if len(args) < 2 {
				return fmt.Errorf("give INSTANCE KEY, or KEY for a server key")
			}
			name, c, err := instanceClient(args[0])
			if err != nil {
				return err
			}
			return updateConfig(cmd, c, name, func(cfg map[string]string) error {
				for _, k := range args[1:] {
					if _, ok := cfg[k]; !ok {
						return fmt.Errorf("config key %q is not set on %s", k, name)
					}
					delete(cfg, k)
				}
				return nil
			})
		},
	}
}

func configGetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "get INSTANCE KEY | KEY (server)",
		Short: "Print one instance (or server) config value (empty if unset)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				return getServerConfig(cmd, args[0])
			}
			name, c, err := instanceClient(args[0])
			if err != nil {
				return err
			}
			inst, _, err := c.GetInstance(cmd.Context(), name)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), inst.Config[args[1]])
			return nil
		},
	}
}

func configShowCmd() *cobra.Command {
	var expanded bool
	cmd := &cobra.Command{
		Use:   "show INSTANCE",
		Short: "Show an instance's configuration as YAML",
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
			put := inst.InstancePut
			if expanded {
				put.Config, put.Devices = inst.ExpandedConfig, inst.ExpandedDevices
			}
			out := struct {
				api.InstancePut `yaml:",inline"`
				Name            string `yaml:"name"`
			}{put, inst.Name}
			b, err := yaml.Marshal(out)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
	cmd.Flags().BoolVar(&expanded, "expanded", false, "show the config with profiles applied")
	return cmd
}
