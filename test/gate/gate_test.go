package gate

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	t.Setenv("LODGE_GATE_TEST", "")
	for _, euid := range []int{0, 1000} {
		if skip, err := checkAs("LODGE_GATE_TEST", euid); err != nil || !strings.Contains(skip, "LODGE_GATE_TEST=1") {
			t.Fatalf("not asked for (euid %d): skip %q, err %v; want a skip that says how to ask", euid, skip, err)
		}
	}
	t.Setenv("LODGE_GATE_TEST", "1")
	if skip, err := checkAs("LODGE_GATE_TEST", 0); skip != "" || err != nil {
		t.Fatalf("asked for as root: skip %q, err %v; want neither", skip, err)
	}
	// Asked for without root fails: a skip would let a run that did
	// nothing pass.
	if skip, err := checkAs("LODGE_GATE_TEST", 1000); err == nil || skip != "" || !strings.Contains(err.Error(), "not root") {
		t.Fatalf("asked for without root: skip %q, err %v; want an error, not a skip", skip, err)
	}
}
