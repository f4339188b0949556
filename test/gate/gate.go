// Package gate is the one switch for tests that need root and the host's
// real kernel features (containers, mounts, loop devices, bridges). They
// run only when asked for with LODGE_INTEGRATION=1, and when asked for
// they must run: asked for without root is a failure, never a skip, so
// that a green `make test-integration` cannot mean nothing ran.
package gate

import (
	"fmt"
	"os"
	"testing"
)

// Env asks for the integration tests.
const Env = "LODGE_INTEGRATION"

// check tells whether the tests env asks for can run: a skip reason when
// they are not asked for, an error when they are but cannot run.
func check(env string) (skip string, err error) { return checkAs(env, os.Geteuid()) }

func checkAs(env string, euid int) (skip string, err error) {
	if os.Getenv(env) != "1" {
		return fmt.Sprintf("set %s=1 (as root) to run it", env), nil
	}
	if euid != 0 {
		return "", fmt.Errorf("%s=1 is set but this is not root: these tests need root; run them as root or unset %s", env, env)
	}
	return "", nil
}

// Integration skips tb, saying why it needs the host (need: "starts real
// containers"), unless LODGE_INTEGRATION=1; it fails tb when that is set
// without root.
func Integration(tb testing.TB, need string) {
	tb.Helper()
	skip, err := check(Env)
	if err != nil {
		tb.Fatalf("integration test (%s): %v", need, err)
	}
	if skip != "" {
		tb.Skipf("integration test (%s): %s", need, skip)
	}
}

// Enabled reports whether integration tests are asked for and can run,
// for a part of a test that needs the host; it fails tb when they are
// asked for without root.
func Enabled(tb testing.TB) bool {
	tb.Helper()
	skip, err := check(Env)
	if err != nil {
		tb.Fatalf("integration: %v", err)
	}
	return skip == ""
}

// Root skips tb unless it runs as root: for unit tests that need root's
// rights (chown, keeping owners) but nothing else of the host.
func Root(tb testing.TB, need string) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skipf("needs root (%s)", need)
	}
}

// Main is the gate of a TestMain whose tests all need the host, asked for
// with env (LODGE_INTEGRATION, or LODGE_STRESS for the stress tests). It
// returns "" when they run, else the reason each test skips with; asked
// for without root, it prints why and exits 1.
func Main(env string) (skip string) {
	skip, err := check(env)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		os.Exit(1)
	}
	return skip
}
