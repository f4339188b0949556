package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"lodge/api"
)

func publishCmd() *cobra.Command {
	var aliases []string
	var compression string
	var force, public bool
	cmd := &cobra.Command{
		Use:   "publish INSTANCE[/SNAPSHOT] [key=value...]",
		Short: "Make an image from a stopped instance or a snapshot (--force: a running one, frozen meanwhile)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, c, err := instanceClient(args[0])
			if err != nil {
				return err
			}
			props, err := parseKV(args[1:])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			req := api.ImagesPublishPost{ImagePut: api.ImagePut{Properties: props, Public: public}, CompressionAlgorithm: compression,
				Source: api.ImagesPublishPostSource{Type: "instance", Name: src}}
			if strings.Contains(src, "/") {
				req.Source.Type = "snapshot"
			}
			for _, a := range aliases {
				req.Aliases = append(req.Aliases, api.ImageAlias{Name: a})
			}
			if !strings.Contains(src, "/") {
				st, err := c.GetInstanceState(ctx, src)
				if err != nil {
					return err
				}
				if st.StatusCode == api.Running {
					if !force {
						return fmt.Errorf("instance %q is running; stop it, publish a snapshot, or pass --force to freeze it while the image is made", src)
					}
					if err := changeState(cmd, c, src, api.InstanceStatePut{Action: "freeze", Timeout: -1}); err != nil {
						return err
					}
					defer func() {
						if op, err := c.UpdateInstanceState(context.WithoutCancel(ctx), src, api.InstanceStatePut{Action: "unfreeze", Timeout: -1}); err == nil {
							op.Wait(context.WithoutCancel(ctx))
						}
					}()
				}
			}
			op, err := c.PublishImage(ctx, req)
			if err != nil {
				return err
			}
			if err := op.Wait(ctx); err != nil {
				return err
			}
			fp, _ := op.Op.Metadata["fingerprint"].(string)
			fmt.Fprintf(cmd.OutOrStdout(), "Instance published with fingerprint: %s\n", fp)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&aliases, "alias", nil, "alias for the new image (repeatable)")
	cmd.Flags().StringVar(&compression, "compression", "", "gzip (default), xz, zstd, bzip2 or none")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "publish a running instance, frozen while the image is made")
	cmd.Flags().BoolVar(&public, "public", false, "make the image public")
	return cmd
}
