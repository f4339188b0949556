package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"lodge/api"
	"lodge/client"
)

type launchOpts struct {
	start     bool
	config    []string
	ephemeral bool
	profiles  []string
	pool      string
	target    string
}

func launchCmd(start bool) *cobra.Command {
	o := &launchOpts{start: start}
	use, short := "launch IMAGE [NAME]", "Create and start an instance from an image"
	if !start {
		use, short = "init IMAGE [NAME]", "Create an instance from an image without starting it"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.RangeArgs(1, 2),
		RunE:  func(cmd *cobra.Command, args []string) error { return o.run(cmd, args) },
	}
	cmd.Flags().StringArrayVarP(&o.config, "config", "c", nil, "config key=value for the new instance (repeatable)")
	cmd.Flags().BoolVarP(&o.ephemeral, "ephemeral", "e", false, "ephemeral instance")
	cmd.Flags().StringArrayVarP(&o.profiles, "profile", "p", nil, "profile to apply (repeatable)")
	cmd.Flags().StringVarP(&o.pool, "storage", "s", "", "storage pool for the root disk")
	cmd.Flags().StringVar(&o.target, "target", "", "cluster member to create it on (default: the one with the fewest instances)")
	return cmd
}

// parseKV parses key=value pairs with a clear error for a malformed one.
func parseKV(pairs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("bad config %q: expected key=value", p)
		}
		out[k] = v
	}
	return out, nil
}

func (o *launchOpts) run(cmd *cobra.Command, args []string) error {
	image, err := parseImageArg(args[0])
	if err != nil {
		return err
	}
	if len(args) < 2 {
		return fmt.Errorf("give the new instance a name: lodge %s %s NAME", cmd.Name(), args[0])
	}
	// The instance goes to the server its name names (the default remote
	// without a prefix), wherever the image comes from.
	target, err := image.cfg.ParseRef(args[1])
	if err != nil {
		return err
	}
	if target.Name == "" {
		return fmt.Errorf("give the new instance a name: lodge %s %s %sNAME", cmd.Name(), args[0], args[1])
	}
	name := target.Name
	cfg, err := parseKV(o.config)
	if err != nil {
		return err
	}
	c, err := image.cfg.Connect(target.Remote)
	if err != nil {
		return err
	}
	source, err := image.instanceSource(cmd.Context(), target.Remote, c)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	fmt.Fprintf(cmd.OutOrStdout(), "Creating %s\n", name)
	// A launch is one request, create with start: if the start fails, the
	// server removes what the create made, so a launch that runs into a
	// host limit leaves nothing half-made (lxc launch uses two requests
	// and keeps such an instance).
	req := api.InstancesPost{
		Name:        name,
		InstancePut: api.InstancePut{Config: cfg, Devices: map[string]map[string]string{}, Ephemeral: o.ephemeral, Profiles: o.profiles},
		Source:      source,
		Type:        "container",
		Start:       o.start,
	}
	if o.pool != "" {
		// As LXD's client: a local root disk device naming the pool.
		req.Devices["root"] = map[string]string{"type": "disk", "path": "/", "pool": o.pool}
	}
	op, err := c.CreateInstanceOn(ctx, req, o.target)
	if err != nil && image.remote != target.Remote {
		return fmt.Errorf("%s: %w", image.remote, err)
	}
	if err != nil {
		return err
	}
	// The row exists from the reply on: warn before the start, not after.
	warnNoNIC(cmd, c, name)
	// A remote image is downloaded by the daemon: show its progress.
	if err := waitWithProgress(ctx, op, cmd.ErrOrStderr(), "Retrieving image"); err != nil {
		return err
	}
	if o.start {
		fmt.Fprintf(cmd.OutOrStdout(), "Started %s\n", name)
	}
	return nil
}

// warnNoNIC says so when the new instance has no network device, as lxc
// does: it would start with no network and nothing else would tell.
func warnNoNIC(cmd *cobra.Command, c *client.Client, name string) {
	inst, _, err := c.GetInstance(cmd.Context(), name)
	if err != nil {
		return
	}
	for _, d := range inst.ExpandedDevices {
		if d["type"] == "nic" {
			return
		}
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "Warning: instance %s has no network device: it will have no network.\n"+
		"  See the server's networks with: lodge network list\n"+
		"  Give it one with: lodge config device add %s eth0 nic network=NETWORK (or add one to a profile it uses)\n", name, name)
}
