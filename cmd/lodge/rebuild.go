package main

import (
	"github.com/spf13/cobra"

	"lodge/api"
)

func rebuildCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rebuild IMAGE INSTANCE",
		Short: "Give a stopped instance a fresh rootfs from an image (config, devices and snapshots stay)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			image, err := localName(args[0])
			if err != nil {
				return err
			}
			name, c, err := instanceClient(args[1])
			if err != nil {
				return err
			}
			op, err := c.RebuildInstance(cmd.Context(), name, api.InstanceRebuildPost{Source: api.InstanceSource{Type: "image", Alias: image}})
			if err != nil {
				return err
			}
			return op.Wait(cmd.Context())
		},
	}
}
