package migration

import (
	"strings"
	"testing"

	"lodge/api"
)

// TestCheckSubvolumeHeader: the target takes LXD's subvolume header only
// when it lists exactly the offered volumes, each as one subvolume.
func TestCheckSubvolumeHeader(t *testing.T) {
	snaps := []api.InstanceSnapshot{{Name: "s0"}, {Name: "s1"}}
	for _, c := range []struct {
		name, header, err string
		snaps             []api.InstanceSnapshot
	}{
		{name: "LXD's", snaps: snaps, header: `{"subvolumes":[{"path":"/","snapshot":"s0","readonly":true},{"path":"/","snapshot":"s1","readonly":true},{"path":"/","snapshot":"","readonly":false}]}`},
		{name: "instance only", header: `{"subvolumes":[{"path":"/","snapshot":"","readonly":false,"uuid":"x"}]}`},
		{name: "nested subvolume", snaps: snaps, header: `{"subvolumes":[{"path":"/","snapshot":"s0"},{"path":"/","snapshot":"s1"},{"path":"/","snapshot":""},{"path":"/var/lib/machines","snapshot":""}]}`, err: "holds a subvolume at /var/lib/machines"},
		{name: "a snapshot missing", snaps: snaps, header: `{"subvolumes":[{"path":"/","snapshot":"s0"},{"path":"/","snapshot":""}]}`, err: "the offer named"},
		{name: "out of order", snaps: snaps, header: `{"subvolumes":[{"path":"/","snapshot":"s1"},{"path":"/","snapshot":"s0"},{"path":"/","snapshot":""}]}`, err: "the offer named"},
		{name: "no instance", snaps: snaps, header: `{"subvolumes":[{"path":"/","snapshot":"s0"},{"path":"/","snapshot":"s1"}]}`, err: "the offer named"},
		{name: "not JSON", header: `subvolumes: []`, err: "decode the subvolume header"},
		{name: "too large", header: `{"subvolumes":[` + strings.Repeat(`{"path":"/","snapshot":""},`, maxSubvolumeHeader/27+1) + `{}]}`, err: "larger than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, b := wsPair(t)
			snd, rcv := newFSStream(a), newFSStream(b)
			go func() {
				snd.Write([]byte(c.header))
				snd.CloseWrite()
			}()
			err := checkSubvolumeHeader(rcv, &Transfer{Snapshots: c.snaps})
			if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
				t.Fatalf("got %v, want %q", err, c.err)
			}
		})
	}
}

// TestParseRate reads rsync.bwlimit as rsync reads --bwlimit.
func TestParseRate(t *testing.T) {
	for _, c := range []struct {
		in   string
		want float64
		bad  bool
	}{
		{"", 0, false}, {"512", 512 << 10, false}, {"8M", 8 << 20, false}, {"8m", 8 << 20, false},
		{"1.5G", 1.5 * (1 << 30), false}, {"8MB", 8e6, false}, {"100K", 100 << 10, false},
		{"100KB", 1e5, false}, {"4096B", 4096, false}, {"fast", 0, true}, {"-1M", 0, true}, {"8 M", 0, true},
	} {
		got, err := parseRate(c.in)
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("parseRate(%q) = %v, %v; want %v (error: %v)", c.in, got, err, c.want, c.bad)
		}
	}
}
