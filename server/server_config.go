package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"lodge/errdefs"
)

// serverKey is one server config key (PUT/PATCH /1.0). Other subsystems
// add theirs to serverConfigKeys; apply, if set, runs after a change is
// stored (the HTTPS listener restarts, for example).
type serverKey struct {
	def      string
	validate func(string) error
	apply    func(s *Server, value string) error
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
	"core.https_address": {validate: addressKey},
	// Days a join token stays valid; 0: until used.
	"core.remote_token_expiry": {def: "15", validate: uintKey("days")},
}

// Hooks are set here: in the map literal they would make an initialization cycle.
func init() {
	k := serverConfigKeys["core.https_address"]
	k.apply = (*Server).applyHTTPSAddress
	serverConfigKeys["core.https_address"] = k
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

func configString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

func (s *Server) handleServerPut(w http.ResponseWriter, r *http.Request) { s.updateServer(w, r, false) }
func (s *Server) handleServerPatch(w http.ResponseWriter, r *http.Request) {
	s.updateServer(w, r, true)
}

// updateServer validates every key before writing any (a bad request
// changes nothing), then applies the changed keys.
func (s *Server) updateServer(w http.ResponseWriter, r *http.Request, patch bool) {
	var req struct {
		Config map[string]any `json:"config"`
	}
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	cur, err := s.d.db.Config(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	if m := r.Header.Get("If-Match"); m != "" {
		conf := map[string]any{}
		for k, v := range cur {
			conf[k] = v
		}
		if strings.Trim(m, `"`) != etag(conf) {
			writeError(w, errdefs.Preconditionf("server config changed since you read it (ETag mismatch); read it again and retry"))
			return
		}
	}
	next := map[string]string{}
	if patch {
		for k, v := range cur {
			next[k] = v
		}
	}
	var bad []string
	for k, v := range req.Config {
		val := configString(v)
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
		writeError(w, errdefs.Invalidf("%s", strings.Join(bad, "; ")))
		return
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
			if err := key.apply(s, v); err != nil {
				writeError(w, errdefs.Invalidf("%s=%q: %v", k, v, err))
				return
			}
		}
	}
	if err := s.d.db.SetConfig(r.Context(), changes); err != nil {
		writeError(w, err)
		return
	}
	writeSync(w, map[string]any{})
}
