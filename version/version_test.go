package version

import (
	"regexp"
	"testing"
)

// The embedded VERSION is one line that dpkg accepts as an upstream
// version (make deb puts it in the package's control file as it is).
func TestVersionIsADebianUpstreamVersion(t *testing.T) {
	if !regexp.MustCompile(`^[0-9][A-Za-z0-9.+~]*$`).MatchString(String()) {
		t.Fatalf("version/VERSION holds %q, not a Debian upstream version", String())
	}
}

func TestOverride(t *testing.T) {
	defer func(o string) { Override = o }(Override)
	Override = "9.9.9+test"
	if String() != "9.9.9+test" {
		t.Fatalf("override ignored: %q", String())
	}
}
