package migration

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"lodge/api"
)

func timeAt(s int64) time.Time { return time.Unix(s, 0).UTC() }

// The index header's inner keys are Go field names (LXD's backup config
// has no JSON tags); the reply is {"StatusCode","Error","Refresh"}.
func TestIndexHeader(t *testing.T) {
	a, b := wsPair(t)
	src, dst := newFSStream(a), newFSStream(b)
	exp := timeAt(1800000000)
	h := &IndexHeader{Config: &BackupConfig{
		Container:       &api.Instance{Name: "c1"},
		Volume:          &api.StorageVolume{Name: "c1", Config: map[string]string{}},
		VolumeSnapshots: []*VolumeSnapshot{{Name: "snap0", ExpiresAt: &exp}},
	}}
	data, _ := json.Marshal(h)
	for _, k := range []string{`{"config":{"Container":{`, `"Snapshots":null`, `"Pool":null`, `"Profiles":null`, `"Volume":{`, `"VolumeSnapshots":[{"name":"snap0"`} {
		if !strings.Contains(string(data), k) {
			t.Errorf("index header %s lacks %s", data, k)
		}
	}
	got := make(chan *IndexHeader, 1)
	go func() {
		h, err := recvIndexHeader(dst, 1<<20)
		if err != nil {
			t.Error(err)
		}
		got <- h
		// The raw reply, as LXD's source decodes it.
		if err := replyIndexHeader(dst, true, false, nil); err != nil {
			t.Error(err)
		}
	}()
	resp, err := sendIndexHeader(src, h)
	if err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.Config.Container.Name != "c1" || !r.Config.VolumeSnapshots[0].ExpiresAt.Equal(exp) || resp.Refresh == nil || !*resp.Refresh {
		t.Errorf("received %+v, reply %+v", r.Config, resp)
	}
	raw, _ := json.Marshal(IndexResponse{StatusCode: 200, Refresh: new(bool)})
	if string(raw) != `{"StatusCode":200,"Error":"","Refresh":false}` {
		t.Errorf("reply %s", raw)
	}

	// A header as LXD 5.0 writes it (extra fields ignored) decodes.
	lxd := `{"config":{"Container":{"name":"web01","architecture":"x86_64","config":{"volatile.base_image":"abc"},"status":"Stopped","stateful":false,"created_at":"2024-01-02T03:04:05Z"},"Snapshots":[{"name":"snap0","created_at":"2024-01-03T00:00:00Z","expires_at":"0001-01-01T00:00:00Z"}],"Pool":{"name":"default","driver":"dir","config":{"source":"/var/lib/lxd/storage-pools/default"}},"Profiles":[{"name":"default","config":{},"devices":{}}],"Volume":{"name":"web01","type":"container","config":{},"content_type":"filesystem","created_at":"2024-01-02T03:04:05Z"},"VolumeSnapshots":[{"name":"snap0","description":"","config":{},"content_type":"filesystem","created_at":"2024-01-03T00:00:00Z","expires_at":null}]}}`
	var x IndexHeader
	if err := json.Unmarshal([]byte(lxd), &x); err != nil {
		t.Fatal(err)
	}
	if x.Config.Container.Name != "web01" || x.Config.Pool.Name != "default" || len(x.Config.VolumeSnapshots) != 1 || x.Config.VolumeSnapshots[0].ExpiresAt != nil {
		t.Errorf("LXD header: %+v", x.Config)
	}
}
