package arch

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"lodge/test/gate"
)

// Commands that tests, benchmarks and lodged itself run by name. A fresh
// Debian 12 machine has only what scripts/setup-host.sh installs, so each
// must come from a package of priority required or one setup-host names
// (a test run that finds `ping` missing on a new machine is this test's
// reason to exist). A method named run (x.run(t, "step", ...), the browser
// tests' steps) is not a command.
var commandCall = regexp.MustCompile(`(?:exec\.Command(?:Context)?\((?:ctx, |cmd\.Context\(\), )?|exec\.LookPath\(|[^.\w]run\(t, )"([a-z][a-z0-9._+-]*)"`)

// Installed by other means than setup-host: the Go toolchain itself, and
// Debian's LXD, which the copy-from-LXD test and make bench install on demand.
var notFromSetup = map[string]bool{"go": true, "lxd": true}

func calledCommands(t *testing.T, root string) map[string][]string {
	t.Helper()
	found := map[string][]string{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "bin" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range commandCall.FindAllStringSubmatch(string(b), -1) {
			rel, _ := filepath.Rel(root, p)
			found[m[1]] = append(found[m[1]], rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func TestCalledCommandsAreInstalledBySetup(t *testing.T) {
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		t.Skip("not a Debian host: package ownership cannot be checked")
	}
	root, _ := filepath.Abs("../..")
	setup, err := os.ReadFile(filepath.Join(root, "scripts", "setup-host.sh"))
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]bool{}
	for _, w := range regexp.MustCompile(`[a-z0-9][a-z0-9.+-]+`).FindAllString(string(setup), -1) {
		named[w] = true
	}
	cmds := calledCommands(t, root)
	names := make([]string, 0, len(cmds))
	for c := range cmds {
		names = append(names, c)
	}
	sort.Strings(names)
	if len(names) < 10 {
		t.Fatalf("found only %v: the pattern no longer matches how commands are called", names)
	}
	integration := gate.Enabled(t)
	for _, c := range names {
		if notFromSetup[c] {
			continue
		}
		path, err := exec.LookPath(c)
		if err != nil {
			// Where the integration tests run, everything they call must be here.
			if integration {
				t.Errorf("%s (called in %s) is not installed: add its Debian package to scripts/setup-host.sh", c, cmds[c][0])
			}
			continue
		}
		pkg := owner(path)
		if pkg == "" {
			t.Logf("%s: %s belongs to no Debian package (installed by hand?)", c, path)
			continue
		}
		prio, _ := exec.Command("dpkg-query", "-W", "-f=${Priority}", pkg).Output()
		if string(prio) == "required" || named[pkg] {
			continue
		}
		t.Errorf("%s (called in %s) comes from Debian package %s, which scripts/setup-host.sh does not install", c, cmds[c][0], pkg)
	}
}

// owner is the Debian package that holds path, through /usr merging.
func owner(path string) string {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		real = path
	}
	for _, p := range []string{real, "/usr" + real, strings.TrimPrefix(real, "/usr"), path} {
		out, err := exec.Command("dpkg", "-S", p).Output()
		if err == nil {
			pkg, _, _ := strings.Cut(strings.SplitN(string(out), "\n", 2)[0], ":")
			return strings.TrimSpace(pkg)
		}
	}
	return ""
}
