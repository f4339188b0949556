package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"lodge/api"
)

func storageCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "storage", Short: "Manage storage pools"}
	cmd.AddCommand(storageListCmd(), storageShowCmd(), storageInfoCmd(), storageCreateCmd(), storageSetCmd(), storageDeleteCmd(), storageVolumeCmd())
	return cmd
}

func storageListCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:     "list [REMOTE:]",
		Aliases: []string{"ls"},
		Short:   "List storage pools",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := remoteOnly(args)
			if err != nil {
				return err
			}
			list, err := c.GetStoragePools(cmd.Context())
			if err != nil {
				return err
			}
			rows := make([][]string, 0, len(list))
			for _, p := range list {
				rows = append(rows, []string{p.Name, p.Driver, p.Config["source"], p.Description, fmt.Sprint(len(p.UsedBy)), upper(p.Status)})
			}
			return render(cmd.OutOrStdout(), format, []string{"NAME", "DRIVER", "SOURCE", "DESCRIPTION", "USED BY", "STATE"}, rows, list)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "table, csv, json or yaml")
	return cmd
}

func storageShowCmd() *cobra.Command {
	var target string
	cmd := &cobra.Command{
		Use:   "show [REMOTE:]POOL",
		Short: "Show a storage pool's configuration",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pool, c, err := instanceClient(args[0])
			if err != nil {
				return err
			}
			args[0] = pool
			p, _, err := c.GetStoragePoolOn(cmd.Context(), args[0], target)
			if err != nil {
				return err
			}
			return writeYAML(cmd.OutOrStdout(), p)
		},
	}
	cmd.Flags().StringVar(&target, "target", "", "in a cluster: that member's view (its own keys, such as source, and state)")
	return cmd
}

func storageInfoCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "info [REMOTE:]POOL",
		Short: "Show a storage pool's usage",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pool, c, err := instanceClient(args[0])
			if err != nil {
				return err
			}
			args[0] = pool
			p, _, err := c.GetStoragePool(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			res, err := c.GetStoragePoolResources(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "info:\n  name: %s\n  driver: %s\n  description: %s\n  space used: %s\n  total space: %s\n",
				p.Name, p.Driver, p.Description, humanBytes(int64(res.Space.Used)), humanBytes(int64(res.Space.Total)))
			fmt.Fprintf(w, "  inodes used: %d\n  total inodes: %d\nused by:\n", res.Inodes.Used, res.Inodes.Total)
			for _, u := range p.UsedBy {
				fmt.Fprintf(w, "  - %s\n", u)
			}
			return nil
		},
	}
}

func storageCreateCmd() *cobra.Command {
	var desc, target string
	cmd := &cobra.Command{
		Use:   "create [REMOTE:]POOL DRIVER [key=value...]",
		Short: "Create a storage pool (drivers: btrfs, overlay, dir)",
		Long: `Create a storage pool.

  lodge storage create fast btrfs size=20GiB     a btrfs loop file created and mounted by lodged
  lodge storage create fast btrfs source=/dev/vdb or source=/an/existing/btrfs/directory
  lodge storage create ov overlay                 instances are an upper directory over the image
  lodge storage create plain dir                  instances are full copies of the image
  lodge storage create big dir source=/srv/pool   in an empty directory of your choice

A source directory must be empty: lodge makes its own directories there and
removes them with the pool. Deleting a pool removes only what lodge made; a
pool without lodge's marker (.lodge-pool) is only forgotten.

In a cluster a pool exists on every member. Give each member's own keys
(source, size) first, then create it on every member at once:

  lodge storage create data dir source=/srv/a --target node1
  lodge storage create data dir source=/srv/b --target node2
  lodge storage create data dir

Without any --target step it is made on every member with the defaults.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := parseKV(args[2:])
			if err != nil {
				return err
			}
			pool, c, err := instanceClient(args[0])
			if err != nil {
				return err
			}
			args[0] = pool
			req := api.StoragePoolsPost{Name: args[0], Driver: args[1], StoragePoolPut: api.StoragePoolPut{Config: cfg, Description: desc}}
			if err := c.CreateStoragePoolOn(cmd.Context(), req, target); err != nil {
				return err
			}
			if target != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "Storage pool %s pending on member %s\n", args[0], target)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Storage pool %s created\n", args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&desc, "description", "", "pool description")
	cmd.Flags().StringVar(&target, "target", "", "in a cluster: define the pool's part on this member (pending), with its own keys")
	return cmd
}

func storageSetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "set [REMOTE:]POOL key=value...",
		Short: "Set storage pool keys: user.*, description=..., size= (grows a btrfs loop-file pool)",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kv := args[1:]
			if len(kv) == 2 && !strings.Contains(kv[0], "=") {
				kv = []string{kv[0] + "=" + kv[1]}
			}
			cfg, err := parseKV(kv)
			if err != nil {
				return err
			}
			pool, c, err := instanceClient(args[0])
			if err != nil {
				return err
			}
			args[0] = pool
			put := api.StoragePoolPut{Config: cfg}
			if d, ok := cfg["description"]; ok {
				put.Description = d
				delete(cfg, "description")
			}
			return c.UpdateStoragePool(cmd.Context(), args[0], put)
		},
	}
}

func storageDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "delete [REMOTE:]POOL",
		Aliases: []string{"rm"},
		Short:   "Delete an unused storage pool and what lodged created for it (nothing else)",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pool, c, err := instanceClient(args[0])
			if err != nil {
				return err
			}
			args[0] = pool
			res, err := c.DeleteStoragePool(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if res.Forgotten != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "Storage pool %s forgotten; none of its files were deleted: %s\n", args[0], res.Forgotten)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Storage pool %s deleted\n", args[0])
			for _, l := range res.Left {
				fmt.Fprintf(cmd.OutOrStdout(), "Left in place (not lodge's, by its records): %s\n", l)
			}
			return nil
		},
	}
}

func storageVolumeCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "volume", Short: "Manage custom storage volumes (attach with a disk device: pool=POOL source=NAME path=/srv)"}
	create := &cobra.Command{
		Use:   "create [REMOTE:]POOL NAME",
		Short: "Create an empty custom volume",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			pool, c, err := instanceClient(args[0])
			if err != nil {
				return err
			}
			args[0] = pool
			if err := c.CreateStorageVolume(cmd.Context(), args[0], api.StorageVolumesPost{Name: args[1], Type: "custom"}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Storage volume %s created\n", args[1])
			return nil
		},
	}
	var format string
	list := &cobra.Command{
		Use:     "list [REMOTE:]POOL",
		Aliases: []string{"ls"},
		Short:   "List a pool's volumes",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pool, c, err := instanceClient(args[0])
			if err != nil {
				return err
			}
			args[0] = pool
			vols, err := c.GetStorageVolumes(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			rows := make([][]string, 0, len(vols))
			for _, v := range vols {
				rows = append(rows, []string{v.Type, v.Name, v.Description, fmt.Sprint(len(v.UsedBy))})
			}
			return render(cmd.OutOrStdout(), format, []string{"TYPE", "NAME", "DESCRIPTION", "USED BY"}, rows, vols)
		},
	}
	list.Flags().StringVarP(&format, "format", "f", "table", "table, csv, json or yaml")
	del := &cobra.Command{
		Use:     "delete [REMOTE:]POOL NAME",
		Aliases: []string{"rm"},
		Short:   "Delete an unused custom volume",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			pool, c, err := instanceClient(args[0])
			if err != nil {
				return err
			}
			args[0] = pool
			return c.DeleteStorageVolume(cmd.Context(), args[0], args[1])
		},
	}
	cmd.AddCommand(create, list, del)
	return cmd
}
