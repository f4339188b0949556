package daemon

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"lodge/api"
	"lodge/errdefs"
	"lodge/server/db"
)

// queryRows are the instances the filter tests match against.
func queryRows() []*queryRow {
	mk := func(name, status, desc string, profiles []string, cfg map[string]string, devs map[string]map[string]string) *queryRow {
		in := db.Instance{Name: name, Architecture: "x86_64", Description: desc, Profiles: profiles, Config: cfg, Devices: devs}
		x := expandProfiles(in, []db.Profile{{Name: "default", Config: map[string]string{"limits.cpu": "2"},
			Devices: map[string]map[string]string{"root": {"type": "disk", "path": "/", "pool": "default"}}}}, nil)
		return &queryRow{in: in, x: &x, status: status, location: "none", nameLower: strings.ToLower(name), descLower: strings.ToLower(desc)}
	}
	return []*queryRow{
		mk("c1", "Running", "web server", []string{"default", "web"}, map[string]string{"image.os": "Debian", "user.tier": "front end"},
			map[string]map[string]string{"eth0": {"type": "nic", "network": "lodgebr0"}}),
		mk("c2", "Stopped", "database", []string{"default"}, map[string]string{"image.os": "Alpine", "limits.cpu": "4"}, nil),
		mk("db-3", "Frozen", "", []string{"default", "db"}, map[string]string{"image.os": "debian"}, nil),
	}
}

// TestFilterGrammar: LXD 5.0's api_filtering on the fields lodge knows,
// and lodge's parentheses and profile membership.
func TestFilterGrammar(t *testing.T) {
	rows := queryRows()
	for _, tc := range []struct{ filter, want string }{
		{"name eq c1", "c1"},
		{"name ne c1", "c2 db-3"},
		{"not name eq c1", "c2 db-3"},
		{"not name ne c1", "c1"},
		{"status eq Running", "c1"},
		// LXD matches case-insensitively, as an anchored regular expression.
		{"status eq running", "c1"},
		{"name eq c.", "c1 c2"},
		{"name eq ^c", "c1 c2"},
		{"name eq 3$", "db-3"},
		{"name eq (c1|c2)", "c1 c2"},
		// Not a regular expression: compared as a string, ignoring case.
		{"name eq c1(", ""},
		{"description eq \"web server\"", "c1"},
		{"description eq \"web   server\"", "c1"}, // LXD joins the words of a quoted value with one space
		{"description eq web", ""},
		{"description eq \"\"", "db-3"},
		{"type eq container", "c1 c2 db-3"},
		{"architecture eq x86_64 and location eq none and project eq default", "c1 c2 db-3"},
		{"config.image.os eq debian", "c1 db-3"},
		{"config.user.tier eq \"front end\"", "c1"},
		{"config.limits.cpu eq 2", ""},
		{"expanded_config.limits.cpu eq 2", "c1 db-3"},
		{"expanded_config.limits.cpu eq 4", "c2"},
		{"devices.eth0.network eq lodgebr0", "c1"},
		{"devices.eth0.network ne lodgebr0", "c2 db-3"}, // no such device: ne matches, as in LXD
		{"expanded_devices.root.pool eq default", "c1 c2 db-3"},
		{"profiles eq web", "c1"},
		{"profiles ne db", "c1 c2"},
		// Left to right without precedence, as LXD reads it.
		{"name eq c1 or name eq c2 and status eq Running", "c1"},
		{"name eq c2 and status eq Running or name eq db-3", "db-3"},
		// lodge's parentheses.
		{"name eq c1 or (name eq c2 and status eq Running)", "c1"},
		{"(name eq c1 or name eq c2) and status eq Stopped", "c2"},
		{"( name eq c1 or name eq c2 ) and status eq Stopped", "c2"},
		{"not (name eq c1 or name eq c2)", "db-3"},
		{"((name eq c1))", "c1"},
		{"(name eq (c1|c2))", "c1 c2"},
		{"(description eq \"web server\")", "c1"},
		{"NOT name eq c1", "c2 db-3"},
		{"  ", "c1 c2 db-3"},
		// A ")" outside any group is part of the value, as in LXD.
		{"name eq c1)", ""},
	} {
		f, err := parseFilter(tc.filter)
		if err != nil {
			t.Errorf("%q: %v", tc.filter, err)
			continue
		}
		var got []string
		for _, r := range rows {
			if f == nil || f.match(r) {
				got = append(got, r.in.Name)
			}
		}
		if g := strings.Join(got, " "); g != tc.want {
			t.Errorf("%q matches %q, want %q", tc.filter, g, tc.want)
		}
	}
}

// TestQueryParamsBad: each bad parameter is refused with an invalid-kind
// error (400) that names it and says what is wrong.
func TestQueryParamsBad(t *testing.T) {
	for _, tc := range []struct {
		p    QueryParams
		want string
	}{
		{QueryParams{Filter: "foo eq bar"}, `filter: unknown field "foo"`},
		{QueryParams{Filter: "created_at eq x"}, `filter: unknown field "created_at"`},
		{QueryParams{Filter: "config. eq x"}, `filter: unknown field "config."`},
		{QueryParams{Filter: "devices.eth0 eq x"}, `filter: unknown field "devices.eth0"`},
		{QueryParams{Filter: "name gt c1"}, `filter: unknown operator "gt"`},
		{QueryParams{Filter: "name EQ c1"}, `filter: unknown operator "EQ"`},
		{QueryParams{Filter: "name"}, `filter: "name" without an operator`},
		{QueryParams{Filter: "name eq"}, `filter: name eq without a value`},
		{QueryParams{Filter: "not"}, `filter: not without a clause`},
		{QueryParams{Filter: "name eq c1 and"}, `filter: nothing after "and"`},
		{QueryParams{Filter: "name eq c1 xor name eq c2"}, `filter: expected and or or after a clause, found "xor"`},
		{QueryParams{Filter: "name eq c1 AND name eq c2"}, `filter: expected and or or after a clause, found "AND"`},
		{QueryParams{Filter: `description eq "web server`}, `filter: unterminated quote`},
		{QueryParams{Filter: `description eq "web"x`}, `filter: unexpected "x" after a closing quote`},
		{QueryParams{Filter: "(name eq c1"}, `filter: a ( is never closed`},
		{QueryParams{Filter: "(name eq c1 or name eq c2"}, `filter: a ( is never closed`},
		{QueryParams{Filter: "(name eq c1 ))"}, `filter: "))" closes more parentheses than are open`},
		{QueryParams{Filter: `(name eq "c1"))`}, `filter: "))" closes more parentheses than are open`},
		{QueryParams{Filter: "name eq c1 )"}, `filter: expected and or or after a clause, found ")"`},
		{QueryParams{Filter: "("}, `filter: ( without a clause`},
		{QueryParams{Filter: strings.Repeat("(", 20) + "name eq c1" + strings.Repeat(")", 20)}, "filter: parentheses nested deeper than 16"},
		{QueryParams{Filter: strings.Repeat("name eq c1 or ", 64) + "name eq c1"}, "filter: more than 64 clauses"},
		{QueryParams{Filter: "name eq " + strings.Repeat("x", 5000)}, "filter: longer than 4096 bytes"},
		{QueryParams{Search: strings.Repeat("w ", 17)}, "search: 17 words; at most 16"},
		{QueryParams{Sort: "size"}, `sort: unknown key "size"`},
		{QueryParams{Sort: "profiles"}, `sort: unknown key "profiles"`},
		{QueryParams{Sort: "name,"}, `sort: empty key in "name,"`},
		{QueryParams{Sort: "-"}, `sort: empty key`},
		{QueryParams{Sort: "a,b,c,d,e,f,g,h,i"}, "sort: 9 keys; at most 8"},
		{QueryParams{Limit: "0"}, `limit: "0" is not a whole number from 1 to 1000`},
		{QueryParams{Limit: "1001"}, `limit: "1001" is not`},
		{QueryParams{Limit: "ten"}, `limit: "ten" is not`},
		{QueryParams{Limit: "-5"}, `limit: "-5" is not`},
		{QueryParams{Offset: "-1"}, `offset: "-1" is not a whole number, 0 or more`},
		{QueryParams{Offset: "1.5"}, `offset: "1.5" is not`},
	} {
		_, err := tc.p.Parse()
		if err == nil {
			t.Errorf("%+v: accepted", tc.p)
			continue
		}
		if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v (kind %v), want an invalid error containing %q", tc.p, err, errdefs.KindOf(err), tc.want)
		}
	}
	for _, p := range []QueryParams{{}, {Filter: "  "}, {Sort: "-created_at,name"}, {Sort: "config.user.x"}, {Limit: "1000", Offset: "99999"},
		{Search: "web db"}, {Filter: "status eq Running and profiles eq web"}} {
		if _, err := p.Parse(); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}
}

// TestQueryInstances: search, sort, paging and the total through the
// daemon, with full state read only for the rows of the page.
func TestQueryInstances(t *testing.T) {
	e := newDaemonEnv(t)
	ctx := context.Background()
	e.image(t, "busybox", "bb")
	for i := 0; i < 12; i++ {
		e.launch(t, fmt.Sprintf("q%02d", i), map[string]string{"user.n": fmt.Sprint(i % 3)}, i%4 == 0)
	}
	in, err := e.db.GetInstance(ctx, "q05")
	if err != nil {
		t.Fatal(err)
	}
	in.Description = "The Web front"
	if err := e.db.UpdateInstance(ctx, in); err != nil {
		t.Fatal(err)
	}
	query := func(p QueryParams, detail ListDetail) ([]string, int) {
		t.Helper()
		q, err := p.Parse()
		if err != nil {
			t.Fatal(err)
		}
		page, total, err := e.d.QueryInstances(ctx, q, detail)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, in := range page {
			names = append(names, in.Name+"/"+string(in.State.Status))
		}
		return names, total
	}
	check := func(p QueryParams, want string, wantTotal int) {
		t.Helper()
		got, total := query(p, DetailStatus)
		if strings.Join(got, " ") != want || total != wantTotal {
			t.Errorf("%+v: %q (total %d), want %q (total %d)", p, got, total, want, wantTotal)
		}
	}
	check(QueryParams{Filter: "status eq Running"}, "q00/Running q04/Running q08/Running", 3)
	check(QueryParams{Filter: "status eq Running", Sort: "-name"}, "q08/Running q04/Running q00/Running", 3)
	check(QueryParams{Sort: "-status", Limit: "4"}, "q01/Stopped q02/Stopped q03/Stopped q05/Stopped", 12)
	check(QueryParams{Sort: "config.user.n,-name", Limit: "5", Offset: "2"}, "q03/Stopped q00/Running q10/Stopped q07/Stopped q04/Running", 12)
	check(QueryParams{Search: "WEB"}, "q05/Stopped", 1)
	check(QueryParams{Search: "q1 front"}, "", 0)
	check(QueryParams{Search: "q1"}, "q10/Stopped q11/Stopped", 2)
	check(QueryParams{Limit: "5", Offset: "10"}, "q10/Stopped q11/Stopped", 12)
	check(QueryParams{Offset: "50"}, "", 12)
	check(QueryParams{Filter: "config.user.n eq 1 and status ne Running", Search: "q"}, "q01/Stopped q07/Stopped q10/Stopped", 3)

	// Creation order, newest first.
	got, _ := query(QueryParams{Sort: "-created_at", Limit: "2"}, DetailStatus)
	if strings.Join(got, " ") != "q11/Stopped q10/Stopped" {
		t.Errorf("newest first: %q", got)
	}

	// Full state (recursion=2) only for the page's rows, whatever the
	// filter read.
	before := map[string]int{}
	for i := 0; i < 12; i++ {
		n := fmt.Sprintf("q%02d", i)
		before[n] = e.drv.FullReads(n)
	}
	q, _ := QueryParams{Filter: "status eq Running or status eq Stopped", Sort: "name", Limit: "2", Offset: "4"}.Parse()
	page, total, err := e.d.QueryInstances(ctx, q, DetailFull)
	if err != nil || total != 12 || len(page) != 2 || page[0].Name != "q04" || page[0].State.PID == 0 || page[1].Name != "q05" {
		t.Fatalf("full page: %+v total %d err %v", page, total, err)
	}
	for n, b := range before {
		want := 0
		if n == "q04" || n == "q05" {
			want = 1
		}
		if got := e.drv.FullReads(n) - b; got != want {
			t.Errorf("%s: %d full state reads, want %d", n, got, want)
		}
	}
	// A status-only list (recursion 0 or 1) reads no full state at all.
	for n := range before {
		before[n] = e.drv.FullReads(n)
	}
	q, _ = QueryParams{Filter: "status eq Running", Sort: "-status"}.Parse()
	if _, _, err := e.d.QueryInstances(ctx, q, DetailStatus); err != nil {
		t.Fatal(err)
	}
	for n := range before {
		if got := e.drv.FullReads(n) - before[n]; got != 0 {
			t.Errorf("%s: a status filter read its full state %d times", n, got)
		}
	}
}

// A cluster's queried list asks each member for the head of the query
// (every match that can reach the page), and merges in the query's order.
func TestQueryHeadAndMerge(t *testing.T) {
	for _, tc := range []struct {
		p         QueryParams
		headLimit string
		n, lo, hi int
	}{
		{QueryParams{}, "", 5, 0, 5},
		{QueryParams{Limit: "2", Offset: "3"}, "5", 10, 3, 5},
		{QueryParams{Limit: "2", Offset: "9"}, "11", 10, 9, 10},
		{QueryParams{Offset: "4"}, "", 3, 3, 3},
		{QueryParams{Limit: "1000", Offset: "1"}, "", 5, 1, 5},
	} {
		q, err := tc.p.Parse()
		if err != nil {
			t.Fatal(err)
		}
		if got := q.HeadLimit(); got != tc.headLimit {
			t.Errorf("%+v: HeadLimit %q, want %q", tc.p, got, tc.headLimit)
		}
		if lo, hi := q.Window(tc.n); lo != tc.lo || hi != tc.hi {
			t.Errorf("%+v: Window(%d) = %d,%d, want %d,%d", tc.p, tc.n, lo, hi, tc.lo, tc.hi)
		}
	}
	q, err := QueryParams{Sort: "-location,status"}.Parse()
	if err != nil {
		t.Fatal(err)
	}
	a := &api.Instance{Name: "a", Location: "m1", Status: "Running"}
	b := &api.Instance{Name: "b", Location: "m2", Status: "Stopped"}
	c := &api.Instance{Name: "c", Location: "m2", Status: "Running"}
	if q.Compare(b, a) >= 0 || q.Compare(c, b) >= 0 || q.Compare(a, a) != 0 {
		t.Errorf("-location,status: b<a %d, c<b %d, a=a %d", q.Compare(b, a), q.Compare(c, b), q.Compare(a, a))
	}
}
