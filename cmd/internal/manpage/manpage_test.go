package manpage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// Every visible command gets a page named after its path; hidden ones
// (this command itself) do not; the date comes from SOURCE_DATE_EPOCH.
func TestWrite(t *testing.T) {
	root := &cobra.Command{Use: "lodge", Short: "root"}
	launch := &cobra.Command{Use: "launch IMAGE NAME", Short: "Create and start", Run: func(*cobra.Command, []string) {}}
	launch.Flags().StringP("config", "c", "", "a config key")
	root.AddCommand(launch, Command(root, "1.2.3"))
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	dir := t.TempDir()
	root.SetArgs([]string{"manpage", dir})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(dir, "lodge-launch.1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`.TH "LODGE-LAUNCH" "1" "Nov 2023" "lodge 1.2.3" "lodge manual"`, `\fB--config\fP`, "Create and start"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("lodge-launch.1 lacks %q:\n%s", want, page)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "lodge-manpage.1")); err == nil {
		t.Error("the hidden manpage command got a page")
	}
	if _, err := os.Stat(filepath.Join(dir, "lodge.1")); err != nil {
		t.Error(err)
	}
}
