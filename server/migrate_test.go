package server

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"lodge/api"
)

// A migration target refuses what it cannot do, or where it would not
// know whom it connects to, before it makes anything; a source offers its
// websockets and refuses a wrong secret.
func TestMigrationRequests(t *testing.T) {
	e := newTestEnv(t)
	if err := e.d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.uploadImage(t, "busybox", "bb")
	_, resp, _ := e.do(t, "POST", "/1.0/instances", `{"name":"c1","source":{"type":"image","alias":"bb"}}`)
	e.wait(t, resp)
	_, resp, _ = e.do(t, "GET", "/1.0", "")
	var info api.Server
	json.Unmarshal(resp.Metadata, &info)
	cert, _ := json.Marshal(info.Environment.Certificate)
	src := func(extra string) string {
		return `{"name":"m1","source":{"type":"migration","certificate":` + string(cert) +
			`,"operation":"https://127.0.0.1:1/1.0/operations/x","secrets":{"control":"a","fs":"b"}` + extra + `}}`
	}
	for _, c := range []struct {
		body string
		code int
		want string
	}{
		{strings.Replace(src(""), "https://", "http://", 1), 400, "https://HOST:PORT"},
		{strings.Replace(src(""), `"certificate":`+string(cert), `"certificate":"nope"`, 1), 400, "certificate"},
		{strings.Replace(src(""), `"fs":"b"`, `"other":"b"`, 1), 400, "fs websocket"},
		{src(`,"mode":"relay"`), 400, "pull and push"},
		{src(`,"live":true`), 500, "CRIU"},
		{strings.Replace(src(""), `"m1"`, `"c1"`, 1), 409, "already exists"},
	} {
		code, r, _ := e.do(t, "POST", "/1.0/instances", c.body)
		if code != c.code || !strings.Contains(r.Error, c.want) {
			t.Errorf("%s: %d %q; want %d with %q", c.body, code, r.Error, c.code, c.want)
		}
		if code, _, _ := e.do(t, "GET", "/1.0/instances/m1", ""); code != 404 {
			t.Errorf("%s: refused, but m1 is there (%d)", c.body, code)
		}
	}

	// The source: a websocket operation with the control and fs secrets.
	code, resp, _ := e.do(t, "POST", "/1.0/instances/c1", `{"migration":true}`)
	if code != 202 {
		t.Fatalf("source: %d %s", code, resp.Error)
	}
	var op api.Operation
	json.Unmarshal(resp.Metadata, &op)
	if op.Class != api.OperationClassWebsocket || op.Metadata["control"] == "" || op.Metadata["fs"] == "" {
		t.Fatalf("source operation: %+v", op)
	}
	if code, r, _ := e.do(t, "GET", resp.Operation+"/websocket?secret=wrong", ""); code != 403 {
		t.Errorf("wrong secret: %d %s", code, r.Error)
	}
	e.do(t, "DELETE", resp.Operation, "")
	if fin := e.wait(t, resp); fin.StatusCode != api.Cancelled && fin.StatusCode != api.Failure {
		t.Errorf("cancelled source: %+v", fin)
	}
	if code, _, _ := e.do(t, "GET", "/1.0/instances/c1", ""); code != 200 {
		t.Errorf("the source instance after a cancelled migration: %d", code)
	}
}

// listenAddresses lists a wildcard address as this host's addresses.
func TestListenAddresses(t *testing.T) {
	if got := listenAddresses("10.0.0.1:8443"); len(got) != 1 || got[0] != "10.0.0.1:8443" {
		t.Errorf("specific: %v", got)
	}
	for _, a := range listenAddresses(":8443") {
		if strings.HasPrefix(a, ":") && a != ":8443" || !strings.HasSuffix(a, ":8443") {
			t.Errorf("wildcard: %q", a)
		}
	}
}
