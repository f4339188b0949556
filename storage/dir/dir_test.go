package dir

import (
	"os"
	"testing"

	"lodge/storage"
	"lodge/storage/storagetest"
)

func TestConformance(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("keeping owners needs root")
	}
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
	storagetest.RunContainment(t, d, os.Geteuid() == 0 && os.Getenv("LODGE_INTEGRATION") != "")
}
