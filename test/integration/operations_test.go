package integration

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"

	"lodge/api"
)

// lodge operation list/show/delete, and an operation a SIGKILL cut short
// shown as failed after the restart.
func TestOperationCommands(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	lodge(t, "launch", "busybox", "op1")
	t.Cleanup(func() { lodgeOut("delete", "-f", "op1") })

	var ops []api.Operation
	if err := json.Unmarshal([]byte(lodge(t, "operation", "list", "--format", "json")), &ops); err != nil {
		t.Fatal(err)
	}
	var created string
	for _, o := range ops {
		if o.Description == "Creating instance" && strings.Contains(strings.Join(o.Resources["instances"], " "), "/op1") {
			created = o.ID
			if o.Status != "Success" {
				t.Fatalf("create op: %+v", o)
			}
		}
	}
	if created == "" {
		t.Fatalf("operation list lacks op1's create: %+v", ops)
	}
	// Ended operations outlive a crash in lodged's records.
	stopDaemon(syscall.SIGKILL)
	if err := startDaemon(); err != nil {
		t.Fatal(err)
	}
	if out := lodge(t, "operation", "show", "/1.0/operations/"+created); !strings.Contains(out, "status: Success") {
		t.Fatalf("operation show after a restart:\n%s", out)
	}
	// lodgeOut's error carries stderr.
	if _, err := lodgeOut("operation", "show", "6e0d0d63-0000-4000-8000-000000000000"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("show of an unknown operation: %v", err)
	}
	if _, err := lodgeOut("operation", "delete", created); err == nil || !strings.Contains(err.Error(), "already ended") {
		t.Fatalf("cancel of an ended operation: %v", err)
	}
}
