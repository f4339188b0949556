package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"lodge/api"
	"lodge/client"
)

func publishCmd() *cobra.Command {
	var aliases []string
	var compression string
	var force, public bool
	cmd := &cobra.Command{
		Use:   "publish [REMOTE:]INSTANCE[/SNAPSHOT] [REMOTE:] [key=value...]",
		Short: "Make an image from a stopped instance or a snapshot (--force: a running one, frozen meanwhile)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			from, err := parseImageArg(args[0])
			if err != nil {
				return err
			}
			// The image goes to the instance's server, or to the server a
			// second REMOTE: argument names.
			to := from
			if len(args) > 1 && strings.HasSuffix(args[1], ":") && !strings.Contains(args[1], "=") {
				if to, err = parseImageArg(args[1]); err != nil {
					return err
				}
				args = append(args[:1], args[2:]...)
			}
			props, err := parseKV(args[1:])
			if err != nil {
				return err
			}
			if from.ref == "" {
				return fmt.Errorf("%q names a remote but no instance on it: give %s:NAME", args[0], from.remote)
			}
			src := from.ref
			c, err := from.cfg.Connect(from.remote)
			if err != nil {
				return err
			}
			if to.remote != from.remote && to.r.ProtocolName() != "lxd" {
				return fmt.Errorf("remote %q is an image server (%s): images cannot be published to it", to.remote, to.r.Protocol)
			}
			ctx := cmd.Context()
			req := api.ImagesPublishPost{ImagePut: api.ImagePut{Properties: props, Public: public}, CompressionAlgorithm: compression,
				Source: api.ImagesPublishPostSource{Type: "instance", Name: src}}
			if strings.Contains(src, "/") {
				req.Source.Type = "snapshot"
			}
			if to.remote == from.remote {
				for _, a := range aliases {
					req.Aliases = append(req.Aliases, api.ImageAlias{Name: a})
				}
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
			if to.remote != from.remote {
				if err := moveImage(ctx, from, fp, to, aliases, public); err != nil {
					return err
				}
			}
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

// moveImage hands an image just published on from's server to to's (with
// the aliases), then deletes it from from's server, as lxc publish to
// another remote does.
func moveImage(ctx context.Context, from imageArg, fp string, to imageArg, aliases []string, public bool) error {
	dst, err := to.cfg.Connect(to.remote)
	if err != nil {
		return err
	}
	src := from
	src.ref = fp
	if _, err := relayImage(ctx, src, dst, client.ImageUpload{Public: public}); err != nil {
		return fmt.Errorf("image %s made on %s: but not copied to %s: %w", shortFP(fp), from.remote, to.remote, err)
	}
	for _, a := range aliases {
		if err := setAlias(ctx, dst, a, fp); err != nil {
			return fmt.Errorf("%s: alias %s: %w", to.remote, a, err)
		}
	}
	c, err := from.cfg.Connect(from.remote)
	if err != nil {
		return err
	}
	op, err := c.DeleteImage(ctx, fp)
	if err == nil {
		err = op.Wait(ctx)
	}
	if err != nil {
		return fmt.Errorf("image %s copied to %s:, but its original on %s: was not deleted: %w", shortFP(fp), to.remote, from.remote, err)
	}
	return nil
}
