package overlay

import (
	"os"
	"testing"

	"lodge/storage"
	"lodge/storage/storagetest"
)

func TestConformance(t *testing.T) {
	if os.Geteuid() != 0 || os.Getenv("LODGE_INTEGRATION") == "" {
		t.Skip("mounting overlayfs needs root and LODGE_INTEGRATION=1")
	}
	storagetest.Run(t, func(t *testing.T) storage.Driver {
		d, err := New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(d.unmountAll)
		return d
	})
}

// unmountAll is the test's safety net so a failure leaves no mount behind.
func (d *Driver) unmountAll() {
	for _, p := range []string{"containers/*", "containers-snapshots/*/*"} {
		m, _ := filepathGlob(d.l.Root, p)
		for _, v := range m {
			unmountPath(v)
		}
	}
}
