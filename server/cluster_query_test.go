package server

import (
	"encoding/json"
	"net/url"
	"slices"
	"testing"

	"lodge/api"
)

// A queried list on a cluster member answers over every member's
// instances: filtered on each, merged in the query's order, paged over
// the merge, with the count of all matches; location filters by member.
// Asked on m1, which holds none of the matches. A member that does not
// answer shows its instances in Error state, filtered like the others.
func TestClusterInstancesQuery(t *testing.T) {
	ms := newTestCluster(t, 3)
	waitMembersOnline(t, ms[0], 3)
	ms[0].uploadImage(t, "busybox", "bb")
	for _, m := range ms[1:] {
		m.uploadImage(t, "busybox", "")
	}
	for _, c := range []struct{ name, member string }{{"a1", "m1"}, {"b1", "m2"}, {"b2", "m2"}, {"c1", "m3"}, {"c2", "m3"}} {
		ms[0].mustOp(t, "POST", "/1.0/instances?target="+c.member, `{"name":"`+c.name+`","source":{"type":"image","alias":"bb"}}`)
	}
	for _, n := range []string{"b1", "c1", "c2"} {
		ms[0].mustOp(t, "PUT", "/1.0/instances/"+n+"/state", `{"action":"start"}`)
	}
	type row struct{ name, location, status string }
	query := func(on *clusterMember, v url.Values) ([]row, string) {
		t.Helper()
		code, r, hdr := on.do(t, "GET", "/1.0/instances?"+v.Encode(), "")
		if code != 200 {
			t.Fatalf("GET %s on %s: %d %s", v.Encode(), on.name, code, r.Error)
		}
		var out []row
		if v.Get("recursion") == "0" {
			var urls []string
			json.Unmarshal(r.Metadata, &urls)
			for _, u := range urls {
				out = append(out, row{name: u})
			}
			return out, hdr.Get(TotalCountHeader)
		}
		var list []api.InstanceFull
		if err := json.Unmarshal(r.Metadata, &list); err != nil {
			t.Fatalf("GET %s: %v %s", v.Encode(), err, r.Metadata)
		}
		for _, in := range list {
			if v.Get("recursion") == "2" && in.State == nil {
				t.Errorf("GET %s: %s has no state at recursion 2", v.Encode(), in.Name)
			}
			out = append(out, row{in.Name, in.Location, in.Status})
		}
		return out, hdr.Get(TotalCountHeader)
	}
	for _, c := range []struct {
		v     url.Values
		want  []row
		total string
	}{
		// lxc list status=running sends this.
		{url.Values{"recursion": {"2"}, "filter": {"status eq running"}},
			[]row{{"b1", "m2", "Running"}, {"c1", "m3", "Running"}, {"c2", "m3", "Running"}}, "3"},
		{url.Values{"recursion": {"1"}, "filter": {"status eq running"}, "sort": {"-name"}, "limit": {"1"}, "offset": {"1"}},
			[]row{{"c1", "m3", "Running"}}, "3"},
		{url.Values{"recursion": {"1"}, "filter": {"location eq m2"}},
			[]row{{"b1", "m2", "Running"}, {"b2", "m2", "Stopped"}}, "2"},
		{url.Values{"recursion": {"1"}, "sort": {"-location,name"}, "limit": {"3"}},
			[]row{{"c1", "m3", "Running"}, {"c2", "m3", "Running"}, {"b1", "m2", "Running"}}, "5"},
		{url.Values{"recursion": {"0"}, "search": {"2"}},
			[]row{{name: "/1.0/instances/b2"}, {name: "/1.0/instances/c2"}}, "2"},
	} {
		got, total := query(ms[0], c.v)
		if !slices.Equal(got, c.want) || total != c.total {
			t.Errorf("GET %s on m1: %v total %s, want %v total %s", c.v.Encode(), got, total, c.want, c.total)
		}
	}

	// m3 stops answering: its instances are in Error state, and a filter
	// on the status counts them as such.
	ms[2].s.stopHTTPS()
	got, total := query(ms[0], url.Values{"recursion": {"1"}, "filter": {"name eq c.*"}})
	if want := []row{{"c1", "m3", "Error"}, {"c2", "m3", "Error"}}; !slices.Equal(got, want) || total != "2" {
		t.Errorf("m3 silent, name eq c.*: %v total %s, want %v", got, total, want)
	}
	got, total = query(ms[0], url.Values{"recursion": {"1"}, "filter": {"status eq running"}})
	if want := []row{{"b1", "m2", "Running"}}; !slices.Equal(got, want) || total != "1" {
		t.Errorf("m3 silent, status eq running: %v total %s, want %v", got, total, want)
	}
}
