package client

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"lodge/api"
)

// ConnectHTTPS connects to a daemon's HTTPS API at https://host:port.
// tlsCfg carries the pinned server certificate and the client certificate.
func ConnectHTTPS(addr string, tlsCfg *tls.Config) (*Client, error) {
	u, err := url.Parse(addr)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("address %q: expected https://HOST:PORT", addr)
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	dial := func(ctx context.Context, network, a string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, a)
		if err != nil {
			return nil, fmt.Errorf("cannot reach %s: %w", addr, err)
		}
		return c, nil
	}
	base := strings.TrimRight(addr, "/")
	c := &Client{
		http: &http.Client{Transport: &http.Transport{DialContext: dial, TLSClientConfig: tlsCfg, TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConnsPerHost: 4, WriteBufferSize: 256 << 10, ReadBufferSize: 256 << 10}},
		dialer: websocket.Dialer{NetDialContext: dial, TLSClientConfig: tlsCfg, HandshakeTimeout: 10 * time.Second},
		base:   base,
	}
	return c.withTrace(), nil
}

// GetCertificates lists the trust store.
func (c *Client) GetCertificates(ctx context.Context) ([]api.Certificate, error) {
	var out []api.Certificate
	_, err := c.get(ctx, "/1.0/certificates?recursion=1", &out)
	return out, err
}

// DeleteCertificate removes a certificate (fingerprint, prefix or name).
func (c *Client) DeleteCertificate(ctx context.Context, fp string) error {
	_, _, err := c.query(ctx, http.MethodDelete, "/1.0/certificates/"+url.PathEscape(fp), nil, nil, nil)
	return err
}

// CreateCertificateToken asks for a join token for a new client called
// name and returns it encoded as LXD prints it (base64 of JSON).
func (c *Client) CreateCertificateToken(ctx context.Context, name string) (string, api.CertificateAddToken, error) {
	op, err := c.async(ctx, http.MethodPost, "/1.0/certificates", api.CertificatesPost{Name: name, Type: "client", Token: true}, nil)
	if err != nil {
		return "", api.CertificateAddToken{}, err
	}
	tok := api.CertificateAddToken{ClientName: name}
	tok.Secret, tok.Fingerprint, tok.Addresses, tok.ExpiresAt = tokenMetadata(op.Op.Metadata)
	if tok.Secret == "" {
		return "", tok, fmt.Errorf("the server returned no token secret")
	}
	b, err := json.Marshal(tok)
	if err != nil {
		return "", tok, err
	}
	return base64.StdEncoding.EncodeToString(b), tok, nil
}

// DecodeToken reads a join token as `lodge config trust add` (or LXD's)
// prints it; a bare secret is accepted too.
func DecodeToken(s string) api.CertificateAddToken {
	s = strings.TrimSpace(s)
	var tok api.CertificateAddToken
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && json.Unmarshal(b, &tok) == nil && tok.Secret != "" {
			return tok
		}
	}
	return api.CertificateAddToken{Secret: s}
}

// JoinWithToken presents a join token's secret with this client's
// certificate (sent in the TLS handshake), as `lxc remote add --token` does.
func (c *Client) JoinWithToken(ctx context.Context, name, secret string) error {
	_, _, err := c.query(ctx, http.MethodPost, "/1.0/certificates",
		api.CertificatesPost{Name: name, Type: "client", Password: secret, TrustToken: secret}, nil, nil)
	return err
}

// AddCertificate trusts a certificate (PEM) as typ: client, or metrics
// (for /1.0/metrics only).
func (c *Client) AddCertificate(ctx context.Context, name, typ, certPEM string) error {
	_, _, err := c.query(ctx, http.MethodPost, "/1.0/certificates", api.CertificatesPost{Name: name, Type: typ, Certificate: certPEM}, nil, nil)
	return err
}

// tokenMetadata reads a token operation's metadata (LXD's fields for both
// client and cluster join tokens).
func tokenMetadata(md map[string]any) (secret, fingerprint string, addresses []string, expiresAt time.Time) {
	secret, _ = md["secret"].(string)
	fingerprint, _ = md["fingerprint"].(string)
	if as, ok := md["addresses"].([]any); ok {
		for _, a := range as {
			if s, ok := a.(string); ok {
				addresses = append(addresses, s)
			}
		}
	}
	if s, ok := md["expiresAt"].(string); ok {
		expiresAt, _ = time.Parse(time.RFC3339Nano, s)
	}
	return secret, fingerprint, addresses, expiresAt
}
