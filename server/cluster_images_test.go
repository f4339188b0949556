package server

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lodge/api"
	"lodge/errdefs"
)

// An image imported on one member serves instances on another: the member
// that lacks its files copies them from the one that has them (over the
// members' TLS, checked against the fingerprint) and is then recorded as
// holding them. With no member able to give them, the create fails with a
// clear error and leaves no instance behind.
func TestClusterImageFromMember(t *testing.T) {
	ms := newTestCluster(t, 2)
	waitMembersOnline(t, ms[0], 2)
	fp := ms[0].uploadImage(t, "busybox", "bb")
	onM2 := filepath.Join(ms[1].dir, "images", fp)
	if _, err := os.Stat(onM2); !os.IsNotExist(err) {
		t.Fatalf("m2 holds the image before any instance needs it: %v", err)
	}
	ms[0].mustOp(t, "POST", "/1.0/instances?target=m2", `{"name":"c1","source":{"type":"image","alias":"bb"}}`)
	want, _ := os.ReadFile(filepath.Join(ms[0].dir, "images", fp))
	if got, err := os.ReadFile(onM2); err != nil || string(got) != string(want) {
		t.Fatalf("the image's file on m2: %q %v, want %q", got, err, want)
	}
	nodes, err := ms[1].db.ImageNodes(context.Background(), fp)
	if err != nil || len(nodes) != 2 {
		t.Fatalf("members holding the image: %+v %v", nodes, err)
	}
	if got := ms[1].locations(t)["c1"]; got != "m2 Stopped" {
		t.Fatalf("c1: %q", got)
	}
	// Only a member may ask another to drop files, and never those of an
	// image still recorded.
	if code, r, _ := ms[0].do(t, "DELETE", "/internal/images/"+fp, ""); code != 403 {
		t.Fatalf("DELETE /internal/images from a client: %d %s", code, r.Error)
	}
	if err := ms[1].d.DropImageFiles(context.Background(), fp); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("dropping the files of an image still recorded: %v", err)
	}
	// Deleted on m1, the image leaves m2 too.
	ms[1].mustOp(t, "DELETE", "/1.0/instances/c1", "")
	ms[0].mustOp(t, "DELETE", "/1.0/images/"+fp, "")
	if _, err := os.Stat(onM2); !os.IsNotExist(err) {
		t.Fatalf("the deleted image's file stays on m2: %v", err)
	}

	// An export asked of a member without the files: it fetches them.
	fp3 := ms[0].uploadImage(t, "debian", "")
	w := httptest.NewRecorder()
	ms[1].h.ServeHTTP(w, httptest.NewRequest("GET", "/1.0/images/"+fp3+"/export", nil))
	if w.Code != 200 || w.Body.String() != "IMAGE debian" {
		t.Fatalf("export on m2 of an image only m1 holds: %d %q", w.Code, w.Body.String())
	}

	// A second image whose only copy is lost: m2 cannot get it.
	fp2 := ms[0].uploadImage(t, "alpine", "al")
	if err := os.Remove(filepath.Join(ms[0].dir, "images", fp2)); err != nil {
		t.Fatal(err)
	}
	op := ms[0].doOp(t, "POST", "/1.0/instances?target=m2", `{"name":"c2","source":{"type":"image","alias":"al"}}`)
	if op.StatusCode == api.Success || !strings.Contains(op.Err, "could not be copied from another cluster member") || !strings.Contains(op.Err, "m1") {
		t.Fatalf("create from an image no member can give: %s %q", op.Status, op.Err)
	}
	if _, ok := ms[0].locations(t)["c2"]; ok {
		t.Fatal("c2 was left behind by the failed create")
	}
	if _, err := os.Stat(filepath.Join(ms[1].dir, "images", fp2)); !os.IsNotExist(err) {
		t.Fatalf("m2 kept a partial image: %v", err)
	}
}
