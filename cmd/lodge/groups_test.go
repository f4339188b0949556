package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestMain runs the CLI's main instead of the tests when LODGE_TEST_MAIN
// holds its arguments (one per line), so tests can see exit statuses.
func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv("LODGE_TEST_MAIN"); ok {
		os.Args = append([]string{"lodge"}, strings.Split(args, "\n")...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runMain runs the CLI in a child process: its stdout, stderr and exit status.
func runMain(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LODGE_TEST_MAIN="+strings.Join(args, "\n"),
		"LODGE_CONF="+t.TempDir(), "LODGE_SOCKET="+filepath.Join(t.TempDir(), "no.socket"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// groups lists the paths of every command that has subcommands.
func groups(c *cobra.Command, path []string, out *[][]string) {
	if c.HasSubCommands() {
		*out = append(*out, path)
	}
	for _, sub := range c.Commands() {
		groups(sub, append(append([]string{}, path...), sub.Name()), out)
	}
}

// Every command group, walked from the whole tree, refuses an unknown
// subcommand with one line naming it; called bare it prints its help.
func TestEveryGroupRefusesUnknownSubcommands(t *testing.T) {
	t.Setenv("LODGE_CONF", t.TempDir())
	t.Setenv("LODGE_SOCKET", filepath.Join(t.TempDir(), "no.socket"))
	var paths [][]string
	groups(rootCmd(), nil, &paths)
	for _, want := range []string{"image", "config device", "profile device", "storage volume", "completion"} {
		found := false
		for _, p := range paths {
			found = found || strings.Join(p, " ") == want
		}
		if !found {
			t.Fatalf("group %q not found in %v", want, paths)
		}
	}
	for _, p := range paths {
		name := strings.Join(append([]string{"lodge"}, p...), " ")
		root := rootCmd()
		var out, errb bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&errb)
		root.SetArgs(append(append([]string{}, p...), "nosuch"))
		err := root.ExecuteContext(context.Background())
		want := fmt.Sprintf("unknown command %q for %q", "nosuch", name)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s nosuch: %v, want one line with %s", name, err, want)
		}
		root = rootCmd()
		out.Reset()
		root.SetOut(&out)
		root.SetArgs(p)
		if err := root.ExecuteContext(context.Background()); err != nil || !strings.Contains(out.String(), "Usage:") {
			t.Errorf("%s (bare): %v %q, want its help", name, err, out.String())
		}
	}
}

// What a script sees: exit status 1 and one line on stderr.
func TestUnknownSubcommandExitStatus(t *testing.T) {
	for _, args := range [][]string{{"image", "nosuch"}, {"config", "device", "nosuch", "c1"}, {"nosuch"}} {
		stdout, stderr, code := runMain(t, args...)
		if code != 1 || stdout != "" || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, `unknown command "nosuch"`) {
			t.Errorf("lodge %v: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
	if stdout, _, code := runMain(t, "image"); code != 0 || !strings.Contains(stdout, "Usage:") {
		t.Errorf("lodge image: exit %d %q", code, stdout)
	}
}
