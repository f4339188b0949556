package daemon

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"lodge/api"
	"lodge/errdefs"
	"lodge/remotes"
	"lodge/server/db"
	"lodge/server/operations"
)

// certState is the daemon's certificate: the HTTPS API's, and its client
// certificate towards other servers.
type certState struct {
	once sync.Once
	cert *tls.Certificate
	pem  string
	fp   string
	err  error
}

// CertFingerprint is the SHA-256 of a certificate's DER bytes.
func CertFingerprint(der []byte) string { return remotes.CertFingerprint(der) }

// serverCert loads DIR/server.crt and server.key, generating them on first start.
func (d *Daemon) serverCert() (*tls.Certificate, error) {
	d.cert.once.Do(func() {
		certPath, keyPath := filepath.Join(d.cfg.Dir, "server.crt"), filepath.Join(d.cfg.Dir, "server.key")
		host, _ := os.Hostname()
		c, err := remotes.LoadOrCreateCertificate(certPath, keyPath, "root@"+host, []string{host, "127.0.0.1", "::1", "localhost"})
		if err != nil {
			d.cert.err = err
			return
		}
		b, _ := os.ReadFile(certPath)
		d.cert.cert, d.cert.pem, d.cert.fp = &c, string(b), CertFingerprint(c.Certificate[0])
	})
	return d.cert.cert, d.cert.err
}

// ServerCert is the certificate the HTTPS API serves: the daemon's (made
// at the first start), or a cluster member's the cluster's, as LXD's.
func (d *Daemon) ServerCert() (*tls.Certificate, error) {
	if c, _, _ := d.clusterCert(); c != nil {
		return c, nil
	}
	return d.serverCert()
}

// CertPEM is ServerCert in PEM ("" if it could not be made).
func (d *Daemon) CertPEM() string {
	if c, pem, _ := d.clusterCert(); c != nil {
		return pem
	}
	if _, err := d.serverCert(); err != nil {
		return ""
	}
	return d.cert.pem
}

// CertFingerprint is ServerCert's fingerprint ("" if it could not be made).
func (d *Daemon) CertFingerprint() string {
	if c, _, fp := d.clusterCert(); c != nil {
		return fp
	}
	if _, err := d.serverCert(); err != nil {
		return ""
	}
	return d.cert.fp
}

// HTTPSListener is the transport's HTTPS side, which core.https_address moves.
type HTTPSListener interface {
	// SetHTTPSAddress (re)starts the listener on addr; "" stops it.
	SetHTTPSAddress(addr string) error
	// HTTPSAddress is where it listens ("" when it does not).
	HTTPSAddress() string
	// SetMetricsAddress (re)starts the metrics listener
	// (core.metrics_address: /1.0/metrics only) on addr; "" stops it.
	SetMetricsAddress(addr string) error
}

// parseCert accepts PEM or base64 DER (what LXD's client sends).
func parseCert(s string) (*x509.Certificate, error) {
	s = strings.TrimSpace(s)
	der := []byte(nil)
	if b, _ := pem.Decode([]byte(s)); b != nil {
		der = b.Bytes
	} else if d, err := base64.StdEncoding.DecodeString(s); err == nil {
		der = d
	}
	if der == nil {
		return nil, errdefs.Invalidf("certificate is neither PEM nor base64 DER")
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, errdefs.Invalidf("certificate does not parse: %v", err)
	}
	return c, nil
}

func certPEM(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

// findCert resolves a fingerprint or unique prefix.
func (d *Daemon) findCert(ctx context.Context, ref string) (db.Certificate, error) {
	certs, err := d.db.ListCertificates(ctx)
	if err != nil {
		return db.Certificate{}, err
	}
	var found []db.Certificate
	for _, c := range certs {
		if ref != "" && (strings.HasPrefix(c.Fingerprint, strings.ToLower(ref)) || c.Name == ref) {
			found = append(found, c)
		}
	}
	switch len(found) {
	case 0:
		return db.Certificate{}, errdefs.NotFoundf("certificate %q not found in the trust store (see `lodge config trust list`)", ref)
	case 1:
		return found[0], nil
	}
	return db.Certificate{}, errdefs.Invalidf("certificate %q is ambiguous: it matches %s and %s; give more of the fingerprint", ref, short(found[0].Fingerprint), short(found[1].Fingerprint))
}

func (d *Daemon) tokenOpSpec(md map[string]any) operations.Spec {
	return operations.Spec{Class: api.OperationClassToken, Description: "Executing operation", Metadata: md,
		Resources: map[string][]string{}}
}

// Certificates lists the trust store.
func (d *Daemon) Certificates(ctx context.Context) ([]db.Certificate, error) {
	return d.db.ListCertificates(ctx)
}

// Certificate finds a trusted certificate by fingerprint (prefix) or name.
func (d *Daemon) Certificate(ctx context.Context, ref string) (db.Certificate, error) {
	return d.findCert(ctx, ref)
}

// DeleteCertificate removes a certificate from the trust store.
func (d *Daemon) DeleteCertificate(ctx context.Context, ref string) error {
	c, err := d.findCert(ctx, ref)
	if err != nil {
		return err
	}
	if err := d.db.DeleteCertificate(ctx, c.Fingerprint); err != nil {
		return err
	}
	d.log.Info("certificate removed from the trust store", "name", c.Name, "fingerprint", c.Fingerprint)
	return nil
}

// Certificate types in the trust store: a client may use the whole API,
// a metrics certificate only /1.0/metrics (LXD's).
const (
	CertTypeClient  = "client"
	CertTypeMetrics = "metrics"
)

// CertType tells how a client certificate is trusted: its type in the
// trust store (CertTypeClient, CertTypeMetrics), "" if it is not there.
func (d *Daemon) CertType(ctx context.Context, cert *x509.Certificate) string {
	if d.IsMemberCert(cert) {
		// Another member of this cluster (forwarding a client's request).
		return CertTypeClient
	}
	fp := CertFingerprint(cert.Raw)
	certs, err := d.db.ListCertificates(ctx)
	if err != nil {
		return ""
	}
	for _, c := range certs {
		if c.Fingerprint == fp {
			if c.Type == "" {
				return CertTypeClient
			}
			return c.Type
		}
	}
	return ""
}

// Trust is POST /1.0/certificates: a trusted caller adds a certificate
// (req.Certificate, else peer, the one it presented) or asks for a join
// token (req.Token; the token operation carries it); an untrusted caller
// joins, its peer certificate trusted once its token checks out.
func (d *Daemon) Trust(ctx context.Context, req api.CertificatesPost, peer *x509.Certificate, trusted bool) (*operations.Op, error) {
	if req.Type == "" {
		req.Type = CertTypeClient
	}
	if req.Type != CertTypeClient && req.Type != CertTypeMetrics {
		return nil, errdefs.Invalidf("certificate type %q is not supported (client, metrics)", req.Type)
	}
	if !trusted {
		if req.Type != CertTypeClient {
			return nil, errdefs.Forbiddenf("not authorized: a join token trusts a client certificate; a %s certificate is added by a trusted client (lodge config trust add --type %s NAME CERTFILE)", req.Type, req.Type)
		}
		return nil, d.joinWithToken(ctx, req, peer)
	}
	if req.Token {
		if req.Type != CertTypeClient {
			return nil, errdefs.Invalidf("join tokens are for client certificates; add a %s certificate with its PEM (lodge config trust add --type %s NAME CERTFILE)", req.Type, req.Type)
		}
		return d.createJoinToken(ctx, req)
	}
	var cert *x509.Certificate
	var err error
	switch {
	case req.Certificate != "":
		cert, err = parseCert(req.Certificate)
	case peer != nil:
		cert = peer
	default:
		err = errdefs.Invalidf("no certificate given (certificate: PEM or base64 DER)")
	}
	if err != nil {
		return nil, err
	}
	err = d.db.CreateCertificate(ctx, db.Certificate{Fingerprint: CertFingerprint(cert.Raw), Name: req.Name, Type: req.Type,
		Certificate: certPEM(cert), Restricted: req.Restricted, CreatedAt: time.Now().UTC()})
	if errors.Is(err, db.ErrExists) {
		err = errdefs.Conflictf("certificate %s is already trusted", short(CertFingerprint(cert.Raw)))
	}
	return nil, err
}

func (d *Daemon) createJoinToken(ctx context.Context, req api.CertificatesPost) (*operations.Op, error) {
	if req.Name == "" {
		return nil, errdefs.Invalidf("a join token needs the client's name (lodge config trust add NAME)")
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	tok := db.CertificateToken{Secret: hex.EncodeToString(b), Name: req.Name, CreatedAt: now}
	if days := d.serverConfigInt(ctx, "core.remote_token_expiry"); days > 0 {
		tok.ExpiresAt = now.Add(time.Duration(days) * 24 * time.Hour)
	}
	if err := d.db.CreateCertificateToken(ctx, tok); err != nil {
		return nil, err
	}
	addrs := []string{}
	if d.https != nil {
		if a := d.https.HTTPSAddress(); a != "" {
			addrs = append(addrs, a)
		}
	}
	// LXD returns a "token" operation whose metadata the client turns into
	// the printed token; lxc and lodge both read these keys.
	md := map[string]any{"request": req, "secret": tok.Secret, "fingerprint": d.CertFingerprint(), "addresses": addrs, "expiresAt": tok.ExpiresAt}
	return d.ops.Start(d.tokenOpSpec(md), func(ctx context.Context, op *operations.Op) error { return nil }), nil
}

func (d *Daemon) joinWithToken(ctx context.Context, req api.CertificatesPost, cert *x509.Certificate) error {
	secret := req.TrustToken
	if secret == "" {
		secret = req.Password
	}
	if secret == "" {
		return errdefs.Forbiddenf("not authorized: present a join token (lodge remote add NAME URL --token TOKEN)")
	}
	// LXD 5.0's client sends the whole printed token (base64 JSON) as the password.
	if b, err := base64.StdEncoding.DecodeString(secret); err == nil {
		var tok api.CertificateAddToken
		if json.Unmarshal(b, &tok) == nil && tok.Secret != "" {
			secret = tok.Secret
		}
	}
	if cert == nil {
		return errdefs.Invalidf("no client certificate in the TLS handshake: nothing to trust")
	}
	tok, err := d.db.ConsumeCertificateToken(ctx, secret, time.Now().UTC(), db.Certificate{
		Fingerprint: CertFingerprint(cert.Raw), Name: req.Name, Type: "client", Certificate: certPEM(cert), CreatedAt: time.Now().UTC()})
	switch {
	case errors.Is(err, db.ErrNotFound):
		return errdefs.Forbiddenf("not authorized: join token not valid (unknown, already used or expired); ask for a new one with `lodge config trust add`")
	case errors.Is(err, db.ErrExists):
		return nil // already trusted: the token is spent all the same
	case err != nil:
		return err
	}
	d.log.Info("client joined with a token", "name", tok.Name, "fingerprint", CertFingerprint(cert.Raw))
	return nil
}
