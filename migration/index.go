package migration

import (
	"fmt"
	"net/http"
	"time"

	"lodge/api"
)

// IndexHeader is the JSON document the source sends first on the fs
// connection (LXD's migration.Info): the equivalent of backup.yaml.
type IndexHeader struct {
	Config *BackupConfig `json:"config,omitempty"`
	// RsyncVersion is a lodge source's rsync version, a key LXD ignores:
	// a lodge target whose sender is rsync 3.2 or later lets the two
	// negotiate their checksum (see recvArgs).
	RsyncVersion string `json:"lodge_rsync_version,omitempty"`
	// SparseLists: a lodge source offers to name its sparse files after
	// each rsync run (see sparse.go); LXD ignores the key.
	SparseLists bool `json:"lodge_sparse_lists,omitempty"`
}

// BackupConfig is LXD's backup config. Its fields have no JSON tags in
// LXD, so on the wire the keys are the Go field names.
type BackupConfig struct {
	Container       *api.Instance
	Snapshots       []*api.InstanceSnapshot
	Pool            *api.StoragePool
	Profiles        []*api.Profile
	Volume          *api.StorageVolume
	VolumeSnapshots []*VolumeSnapshot
}

// VolumeSnapshot is LXD's api.StorageVolumeSnapshot.
type VolumeSnapshot struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Config      map[string]string `json:"config"`
	ContentType string            `json:"content_type"`
	CreatedAt   time.Time         `json:"created_at"`
	ExpiresAt   *time.Time        `json:"expires_at"`
}

// IndexResponse is the target's reply to the index header.
type IndexResponse struct {
	StatusCode int
	Error      string
	// Refresh tells the source whether the target already has the volume.
	Refresh *bool
	// SparseLists: a lodge target takes the source's offer of lists.
	SparseLists bool `json:"lodge_sparse_lists,omitempty"`
}

// DefaultMaxIndexHeader bounds the index header a target accepts.
const DefaultMaxIndexHeader = 32 << 20

// sendIndexHeader sends h and waits for the target's reply.
func sendIndexHeader(s *fsStream, h *IndexHeader) (*IndexResponse, error) {
	if err := s.sendJSON(h, "the migration index header"); err != nil {
		return nil, err
	}
	var resp IndexResponse
	if err := s.recvJSON(&resp, 1<<20, "the reply to the migration index header"); err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the target refused the migration index header: %s (status %d)", resp.Error, resp.StatusCode)
	}
	return &resp, nil
}

// recvIndexHeader reads the source's index header (at most max bytes).
func recvIndexHeader(s *fsStream, max int64) (*IndexHeader, error) {
	var h IndexHeader
	if err := s.recvJSON(&h, max, "the migration index header"); err != nil {
		return nil, err
	}
	return &h, nil
}

// replyIndexHeader answers the index header; a non-nil refusal sends
// status 400 with its text.
func replyIndexHeader(s *fsStream, refresh, sparseLists bool, refusal error) error {
	resp := IndexResponse{StatusCode: http.StatusOK, Refresh: &refresh, SparseLists: sparseLists}
	if refusal != nil {
		resp = IndexResponse{StatusCode: http.StatusBadRequest, Error: refusal.Error()}
	}
	return s.sendJSON(resp, "the reply to the migration index header")
}
