package instances

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"c01", true}, {"a", true}, {"web-1", true}, {strings.Repeat("a", 63), true},
		{"", false}, {strings.Repeat("a", 64), false}, {"1abc", false}, {"-a", false}, {"a-", false},
		{"a_b", false}, {"a.b", false}, {"a/b", false}, {"../x", false}, {"é", false},
	}
	for _, tc := range tests {
		err := ValidateName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateName(%q) error does not wrap ErrInvalid", tc.name)
		}
	}
}

func TestValidateConfig(t *testing.T) {
	tests := []struct {
		cfg  map[string]string
		want string // substring of the error, "" for ok
	}{
		{map[string]string{}, ""},
		{map[string]string{"boot.autostart": "true", "limits.memory": "512MiB", "user.owner": "alice", "environment.TZ": "UTC"}, ""},
		{map[string]string{"limits.memory": "50%", "limits.cpu": "0-1,3", "limits.processes": "500"}, ""},
		{map[string]string{"bogus.key": "1"}, `"bogus.key": unknown key`},
		{map[string]string{"boot.autostart": "maybe"}, "expected true or false"},
		{map[string]string{"limits.memory": "12XB"}, "unknown unit"},
		{map[string]string{"limits.memory": "150%"}, "percentage"},
		{map[string]string{"limits.processes": "-1"}, "non-negative"},
		{map[string]string{"user.": "x"}, "unknown key"},
		{map[string]string{"environment.A=B": "x"}, "cannot contain"},
	}
	for _, tc := range tests {
		err := ValidateConfig(tc.cfg)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: unexpected %v", tc.cfg, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: err %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := map[string]int64{"512MiB": 512 << 20, "1GB": 1e9, "4096": 4096, "2GiB": 2 << 30, "10kB": 10000}
	for in, want := range tests {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MiB", "1.5GB", "1 GB", "1Gi"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
}
