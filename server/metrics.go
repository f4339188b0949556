package server

import (
	"bytes"
	"context"
	"net/http"

	"lodge/errdefs"
	"lodge/metrics"
)

// GET /1.0/metrics: LXD's metrics in the Prometheus text format, for the
// unix socket, trusted clients and certificates of type metrics (LXD's
// `lxc config trust add --type metrics`); with
// core.metrics_authentication=false for anyone. It is served on the HTTPS
// API and on its own listener, core.metrics_address.

// isMetricsCert reports whether an HTTPS request came with a certificate
// trusted for the metrics only.
func isMetricsCert(r *http.Request) bool {
	v, _ := r.Context().Value(ctxKeyMetricsCert{}).(bool)
	return v
}

func (s *Server) metricsGet(r *http.Request) (response, error) {
	if !isTrusted(r) && !isMetricsCert(r) && s.d.MetricsAuthentication(r.Context()) {
		return nil, errdefs.Forbiddenf("GET /1.0/metrics: not authorized: present a trusted client certificate or one of type metrics (lodge config trust add --type metrics NAME)")
	}
	var b bytes.Buffer
	if err := s.d.WriteMetrics(r.Context(), &b); err != nil {
		return nil, err
	}
	return stream(func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", metrics.ContentType)
		_, _ = w.Write(b.Bytes())
	}), nil
}

// metricsHandler serves the metrics listener: /1.0/metrics and nothing
// else, with the same trust check as the HTTPS API.
func (s *Server) metricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = s.withCertTrust(r)
		if r.Method != http.MethodGet || r.URL.Path != "/1.0/metrics" {
			writeError(w, errdefs.NotFoundf("not found: %s %s (this listener serves GET /1.0/metrics only)", r.Method, r.URL.Path))
			return
		}
		resp, err := s.metricsGet(r)
		if err != nil {
			writeError(w, err)
			return
		}
		resp.write(w)
	})
}

// startMetrics starts the metrics listener if core.metrics_address is set.
func (s *Server) startMetrics(ctx context.Context) {
	if addr := s.d.ServerConfigValue(ctx, "core.metrics_address"); addr != "" {
		if err := s.SetMetricsAddress(addr); err != nil {
			s.log.Warn("metrics listener not started", "address", addr, "err", err)
		}
	}
}

// MetricsAddress is where the metrics listener listens ("" when it does not).
func (s *Server) MetricsAddress() string {
	s.metrics.mu.Lock()
	defer s.metrics.mu.Unlock()
	return s.metrics.addr
}

// SetMetricsAddress (re)starts the metrics listener on addr (port 8444
// if none is given, as LXD's); "" stops it. A refused change leaves it
// where it was.
func (s *Server) SetMetricsAddress(addr string) error {
	got, err := s.metrics.listen(addr, "8444", s.d.ServerCert, s.metricsHandler())
	if err == nil && got != "" {
		s.log.Info("metrics listening", "address", got)
	}
	return err
}
