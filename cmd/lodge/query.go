package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/spf13/cobra"

	"lodge/api"
)

// queryCmd is lxc query: a raw request to the API, for scripts and for
// what the CLI does not cover.
func queryCmd() *cobra.Command {
	var method, data string
	var raw, wait bool
	cmd := &cobra.Command{
		Use:   "query [REMOTE:]PATH",
		Short: "Send a raw request to the API and print the reply's metadata (--raw: the whole reply)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, c, err := instanceClient(args[0])
			if err != nil {
				return err
			}
			if !strings.HasPrefix(path, "/") {
				return fmt.Errorf("%q: the path must start with /, e.g. /1.0/instances", path)
			}
			var body io.Reader
			if data != "" {
				body = strings.NewReader(data)
			}
			ctx := cmd.Context()
			code, b, err := c.Query(ctx, strings.ToUpper(method), path, body)
			if err != nil {
				return err
			}
			if raw {
				_, err := cmd.OutOrStdout().Write(append(bytes.TrimSpace(b), '\n'))
				return err
			}
			var env api.Response
			if err := json.Unmarshal(b, &env); err != nil {
				// Not the JSON envelope (a file, an export): as it came.
				_, err := cmd.OutOrStdout().Write(b)
				return err
			}
			if env.Type == api.ErrorResponse {
				return fmt.Errorf("%s (HTTP %d)", env.Error, code)
			}
			md := env.Metadata
			if env.Type == api.AsyncResponse && wait {
				var op api.Operation
				if err := json.Unmarshal(env.Metadata, &op); err != nil {
					return err
				}
				code, b, err = c.Query(ctx, http.MethodGet, "/1.0/operations/"+op.ID+"/wait", nil)
				if err != nil {
					return err
				}
				if err := json.Unmarshal(b, &env); err != nil {
					return fmt.Errorf("operation %s: bad reply (HTTP %d)", op.ID, code)
				}
				md = env.Metadata
			}
			var out bytes.Buffer
			if len(md) == 0 {
				return nil
			}
			if err := json.Indent(&out, md, "", "\t"); err != nil {
				out.Write(md)
			}
			out.WriteByte('\n')
			_, err = cmd.OutOrStdout().Write(out.Bytes())
			return err
		},
	}
	cmd.Flags().StringVarP(&method, "request", "X", "GET", "HTTP method")
	cmd.Flags().StringVarP(&data, "data", "d", "", "request body (JSON)")
	cmd.Flags().BoolVar(&raw, "raw", false, "print the whole reply, envelope included")
	cmd.Flags().BoolVar(&wait, "wait", false, "for an operation, wait for it and print its end")
	return cmd
}

// monitorCmd is lxc monitor: the server's events as they happen.
func monitorCmd() *cobra.Command {
	var types []string
	var pretty bool
	cmd := &cobra.Command{
		Use:   "monitor [REMOTE:]",
		Short: "Print the server's events (lifecycle, operation, logging) as they happen, one JSON object a line",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := remoteOnly(args)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			return c.Events(cmd.Context(), types, func(msg json.RawMessage) error {
				var out bytes.Buffer
				if pretty {
					json.Indent(&out, msg, "", "  ")
				} else {
					json.Compact(&out, msg)
				}
				out.WriteByte('\n')
				_, err := w.Write(out.Bytes())
				return err
			})
		},
	}
	cmd.Flags().StringSliceVar(&types, "type", nil, "event types to show: lifecycle, operation, logging (repeatable)")
	cmd.Flags().BoolVar(&pretty, "pretty", false, "indent each event")
	return cmd
}

// versionCmd is lxc version: the client's and the server's versions.
func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version [REMOTE:]",
		Short: "Show the client and server versions",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "Client version: %s\n", version)
			c, err := remoteOnly(args)
			srv := "unreachable"
			if err == nil {
				if s, err2 := c.GetServer(cmd.Context()); err2 == nil {
					srv = s.Environment.ServerVersion
				} else {
					err = err2
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Server version: %s\n", srv)
			return err
		},
	}
}
