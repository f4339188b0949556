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
