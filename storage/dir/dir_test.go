package dir

import (
	"testing"

	"lodge/storage"
	"lodge/storage/storagetest"
	"lodge/test/gate"
)

func TestConformance(t *testing.T) {
	gate.Root(t, "keeping owners")
	storagetest.Run(t, func(t *testing.T) storage.Driver {
		d, err := New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

func TestContainment(t *testing.T) {
	d, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	storagetest.RunContainment(t, d, gate.Enabled(t))
}
