package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"lodge/client"
)

func configCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Manage instance configuration"}
	cmd.AddCommand(configSetCmd(), configUnsetCmd(), configGetCmd(), configShowCmd(), configEditCmd(), configKeysCmd(), configDeviceCmd(), configTrustCmd())
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
		Use:   "set [REMOTE:]INSTANCE KEY VALUE | [REMOTE:]INSTANCE KEY=VALUE... | [REMOTE:] KEY VALUE (server)",
		Short: "Set instance (or server) config keys",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if isServerKey(args[0]) {
				return setServerConfig(cmd, args)
			}
			if len(args) < 2 {
				return fmt.Errorf("give INSTANCE KEY VALUE, or KEY VALUE for a server key")
			}
			kv, err := parseSetArgs(args[1:])
			if err != nil {
				return err
			}
			name, c, err := instanceClient(args[0])
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
		Use:   "unset [REMOTE:]INSTANCE KEY... | [REMOTE:] KEY (server)",
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
	var expanded bool
	cmd := &cobra.Command{
		Use:   "get [REMOTE:]INSTANCE KEY | [REMOTE:] KEY (server)",
		Short: "Print one instance (or server) config value (empty if unset)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 || isServerKey(args[0]) {
				return getServerConfig(cmd, args)
			}
			name, c, err := instanceClient(args[0])
			if err != nil {
				return err
			}
			inst, _, err := c.GetInstance(cmd.Context(), name)
			if err != nil {
				return err
			}
			cfg := inst.Config
			if expanded {
				cfg = inst.ExpandedConfig
			}
			fmt.Fprintln(cmd.OutOrStdout(), cfg[args[1]])
			return nil
		},
	}
	cmd.Flags().BoolVarP(&expanded, "expanded", "e", false, "the value with profiles applied")
	return cmd
}

func configShowCmd() *cobra.Command {
	var expanded bool
	cmd := &cobra.Command{
		Use:   "show [REMOTE:]INSTANCE",
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
			// Device keys lodged would refuse now (stored before it did) get a comment.
			return writeYAMLMarked(cmd.OutOrStdout(), editable{put, inst.Name}, deviceMetadata(cmd.Context(), c))
		},
	}
	cmd.Flags().BoolVar(&expanded, "expanded", false, "show the config with profiles applied")
	return cmd
}

// parseSetArgs reads what config set and profile set take: KEY=VALUE
// pairs, or KEY VALUE [KEY VALUE...] when the first key has no '='.
func parseSetArgs(args []string) (map[string]string, error) {
	if len(args) > 0 && !containsEq(args[0]) {
		if len(args)%2 != 0 {
			return nil, fmt.Errorf("config key %q has no value: give KEY VALUE pairs or KEY=VALUE", args[len(args)-1])
		}
		kv := map[string]string{}
		for i := 0; i < len(args); i += 2 {
			kv[args[i]] = args[i+1]
		}
		return kv, nil
	}
	return parseKV(args)
}
