package main

import (
	"github.com/spf13/cobra"

	"lodge/api"
)

func rebuildCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rebuild [REMOTE:]IMAGE [REMOTE:]INSTANCE",
		Short: "Give a stopped instance a fresh rootfs from an image (config, devices and snapshots stay)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			image, err := parseImageArg(args[0])
			if err != nil {
				return err
			}
			target, err := image.cfg.ParseRef(args[1])
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
			op, err := c.RebuildInstance(cmd.Context(), target.Name, api.InstanceRebuildPost{Source: source})
			if err != nil {
				return err
			}
			return op.Wait(cmd.Context())
		},
	}
}
