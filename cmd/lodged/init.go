package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"lodge/api"
)

// preseed is what `lodged init --preseed` reads (LXD's lxd init preseed,
// the parts lodged has): server config and the cluster to make or join.
type preseed struct {
	Config  map[string]string `yaml:"config"`
	Cluster *api.ClusterPut   `yaml:"cluster"`
}

// initCmd: `lodged init` configures the running lodged: join a cluster
// with a token (--join TOKEN --address ADDR), or apply a preseed (stdin
// or a file), as `lxd init` does.
func initCmd(stateDir *string) *cobra.Command {
	var join, address, name, preseedPath string
	var timeout int
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Configure the running lodged: join a cluster (--join TOKEN --address ADDR) or apply a preseed (--preseed [FILE])",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var p preseed
			switch {
			case cmd.Flags().Changed("preseed"):
				var b []byte
				var err error
				if preseedPath == "" || preseedPath == "-" {
					b, err = io.ReadAll(os.Stdin)
				} else {
					b, err = os.ReadFile(preseedPath)
				}
				if err != nil {
					return fmt.Errorf("read the preseed: %w", err)
				}
				if err := yaml.Unmarshal(b, &p); err != nil {
					return fmt.Errorf("the preseed is not valid YAML: %w", err)
				}
			case join != "":
				p.Cluster = &api.ClusterPut{Cluster: api.Cluster{ServerName: name, Enabled: true}, ServerAddress: address, ClusterToken: join}
			default:
				return fmt.Errorf("give --join TOKEN --address HOST:PORT, or --preseed [FILE]")
			}
			return applyPreseed(*stateDir, p, time.Duration(timeout)*time.Second)
		},
	}
	cmd.Flags().StringVar(&join, "join", "", "join a cluster with this token (from lodge cluster add NAME)")
	cmd.Flags().StringVar(&address, "address", "", "this server's address, where the other members reach it (HOST:PORT)")
	cmd.Flags().StringVar(&name, "name", "", "this member's name (default: the one the token was made for)")
	cmd.Flags().StringVar(&preseedPath, "preseed", "", "apply a preseed YAML from FILE (or stdin)")
	cmd.Flags().Lookup("preseed").NoOptDefVal = "-"
	cmd.Flags().IntVar(&timeout, "timeout", 300, "seconds to wait for the join")
	return cmd
}

func applyPreseed(stateDir string, p preseed, timeout time.Duration) error {
	c := unixClient(stateDir)
	c.Timeout = timeout
	if len(p.Config) > 0 {
		if _, err := call(c, http.MethodPatch, "/1.0", p.Config); err != nil {
			return fmt.Errorf("server config: %w", err)
		}
	}
	if p.Cluster == nil {
		return nil
	}
	if !p.Cluster.Enabled && p.Cluster.ClusterToken == "" {
		return fmt.Errorf("the preseed's cluster section neither enables clustering nor joins (enabled: true, cluster_token)")
	}
	p.Cluster.Enabled = true
	r, err := call(c, http.MethodPut, "/1.0/cluster", p.Cluster)
	if err != nil {
		return err
	}
	if r.Operation == "" {
		return nil
	}
	w, err := call(c, http.MethodGet, r.Operation+"/wait?timeout="+fmt.Sprint(int(timeout.Seconds())), nil)
	if err != nil {
		return err
	}
	var op api.Operation
	if err := json.Unmarshal(w.Metadata, &op); err != nil {
		return err
	}
	if op.StatusCode != api.Success {
		return fmt.Errorf("%s", op.Err)
	}
	return nil
}

// call sends a JSON request to the running lodged and returns its reply,
// or the error it answered.
func call(c *http.Client, method, path string, body any) (api.Response, error) {
	var r api.Response
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return r, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://unix.socket"+path, rd)
	if err != nil {
		return r, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return r, fmt.Errorf("lodged is not answering (is it running?): %w", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return r, fmt.Errorf("%s %s: %d, unreadable reply: %w", method, path, resp.StatusCode, err)
	}
	if r.Type == api.ErrorResponse || resp.StatusCode >= 400 {
		return r, fmt.Errorf("%s", r.Error)
	}
	return r, nil
}
