package daemon

import (
	"context"
	"io"
	"strconv"
	"time"

	"lodge/errdefs"
	"lodge/metrics"
	"lodge/server/db"
)

// WriteMetrics renders /1.0/metrics (LXD's names and labels, the
// Prometheus text format) into w: every running instance's figures, read
// at once by the driver, and the daemon's own.
func (d *Daemon) WriteMetrics(ctx context.Context, w io.Writer) error {
	list, err := d.db.ListInstances(ctx)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(list))
	for _, in := range list {
		if in.Phase == db.PhaseCreated {
			names = append(names, in.Name)
		}
	}
	figures := d.inst.Metrics(ctx, names)
	insts := make([]metrics.Instance, 0, len(figures))
	for _, n := range names {
		if m, ok := figures[n]; ok {
			insts = append(insts, metrics.Instance{Name: n, Project: "default", Type: "container", Metrics: m})
		}
	}
	running := 0
	for _, op := range d.ops.List() {
		select {
		case <-op.Done():
		default:
			running++
		}
	}
	daemon := &metrics.Daemon{Uptime: time.Since(d.started), Operations: running, Runtime: true,
		Instances: []metrics.InstanceCount{{Project: "default", Type: "container", Count: len(list)}}}
	return metrics.Render(w, daemon, insts)
}

// setMetricsAddress moves the transport's metrics listener (core.metrics_address).
func (d *Daemon) setMetricsAddress(addr string) error {
	if d.https == nil {
		return errdefs.Invalidf("this lodged serves no HTTPS API, so no metrics listener either")
	}
	return d.https.SetMetricsAddress(addr)
}

// MetricsAuthentication tells whether /1.0/metrics needs a trusted
// certificate (core.metrics_authentication, true unless set false).
func (d *Daemon) MetricsAuthentication(ctx context.Context) bool {
	v, err := strconv.ParseBool(d.serverConfig(ctx, "core.metrics_authentication"))
	return err != nil || v
}
