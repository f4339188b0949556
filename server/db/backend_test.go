package db

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The package's tests run on the backend LODGE_DB_BACKEND names: SQLite
// (unset), or "dqlite": a one-member cluster made from a fresh database
// by EnableCluster, its node on a loopback port. TestSuiteOnDqlite runs
// the whole suite again that way, so that every test of a query (other
// helpers' too, through openTest) is a test of both backends.
const backendEnv = "LODGE_DB_BACKEND"

func onDqlite() bool { return os.Getenv(backendEnv) == "dqlite" }

func TestSuiteOnDqlite(t *testing.T) {
	if onDqlite() {
		t.Skip("running on dqlite already")
	}
	if testing.Short() {
		t.Skip("-short: SQLite only")
	}
	args := []string{"-test.count=1", "-test.timeout=10m"}
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), backendEnv+"=dqlite")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the db suite on dqlite failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "PASS") {
		t.Fatalf("the db suite on dqlite did not run:\n%s", out)
	}
	t.Logf("on dqlite:\n%s", lastLines(string(out), 3))
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// freeAddr is a loopback address with a port nothing listens on.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// openBackend opens the database at path on the suite's backend: on
// dqlite, a standalone database made a one-member cluster (the first
// time) or a member restarted (when path is one already).
func openBackend(t testing.TB, path string) (*DB, error) {
	t.Helper()
	ctx := context.Background()
	d, err := Open(ctx, path)
	if err != nil || !onDqlite() {
		return d, err
	}
	if d.Clustered() {
		if err := d.StartCluster(ctx, ClusterConfig{}); err != nil {
			d.Close()
			return nil, err
		}
		return d, nil
	}
	if err := d.EnableCluster(ctx, ClusterConfig{}, "m1", freeAddr(t)); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}
