package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"lodge/client"
	"lodge/client/cliconfig"
	"lodge/remotes/simplestreams"
)

func remoteCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "remote", Short: "Manage the remote servers (image servers, other lodged or LXD hosts)"}
	cmd.AddCommand(remoteListCmd(), remoteAddCmd(), remoteRemoveCmd(), remoteRenameCmd(), remoteSetURLCmd(), remoteSwitchCmd(), remoteGetDefaultCmd())
	return cmd
}

func remoteListCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the remotes",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadConfig()
			if err != nil {
				return err
			}
			var rows [][]string
			type remoteOut struct {
				Name string `json:"name" yaml:"name"`
				cliconfig.Remote
			}
			var objs []remoteOut
			plainHTTP := false
			for _, n := range c.Names() {
				r := c.Remotes[n]
				name := n
				if n == c.DefaultRemote {
					name += " (current)"
				}
				addr := r.Addr
				if r.Protocol == "simplestreams" && strings.HasPrefix(r.Addr, "http://") {
					addr += " *"
					plainHTTP = true
				}
				auth := r.AuthType
				if auth == "" {
					auth = "tls"
				}
				proto := r.Protocol
				if proto == "" {
					proto = "lxd"
				}
				rows = append(rows, []string{name, addr, proto, auth, strings.ToUpper(yesNo(r.Public)), strings.ToUpper(yesNo(r.Static)), "NO"})
				objs = append(objs, remoteOut{n, r})
			}
			if err := render(cmd.OutOrStdout(), format, []string{"NAME", "URL", "PROTOCOL", "AUTH TYPE", "PUBLIC", "STATIC", "GLOBAL"}, rows, objs); err != nil {
				return err
			}
			if plainHTTP && (format == "" || format == "table") {
				fmt.Fprintln(cmd.OutOrStdout(), "* plain http: the index is unauthenticated (anyone on the path can change it); every image is still checked against the SHA-256 sums it lists")
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "table, csv, json or yaml")
	return cmd
}

// normalizeAddr gives a bare host LXD's https://HOST:8443 form.
func normalizeAddr(addr, protocol string) (string, error) {
	if !strings.Contains(addr, "://") {
		if protocol == "simplestreams" {
			addr = "https://" + addr
		} else {
			addr = "https://" + addr
			if u, err := url.Parse(addr); err == nil && u.Port() == "" {
				addr = strings.TrimRight(addr, "/") + ":8443"
			}
		}
	}
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("remote address %q is not a URL (https://HOST[:PORT][/PATH])", addr)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && protocol == "simplestreams":
	case u.Scheme == "http":
		return "", fmt.Errorf("remote address %q: the lxd protocol needs https:// (plain http is only for simplestreams trees)", addr)
	default:
		return "", fmt.Errorf("remote address %q: scheme %q is not supported (https://, or http:// for simplestreams)", addr, u.Scheme)
	}
	return strings.TrimRight(addr, "/"), nil
}

type remoteAddOpts struct {
	protocol, token, authType string
	public, acceptCert        bool
}

func remoteAddCmd() *cobra.Command {
	o := &remoteAddOpts{}
	cmd := &cobra.Command{
		Use:   "add NAME URL|TOKEN",
		Short: "Add a remote: an image server (--protocol simplestreams) or another lodged/LXD (--token from `lodge config trust add`)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadConfig()
			if err != nil {
				return err
			}
			name := args[0]
			if err := cliconfig.ValidName(name); err != nil {
				return err
			}
			if _, ok := c.Remotes[name]; ok {
				return fmt.Errorf("remote %q already exists (lodge remote set-url, or remove it first)", name)
			}
			if o.protocol == "" {
				o.protocol = "lxd"
			}
			// LXD's `remote add NAME TOKEN`: the token carries the addresses.
			if tok := client.DecodeToken(args[1]); o.protocol == "lxd" && len(tok.Addresses) > 0 && tok.Fingerprint != "" {
				o.token, args[1] = args[1], "https://"+tok.Addresses[0]
			}
			addr, err := normalizeAddr(args[1], o.protocol)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			r := cliconfig.Remote{Addr: addr, Protocol: o.protocol, Public: o.public}
			switch o.protocol {
			case "simplestreams":
				// Reading the index now turns a typo into an error here, not at the first launch.
				if _, err := simplestreams.New(addr, simplestreams.Options{}).List(ctx); err != nil {
					return fmt.Errorf("remote %s not added: %w", name, err)
				}
				r.Public, r.AuthType = true, "none"
			case "lxd":
				r.AuthType = "tls"
				if err := addLXDRemote(ctx, cmd, c, name, &r, o); err != nil {
					return err
				}
			default:
				return fmt.Errorf("protocol %q is not supported (lxd or simplestreams)", o.protocol)
			}
			c.Remotes[name] = r
			return c.Save()
		},
	}
	cmd.Flags().StringVar(&o.protocol, "protocol", "", "lxd (default) or simplestreams")
	cmd.Flags().BoolVar(&o.public, "public", false, "public image server: no client certificate needed")
	cmd.Flags().BoolVar(&o.acceptCert, "accept-certificate", false, "trust the server's certificate without asking (it is pinned from then on)")
	cmd.Flags().StringVar(&o.token, "token", "", "join token printed by `lodge config trust add` on the server")
	cmd.Flags().StringVar(&o.authType, "auth-type", "tls", "authentication: tls")
	return cmd
}

func remoteRemoveCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "remove NAME",
		Aliases: []string{"rm"},
		Short:   "Remove a remote",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadConfig()
			if err != nil {
				return err
			}
			r, ok := c.Remotes[args[0]]
			switch {
			case !ok:
				return fmt.Errorf("remote %q does not exist", args[0])
			case r.Static:
				return fmt.Errorf("remote %q is built in and cannot be removed", args[0])
			case c.DefaultRemote == args[0]:
				return fmt.Errorf("remote %q is the default remote; `lodge remote switch` to another first", args[0])
			}
			delete(c.Remotes, args[0])
			os.Remove(c.ServerCertPath(args[0]))
			return c.Save()
		},
	}
}

func remoteRenameCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "rename OLD NEW",
		Aliases: []string{"mv"},
		Short:   "Rename a remote",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadConfig()
			if err != nil {
				return err
			}
			old, nu := args[0], args[1]
			r, ok := c.Remotes[old]
			switch {
			case !ok:
				return fmt.Errorf("remote %q does not exist", old)
			case r.Static:
				return fmt.Errorf("remote %q is built in and cannot be renamed", old)
			}
			if err := cliconfig.ValidName(nu); err != nil {
				return err
			}
			if _, ok := c.Remotes[nu]; ok {
				return fmt.Errorf("remote %q already exists", nu)
			}
			delete(c.Remotes, old)
			c.Remotes[nu] = r
			if c.DefaultRemote == old {
				c.DefaultRemote = nu
			}
			if _, err := os.Stat(c.ServerCertPath(old)); err == nil {
				if err := os.Rename(c.ServerCertPath(old), c.ServerCertPath(nu)); err != nil {
					return err
				}
			}
			return c.Save()
		},
	}
}

func remoteSetURLCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "set-url NAME URL",
		Short: "Change a remote's address",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadConfig()
			if err != nil {
				return err
			}
			r, ok := c.Remotes[args[0]]
			switch {
			case !ok:
				return fmt.Errorf("remote %q does not exist", args[0])
			case r.Static:
				return fmt.Errorf("remote %q is built in; add a remote of your own instead", args[0])
			}
			addr, err := normalizeAddr(args[1], r.Protocol)
			if err != nil {
				return err
			}
			r.Addr = addr
			c.Remotes[args[0]] = r
			return c.Save()
		},
	}
}

func remoteSwitchCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "switch NAME",
		Short: "Make a remote the default",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadConfig()
			if err != nil {
				return err
			}
			r, ok := c.Remotes[args[0]]
			if !ok {
				return fmt.Errorf("remote %q does not exist", args[0])
			}
			if r.Protocol == "simplestreams" {
				return fmt.Errorf("remote %q is an image server; only a lodged/LXD remote can be the default", args[0])
			}
			c.DefaultRemote = args[0]
			return c.Save()
		},
	}
}

func remoteGetDefaultCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "get-default",
		Short: "Print the default remote",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadConfig()
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), c.DefaultRemote)
			return nil
		},
	}
}
