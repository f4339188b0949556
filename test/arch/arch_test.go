// Package arch pins lodge's import rules: domain packages never reach the
// server, the client or SQL; only instances/lxc links go-lxc; api is
// stdlib only; the CLI reaches the daemon through client alone.
package arch

import (
	"os/exec"
	"strings"
	"testing"
)

func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", pkg).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

func TestImportRules(t *testing.T) {
	rules := []struct {
		pkg       string
		forbidden []string
	}{
		{"lodge/api", []string{"lodge/", "github.com/"}},
		{"lodge/instances", []string{"lodge/server", "lodge/client", "lodge/images", "lodge/storage", "lodge/network", "lodge/remotes", "lodge/files", "lodge/idmap", "github.com/mattn/go-sqlite3", "github.com/lxc/go-lxc"}},
		{"lodge/instances/lxc", []string{"lodge/server", "lodge/client", "lodge/storage", "github.com/mattn/go-sqlite3"}},
		{"lodge/images", []string{"lodge/server", "lodge/client", "lodge/instances", "lodge/storage", "github.com/mattn/go-sqlite3", "github.com/lxc/go-lxc"}},
		{"lodge/storage/...", []string{"lodge/server", "lodge/client", "lodge/instances", "lodge/images", "github.com/mattn/go-sqlite3", "github.com/lxc/go-lxc"}},
		{"lodge/resources", []string{"lodge/server", "lodge/client", "lodge/instances", "lodge/images", "lodge/storage", "github.com/mattn/go-sqlite3", "github.com/lxc/go-lxc"}},
		{"lodge/idmap", []string{"lodge/server", "lodge/client", "lodge/instances", "lodge/images", "lodge/storage", "github.com/mattn/go-sqlite3", "github.com/lxc/go-lxc"}},
		{"lodge/network/...", []string{"lodge/server", "lodge/client", "lodge/instances", "lodge/images", "lodge/storage", "lodge/remotes", "lodge/files", "github.com/mattn/go-sqlite3", "github.com/lxc/go-lxc"}},
		{"lodge/netparse", []string{"lodge/", "github.com/"}},
		{"lodge/errdefs", []string{"lodge/", "github.com/"}},
		{"lodge/hostlimits", []string{"lodge/", "github.com/"}},
		{"lodge/trace", []string{"lodge/", "github.com/"}},
		{"lodge/images/templates", []string{"lodge/server", "lodge/client", "lodge/instances", "lodge/storage", "github.com/mattn/go-sqlite3", "github.com/lxc/go-lxc"}},
		{"lodge/devlxd", []string{"lodge/", "github.com/mattn/go-sqlite3", "github.com/lxc/go-lxc"}},
		{"lodge/backup", []string{"lodge/server", "lodge/client", "lodge/storage", "lodge/images", "github.com/mattn/go-sqlite3", "github.com/lxc/go-lxc"}},
		{"lodge/metrics", []string{"lodge/server", "lodge/client", "lodge/images", "lodge/storage", "github.com/mattn/go-sqlite3", "github.com/lxc/go-lxc"}},
		{"lodge/files", []string{"lodge/server", "lodge/client", "lodge/instances", "lodge/images", "lodge/storage", "github.com/mattn/go-sqlite3", "github.com/lxc/go-lxc"}},
		{"lodge/remotes/...", []string{"lodge/server", "lodge/client", "lodge/instances", "lodge/images", "lodge/storage", "github.com/mattn/go-sqlite3", "github.com/lxc/go-lxc"}},
		{"lodge/builder", []string{"lodge/server", "lodge/client", "lodge/instances", "github.com/mattn/go-sqlite3", "github.com/lxc/go-lxc"}},
		{"lodge/migration/...", []string{"lodge/server", "lodge/client", "lodge/storage", "lodge/images", "github.com/mattn/go-sqlite3", "github.com/lxc/go-lxc"}},
		{"lodge/client", []string{"lodge/server", "lodge/instances", "lodge/images", "lodge/storage", "github.com/mattn/go-sqlite3", "github.com/lxc/go-lxc"}},
		{"lodge/cmd/lodge", []string{"lodge/server", "lodge/instances", "lodge/storage", "github.com/mattn/go-sqlite3", "github.com/lxc/go-lxc"}},
		{"lodge/server", []string{"lodge/client", "github.com/lxc/go-lxc"}},
		// The web UI's package: assets and browser sessions, nothing of lodged.
		{"lodge/ui", []string{"lodge/", "github.com/"}},
	}
	for _, r := range rules {
		for _, d := range deps(t, r.pkg) {
			for _, f := range r.forbidden {
				allowedSelf := strings.HasPrefix(d, strings.TrimSuffix(r.pkg, "/..."))
				if strings.HasPrefix(d, f) && !allowedSelf && !(f == "lodge/" && d == "lodge/api") {
					t.Errorf("%s depends on %s (forbidden: %s)", r.pkg, d, f)
				}
			}
		}
	}
	// Direct imports (a package's own, not its dependencies'): the daemon
	// is transport-free, and the HTTP layer calls the daemon, not drivers.
	direct := []struct {
		pkg, why  string
		forbidden []string
	}{
		{"lodge/server/daemon", "HTTP and websockets are the server's business (server/operations, which the daemon uses, may know them)",
			[]string{"net/http", "github.com/gorilla/websocket"}},
		{"lodge/server", "the HTTP layer calls the daemon, which drives storage, networks and remotes",
			[]string{"lodge/storage", "lodge/network", "lodge/remotes", "lodge/idmap"}},
	}
	for _, r := range direct {
		out, err := exec.Command("go", "list", "-f", `{{join .Imports " "}}`, r.pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", r.pkg, err)
		}
		for _, imp := range strings.Fields(string(out)) {
			for _, f := range r.forbidden {
				if imp == f || strings.HasPrefix(imp, f+"/") {
					t.Errorf("%s imports %s: %s", r.pkg, imp, r.why)
				}
			}
		}
	}
	// SQL stays behind server/db.
	out, _ := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "lodge/...").Output()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		for _, imp := range f[1:] {
			if (imp == "database/sql" || imp == "github.com/mattn/go-sqlite3") && f[0] != "lodge/server/db" {
				t.Errorf("%s imports %s; SQL belongs in server/db", f[0], imp)
			}
		}
	}
}
