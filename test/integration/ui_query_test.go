package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// queryShim answers GET /1.0/instances with filter=, search=, sort=,
// limit=, offset= as ui/README.md asks lodged to (lodge_instances_query),
// on top of today's API: one recursion=1 list, then the state of the
// page's rows only. It exists so the browser tests run the UI's
// server-side path before lodged has it; it is no part of lodged, and
// its filter handles only what the UI sends (FIELD eq|ne VALUE joined by
// "and").
type queryShim struct {
	api http.Handler // the real API (the proxy to lodged)
}

func (q queryShim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == "GET" && r.URL.Path == "/1.0":
		q.serverInfo(w, r)
	case r.Method == "GET" && r.URL.Path == "/1.0/instances" && r.URL.Query().Has("limit"):
		q.instances(w, r)
	default:
		q.api.ServeHTTP(w, r)
	}
}

// get calls the real API and decodes the metadata.
func (q queryShim) get(r *http.Request, path string, out any) error {
	req, _ := http.NewRequestWithContext(r.Context(), "GET", path, nil)
	rec := &recorder{header: http.Header{}}
	q.api.ServeHTTP(rec, req)
	var env struct {
		Type     string
		Error    string
		Metadata json.RawMessage
	}
	if err := json.Unmarshal(rec.body.Bytes(), &env); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	if env.Type == "error" {
		return fmt.Errorf("%s", env.Error)
	}
	return json.Unmarshal(env.Metadata, out)
}

func (q queryShim) serverInfo(w http.ResponseWriter, r *http.Request) {
	var info map[string]any
	if err := q.get(r, "/1.0", &info); err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	ext, _ := info["api_extensions"].([]any)
	info["api_extensions"] = append(ext, "lodge_instances_query")
	writeShim(w, info, nil)
}

func field(inst map[string]any, key string) string {
	switch {
	case strings.HasPrefix(key, "config."), strings.HasPrefix(key, "expanded_config."):
		sect, k, _ := strings.Cut(key, ".")
		m, _ := inst[sect].(map[string]any)
		if sect == "config" {
			m, _ = inst["expanded_config"].(map[string]any)
		}
		s, _ := m[k].(string)
		return s
	case key == "profiles":
		var ps []string
		for _, p := range inst["profiles"].([]any) {
			ps = append(ps, p.(string))
		}
		return "," + strings.Join(ps, ",") + ","
	}
	s, _ := inst[key].(string)
	return s
}

func (q queryShim) instances(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	var all []map[string]any
	if err := q.get(r, "/1.0/instances?recursion=1", &all); err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	var conds [][3]string
	if f := v.Get("filter"); f != "" {
		for _, c := range strings.Split(f, " and ") {
			p := strings.SplitN(c, " ", 3)
			if len(p) != 3 || (p[1] != "eq" && p[1] != "ne") {
				writeShimError(w, 400, "filter: cannot parse "+strconv.Quote(c))
				return
			}
			conds = append(conds, [3]string{p[0], p[1], p[2]})
		}
	}
	words := strings.Fields(strings.ToLower(v.Get("search")))
	var out []map[string]any
next:
	for _, in := range all {
		for _, c := range conds {
			have := field(in, c[0])
			eq := have == c[2]
			if c[0] == "profiles" {
				eq = strings.Contains(have, ","+c[2]+",")
			}
			if eq != (c[1] == "eq") {
				continue next
			}
		}
		for _, wd := range words {
			if !strings.Contains(strings.ToLower(field(in, "name")), wd) && !strings.Contains(strings.ToLower(field(in, "description")), wd) {
				continue next
			}
		}
		out = append(out, in)
	}
	keys := strings.Split(v.Get("sort"), ",")
	sort.SliceStable(out, func(i, j int) bool {
		for _, k := range append(keys, "name") {
			desc := strings.HasPrefix(k, "-")
			k = strings.TrimPrefix(k, "-")
			if k == "" {
				continue
			}
			a, b := field(out[i], k), field(out[j], k)
			if a != b {
				return (a < b) != desc
			}
		}
		return false
	})
	limit, err1 := strconv.Atoi(v.Get("limit"))
	offset, err2 := strconv.Atoi(v.Get("offset"))
	if err1 != nil || limit < 1 || limit > 1000 || err2 != nil || offset < 0 {
		writeShimError(w, 400, "limit must be 1 to 1000 and offset 0 or more")
		return
	}
	total := len(out)
	page := out[min(offset, total):min(offset+limit, total)]
	for _, in := range page {
		var st any
		if err := q.get(r, "/1.0/instances/"+in["name"].(string)+"/state", &st); err == nil {
			in["state"] = st
		}
	}
	writeShim(w, page, map[string]string{"X-Lodge-Total-Count": strconv.Itoa(total)})
}

func writeShim(w http.ResponseWriter, md any, hdr map[string]string) {
	w.Header().Set("Content-Type", "application/json")
	for k, v := range hdr {
		w.Header().Set(k, v)
	}
	json.NewEncoder(w).Encode(map[string]any{"type": "sync", "status": "Success", "status_code": 200, "metadata": md})
}

func writeShimError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"type": "error", "error": msg, "error_code": code})
}

type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(c int)           { r.code = c }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
