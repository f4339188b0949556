package remotes

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// CertFingerprint is the SHA-256 of a certificate's DER bytes, as LXD names certificates.
func CertFingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// GenerateCertificate writes a self-signed ECDSA P-384 certificate and key
// (LXD's choice) valid for ten years, for hosts (names or addresses).
func GenerateCertificate(certPath, keyPath, cn string, hosts []string) error {
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return err
	}
	tmpl := x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{Organization: []string{"lodge"}, CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(10, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(certPath), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// LoadOrCreateCertificate loads a key pair, generating it first if absent.
func LoadOrCreateCertificate(certPath, keyPath, cn string, hosts []string) (tls.Certificate, error) {
	if _, err := os.Stat(certPath); errors.Is(err, os.ErrNotExist) {
		if err := GenerateCertificate(certPath, keyPath, cn, hosts); err != nil {
			return tls.Certificate{}, fmt.Errorf("certificate %s: %w", certPath, err)
		}
	}
	c, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return c, fmt.Errorf("certificate %s: %w (remove it and its key to regenerate)", certPath, err)
	}
	return c, nil
}

// PinnedTLS is the client TLS config for a remote: with pinnedPEM, the
// server must present exactly that certificate (pinned when the remote was
// added; names and CAs do not matter); without, the system's CAs apply.
// client, if not nil, is presented as the client certificate.
func PinnedTLS(pinnedPEM string, client *tls.Certificate) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if client != nil {
		cfg.Certificates = []tls.Certificate{*client}
	}
	if pinnedPEM == "" {
		return cfg, nil
	}
	b, _ := pem.Decode([]byte(pinnedPEM))
	if b == nil {
		return nil, errors.New("pinned server certificate is not PEM")
	}
	want := b.Bytes
	cfg.InsecureSkipVerify = true // replaced by the exact match below
	cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 || !bytes.Equal(raw[0], want) {
			got := ""
			if len(raw) > 0 {
				got = CertFingerprint(raw[0])
			}
			return fmt.Errorf("server certificate changed: pinned %s, presented %s (if the server was reinstalled, remove and re-add the remote)", CertFingerprint(want), got)
		}
		return nil
	}
	return cfg, nil
}

// FetchServerCertificate connects to addr (host:port) and returns the
// certificate it presents, without trusting it: for pinning on first use.
func FetchServerCertificate(addr string, timeout time.Duration) (*x509.Certificate, error) {
	d := &net.Dialer{Timeout: timeout}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		return nil, fmt.Errorf("TLS connection to %s: %w: %w", addr, err, ErrUnreachable)
	}
	defer conn.Close()
	certs := conn.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s presented no certificate", addr)
	}
	return certs[0], nil
}
