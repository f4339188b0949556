package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"lodge/api"
)

func copyCmd() *cobra.Command {
	var instanceOnly bool
	var pool string
	var config []string
	cmd := &cobra.Command{
		Use:   "copy SOURCE[/SNAPSHOT] NEW",
		Short: "Copy an instance or a snapshot to a new instance (with its snapshots unless --instance-only)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, c, err := instanceClient(args[0])
			if err != nil {
				return err
			}
			dst, err := localName(args[1])
			if err != nil {
				return err
			}
			cfg, err := parseKV(config)
			if err != nil {
				return err
			}
			req := api.InstancesPost{
				Name:        dst,
				InstancePut: api.InstancePut{Config: cfg, Devices: map[string]map[string]string{}},
				Source:      api.InstanceSource{Type: "copy", Source: src, InstanceOnly: instanceOnly},
				Type:        "container",
			}
			if len(cfg) > 0 {
				// Keys given are added to the source's configuration.
				inst, _, err := c.GetInstance(cmd.Context(), strings.SplitN(src, "/", 2)[0])
				if err != nil {
					return err
				}
				for k, v := range inst.Config {
					if _, ok := cfg[k]; !ok && !strings.HasPrefix(k, "volatile.") {
						req.Config[k] = v
					}
				}
			}
			if pool != "" {
				req.Devices["root"] = map[string]string{"type": "disk", "path": "/", "pool": pool}
			}
			op, err := c.CreateInstance(cmd.Context(), req)
			if err != nil {
				return err
			}
			return op.Wait(cmd.Context())
		},
	}
	cmd.Flags().BoolVar(&instanceOnly, "instance-only", false, "copy the instance without its snapshots")
	cmd.Flags().StringVarP(&pool, "storage", "s", "", "storage pool for the copy")
	cmd.Flags().StringArrayVarP(&config, "config", "c", nil, "config key=value for the copy (repeatable)")
	return cmd
}

func moveCmd() *cobra.Command {
	var pool string
	cmd := &cobra.Command{
		Use:   "move NAME [NEW]",
		Short: "Rename a stopped instance, or move it to another pool with -s",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, c, err := instanceClient(args[0])
			if err != nil {
				return err
			}
			req := api.InstancePost{Name: name}
			if len(args) > 1 {
				if req.Name, err = localName(args[1]); err != nil {
					return err
				}
			}
			if pool != "" {
				req.Pool, req.Migration = pool, true
			}
			if req.Name == name && pool == "" {
				return fmt.Errorf("give a new name or a pool: lodge move %s NEW, or lodge move %s -s POOL", name, name)
			}
			op, err := c.MoveInstance(cmd.Context(), name, req)
			if err != nil {
				return err
			}
			return op.Wait(cmd.Context())
		},
	}
	cmd.Flags().StringVarP(&pool, "storage", "s", "", "storage pool to move the instance to")
	return cmd
}
