package instances

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// The snapshots.* keys' checks and the schedule they describe.

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// parseSchedule parses one part of a snapshots.schedule: a cron
// expression or descriptor; @never and @startup have no times (nil).
func parseSchedule(v string) (cron.Schedule, error) {
	switch v {
	case "@never", "@startup":
		return nil, nil
	}
	return cronParser.Parse(v)
}

func validateSchedule(v string) error {
	for _, part := range strings.Split(v, ",") {
		if _, err := parseSchedule(strings.TrimSpace(part)); err != nil {
			return err
		}
	}
	return nil
}

// ScheduleDue tells whether a snapshots.schedule fires in the minute at t.
func ScheduleDue(spec string, t time.Time) bool {
	t = t.Truncate(time.Minute)
	for _, part := range strings.Split(spec, ",") {
		sched, err := parseSchedule(strings.TrimSpace(part))
		if err != nil || sched == nil {
			continue
		}
		if sched.Next(t.Add(-time.Second)).Equal(t) {
			return true
		}
	}
	return false
}

// ScheduleAtStartup tells whether a snapshots.schedule asks for a
// snapshot at every start (@startup).
func ScheduleAtStartup(spec string) bool {
	for _, part := range strings.Split(spec, ",") {
		if strings.TrimSpace(part) == "@startup" {
			return true
		}
	}
	return false
}

var patternRE = regexp.MustCompile(`^[A-Za-z0-9._%-]{1,63}$`)

func validatePattern(v string) error {
	if !patternRE.MatchString(v) || strings.Count(v, "%d") > 1 || strings.Count(v, "%") != strings.Count(v, "%d") {
		return fmt.Errorf("use letters, digits, '.', '_', '-' and at most one %%d")
	}
	return nil
}

var expiryRE = regexp.MustCompile(`^(\d+)([MHdwmy])$`)

// ParseExpiry turns LXD's expiry expression ("1w 3d", "2H") into the time
// it ends at, counting from t; "" means never (zero time).
func ParseExpiry(v string, t time.Time) (time.Time, error) {
	if strings.TrimSpace(v) == "" {
		return time.Time{}, nil
	}
	out := t
	for _, f := range strings.Fields(v) {
		m := expiryRE.FindStringSubmatch(f)
		if m == nil {
			return time.Time{}, fmt.Errorf("%q: want a number and a unit (M minutes, H hours, d days, w weeks, m months, y years)", f)
		}
		n, _ := strconv.Atoi(m[1])
		switch m[2] {
		case "M":
			out = out.Add(time.Duration(n) * time.Minute)
		case "H":
			out = out.Add(time.Duration(n) * time.Hour)
		case "d":
			out = out.AddDate(0, 0, n)
		case "w":
			out = out.AddDate(0, 0, 7*n)
		case "m":
			out = out.AddDate(0, n, 0)
		case "y":
			out = out.AddDate(n, 0, 0)
		}
	}
	return out, nil
}
