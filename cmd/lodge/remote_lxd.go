package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"lodge/client"
	"lodge/client/cliconfig"
	"lodge/remotes"
	"lodge/remotes/lxd"
)

// clientTLS is the TLS setup towards remote name: this client's certificate
// (made on first use in the config dir) and the server certificate pinned
// when the remote was added.
func clientTLS(c *cliconfig.Config, name string) (*tls.Config, error) {
	crt, key := c.ClientCertPaths()
	host, _ := os.Hostname()
	cert, err := remotes.LoadOrCreateCertificate(crt, key, "lodge@"+host, nil)
	if err != nil {
		return nil, err
	}
	pinned, err := os.ReadFile(c.ServerCertPath(name))
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	return remotes.PinnedTLS(string(pinned), &cert)
}

// lxdSource reads images from an lxd-protocol remote (another lodged or LXD).
func lxdSource(name string, r cliconfig.Remote) (remotes.Source, error) {
	c, err := loadConfig()
	if err != nil {
		return nil, err
	}
	tcfg, err := clientTLS(c, name)
	if err != nil {
		return nil, err
	}
	return lxd.New(r.Addr, remotes.HTTPOptions{TLS: tcfg}, ""), nil
}

// addLXDRemote pins the server's certificate (after --accept-certificate,
// a matching token, or a yes on the terminal) and, unless the remote is
// public, gets this client trusted with the join token.
func addLXDRemote(ctx context.Context, cmd *cobra.Command, c *cliconfig.Config, name string, r *cliconfig.Remote, o *remoteAddOpts) error {
	u, err := url.Parse(r.Addr)
	if err != nil {
		return err
	}
	host := u.Host
	if u.Port() == "" {
		host += ":8443"
	}
	var tok = client.DecodeToken(o.token)
	cert, err := remotes.FetchServerCertificate(host, 5*time.Second)
	if err != nil {
		return fmt.Errorf("remote %s not added: %w", name, err)
	}
	fp := remotes.CertFingerprint(cert.Raw)
	switch {
	case o.token != "" && tok.Fingerprint != "" && tok.Fingerprint != fp:
		return fmt.Errorf("remote %s not added: the server presents certificate %s but the token names %s (wrong server, or someone in between)", name, fp, tok.Fingerprint)
	case o.token != "" && tok.Fingerprint == fp, o.acceptCert:
	case term.IsTerminal(int(os.Stdin.Fd())):
		fmt.Fprintf(cmd.OutOrStdout(), "Certificate fingerprint: %s\nok (y/n)? ", fp)
		line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(line)), "y") {
			return fmt.Errorf("server certificate rejected")
		}
	default:
		return fmt.Errorf("remote %s not added: check the server's certificate fingerprint %s (lodge info on the server shows it) and pass --accept-certificate", name, fp)
	}
	if err := os.MkdirAll(filepath.Dir(c.ServerCertPath(name)), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(c.ServerCertPath(name), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644); err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			os.Remove(c.ServerCertPath(name))
		}
	}()
	tcfg, err := clientTLS(c, name)
	if err != nil {
		return err
	}
	cl, err := client.ConnectHTTPS(r.Addr, tcfg)
	if err != nil {
		return err
	}
	srv, err := cl.GetServer(ctx)
	if err != nil {
		return fmt.Errorf("remote %s not added: %w", name, err)
	}
	if srv.Auth != "trusted" && o.token != "" {
		host, _ := os.Hostname()
		if err := cl.JoinWithToken(ctx, host, tok.Secret); err != nil {
			return fmt.Errorf("remote %s not added: %w", name, err)
		}
		if srv, err = cl.GetServer(ctx); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "Client certificate now trusted by server: %s\n", name)
	}
	if srv.Auth != "trusted" {
		if !o.public {
			return fmt.Errorf("remote %s not added: the server does not trust this client; run `lodge config trust add NAME` there and pass the token with --token (or --public for its public images only)", name)
		}
		r.AuthType = "none"
	}
	done = true
	return nil
}

func configTrustCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "trust", Short: "Manage the client certificates the HTTPS API trusts"}
	cmd.AddCommand(&cobra.Command{
		Use:   "add NAME",
		Short: "Make a join token for a new client (single use; expires after core.remote_token_expiry days)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := connect()
			if err != nil {
				return err
			}
			tok, _, err := c.CreateCertificateToken(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Client %s certificate add token:\n%s\n", args[0], tok)
			return nil
		},
	}, &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List trusted client certificates",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := connect()
			if err != nil {
				return err
			}
			certs, err := c.GetCertificates(cmd.Context())
			if err != nil {
				return err
			}
			rows := [][]string{}
			for _, ct := range certs {
				rows = append(rows, []string{ct.Type, ct.Name, shortFP(ct.Fingerprint)})
			}
			return render(cmd.OutOrStdout(), "table", []string{"TYPE", "NAME", "FINGERPRINT"}, rows, certs)
		},
	}, &cobra.Command{
		Use:     "remove FINGERPRINT|NAME",
		Aliases: []string{"rm"},
		Short:   "Stop trusting a client certificate",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := connect()
			if err != nil {
				return err
			}
			return c.DeleteCertificate(cmd.Context(), args[0])
		},
	})
	return cmd
}
