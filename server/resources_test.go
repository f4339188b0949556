package server

import (
	"encoding/json"
	"errors"
	"testing"

	"lodge/api"
	"lodge/hostlimits"
	"lodge/server/daemon"
)

// GET /1.0/resources reports the host limits lodged applied at start: the
// value, the minimum, what it was raised from, and why one failed.
func TestResourcesReportHostLimits(t *testing.T) {
	e := newTestEnv(t)
	e.s = New(Config{Config: daemon.Config{Dir: e.dir, Version: "test"}, HostLimits: []hostlimits.State{
		{Setting: hostlimits.Setting{Key: "fs.inotify.max_user_instances", Min: 1048576, Why: "systemd"}, Was: 128, Now: 1048576, Changed: true},
		{Setting: hostlimits.Setting{Key: "kernel.pid_max", Min: 4194304, Why: "pids"}, Was: 4194304, Now: 4194304},
		{Setting: hostlimits.Setting{Key: "kernel.keys.maxkeys", Min: 2000, Why: "keys"}, Was: 200, Now: 200, Err: errors.New("read-only file system")},
	}}, e.deps)
	e.h = e.s.Handler()
	t.Cleanup(func() { e.s.Daemon().WaitOperations(); e.s.Daemon().Close() })
	code, resp, _ := e.do(t, "GET", "/1.0/resources", "")
	if code != 200 {
		t.Fatalf("GET /1.0/resources: %d %s", code, resp.Error)
	}
	var res api.Resources
	if err := json.Unmarshal(resp.Metadata, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.HostLimits) != 3 {
		t.Fatalf("host limits: %+v", res.HostLimits)
	}
	in, pid, keys := res.HostLimits[0], res.HostLimits[1], res.HostLimits[2]
	if in.Key != "fs.inotify.max_user_instances" || in.Value != 1048576 || in.Minimum != 1048576 || in.RaisedFrom == nil || *in.RaisedFrom != 128 || in.Why != "systemd" {
		t.Errorf("raised limit: %+v", in)
	}
	if pid.RaisedFrom != nil || pid.Error != "" || pid.Value != 4194304 {
		t.Errorf("limit already high enough: %+v", pid)
	}
	if keys.Error != "read-only file system" || keys.Value != 200 || keys.RaisedFrom != nil {
		t.Errorf("limit not raised: %+v", keys)
	}
}
