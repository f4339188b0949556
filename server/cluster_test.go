package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"lodge/api"
	"lodge/server/daemon"
)

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type clusterMember struct {
	*testEnv
	name, addr string
}

// newTestCluster is n servers (the test env: fakes, real SQLite and
// dqlite) listening on loopback: the first enables clustering, the
// others join with tokens it issues, through the API as a user would.
func newTestCluster(t *testing.T, n int) []*clusterMember {
	t.Helper()
	return newTestClusterWith(t, n, nil)
}

// newTestClusterWith is newTestCluster with member i's deps set by opt.
func newTestClusterWith(t *testing.T, n int, opt func(i int, deps *daemon.Deps)) []*clusterMember {
	t.Helper()
	var ms []*clusterMember
	for i := 0; i < n; i++ {
		var e *testEnv
		if opt != nil {
			e = newTestEnv(t, func(deps *daemon.Deps) { opt(i, deps) })
		} else {
			e = newTestEnv(t)
		}
		m := &clusterMember{testEnv: e, name: fmt.Sprintf("m%d", i+1), addr: freeAddr(t)}
		t.Cleanup(e.s.stopHTTPS)
		if code, r, _ := e.do(t, "PATCH", "/1.0", fmt.Sprintf(`{"config":{"core.https_address":%q}}`, m.addr)); code != 200 {
			t.Fatalf("%s: set the address: %d %s", m.name, code, r.Error)
		}
		ms = append(ms, m)
		if i == 0 {
			code, r, _ := e.do(t, "PUT", "/1.0/cluster", `{"server_name":"m1","enabled":true}`)
			if code != 202 {
				t.Fatalf("enable: %d %s", code, r.Error)
			}
			if op := e.wait(t, r); op.StatusCode != api.Success {
				t.Fatalf("enable: %s", op.Err)
			}
			continue
		}
		tok := joinToken(t, ms[0], m.name)
		join(t, m, tok)
	}
	return ms
}

func joinToken(t *testing.T, on *clusterMember, name string) string {
	t.Helper()
	code, r, _ := on.do(t, "POST", "/1.0/cluster/members", fmt.Sprintf(`{"server_name":%q}`, name))
	if code != 202 {
		t.Fatalf("token for %s: %d %s", name, code, r.Error)
	}
	var op api.Operation
	json.Unmarshal(r.Metadata, &op)
	tok := api.ClusterMemberJoinToken{ServerName: name}
	tok.Secret, _ = op.Metadata["secret"].(string)
	tok.Fingerprint, _ = op.Metadata["fingerprint"].(string)
	for _, a := range op.Metadata["addresses"].([]any) {
		tok.Addresses = append(tok.Addresses, a.(string))
	}
	return tok.String()
}

func join(t *testing.T, m *clusterMember, tok string) {
	t.Helper()
	code, r, _ := m.do(t, "PUT", "/1.0/cluster", fmt.Sprintf(`{"enabled":true,"server_address":%q,"cluster_token":%q}`, m.addr, tok))
	if code != 202 {
		t.Fatalf("%s join: %d %s", m.name, code, r.Error)
	}
	if op := m.wait(t, r); op.StatusCode != api.Success {
		t.Fatalf("%s join: %s", m.name, op.Err)
	}
}

func members(t *testing.T, m *clusterMember) []api.ClusterMember {
	t.Helper()
	code, r, _ := m.do(t, "GET", "/1.0/cluster/members?recursion=1", "")
	if code != 200 {
		t.Fatalf("members: %d %s", code, r.Error)
	}
	var out []api.ClusterMember
	json.Unmarshal(r.Metadata, &out)
	return out
}

func TestClusterFormAndJoin(t *testing.T) {
	ms := newTestCluster(t, 3)
	for _, m := range ms {
		_, r, _ := m.do(t, "GET", "/1.0", "")
		var info api.Server
		json.Unmarshal(r.Metadata, &info)
		if !info.Environment.ServerClustered || info.Environment.ServerName != m.name {
			t.Fatalf("%s: GET /1.0 environment: clustered %v name %q", m.name, info.Environment.ServerClustered, info.Environment.ServerName)
		}
		// Every member serves the cluster's certificate (m1's, from before).
		if info.Environment.CertificateFingerprint != ms[0].d.CertFingerprint() {
			t.Fatalf("%s serves another certificate", m.name)
		}
	}
	// Every member lists the three; the database gets three voters.
	deadline := time.Now().Add(30 * time.Second)
	var list []api.ClusterMember
	for {
		list = members(t, ms[2])
		voters, leaders := 0, 0
		for _, m := range list {
			for _, r := range m.Roles {
				switch r {
				case "database":
					voters++
				case "database-leader":
					leaders++
				}
			}
		}
		if len(list) == 3 && voters == 3 && leaders == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("members: %+v", list)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for i, m := range list {
		if m.ServerName != ms[i].name || m.URL != "https://"+ms[i].addr || m.Status != "Online" {
			t.Fatalf("member %d: %+v", i, m)
		}
	}
	// Config written on one member is read on another.
	if code, r, _ := ms[1].do(t, "PATCH", "/1.0", `{"config":{"images.auto_update_interval":"0"}}`); code != 200 {
		t.Fatalf("patch: %d %s", code, r.Error)
	}
	if v := ms[2].d.ServerConfigValue(context.Background(), "images.auto_update_interval"); v != "0" {
		t.Fatalf("config on another member: %q", v)
	}
	// Each member keeps its own address.
	if v := ms[2].d.ServerConfigValue(context.Background(), "core.https_address"); v != ms[2].addr {
		t.Fatalf("m3's address: %q", v)
	}
}

// A forged token, a spent one and one for another name are refused, and
// change nothing.
func TestClusterTokensRefused(t *testing.T) {
	ms := newTestCluster(t, 1)
	m2 := &clusterMember{testEnv: newTestEnv(t), name: "m2", addr: freeAddr(t)}
	t.Cleanup(m2.s.stopHTTPS)
	m2.do(t, "PATCH", "/1.0", fmt.Sprintf(`{"config":{"core.https_address":%q}}`, m2.addr))
	tok := joinToken(t, ms[0], "m2")
	good, err := api.ParseClusterJoinToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	forged := good
	forged.Secret = strings.Repeat("ab", 32)
	try := func(tok string) api.Operation {
		t.Helper()
		code, r, _ := m2.do(t, "PUT", "/1.0/cluster", fmt.Sprintf(`{"enabled":true,"server_address":%q,"cluster_token":%q}`, m2.addr, tok))
		if code != 202 {
			t.Fatalf("join: %d %s", code, r.Error)
		}
		return m2.wait(t, r)
	}
	if op := try(forged.String()); op.StatusCode == api.Success || !strings.Contains(op.Err, "not valid") {
		t.Fatalf("forged token: %+v", op)
	}
	if m2.d.Clustered() {
		t.Fatal("joined with a forged token")
	}
	// The real one works once.
	if op := try(tok); op.StatusCode != api.Success {
		t.Fatalf("good token: %s", op.Err)
	}
	m3 := &clusterMember{testEnv: newTestEnv(t), name: "m3", addr: freeAddr(t)}
	t.Cleanup(m3.s.stopHTTPS)
	m3.do(t, "PATCH", "/1.0", fmt.Sprintf(`{"config":{"core.https_address":%q}}`, m3.addr))
	code, r, _ := m3.do(t, "PUT", "/1.0/cluster", fmt.Sprintf(`{"enabled":true,"server_address":%q,"cluster_token":%q,"server_name":"m2"}`, m3.addr, tok))
	if code == 202 {
		if op := m3.wait(t, r); op.StatusCode == api.Success || !strings.Contains(op.Err, "not valid") {
			t.Fatalf("reused token: %+v", op)
		}
	}
	if m3.d.Clustered() {
		t.Fatal("joined with a spent token")
	}
	if n := len(members(t, ms[0])); n != 2 {
		t.Fatalf("%d members after refused joins, want 2", n)
	}
	// Internal member routes want the cluster's certificate.
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: pinnedTLS(nil, ms[0].d.CertFingerprint())}}
	req, _ := http.NewRequest("PUT", "https://"+ms[0].addr+"/internal/cluster/heartbeat", strings.NewReader(`{}`))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("heartbeat from a stranger: %d", resp.StatusCode)
	}
}

// rolesOf is each member's database role as m lists them: "database",
// "database-standby" or "" (a spare).
func rolesOf(t *testing.T, m *clusterMember) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, x := range members(t, m) {
		out[x.ServerName] = ""
		for _, r := range x.Roles {
			if r == "database" || r == "database-standby" {
				out[x.ServerName] = r
			}
		}
	}
	return out
}

func countRoles(roles map[string]string) (voters, standbys int) {
	for _, r := range roles {
		switch r {
		case "database":
			voters++
		case "database-standby":
			standbys++
		}
	}
	return voters, standbys
}

// Five members: the database keeps three voters and two stand-bys, as
// LXD assigns them. As LXD does, a request that changes a member's
// database role is refused (go-dqlite's adjustment undid such changes,
// and a leader demoted by hand left the database without one), as are
// both roles at once and an unknown role; nothing changes.
func TestClusterRoles(t *testing.T) {
	ms := newTestCluster(t, 5)
	deadline := time.Now().Add(60 * time.Second)
	var roles map[string]string
	for {
		roles = rolesOf(t, ms[4])
		if v, s := countRoles(roles); len(roles) == 5 && v == 3 && s == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("roles never settled at 3 voters and 2 stand-bys: %v", roles)
		}
		time.Sleep(250 * time.Millisecond)
	}
	var voter, standby string
	for n, r := range roles {
		if r == "database" && voter == "" {
			voter = n
		}
		if r == "database-standby" && standby == "" {
			standby = n
		}
	}
	put := func(name, roles string) (int, string) {
		code, r, _ := ms[0].do(t, "PUT", "/1.0/cluster/members/"+name, `{"roles":`+roles+`}`)
		return code, r.Error
	}
	for _, c := range []struct {
		name, roles string
		code        int
		want        string
	}{
		{standby, `["database"]`, 400, "assigned by the cluster"},
		{voter, `["database-standby"]`, 400, "assigned by the cluster"},
		{voter, `[]`, 400, "assigned by the cluster"},
		{voter, `["database","database-standby"]`, 400, "not both"},
		{voter, `["chef"]`, 400, "unknown role"},
	} {
		if code, msg := put(c.name, c.roles); code != c.code || !strings.Contains(msg, c.want) {
			t.Fatalf("roles %s for %s: %d %q, want %d (%s)", c.roles, c.name, code, msg, c.code, c.want)
		}
	}
	if got := rolesOf(t, ms[0]); fmt.Sprint(got) != fmt.Sprint(roles) {
		t.Fatalf("roles changed by refused requests: %v, were %v", got, roles)
	}
}
