package daemon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"lodge/api"
	"lodge/errdefs"
	"lodge/idmap"
)

func owner(t *testing.T, p string) int64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Uid)
}

// TestIDMapChangeWhileStopped: security.privileged and
// security.idmap.isolated change on a stopped instance (not a running
// one), an isolated range is allocated and freed with the key, and the
// rootfs is re-shifted at the next start, a shift cut short resumed.
func TestIDMapChangeWhileStopped(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("shifting owners needs root")
	}
	ranges := &idmap.Ranges{UID: idmap.DefaultRange, GID: idmap.DefaultRange}
	e := newDaemonEnv(t, func(d *Deps) { d.IDRanges = ranges })
	if err := e.d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.image(t, "busybox", "bb")
	ctx := context.Background()
	e.launch(t, "c1", nil, true)
	shared := ranges.Shared().UIDBase
	made := filepath.Join(e.rootfs("c1"), "made")
	if err := os.WriteFile(made, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Lchown(made, int(shared+33), int(shared+33))
	set := func(k, v string) error {
		op, err := e.d.UpdateInstance(ctx, "c1", api.InstancePut{Config: map[string]string{k: v}}, Update{Patch: true})
		if err == nil {
			e.wait(t, op)
		}
		return err
	}
	if err := set("security.privileged", "true"); !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "stop it first") {
		t.Fatalf("on a running instance: %v", err)
	}
	state := func(action string) {
		e.ok(t)(e.d.ChangeState(ctx, "c1", api.InstanceStatePut{Action: action, Force: true}))
	}
	state("stop")
	if err := set("security.privileged", "true"); err != nil {
		t.Fatal(err)
	}
	if owner(t, made) != shared+33 {
		t.Fatal("the rootfs was shifted before the start")
	}
	state("start")
	if spec, _ := e.drv.Spec("c1"); len(spec.IDMap) != 0 || owner(t, made) != 33 || owner(t, e.rootfs("c1")) != 0 {
		t.Fatalf("privileged: idmap %v, made owned by %d", spec.IDMap, owner(t, made))
	}
	state("stop")
	if err := set("security.privileged", "false"); err != nil {
		t.Fatal(err)
	}
	if err := set("security.idmap.isolated", "true"); err != nil {
		t.Fatal(err)
	}
	base, err := strconv.ParseInt(e.mustInstance(t, "c1").Config[idmapBaseKey], 10, 64)
	if err != nil || base < shared+idmap.Size {
		t.Fatalf("isolated range: %d %v", base, err)
	}
	// A shift cut short (as a SIGKILL leaves it): the marker says from
	// where to where, part of the tree is done.
	rootfs := e.rootfs("c1")
	marker := filepath.Join(filepath.Dir(rootfs), idmap.ShiftMarker)
	os.WriteFile(marker, []byte(`{"from":{"UIDBase":0,"GIDBase":0},"to":{"UIDBase":`+strconv.FormatInt(base, 10)+`,"GIDBase":`+strconv.FormatInt(base, 10)+`}}`), 0o600)
	os.Lchown(made, int(base+33), int(base+33))
	state("start")
	if owner(t, made) != base+33 || owner(t, rootfs) != base || fileExists(marker) {
		t.Fatalf("isolated after a resumed shift: made %d, rootfs %d, marker left %v", owner(t, made), owner(t, rootfs), fileExists(marker))
	}
	state("stop")
	if err := set("security.idmap.isolated", "false"); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.mustInstance(t, "c1").Config[idmapBaseKey]; ok {
		t.Fatal("the isolated range was not freed")
	}
	if err := set("security.protection.shift", "true"); err != nil {
		t.Fatal(err)
	}
	op, err := e.d.ChangeState(ctx, "c1", api.InstanceStatePut{Action: "start"})
	if err != nil {
		t.Fatal(err)
	}
	if o := e.wait(t, op); o.StatusCode == api.Success || !strings.Contains(o.Err, "security.protection.shift") {
		t.Fatalf("start with security.protection.shift: %+v", o)
	}
	if owner(t, made) != base+33 {
		t.Fatal("security.protection.shift did not stop the shift")
	}
}
