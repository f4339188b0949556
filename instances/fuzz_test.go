package instances

import (
	"errors"
	"strings"
	"testing"
)

// FuzzValidateName: no panic, and every accepted name is a DNS label that
// is safe as a path component and a liblxc container name.
func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"c01", "a", "-a", "a-", "..", "a/b", "ä", strings.Repeat("a", 64), "x\x00y", "UPPER-case-9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := ValidateName(name)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("%q: error is not ErrInvalid: %v", name, err)
			}
			return
		}
		if len(name) == 0 || len(name) > 63 || strings.ContainsAny(name, "/.\x00 ") || strings.HasPrefix(name, "-") || strings.HasSuffix(name, "-") {
			t.Fatalf("accepted %q", name)
		}
	})
}

// FuzzValidateConfig: any key and value either validate or fail with
// ErrInvalid; nothing panics, and a failure names the key.
func FuzzValidateConfig(f *testing.F) {
	for _, kv := range [][2]string{
		{"limits.memory", "512MiB"}, {"limits.memory", "50%"}, {"limits.cpu", "0-3,5"}, {"boot.autostart", "yes"},
		{"boot.autostart.priority", "-1"}, {"environment.A B", "x"}, {"user.x", "\x00"}, {"volatile.eth0.hwaddr", "x"},
		{"limits.memory", "99999999999999999999GiB"}, {"raw.lxc", "lxc.apparmor.profile=unconfined"},
	} {
		f.Add(kv[0], kv[1])
	}
	f.Fuzz(func(t *testing.T, k, v string) {
		err := ValidateConfig(map[string]string{k: v})
		if err == nil {
			return
		}
		if !errors.Is(err, ErrInvalid) {
			t.Fatalf("%q=%q: error is not ErrInvalid: %v", k, v, err)
		}
	})
}

// FuzzParseSize: no panic; accepted sizes are never negative.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"1", "1KiB", "1.5GB", "-1", "1e100", "9223372036854775807EiB", "", "GiB", " 1 MiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := ParseSize(s); err == nil && n < 0 {
			t.Fatalf("ParseSize(%q) = %d", s, n)
		}
	})
}
