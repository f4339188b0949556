package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"lodge/api"
	"lodge/client"
	"lodge/client/cliconfig"
)

// migrateFlags are copy's and move's flags for another server.
func migrateFlags(cmd *cobra.Command, o *migrateOpts, config *[]string) {
	cmd.Flags().StringVar(&o.mode, "mode", "pull", "between servers: pull (the target connects to the source), push (the source connects to the target) or relay (through this client)")
	cmd.Flags().BoolVar(&o.instanceOnly, "instance-only", false, "copy the instance without its snapshots")
	cmd.Flags().BoolVar(&o.stateless, "stateless", false, "a running instance without its memory (no CRIU): copy copies its files (the copy is stopped), move stops it, moves it and starts it on the target")
	cmd.Flags().StringVarP(&o.pool, "storage", "s", "", "storage pool for the copy")
	cmd.Flags().StringArrayVarP(config, "config", "c", nil, "config key=value for the copy (repeatable)")
	cmd.Flags().StringArrayVarP(&o.profiles, "profile", "p", nil, "profile for the copy on another server (repeatable; replaces the source's)")
	cmd.Flags().BoolVar(&o.noProfiles, "no-profiles", false, "the copy on another server gets no profiles")
}

// onOneServer refuses flags that only mean something between servers.
func onOneServer(cmd *cobra.Command, verb string) error {
	for _, f := range []string{"mode", "stateless", "profile", "no-profiles", "refresh"} {
		if fl := cmd.Flags().Lookup(f); fl != nil && fl.Changed {
			return fmt.Errorf("--%s applies to a %s to another server (REMOTE:NAME); within one server lodge %s does without it", f, verb, verb)
		}
	}
	return nil
}

func copyCmd() *cobra.Command {
	var o migrateOpts
	var config []string
	var member string
	cmd := &cobra.Command{
		Use:   "copy [REMOTE:]SOURCE[/SNAPSHOT] [REMOTE:][NEW]",
		Short: "Copy an instance or a snapshot to a new instance, on this server or another (with its snapshots unless --instance-only)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			from, to, err := refPair(args[0], args[1])
			if err != nil {
				return err
			}
			cfg, err := parseKV(config)
			if err != nil {
				return err
			}
			if from.Remote != to.Remote {
				if member != "" {
					return fmt.Errorf("--target names a member of the source's cluster; a copy to another server (%s) does without it", args[1])
				}
				o.config = cfg
				return copyBetween(cmd.Context(), cmd.ErrOrStderr(), from, to, o)
			}
			if err := onOneServer(cmd, "copy"); err != nil {
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
			req := api.InstancesPost{
				Name:        dst,
				InstancePut: api.InstancePut{Config: cfg, Devices: map[string]map[string]string{}},
				Source:      api.InstanceSource{Type: "copy", Source: src, InstanceOnly: o.instanceOnly},
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
			if o.pool != "" {
				req.Devices["root"] = map[string]string{"type": "disk", "path": "/", "pool": o.pool}
			}
			// In a cluster the copy goes to member (else where the cluster
			// places it, as for a new instance), pulled from the source's
			// member when that is another.
			op, err := c.CreateInstanceOn(cmd.Context(), req, member)
			if err != nil {
				return err
			}
			return op.Wait(cmd.Context())
		},
	}
	migrateFlags(cmd, &o, &config)
	cmd.Flags().BoolVar(&o.refresh, "refresh", false, "bring an earlier copy on another server up to date: only what changed moves")
	cmd.Flags().StringVar(&member, "target", "", "in a cluster: the member to make the copy on (default: where the cluster places a new instance)")
	return cmd
}

func moveCmd() *cobra.Command {
	var o migrateOpts
	var config []string
	var member string
	cmd := &cobra.Command{
		Use:   "move [REMOTE:]NAME [REMOTE:][NEW]",
		Short: "Rename a stopped instance, move it to another pool with -s, or to another server (REMOTE:)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			to := args[0]
			if len(args) > 1 {
				to = args[1]
			}
			from, dst, err := refPair(args[0], to)
			if err != nil {
				return err
			}
			if from.Remote != dst.Remote {
				cfg, err := parseKV(config)
				if err != nil {
					return err
				}
				o.config, o.move = cfg, true
				return copyBetween(cmd.Context(), cmd.ErrOrStderr(), from, dst, o)
			}
			if member != "" {
				return moveToMember(cmd, from, dst, member)
			}
			if err := onOneServer(cmd, "move"); err != nil {
				return err
			}
			for _, f := range []string{"instance-only", "config"} {
				if cmd.Flags().Changed(f) {
					return fmt.Errorf("--%s applies to a move to another server (REMOTE:NAME)", f)
				}
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
			if o.pool != "" {
				req.Pool, req.Migration = o.pool, true
			}
			if req.Name == name && o.pool == "" {
				return fmt.Errorf("give a new name or a pool: lodge move %s NEW, or lodge move %s -s POOL", name, name)
			}
			op, err := c.MoveInstance(cmd.Context(), name, req)
			if err != nil {
				return err
			}
			return op.Wait(cmd.Context())
		},
	}
	migrateFlags(cmd, &o, &config)
	cmd.Flags().StringVar(&member, "target", "", "in a cluster: the member to move the (stopped) instance to")
	return cmd
}

// moveToMember is lodge move NAME --target MEMBER: to another member of
// the same cluster.
func moveToMember(cmd *cobra.Command, from, dst cliconfig.Ref, member string) error {
	if from.Remote != dst.Remote || (dst.Name != "" && dst.Name != from.Name) {
		return fmt.Errorf("--target moves an instance to another member of its cluster and keeps its name: lodge move %s --target %s", from.Name, member)
	}
	for _, f := range []string{"mode", "stateless", "profile", "no-profiles", "instance-only", "config", "storage"} {
		if fl := cmd.Flags().Lookup(f); fl != nil && fl.Changed {
			return fmt.Errorf("--%s does not go with --target", f)
		}
	}
	c, err := connectTo(from.Remote)
	if err != nil {
		return err
	}
	op, err := c.MoveInstanceToMember(cmd.Context(), from.Name, member)
	if err != nil {
		return err
	}
	return op.Wait(cmd.Context())
}

// refPair parses the source and target of copy, move and rename.
func refPair(a, b string) (cliconfig.Ref, cliconfig.Ref, error) {
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
	return from, to, nil
}

func renameCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rename [REMOTE:]OLD [REMOTE:]NEW",
		Short: "Rename a stopped instance (or a snapshot: INSTANCE/OLD INSTANCE/NEW)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			from, to, err := refPair(args[0], args[1])
			if err != nil {
				return err
			}
			if err := sameRemote("rename", from, to); err != nil {
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
