package daemon

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"lodge/instances"
	"lodge/instances/fake"
)

// overlapDriver records how many starts run at once and in what order; a
// start waits (up to a failsafe) until another runs beside it, so starts
// made one after another show a most of 1.
type overlapDriver struct {
	*fake.Driver
	mu       sync.Mutex
	inflight int
	most     int
	order    []string
}

func (o *overlapDriver) Start(ctx context.Context, name string) error {
	o.mu.Lock()
	o.inflight++
	o.most = max(o.most, o.inflight)
	o.order = append(o.order, name)
	deadline := time.Now().Add(500 * time.Millisecond)
	for o.inflight < 2 && time.Now().Before(deadline) {
		o.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		o.mu.Lock()
	}
	o.inflight--
	o.mu.Unlock()
	return o.Driver.Start(ctx, name)
}

// Autostart starts instances of one priority without a delay several at a
// time, never more than autostartParallel, and a higher priority's all
// before a lower one's.
func TestAutostartParallel(t *testing.T) {
	od := &overlapDriver{}
	e := newDaemonEnv(t, func(deps *Deps) {
		od.Driver = deps.Instances.(*fake.Driver)
		deps.Instances = od
	})
	ctx := context.Background()
	if err := e.d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e.image(t, "busybox", "bb")
	var low []string
	for i := range 20 {
		n := fmt.Sprintf("as%d", i)
		low = append(low, n)
		e.launch(t, n, map[string]string{"boot.autostart": "true"}, false)
	}
	e.launch(t, "ashigh", map[string]string{"boot.autostart": "true", "boot.autostart.priority": "10"}, false)
	e.d.autostart(ctx)
	od.mu.Lock()
	defer od.mu.Unlock()
	if len(od.order) != 21 || od.order[0] != "ashigh" {
		t.Fatalf("autostart order: %v", od.order)
	}
	for _, n := range low {
		if st, _ := e.drv.Status(ctx, n); !slices.Contains(od.order, n) || st != instances.StatusRunning {
			t.Errorf("%s not started", n)
		}
	}
	if od.most < 2 || od.most > autostartParallel {
		t.Fatalf("at most %d starts ran at once, want 2 to %d", od.most, autostartParallel)
	}
}
