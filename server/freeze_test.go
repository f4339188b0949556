package server

import (
	"context"
	"os"
	"testing"

	"lodge/instances"
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
	if _, err := e.s.freezeFor(ctx, "c1"); err != nil { // lodged dies before thawing
		t.Fatal(err)
	}
	if err := e.drv.Freeze(ctx, "c2"); err != nil { // lodge pause c2
		t.Fatal(err)
	}
	e.s.Recover(ctx)
	if st, _ := e.drv.State(ctx, "c1"); st.Status != instances.StatusRunning {
		t.Fatalf("c1 after recovery: %s, want running", st.Status)
	}
	if st, _ := e.drv.State(ctx, "c2"); st.Status != instances.StatusFrozen {
		t.Fatalf("c2 (paused by a user) after recovery: %s, want frozen", st.Status)
	}
	if _, err := os.Stat(e.s.freezeMarker("c1")); !os.IsNotExist(err) {
		t.Fatalf("marker left: %v", err)
	}
}
