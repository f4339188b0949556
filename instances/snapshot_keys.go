package instances

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The snapshots.* keys (storage lane), registered here so the key table
// itself stays untouched.
func init() {
	Keys["snapshots.schedule"] = Key{Validate: validateSchedule, Live: true,
		Doc: "cron expression (or @hourly, @daily, @weekly, @monthly, @yearly; comma-separated) for automatic snapshots"}
	Keys["snapshots.schedule.stopped"] = Key{Validate: isBool, Live: true, Doc: "also take scheduled snapshots of a stopped instance"}
	Keys["snapshots.pattern"] = Key{Validate: validatePattern, Live: true, Doc: "name of scheduled snapshots; %d is replaced by the next free number (default snap%d)"}
	Keys["snapshots.expiry"] = Key{Validate: func(v string) error { _, err := ParseExpiry(v, time.Now()); return err }, Live: true,
		Doc: "when scheduled snapshots expire, e.g. 7d, 2H, 1w 3d (M minutes, H hours, d days, w weeks, m months, y years)"}
}

// ScheduleValidator checks a cron schedule; the server sets it to its
// parser so the instances package needs no cron library.
var ScheduleValidator = func(string) error { return nil }

func validateSchedule(v string) error {
	for _, part := range strings.Split(v, ",") {
		if err := ScheduleValidator(strings.TrimSpace(part)); err != nil {
			return err
		}
	}
	return nil
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
