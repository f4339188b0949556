package api

import "time"

// Certificate is a trusted TLS client certificate (GET /1.0/certificates/{fp}).
type Certificate struct {
	Name        string   `json:"name" yaml:"name"`
	Type        string   `json:"type" yaml:"type"`
	Restricted  bool     `json:"restricted" yaml:"restricted"`
	Projects    []string `json:"projects" yaml:"projects"`
	Certificate string   `json:"certificate" yaml:"certificate"`
	Fingerprint string   `json:"fingerprint" yaml:"fingerprint"`
}

// CertificatesPost is the body of POST /1.0/certificates: a trusted client
// adds a certificate (or, with token, asks for a join token); an untrusted
// one presents a join token's secret (password in LXD 5.0, trust_token later).
type CertificatesPost struct {
	Name        string   `json:"name" yaml:"name"`
	Type        string   `json:"type" yaml:"type"`
	Restricted  bool     `json:"restricted" yaml:"restricted"`
	Projects    []string `json:"projects" yaml:"projects"`
	Certificate string   `json:"certificate" yaml:"certificate"`
	Password    string   `json:"password" yaml:"password"`
	Token       bool     `json:"token" yaml:"token"`
	TrustToken  string   `json:"trust_token,omitempty" yaml:"trust_token,omitempty"`
}

// CertificateAddToken is what a join token encodes (base64 of this JSON),
// as LXD prints it for `lxc config trust add`.
type CertificateAddToken struct {
	ClientName  string    `json:"client_name"`
	Fingerprint string    `json:"fingerprint"`
	Addresses   []string  `json:"addresses"`
	Secret      string    `json:"secret"`
	ExpiresAt   time.Time `json:"expires_at"`
}
