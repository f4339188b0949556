package daemon

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
	e := newDaemonEnv(t)
	e.image(t, "busybox", "bb")
	ctx := context.Background()
	for _, n := range []string{"c1", "c2"} {
		e.launch(t, n, nil, true)
	}
	if _, err := e.d.freezeFor(ctx, "c1"); err != nil { // lodged dies before thawing
		t.Fatal(err)
	}
	if err := e.drv.Freeze(ctx, "c2"); err != nil { // lodge pause c2
		t.Fatal(err)
	}
	e.d.Recover(ctx)
	if st, _ := e.drv.State(ctx, "c1"); st.Status != instances.StatusRunning {
		t.Fatalf("c1 after recovery: %s, want running", st.Status)
	}
	if st, _ := e.drv.State(ctx, "c2"); st.Status != instances.StatusFrozen {
		t.Fatalf("c2 (paused by a user) after recovery: %s, want frozen", st.Status)
	}
	if _, err := os.Stat(e.d.freezeMarker("c1")); !os.IsNotExist(err) {
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
	e := newDaemonEnv(t)
	e.image(t, "busybox", "bb")
	ctx := context.Background()
	e.launch(t, "c1", nil, true)
	if err := writeMarker(e.d.freezeMarker("c1")); err != nil { // killed inside the freeze
		t.Fatal(err)
	}
	rec := &thawRecorder{Driver: e.drv}
	e.deps.Instances = rec
	e.start(t)
	e.d.Recover(ctx)
	if len(rec.thawed) != 1 || rec.thawed[0] != "c1" {
		t.Fatalf("thawed %v, want [c1]", rec.thawed)
	}
	if _, err := os.Stat(e.d.freezeMarker("c1")); !os.IsNotExist(err) {
		t.Fatalf("marker left: %v", err)
	}
}
