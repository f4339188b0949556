package daemon

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"lodge/backup"
	"lodge/errdefs"
)

// serverKey is one server config key (PUT/PATCH /1.0); apply, if set,
// makes a change take effect before it is stored (the HTTPS listener
// moves, for example), so that one that fails is refused.
type serverKey struct {
	def      string
	validate func(string) error
	apply    func(d *Daemon, value string) error
}

func uintKey(unit string) func(string) error {
	return func(v string) error {
		if n, err := strconv.Atoi(v); err != nil || n < 0 {
			return fmt.Errorf("expected a whole number of %s (0 or more), got %q", unit, v)
		}
		return nil
	}
}

func boolKey(v string) error {
	if _, err := strconv.ParseBool(v); err != nil {
		return fmt.Errorf("expected true or false, got %q", v)
	}
	return nil
}

func addressKey(v string) error {
	if v == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		// LXD accepts a bare address and uses port 8443.
		if _, _, err2 := net.SplitHostPort(v + ":8443"); err2 != nil {
			return fmt.Errorf("expected [HOST]:PORT, got %q", v)
		}
		return nil
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("bad port in %q", v)
	}
	_ = host
	return nil
}

var serverConfigKeys = map[string]serverKey{
	// Days an image cached for a launch is kept after its last use.
	"images.remote_cache_expiry": {def: "10", validate: uintKey("days")},
	// Hours between checks for newer versions of auto-update images; 0 disables.
	"images.auto_update_interval": {def: "6", validate: uintKey("hours")},
	// Whether images cached for a launch are kept up to date too.
	"images.auto_update_cached": {def: "true", validate: boolKey},
	// Address of the HTTPS API; "" disables it.
	"core.https_address": {validate: addressKey, apply: (*Daemon).setHTTPSAddress},
	// Days a join token stays valid; 0: until used.
	"core.remote_token_expiry": {def: "15", validate: uintKey("days")},
	// Address of the metrics listener (/1.0/metrics only, TLS); "" disables it.
	"core.metrics_address": {validate: addressKey, apply: (*Daemon).setMetricsAddress},
	// Whether /1.0/metrics needs a trusted client or metrics certificate.
	"core.metrics_authentication": {def: "true", validate: boolKey},
	// Compression of instance backups when the request names none.
	"backups.compression_algorithm": {def: "gzip", validate: backup.CheckCompression},
	// Seconds without a heartbeat after which a cluster member is offline.
	"cluster.offline_threshold": {def: "20", validate: offlineThresholdKey},
	// Where the other members reach this one; set when clustering starts.
	"cluster.https_address": {apply: (*Daemon).refuseClusterAddress},
}

// serverConfig returns a key's value, or its default.
func (d *Daemon) serverConfig(ctx context.Context, key string) string {
	cfg, err := d.db.Config(ctx)
	if err == nil {
		if v, ok := cfg[key]; ok {
			return v
		}
	}
	return serverConfigKeys[key].def
}

func (d *Daemon) serverConfigInt(ctx context.Context, key string) int {
	n, _ := strconv.Atoi(d.serverConfig(ctx, key))
	return n
}

// setHTTPSAddress moves the transport's HTTPS listener (core.https_address).
func (d *Daemon) setHTTPSAddress(addr string) error {
	if d.https == nil {
		return errdefs.Invalidf("this lodged serves no HTTPS API")
	}
	if d.db.Clustered() && addr != d.db.ClusterAddress() {
		return errdefs.Invalidf("a cluster member serves its API where the other members reach it (cluster.https_address %s); it cannot move", d.db.ClusterAddress())
	}
	return d.https.SetHTTPSAddress(addr)
}

// ServerConfigValue is a key's value, or its default.
func (d *Daemon) ServerConfigValue(ctx context.Context, key string) string {
	return d.serverConfig(ctx, key)
}

// UpdateServerConfig replaces (or with u.Patch merges) the server config.
// Every key is validated before any is written (a bad request changes
// nothing); keys that take effect at once (the HTTPS address) are applied
// before the change is stored, so a refused one is not stored.
func (d *Daemon) UpdateServerConfig(ctx context.Context, req map[string]string, u Update) error {
	cur, err := d.db.Config(ctx)
	if err != nil {
		return err
	}
	if err := u.check(cur); err != nil {
		return err
	}
	next := map[string]string{}
	if u.Patch {
		for k, v := range cur {
			next[k] = v
		}
	}
	var bad []string
	for k, val := range req {
		key, ok := serverConfigKeys[k]
		if !ok {
			bad = append(bad, fmt.Sprintf("unknown server config key %q", k))
			continue
		}
		if val != "" && key.validate != nil {
			if err := key.validate(val); err != nil {
				bad = append(bad, fmt.Sprintf("%s: %v", k, err))
				continue
			}
		}
		next[k] = val
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return errdefs.Invalidf("%s", strings.Join(bad, "; "))
	}
	changes := map[string]string{}
	for k, v := range next {
		if cur[k] != v {
			changes[k] = v
		}
	}
	for k := range cur {
		if _, ok := next[k]; !ok {
			changes[k] = ""
		}
	}
	// Apply first where that can fail (a port in use), so a refused change is not stored.
	for k, v := range changes {
		if key := serverConfigKeys[k]; key.apply != nil {
			if err := key.apply(d, v); err != nil {
				return errdefs.Invalidf("%s=%q: %v", k, v, err)
			}
		}
	}
	return d.db.SetConfig(ctx, changes)
}

// ServerInfo is what GET /1.0 says of the daemon itself.
type ServerInfo struct {
	Config                 map[string]string
	Version, DriverVersion string
	// StorageDriver is the default pool's driver.
	StorageDriver            string
	CertPEM, CertFingerprint string
}

// ServerInfo reads the daemon's config and what it runs with.
func (d *Daemon) ServerInfo(ctx context.Context) (ServerInfo, error) {
	cfg, err := d.db.Config(ctx)
	if err != nil {
		return ServerInfo{}, err
	}
	return ServerInfo{Config: cfg, Version: d.cfg.Version, DriverVersion: d.cfg.DriverVersion, StorageDriver: d.defaultPoolDriver(),
		CertPEM: d.CertPEM(), CertFingerprint: d.CertFingerprint()}, nil
}
