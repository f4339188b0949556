package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"lodge/api"
	"lodge/client"
	"lodge/client/cliconfig"
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
			from, to, err := refPair("copy", args[0], args[1])
			if err != nil {
				return err
			}
			src, dst := from.Name, to.Name
			if dst == "" {
				return fmt.Errorf("give the copy a name: lodge copy %s %sNAME", args[0], args[1])
			}
			c, err := connectTo(from.Remote)
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
			to := args[0]
			if len(args) > 1 {
				to = args[1]
			}
			from, dst, err := refPair("move", args[0], to)
			if err != nil {
				return err
			}
			name := from.Name
			c, err := connectTo(from.Remote)
			if err != nil {
				return err
			}
			req := api.InstancePost{Name: dst.Name}
			if req.Name == "" {
				req.Name = name
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

// refPair parses the source and target of copy, move and rename, which
// lodge does within one server only for now.
func refPair(verb, a, b string) (cliconfig.Ref, cliconfig.Ref, error) {
	cfg, err := loadConfig()
	if err != nil {
		return cliconfig.Ref{}, cliconfig.Ref{}, err
	}
	from, err := cfg.ParseRef(a)
	if err != nil {
		return from, cliconfig.Ref{}, err
	}
	to, err := cfg.ParseRef(b)
	if err != nil {
		return from, to, err
	}
	if from.Name == "" {
		return from, to, fmt.Errorf("%q names a remote but no instance on it: give %s:NAME", a, from.Remote)
	}
	return from, to, sameRemote(verb, from, to)
}

func renameCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rename [REMOTE:]OLD [REMOTE:]NEW",
		Short: "Rename a stopped instance (or a snapshot: INSTANCE/OLD INSTANCE/NEW)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			from, to, err := refPair("rename", args[0], args[1])
			if err != nil {
				return err
			}
			if to.Name == "" || to.Name == from.Name {
				return fmt.Errorf("give a new name: lodge rename %s NEW", args[0])
			}
			c, err := connectTo(from.Remote)
			if err != nil {
				return err
			}
			inst, snap, isSnap := strings.Cut(from.Name, "/")
			var op *client.Operation
			if isSnap {
				toInst, toSnap, ok := strings.Cut(to.Name, "/")
				if ok && toInst != inst {
					return fmt.Errorf("a snapshot keeps its instance: lodge rename %s/%s %s/NEW", inst, snap, inst)
				}
				if !ok {
					toSnap = to.Name
				}
				op, err = c.RenameSnapshot(cmd.Context(), inst, snap, toSnap)
			} else {
				op, err = c.MoveInstance(cmd.Context(), from.Name, api.InstancePost{Name: to.Name})
			}
			if err != nil {
				return err
			}
			return op.Wait(cmd.Context())
		},
	}
}
