package server

import (
	"crypto/x509"
	"net/http"

	"lodge/api"
	"lodge/server/db"
)

func certURL(fp string) string { return "/1.0/certificates/" + fp }

func renderCert(c db.Certificate) api.Certificate {
	return api.Certificate{Name: c.Name, Type: c.Type, Restricted: c.Restricted, Projects: []string{}, Certificate: c.Certificate, Fingerprint: c.Fingerprint}
}

func (s *Server) certificatesGet(r *http.Request) (response, error) {
	certs, err := s.d.Certificates(r.Context())
	if err != nil {
		return nil, err
	}
	if recursion(r) == 0 {
		urls := make([]string, 0, len(certs))
		for _, c := range certs {
			urls = append(urls, certURL(c.Fingerprint))
		}
		return reply(urls), nil
	}
	out := make([]api.Certificate, 0, len(certs))
	for _, c := range certs {
		out = append(out, renderCert(c))
	}
	return reply(out), nil
}

func (s *Server) certificateGet(r *http.Request) (response, error) {
	c, err := s.d.Certificate(r.Context(), r.PathValue("fingerprint"))
	if err != nil {
		return nil, err
	}
	return reply(renderCert(c)), nil
}

func (s *Server) certificateDelete(r *http.Request) (response, error) {
	return replyEmpty(), s.d.DeleteCertificate(r.Context(), r.PathValue("fingerprint"))
}

// certificatesPost: a trusted client adds a certificate or asks for a
// join token; an untrusted one joins with a token's secret, once.
func (s *Server) certificatesPost(r *http.Request) (response, error) {
	var req api.CertificatesPost
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	var peer *x509.Certificate
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		peer = r.TLS.PeerCertificates[0]
	}
	op, err := s.d.Trust(r.Context(), req, peer, isTrusted(r))
	if err != nil || op == nil {
		return replyEmpty(), err
	}
	return replyAsync(op), nil
}
