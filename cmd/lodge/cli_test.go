package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"lodge/api"
)

func TestParseColumns(t *testing.T) {
	cs, err := parseColumns("ns46tS")
	if err != nil || len(cs) != 6 || cs[0].name != "NAME" || cs[5].name != "SNAPSHOTS" {
		t.Fatalf("%v %v", cs, err)
	}
	if _, err := parseColumns("nX"); err == nil || !strings.Contains(err.Error(), `unknown column "X"`) {
		t.Fatalf("bad column: %v", err)
	}
}

// The L column is where an instance lives; a list is a cluster's when an
// instance is located on a member ("none" standalone).
func TestLocationColumn(t *testing.T) {
	cs, err := parseColumns("nL")
	if err != nil || cs[1].name != "LOCATION" {
		t.Fatalf("%v %v", cs, err)
	}
	on := api.InstanceFull{Instance: api.Instance{Name: "c1", Location: "node2"}}
	if got := cs[1].data(on); got != "node2" {
		t.Fatalf("location: %q", got)
	}
	standalone := api.InstanceFull{Instance: api.Instance{Name: "c2", Location: "none"}}
	if clustered([]api.InstanceFull{standalone}) || !clustered([]api.InstanceFull{standalone, on}) {
		t.Fatal("clustered: wrong")
	}
}

func TestAddresses(t *testing.T) {
	st := &api.InstanceState{Network: map[string]api.InstanceStateNetwork{
		"lo":   {Addresses: []api.InstanceStateNetworkAddress{{Family: "inet", Address: "127.0.0.1", Scope: "local"}}},
		"eth1": {Addresses: []api.InstanceStateNetworkAddress{{Family: "inet", Address: "192.168.1.9", Scope: "global"}}},
		"eth0": {Addresses: []api.InstanceStateNetworkAddress{
			{Family: "inet", Address: "10.0.3.5", Scope: "global"},
			{Family: "inet6", Address: "fe80::1", Scope: "link"},
			{Family: "inet6", Address: "fd42::5", Scope: "global"},
		}},
	}}
	if got := addresses(st, "inet"); got != "10.0.3.5 (eth0)\n192.168.1.9 (eth1)" {
		t.Errorf("inet: %q", got)
	}
	if got := addresses(st, "inet6"); got != "fd42::5 (eth0)" {
		t.Errorf("inet6: %q", got)
	}
	if addresses(nil, "inet") != "" {
		t.Error("nil state")
	}
}

func TestMatchFilter(t *testing.T) {
	tests := []struct {
		name    string
		filters []string
		want    bool
	}{
		{"c01", nil, true}, {"c01", []string{"c0"}, true}, {"web1", []string{"c0"}, false},
		{"web1", []string{"web[0-9]"}, true}, {"web12", []string{"web[0-9]"}, false}, {"x", []string{"("}, false},
	}
	for _, tc := range tests {
		if got := matchFilter(tc.name, tc.filters); got != tc.want {
			t.Errorf("matchFilter(%q, %v) = %v", tc.name, tc.filters, got)
		}
	}
}

// KEY=VALUE list args become the server's filter (as lxc list's do);
// the others stay name patterns.
func TestSplitFilters(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		names  []string
		filter string
	}{
		{nil, nil, ""},
		{[]string{"web", "c[0-9]"}, []string{"web", "c[0-9]"}, ""},
		{[]string{"status=running", "web", "location=m2"}, []string{"web"}, "status eq running and location eq m2"},
		{[]string{"description=two words"}, nil, `description eq "two words"`},
	} {
		names, filter := splitFilters(tc.args)
		if !slices.Equal(names, tc.names) || filter != tc.filter {
			t.Errorf("splitFilters(%q) = %q, %q; want %q, %q", tc.args, names, filter, tc.names, tc.filter)
		}
	}
}

func TestParseKVAndRef(t *testing.T) {
	if m, err := parseKV([]string{"a=b", "c=d=e", "e="}); err != nil || m["a"] != "b" || m["c"] != "d=e" || m["e"] != "" {
		t.Fatalf("%v %v", m, err)
	}
	for _, bad := range []string{"novalue", "=x"} {
		if _, err := parseKV([]string{bad}); err == nil {
			t.Errorf("parseKV(%q) accepted", bad)
		}
	}
	t.Setenv("LODGE_CONF", t.TempDir())
	if r, err := parseRef("local:c1"); err != nil || r.Name != "c1" || r.Remote != "local" {
		t.Fatalf("local: %+v %v", r, err)
	}
	if _, err := parseRef("nosuch:debian/12"); err == nil || !strings.Contains(err.Error(), "remote") {
		t.Fatalf("remote: %v", err)
	}
	if r, err := parseRef("debian/12"); err != nil || r.Name != "debian/12" || r.Remote != "local" {
		t.Fatalf("plain: %+v %v", r, err)
	}
}

func TestDetachReader(t *testing.T) {
	tests := []struct{ in, out string }{
		{"hello", "hello"},
		{"ab\x01qcd", "ab"},
		{"a\x01xb", "a\x01xb"},
		{"\x01q", ""},
	}
	for _, tc := range tests {
		d := &detachReader{r: strings.NewReader(tc.in)}
		got, _ := io.ReadAll(d)
		if string(got) != tc.out {
			t.Errorf("%q -> %q, want %q", tc.in, got, tc.out)
		}
	}
}

func TestParseSetArgs(t *testing.T) {
	tests := []struct {
		args []string
		want map[string]string
		err  bool
	}{
		{[]string{"limits.memory", "1GiB"}, map[string]string{"limits.memory": "1GiB"}, false},
		{[]string{"environment.TZ", "Europe/Paris", "user.owner", "alice"}, map[string]string{"environment.TZ": "Europe/Paris", "user.owner": "alice"}, false},
		{[]string{"a=1", "b=x=y"}, map[string]string{"a": "1", "b": "x=y"}, false},
		{[]string{"raw.lxc", "lxc.apparmor.profile=unconfined"}, map[string]string{"raw.lxc": "lxc.apparmor.profile=unconfined"}, false},
		{[]string{"a", "1", "b"}, nil, true},
		{[]string{"a=1", "b"}, nil, true},
	}
	for _, tc := range tests {
		got, err := parseSetArgs(tc.args)
		if (err != nil) != tc.err || (!tc.err && fmt.Sprint(got) != fmt.Sprint(tc.want)) {
			t.Errorf("parseSetArgs(%q) = %v %v, want %v", tc.args, got, err, tc.want)
		}
	}
}

func TestOperationID(t *testing.T) {
	for in, want := range map[string]string{
		"6e0d0d63-1":                  "6e0d0d63-1",
		"/1.0/operations/6e0d0d63-1":  "6e0d0d63-1",
		"/1.0/operations/6e0d0d63-1/": "6e0d0d63-1",
		"":                            "",
		"/1.0/operations/":            "",
	} {
		got, err := operationID(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("operationID(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
