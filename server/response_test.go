package server

import (
	"errors"
	"fmt"
	"net/http"
	"syscall"
	"testing"

	"lodge/api"
	"lodge/errdefs"
	"lodge/files"
	"lodge/images"
	"lodge/instances"
	"lodge/network"
	"lodge/remotes"
	"lodge/server/db"
	"lodge/server/operations"
	"lodge/storage"
)

// TestStatusOf pins how every package's errors become HTTP statuses: by
// their kind, wrapped or not.
func TestStatusOf(t *testing.T) {
	cases := []struct {
		err  error
		want int
	}{
		{db.ErrNotFound, 404}, {instances.ErrNotFound, 404}, {storage.ErrNotFound, 404}, {images.ErrNotFound, 404},
		{remotes.ErrNotFound, 404}, {files.ErrNotFound, 404}, {network.ErrNotFound, 404},
		{db.ErrExists, 409}, {instances.ErrExists, 409}, {storage.ErrExists, 409}, {images.ErrExists, 409},
		{instances.ErrBusy, 409},
		{instances.ErrInvalid, 400}, {images.ErrInvalid, 400}, {files.ErrInvalid, 400}, {network.ErrInvalid, 400},
		{instances.Invalidf("bad %s", "key"), 400}, {network.Invalidf("bad"), 400},
		{remotes.ErrAmbiguous, 400}, {remotes.ErrIntegrity, 400}, {instances.ErrNotRunning, 400},
		{operations.ErrNotCancellable, 403}, {operations.EndedError("x", api.Success), 403},
		{remotes.ErrUnreachable, 502},
		{errdefs.Preconditionf("etag"), 412}, {errdefs.Conflictf("busy"), 409},
		{syscall.ENOSPC, 507}, {syscall.EDQUOT, 507},
		{errors.New("boom"), 500},
	}
	for _, c := range cases {
		for _, err := range []error{c.err, fmt.Errorf("instance %q: %w", "c1", c.err)} {
			if got := statusOf(err); got != c.want {
				t.Errorf("statusOf(%q) = %d, want %d", err, got, c.want)
			}
		}
	}
	if got := statusOf(errdefs.Invalidf("device: %w", db.ErrNotFound)); got != http.StatusBadRequest {
		t.Errorf("the outermost kind must win: got %d", got)
	}
}
