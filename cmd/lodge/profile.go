package main

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"lodge/api"
	"lodge/client"
)

func profileCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "profile", Short: "Manage profiles (config and devices shared by instances)"}
	device := &cobra.Command{Use: "device", Short: "Manage a profile's devices"}
	device.AddCommand(profileDeviceAddCmd(), profileDeviceRemoveCmd(), profileDeviceSetCmd(), profileDeviceUnsetCmd(),
		profileDeviceGetCmd(), profileDeviceShowCmd(), profileDeviceListCmd())
	cmd.AddCommand(profileListCmd(), profileShowCmd(), profileCreateCmd(), profileCopyCmd(), profileRenameCmd(),
		profileEditCmd(), profileDeleteCmd(), profileSetCmd(), profileUnsetCmd(), profileGetCmd(),
		profileAddCmd(), profileRemoveCmd(), profileAssignCmd(), device)
	return cmd
}

// profileRun runs f connected to the server that the first argument
// ([REMOTE:]NAME) names, with that argument stripped of its remote.
func profileRun(n cobra.PositionalArgs, use, short string, f func(cmd *cobra.Command, c *client.Client, args []string) error) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: n,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, c, err := instanceClient(args[0])
			if err != nil {
				return err
			}
			args[0] = name
			return f(cmd, c, args)
		},
	}
}

func profileListCmd() *cobra.Command {
	return &cobra.Command{Use: "list [REMOTE:]", Aliases: []string{"ls"}, Short: "List profiles", Args: cobra.MaximumNArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		c, err := remoteOnly(args)
		if err != nil {
			return err
		}
		list, err := c.GetProfiles(cmd.Context())
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tDESCRIPTION\tUSED BY")
		for _, p := range list {
			fmt.Fprintf(tw, "%s\t%s\t%d\n", p.Name, p.Description, len(p.UsedBy))
		}
		return tw.Flush()
	}}
}

func profileShowCmd() *cobra.Command {
	return profileRun(cobra.ExactArgs(1), "show PROFILE", "Show a profile as YAML", func(cmd *cobra.Command, c *client.Client, args []string) error {
		p, _, err := c.GetProfile(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		return writeYAMLMarked(cmd.OutOrStdout(), p, deviceMetadata(cmd.Context(), c))
	})
}

func profileCreateCmd() *cobra.Command {
	var desc string
	cmd := profileRun(cobra.ExactArgs(1), "create PROFILE", "Create an empty profile", func(cmd *cobra.Command, c *client.Client, args []string) error {
		if err := c.CreateProfile(cmd.Context(), api.ProfilesPost{Name: args[0], ProfilePut: api.ProfilePut{Description: desc}}); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "Profile %s created\n", args[0])
		return nil
	})
	cmd.Flags().StringVar(&desc, "description", "", "profile description")
	return cmd
}

func profileCopyCmd() *cobra.Command {
	return profileRun(cobra.ExactArgs(2), "copy [REMOTE:]SOURCE [REMOTE:]TARGET", "Copy a profile (to another server too)", func(cmd *cobra.Command, c *client.Client, args []string) error {
		p, _, err := c.GetProfile(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		// The copy goes to the server the target names.
		args[1], c, err = instanceClient(args[1])
		if err != nil {
			return err
		}
		return c.CreateProfile(cmd.Context(), api.ProfilesPost{Name: args[1], ProfilePut: p.ProfilePut})
	})
}

func profileRenameCmd() *cobra.Command {
	return profileRun(cobra.ExactArgs(2), "rename PROFILE NEW-NAME", "Rename a profile", func(cmd *cobra.Command, c *client.Client, args []string) error {
		return c.RenameProfile(cmd.Context(), args[0], args[1])
	})
}

func profileDeleteCmd() *cobra.Command {
	return profileRun(cobra.ExactArgs(1), "delete PROFILE", "Delete an unused profile", func(cmd *cobra.Command, c *client.Client, args []string) error {
		if err := c.DeleteProfile(cmd.Context(), args[0]); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "Profile %s deleted\n", args[0])
		return nil
	})
}

// updateProfile reads a profile, applies change and writes it back guarded by its ETag.
func updateProfile(cmd *cobra.Command, c *client.Client, name string, change func(*api.ProfilePut) error) error {
	p, etag, err := c.GetProfile(cmd.Context(), name)
	if err != nil {
		return err
	}
	if p.Config == nil {
		p.Config = map[string]string{}
	}
	if p.Devices == nil {
		p.Devices = map[string]map[string]string{}
	}
	if err := change(&p.ProfilePut); err != nil {
		return err
	}
	return c.UpdateProfile(cmd.Context(), name, p.ProfilePut, etag)
}

func profileSetCmd() *cobra.Command {
	return profileRun(cobra.MinimumNArgs(2), "set PROFILE KEY VALUE | PROFILE KEY=VALUE...", "Set profile config keys", func(cmd *cobra.Command, c *client.Client, args []string) error {
		kv, err := parseSetArgs(args[1:])
		if err != nil {
			return err
		}
		return updateProfile(cmd, c, args[0], func(p *api.ProfilePut) error {
			for k, v := range kv {
				p.Config[k] = v
			}
			return nil
		})
	})
}

func profileUnsetCmd() *cobra.Command {
	return profileRun(cobra.MinimumNArgs(2), "unset PROFILE KEY...", "Remove profile config keys", func(cmd *cobra.Command, c *client.Client, args []string) error {
		return updateProfile(cmd, c, args[0], func(p *api.ProfilePut) error {
			for _, k := range args[1:] {
				if _, ok := p.Config[k]; !ok {
					return fmt.Errorf("config key %q is not set on profile %s", k, args[0])
				}
				delete(p.Config, k)
			}
			return nil
		})
	})
}

func profileGetCmd() *cobra.Command {
	return profileRun(cobra.ExactArgs(2), "get PROFILE KEY", "Print one profile config value", func(cmd *cobra.Command, c *client.Client, args []string) error {
		p, _, err := c.GetProfile(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), p.Config[args[1]])
		return nil
	})
}

func profileEditCmd() *cobra.Command {
	return profileRun(cobra.ExactArgs(1), "edit PROFILE", "Edit a profile as YAML in $EDITOR (or from stdin)", func(cmd *cobra.Command, c *client.Client, args []string) error {
		p, etag, err := c.GetProfile(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		text, err := yaml.Marshal(p)
		if err != nil {
			return err
		}
		return editYAML(cmd, text, func(b []byte) error {
			var np api.Profile
			dec := yaml.NewDecoder(bytes.NewReader(b))
			dec.KnownFields(true)
			if err := dec.Decode(&np); err != nil && err != io.EOF {
				return fmt.Errorf("YAML: %v", err)
			}
			if np.Name != "" && np.Name != args[0] {
				return fmt.Errorf("name: rename with lodge profile rename (keep name: %s)", args[0])
			}
			if err := c.UpdateProfile(cmd.Context(), args[0], np.ProfilePut, etag); err != nil {
				return err
			}
			_, etag, _ = c.GetProfile(cmd.Context(), args[0])
			return nil
		})
	})
}

// updateInstanceProfiles rewrites an instance's profile list.
func updateInstanceProfiles(cmd *cobra.Command, c *client.Client, name string, change func([]string) ([]string, error)) error {
	inst, etag, err := c.GetInstance(cmd.Context(), name)
	if err != nil {
		return err
	}
	list, err := change(slices.Clone(inst.Profiles))
	if err != nil {
		return err
	}
	inst.Profiles = list
	if inst.Profiles == nil {
		inst.Profiles = []string{}
	}
	op, err := c.UpdateInstance(cmd.Context(), name, inst.InstancePut, etag)
	if err != nil {
		return err
	}
	return op.Wait(cmd.Context())
}

func profileAddCmd() *cobra.Command {
	return profileRun(cobra.ExactArgs(2), "add INSTANCE PROFILE", "Append a profile to an instance's profiles", func(cmd *cobra.Command, c *client.Client, args []string) error {
		return updateInstanceProfiles(cmd, c, args[0], func(l []string) ([]string, error) {
			if slices.Contains(l, args[1]) {
				return nil, fmt.Errorf("instance %s already has profile %s", args[0], args[1])
			}
			return append(l, args[1]), nil
		})
	})
}

func profileRemoveCmd() *cobra.Command {
	return profileRun(cobra.ExactArgs(2), "remove INSTANCE PROFILE", "Remove a profile from an instance", func(cmd *cobra.Command, c *client.Client, args []string) error {
		return updateInstanceProfiles(cmd, c, args[0], func(l []string) ([]string, error) {
			i := slices.Index(l, args[1])
			if i < 0 {
				return nil, fmt.Errorf("instance %s does not have profile %s", args[0], args[1])
			}
			return slices.Delete(l, i, i+1), nil
		})
	})
}

func profileAssignCmd() *cobra.Command {
	return profileRun(cobra.ExactArgs(2), "assign INSTANCE PROFILE[,PROFILE...]", "Set an instance's profiles (\"\" for none)", func(cmd *cobra.Command, c *client.Client, args []string) error {
		return updateInstanceProfiles(cmd, c, args[0], func([]string) ([]string, error) {
			if args[1] == "" {
				return []string{}, nil
			}
			return strings.Split(args[1], ","), nil
		})
	})
}

func profileDeviceAddCmd() *cobra.Command {
	return profileRun(cobra.MinimumNArgs(3), "add PROFILE DEVICE TYPE [KEY=VALUE...]", "Add a device to a profile", func(cmd *cobra.Command, c *client.Client, args []string) error {
		kv, err := parseKV(args[3:])
		if err != nil {
			return err
		}
		kv["type"] = args[2]
		return updateProfile(cmd, c, args[0], func(p *api.ProfilePut) error {
			if _, ok := p.Devices[args[1]]; ok {
				return fmt.Errorf("profile %s already has a device %s", args[0], args[1])
			}
			p.Devices[args[1]] = kv
			return nil
		})
	})
}

func profileDeviceRemoveCmd() *cobra.Command {
	return profileRun(cobra.ExactArgs(2), "remove PROFILE DEVICE", "Remove a device from a profile", func(cmd *cobra.Command, c *client.Client, args []string) error {
		return updateProfile(cmd, c, args[0], func(p *api.ProfilePut) error {
			if _, ok := p.Devices[args[1]]; !ok {
				return fmt.Errorf("profile %s has no device %s", args[0], args[1])
			}
			delete(p.Devices, args[1])
			return nil
		})
	})
}

// profileDevice returns a profile's device, or an error naming what exists.
func profileDevice(p *api.ProfilePut, profile, dev string) (map[string]string, error) {
	d, ok := p.Devices[dev]
	if !ok {
		return nil, fmt.Errorf("profile %s has no device %s", profile, dev)
	}
	return d, nil
}

func profileDeviceSetCmd() *cobra.Command {
	return profileRun(cobra.MinimumNArgs(3), "set PROFILE DEVICE KEY=VALUE...", "Set keys of a profile's device (every instance using it follows)", func(cmd *cobra.Command, c *client.Client, args []string) error {
		kv := map[string]string{}
		var err error
		if len(args) == 4 && !containsEq(args[2]) {
			kv[args[2]] = args[3]
		} else if kv, err = parseKV(args[2:]); err != nil {
			return err
		}
		return updateProfile(cmd, c, args[0], func(p *api.ProfilePut) error {
			d, err := profileDevice(p, args[0], args[1])
			if err != nil {
				return err
			}
			for k, v := range kv {
				d[k] = v
			}
			return nil
		})
	})
}

func profileDeviceUnsetCmd() *cobra.Command {
	return profileRun(cobra.MinimumNArgs(3), "unset PROFILE DEVICE KEY...", "Remove keys of a profile's device", func(cmd *cobra.Command, c *client.Client, args []string) error {
		return updateProfile(cmd, c, args[0], func(p *api.ProfilePut) error {
			d, err := profileDevice(p, args[0], args[1])
			if err != nil {
				return err
			}
			for _, k := range args[2:] {
				if _, ok := d[k]; !ok {
					return fmt.Errorf("device %s of profile %s has no key %q", args[1], args[0], k)
				}
				delete(d, k)
			}
			return nil
		})
	})
}

func profileDeviceGetCmd() *cobra.Command {
	return profileRun(cobra.ExactArgs(3), "get PROFILE DEVICE KEY", "Print one key of a profile's device", func(cmd *cobra.Command, c *client.Client, args []string) error {
		p, _, err := c.GetProfile(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		d, err := profileDevice(&p.ProfilePut, args[0], args[1])
		if err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), d[args[2]])
		return nil
	})
}

func profileDeviceShowCmd() *cobra.Command {
	return profileRun(cobra.ExactArgs(1), "show PROFILE", "Show a profile's devices as YAML", func(cmd *cobra.Command, c *client.Client, args []string) error {
		p, _, err := c.GetProfile(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		return writeDevicesMarked(cmd.OutOrStdout(), p.Devices, deviceMetadata(cmd.Context(), c))
	})
}

func profileDeviceListCmd() *cobra.Command {
	return profileRun(cobra.ExactArgs(1), "list PROFILE", "List a profile's device names", func(cmd *cobra.Command, c *client.Client, args []string) error {
		p, _, err := c.GetProfile(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		for _, n := range slices.Sorted(maps.Keys(p.Devices)) {
			fmt.Fprintln(cmd.OutOrStdout(), n)
		}
		return nil
	})
}
