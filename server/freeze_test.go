package server

import (
	"context"
	"os"
	"testing"

	"lodge/instances"
	"lodge/instances/fake"
)

// An instance lodged froze for a snapshot when it died is thawed at the
// next start; one a user paused stays paused.
func TestRecoveryThawsWhatLodgedFroze(t *testing.T) {
	e := newTestEnv(t)
	e.uploadImage(t, "busybox", "bb")
	ctx := context.Background()
	for _, n := range []string{"c1", "c2"} {
		_, resp, _ := e.do(t, "POST", "/1.0/instances", `{"name":"`+n+`","source":{"type":"image","alias":"bb"},"start":true}`)
		e.wait(t, resp)
	}
	if _, err := e.s.d.freezeFor(ctx, "c1"); err != nil { // lodged dies before thawing
		t.Fatal(err)
	}
	if err := e.drv.Freeze(ctx, "c2"); err != nil { // lodge pause c2
		t.Fatal(err)
	}
	e.s.d.Recover(ctx)
	if st, _ := e.drv.State(ctx, "c1"); st.Status != instances.StatusRunning {
		t.Fatalf("c1 after recovery: %s, want running", st.Status)
	}
	if st, _ := e.drv.State(ctx, "c2"); st.Status != instances.StatusFrozen {
		t.Fatalf("c2 (paused by a user) after recovery: %s, want frozen", st.Status)
	}
	if _, err := os.Stat(e.s.d.freezeMarker("c1")); !os.IsNotExist(err) {
		t.Fatalf("marker left: %v", err)
	}
}

// thawRecorder notes which instances recovery thaws.
type thawRecorder struct {
	*fake.Driver
	thawed []string
}

func (r *thawRecorder) Unfreeze(ctx context.Context, name string) error {
	r.thawed = append(r.thawed, name)
	return r.Driver.Unfreeze(ctx, name)
}

// A freeze cut short by the crash reads as FREEZING, which the API shows as
// running; recovery thaws it all the same, or every exec would be refused.
func TestRecoveryThawsAHalfDoneFreeze(t *testing.T) {
	e := newTestEnv(t)
	e.uploadImage(t, "busybox", "bb")
	ctx := context.Background()
	_, resp, _ := e.do(t, "POST", "/1.0/instances", `{"name":"c1","source":{"type":"image","alias":"bb"},"start":true}`)
	e.wait(t, resp)
	if err := writeMarker(e.s.d.freezeMarker("c1")); err != nil { // killed inside the freeze
		t.Fatal(err)
	}
	rec := &thawRecorder{Driver: e.drv}
	s2 := New(e.s.d.cfg, Deps{DB: e.s.d.db, Instances: rec, Images: e.s.d.images, Unpack: e.s.d.unpack, Pool: e.pool})
	t.Cleanup(func() { s2.d.ops.Wait(); s2.d.cancel() })
	s2.d.Recover(ctx)
	if len(rec.thawed) != 1 || rec.thawed[0] != "c1" {
		t.Fatalf("thawed %v, want [c1]", rec.thawed)
	}
	if _, err := os.Stat(e.s.d.freezeMarker("c1")); !os.IsNotExist(err) {
		t.Fatalf("marker left: %v", err)
	}
}
