package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"lodge/client/cliconfig"
	"lodge/remotes"
)

// lxdSource reads images from an lxd-protocol remote (another lodged or LXD).
func lxdSource(name string, r cliconfig.Remote) (remotes.Source, error) {
	return nil, fmt.Errorf("remote %s: lxd-protocol remotes are not supported yet", name)
}

func addLXDRemote(ctx context.Context, cmd *cobra.Command, c *cliconfig.Config, name string, r *cliconfig.Remote, o *remoteAddOpts) error {
	return fmt.Errorf("remote %s: lxd-protocol remotes are not supported yet", name)
}

func configTrustCmd() *cobra.Command {
	return &cobra.Command{Use: "trust", Short: "Manage the client certificates the HTTPS API trusts"}
}
