package server

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"lodge/api"
)

// TestInstancesQuery: GET /1.0/instances with filter=, search=, sort=,
// limit=, offset= answers the page at each recursion level with the
// number of matches; a bad parameter is a 400 naming it; without them
// the list is as before; GET /1.0 announces the extension.
func TestInstancesQuery(t *testing.T) {
	e := newTestEnv(t)
	e.uploadImage(t, "busybox", "bb")
	for i := 0; i < 5; i++ {
		code, resp, _ := e.do(t, "POST", "/1.0/instances", fmt.Sprintf(`{"name":"q%d","source":{"type":"image","alias":"bb"},"description":"node %d"}`, i, i%2))
		if code != 202 {
			t.Fatalf("create: %d %s", code, resp.Error)
		}
		e.wait(t, resp)
	}
	for _, n := range []string{"q1", "q3"} {
		_, resp, _ := e.do(t, "PUT", "/1.0/instances/"+n+"/state", `{"action":"start"}`)
		e.wait(t, resp)
	}
	get := func(query string) (int, api.Response, string) {
		t.Helper()
		code, resp, hdr := e.do(t, "GET", "/1.0/instances?"+query, "")
		return code, resp, hdr.Get(TotalCountHeader)
	}
	v := url.Values{"recursion": {"2"}, "filter": {"status eq Running"}, "sort": {"-name"}, "limit": {"1"}, "offset": {"1"}}
	code, resp, total := get(v.Encode())
	var full []api.InstanceFull
	if code != 200 || total != "2" || json.Unmarshal(resp.Metadata, &full) != nil || len(full) != 1 || full[0].Name != "q1" ||
		full[0].State == nil || full[0].State.Pid == 0 || full[0].Status != "Running" {
		t.Fatalf("recursion=2 page: %d total=%q %s", code, total, resp.Metadata)
	}
	v = url.Values{"recursion": {"1"}, "search": {"NODE 1"}, "sort": {"name"}}
	code, resp, total = get(v.Encode())
	var list []api.Instance
	if code != 200 || total != "2" || json.Unmarshal(resp.Metadata, &list) != nil || len(list) != 2 || list[0].Name != "q1" || list[1].Name != "q3" || list[1].Status != "Running" {
		t.Fatalf("recursion=1 search: %d total=%q %s", code, total, resp.Metadata)
	}
	v = url.Values{"filter": {"(name eq q0 or name eq q3) and status ne Running"}}
	code, resp, total = get(v.Encode())
	var urls []string
	if code != 200 || total != "1" || json.Unmarshal(resp.Metadata, &urls) != nil || !slices.Equal(urls, []string{"/1.0/instances/q0"}) {
		t.Fatalf("recursion=0 filter: %d total=%q %s", code, total, resp.Metadata)
	}
	// lxc list sends an empty filter: the whole list, as before.
	code, resp, _ = get("filter=&recursion=2")
	if code != 200 || json.Unmarshal(resp.Metadata, &full) != nil || len(full) != 5 {
		t.Fatalf("lxc list's request: %d %s", code, resp.Metadata)
	}
	for _, tc := range []struct{ query, want string }{
		{"filter=" + url.QueryEscape("size eq 1"), `filter: unknown field "size"`},
		{"filter=" + url.QueryEscape("name like q1"), `filter: unknown operator "like"`},
		{"sort=size", `sort: unknown key "size"`},
		{"limit=0", `limit: "0" is not a whole number from 1 to 1000`},
		{"limit=20&offset=x", `offset: "x" is not`},
	} {
		code, resp, _ := get(tc.query)
		if code != 400 || !strings.HasPrefix(resp.Error, tc.want) {
			t.Errorf("%s: %d %q, want 400 %q", tc.query, code, resp.Error, tc.want)
		}
	}
	_, resp, _ = e.do(t, "GET", "/1.0", "")
	var srv api.Server
	if json.Unmarshal(resp.Metadata, &srv) != nil || !slices.Contains(srv.APIExtensions, "lodge_instances_query") || !slices.Contains(srv.APIExtensions, "api_filtering") {
		t.Errorf("GET /1.0 extensions: %v", srv.APIExtensions)
	}
}
