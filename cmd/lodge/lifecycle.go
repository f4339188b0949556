package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"lodge/api"
	"lodge/client"
)

// stateCmd builds start/stop/restart/pause/resume, which differ only in the action.
func stateCmd(use, short, action string, withStopFlags bool) *cobra.Command {
	var force bool
	var timeout int
	cmd := &cobra.Command{
		Use:   use + " [REMOTE:]NAME...",
		Short: short,
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			srv, err := newServers()
			if err != nil {
				return err
			}
			var errs []error
			for _, arg := range args {
				name, c, err := srv.resolve(arg)
				if err == nil {
					err = changeState(cmd, c, name, api.InstanceStatePut{Action: action, Force: force, Timeout: timeout})
				}
				if err != nil {
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		},
	}
	if withStopFlags {
		cmd.Flags().BoolVarP(&force, "force", "f", false, "kill the instance instead of shutting it down cleanly")
		cmd.Flags().IntVar(&timeout, "timeout", -1, "seconds to wait for a clean shutdown before killing (default: the instance's boot.host_shutdown_timeout or 30)")
	}
	return cmd
}

func changeState(cmd *cobra.Command, c *client.Client, name string, req api.InstanceStatePut) error {
	op, err := c.UpdateInstanceState(cmd.Context(), name, req)
	if err != nil {
		return err
	}
	return op.Wait(cmd.Context())
}

func startCmd() *cobra.Command   { return stateCmd("start", "Start instances", "start", false) }
func stopCmd() *cobra.Command    { return stateCmd("stop", "Stop instances", "stop", true) }
func restartCmd() *cobra.Command { return stateCmd("restart", "Restart instances", "restart", true) }
func pauseCmd() *cobra.Command   { return stateCmd("pause", "Freeze instances", "freeze", false) }
func resumeCmd() *cobra.Command  { return stateCmd("resume", "Unfreeze instances", "unfreeze", false) }

func deleteCmd() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "delete [REMOTE:]NAME...",
		Aliases: []string{"rm"},
		Short:   "Delete instances (or snapshots: INSTANCE/SNAPSHOT)",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			srv, err := newServers()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			for _, arg := range args {
				name, c, err := srv.resolve(arg)
				if err != nil {
					return err
				}
				if strings.Contains(name, "/") {
					if err := deleteSnapshot(cmd, c, name); err != nil {
						return err
					}
					continue
				}
				st, err := c.GetInstanceState(ctx, name)
				if err != nil {
					return err
				}
				if st.StatusCode == api.Running || st.StatusCode == api.Frozen {
					if !force {
						return fmt.Errorf("the instance %q is currently running, stop it first or pass --force", name)
					}
					if err := changeState(cmd, c, name, api.InstanceStatePut{Action: "stop", Force: true, Timeout: -1}); err != nil {
						return err
					}
				}
				op, err := c.DeleteInstance(ctx, name)
				if err != nil {
					return err
				}
				if err := op.Wait(ctx); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "stop running instances first")
	return cmd
}
