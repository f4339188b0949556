package instances

import (
	"testing"
	"time"
)

func TestScheduleDue(t *testing.T) {
	at := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	for spec, want := range map[string]bool{"0 3 * * *": true, "0 4 * * *": false, "* * * * *": true, "@daily": false, "@hourly": true, "0 4 * * *, 0 3 * * *": true} {
		if got := ScheduleDue(spec, at.Add(20*time.Second)); got != want {
			t.Errorf("ScheduleDue(%q) = %v, want %v", spec, got, want)
		}
	}
	for spec, want := range map[string]bool{"@startup": true, "@daily, @startup": true, "@never": false, "0 3 * * *": false} {
		if got := ScheduleAtStartup(spec); got != want {
			t.Errorf("ScheduleAtStartup(%q) = %v, want %v", spec, got, want)
		}
	}
	if err := ValidateConfig(map[string]string{"snapshots.schedule": "0 3 * * *, @startup"}); err != nil {
		t.Errorf("a valid schedule refused: %v", err)
	}
	if err := ValidateConfig(map[string]string{"snapshots.schedule": "61 * * * *"}); err == nil {
		t.Error("a bad cron expression accepted")
	}
	if exp, err := ParseExpiry("1w 2d 3H", at); err != nil || !exp.Equal(at.Add(9*24*time.Hour+3*time.Hour)) {
		t.Errorf("expiry: %v %v", exp, err)
	}
	for _, bad := range []string{"7days", "3x", "-1d"} {
		if _, err := ParseExpiry(bad, at); err == nil {
			t.Errorf("expiry %q accepted", bad)
		}
	}
}
