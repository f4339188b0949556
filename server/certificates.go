package server

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"time"

	"lodge/api"
	"lodge/errdefs"
	"lodge/server/db"
	"lodge/server/operations"
)

func certURL(fp string) string { return "/1.0/certificates/" + fp }

func renderCert(c db.Certificate) api.Certificate {
	return api.Certificate{Name: c.Name, Type: c.Type, Restricted: c.Restricted, Projects: []string{}, Certificate: c.Certificate, Fingerprint: c.Fingerprint}
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

func (s *Server) handleCertificatesGet(w http.ResponseWriter, r *http.Request) {
	certs, err := s.d.db.ListCertificates(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	if recursion(r) == 0 {
		urls := make([]string, 0, len(certs))
		for _, c := range certs {
			urls = append(urls, certURL(c.Fingerprint))
		}
		writeSync(w, urls)
		return
	}
	out := make([]api.Certificate, 0, len(certs))
	for _, c := range certs {
		out = append(out, renderCert(c))
	}
	writeSync(w, out)
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

func (s *Server) handleCertificateGet(w http.ResponseWriter, r *http.Request) {
	c, err := s.d.findCert(r.Context(), r.PathValue("fingerprint"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeSync(w, renderCert(c))
}

func (s *Server) handleCertificateDelete(w http.ResponseWriter, r *http.Request) {
	c, err := s.d.findCert(r.Context(), r.PathValue("fingerprint"))
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.d.db.DeleteCertificate(r.Context(), c.Fingerprint); err != nil {
		writeError(w, err)
		return
	}
	s.d.log.Info("certificate removed from the trust store", "name", c.Name, "fingerprint", c.Fingerprint)
	writeSync(w, map[string]any{})
}

// handleCertificatesPost: a trusted client adds a certificate or asks for a
// join token; an untrusted one joins with a token's secret, once.
func (s *Server) handleCertificatesPost(w http.ResponseWriter, r *http.Request) {
	var req api.CertificatesPost
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.Type == "" {
		req.Type = "client"
	}
	if req.Type != "client" {
		writeError(w, errdefs.Invalidf("certificate type %q is not supported (client)", req.Type))
		return
	}
	if !isTrusted(r) {
		s.joinWithToken(w, r, req)
		return
	}
	if req.Token {
		s.createJoinToken(w, r, req)
		return
	}
	var cert *x509.Certificate
	var err error
	switch {
	case req.Certificate != "":
		cert, err = parseCert(req.Certificate)
	case r.TLS != nil && len(r.TLS.PeerCertificates) > 0:
		cert = r.TLS.PeerCertificates[0]
	default:
		err = errdefs.Invalidf("no certificate given (certificate: PEM or base64 DER)")
	}
	if err != nil {
		writeError(w, err)
		return
	}
	err = s.d.db.CreateCertificate(r.Context(), db.Certificate{Fingerprint: CertFingerprint(cert.Raw), Name: req.Name, Type: req.Type,
		Certificate: certPEM(cert), Restricted: req.Restricted, CreatedAt: time.Now().UTC()})
	if errors.Is(err, db.ErrExists) {
		err = errdefs.Conflictf("certificate %s is already trusted", short(CertFingerprint(cert.Raw)))
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeSync(w, map[string]any{})
}

func (s *Server) createJoinToken(w http.ResponseWriter, r *http.Request, req api.CertificatesPost) {
	if req.Name == "" {
		writeError(w, errdefs.Invalidf("a join token needs the client's name (lodge config trust add NAME)"))
		return
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		writeError(w, err)
		return
	}
	now := time.Now().UTC()
	tok := db.CertificateToken{Secret: hex.EncodeToString(b), Name: req.Name, CreatedAt: now}
	if days := s.d.serverConfigInt(r.Context(), "core.remote_token_expiry"); days > 0 {
		tok.ExpiresAt = now.Add(time.Duration(days) * 24 * time.Hour)
	}
	if err := s.d.db.CreateCertificateToken(r.Context(), tok); err != nil {
		writeError(w, err)
		return
	}
	fp := ""
	if _, err := s.d.serverCert(); err == nil {
		fp = s.d.tls.certFP
	}
	s.d.tls.mu.Lock()
	addrs := []string{}
	if s.d.tls.addr != "" {
		addrs = append(addrs, s.d.tls.addr)
	}
	s.d.tls.mu.Unlock()
	// LXD returns a "token" operation whose metadata the client turns into
	// the printed token; lxc and lodge both read these keys.
	md := map[string]any{"request": req, "secret": tok.Secret, "fingerprint": fp, "addresses": addrs, "expiresAt": tok.ExpiresAt}
	op := s.d.ops.Start(s.d.tokenOpSpec(md), func(ctx context.Context, op *opT) error { return nil })
	writeAsync(w, op)
}

func (s *Server) joinWithToken(w http.ResponseWriter, r *http.Request, req api.CertificatesPost) {
	secret := req.TrustToken
	if secret == "" {
		secret = req.Password
	}
	if secret == "" {
		writeError(w, errdefs.Forbiddenf("not authorized: present a join token (lodge remote add NAME URL --token TOKEN)"))
		return
	}
	// LXD 5.0's client sends the whole printed token (base64 JSON) as the password.
	if b, err := base64.StdEncoding.DecodeString(secret); err == nil {
		var tok api.CertificateAddToken
		if json.Unmarshal(b, &tok) == nil && tok.Secret != "" {
			secret = tok.Secret
		}
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		writeError(w, errdefs.Invalidf("no client certificate in the TLS handshake: nothing to trust"))
		return
	}
	cert := r.TLS.PeerCertificates[0]
	tok, err := s.d.db.ConsumeCertificateToken(r.Context(), secret, time.Now().UTC(), db.Certificate{
		Fingerprint: CertFingerprint(cert.Raw), Name: req.Name, Type: "client", Certificate: certPEM(cert), CreatedAt: time.Now().UTC()})
	switch {
	case errors.Is(err, db.ErrNotFound):
		writeError(w, errdefs.Forbiddenf("not authorized: join token not valid (unknown, already used or expired); ask for a new one with `lodge config trust add`"))
		return
	case errors.Is(err, db.ErrExists):
		writeSync(w, map[string]any{}) // already trusted: the token is spent all the same
		return
	case err != nil:
		writeError(w, err)
		return
	}
	s.d.log.Info("client joined with a token", "name", tok.Name, "fingerprint", CertFingerprint(cert.Raw))
	writeSync(w, map[string]any{})
}

func (d *Daemon) tokenOpSpec(md map[string]any) operations.Spec {
	return operations.Spec{Class: api.OperationClassToken, Description: "Executing operation", Metadata: md,
		Resources: map[string][]string{}}
}
