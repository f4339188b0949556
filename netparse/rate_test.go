package netparse

import "testing"

// TestParseByteRate reads rsync.bwlimit as rsync reads --bwlimit.
func TestParseByteRate(t *testing.T) {
	for _, c := range []struct {
		in   string
		want float64
		bad  bool
	}{
		{"", 0, false}, {"512", 512 << 10, false}, {"8M", 8 << 20, false}, {"8m", 8 << 20, false},
		{"1.5G", 1.5 * (1 << 30), false}, {"8MB", 8e6, false}, {"100K", 100 << 10, false},
		{"100KB", 1e5, false}, {"4096B", 4096, false}, {"fast", 0, true}, {"-1M", 0, true}, {"8 M", 0, true},
	} {
		got, err := ParseByteRate(c.in)
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("ParseByteRate(%q) = %v, %v; want %v (error: %v)", c.in, got, err, c.want, c.bad)
		}
	}
}
