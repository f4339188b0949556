package main

import (
	"bufio"
	"context"
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
)

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
	tcfg, err := c.TLS(name)
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
	cmd.AddCommand(configTrustAddCmd(), &cobra.Command{
		Use:     "list [REMOTE:]",
		Aliases: []string{"ls"},
		Short:   "List trusted client certificates",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := remoteOnly(args)
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
		Use:     "remove [REMOTE:]FINGERPRINT|NAME",
		Aliases: []string{"rm"},
		Short:   "Stop trusting a client certificate",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fp, c, err := instanceClient(args[0])
			if err != nil {
				return err
			}
			return c.DeleteCertificate(cmd.Context(), fp)
		},
	})
	return cmd
}

// configTrustAddCmd: a join token for a new client, or a certificate file
// trusted as it is; --type metrics trusts a certificate for /1.0/metrics
// only, made here (NAME.crt, NAME.key) when none is given.
func configTrustAddCmd() *cobra.Command {
	var typ string
	cmd := &cobra.Command{
		Use: "add [REMOTE:]NAME [CERTFILE]",
		Short: "Trust a client: make a join token for it (single use; expires after core.remote_token_expiry days), or add its certificate file; " +
			"--type metrics: a certificate for /1.0/metrics only, made as NAME.crt and NAME.key here if no CERTFILE is given",
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, c, err := instanceClient(args[0])
			if err != nil {
				return err
			}
			if typ != "client" && typ != "metrics" {
				return fmt.Errorf("--type %q: use client or metrics", typ)
			}
			w := cmd.OutOrStdout()
			certFile, made := "", ""
			switch {
			case len(args) == 2:
				certFile = args[1]
			case typ == "client":
				tok, _, err := c.CreateCertificateToken(cmd.Context(), name)
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "Client %s certificate add token:\n%s\n", name, tok)
				return nil
			default:
				keyFile := name + ".key"
				certFile = name + ".crt"
				for _, f := range []string{certFile, keyFile} {
					if _, err := os.Stat(f); err == nil {
						return fmt.Errorf("%s exists: give it as CERTFILE to trust it, or remove it to make a new one", f)
					}
				}
				if err := remotes.GenerateCertificate(certFile, keyFile, name, nil); err != nil {
					return err
				}
				made = fmt.Sprintf("Certificate %s and key %s made: present them to get /1.0/metrics (Prometheus: tls_config cert_file, key_file)\n", certFile, keyFile)
			}
			pemBytes, err := os.ReadFile(certFile)
			if err != nil {
				return fmt.Errorf("certificate file: %w", err)
			}
			if err := c.AddCertificate(cmd.Context(), name, typ, string(pemBytes)); err != nil {
				return err
			}
			fmt.Fprintf(w, "%sCertificate %s trusted as %s\n", made, name, typ)
			return nil
		},
	}
	cmd.Flags().StringVar(&typ, "type", "client", "client (the whole API) or metrics (GET /1.0/metrics only)")
	return cmd
}
