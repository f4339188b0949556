package pb

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The committed migrate.pb.go is what migrate.proto generates.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	if _, err := exec.LookPath("protoc"); err != nil {
		t.Skip("protoc not installed (scripts/setup-host.sh installs protobuf-compiler)")
	}
	dir := t.TempDir()
	plugin := filepath.Join(dir, "protoc-gen-go")
	if out, err := exec.Command("go", "build", "-o", plugin, "google.golang.org/protobuf/cmd/protoc-gen-go").CombinedOutput(); err != nil {
		t.Fatalf("build protoc-gen-go: %v\n%s", err, out)
	}
	cmd := exec.Command("protoc", "--plugin=protoc-gen-go="+plugin, "--go_out="+dir, "--go_opt=paths=source_relative", "migrate.proto")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("protoc: %v\n%s", err, out)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "migrate.pb.go"))
	want, _ := os.ReadFile("migrate.pb.go")
	if !bytes.Equal(got, want) {
		t.Error("migrate.pb.go is not what migrate.proto generates: run go generate ./migration/pb")
	}
}
