//go:build linux && cgo

package lxc

import (
	"reflect"
	"strings"
	"testing"
)

// The request helper_c.c reads: NUL-terminated fields, lists as a count
// and their items; any byte but NUL survives.
func TestExecRequestEncoding(t *testing.T) {
	r := execRequest{Argv: []string{"sh", "-c", "echo 'a b'\nexit 3"}, Env: []string{"A=1", "B=x=y z"}, Cwd: "", UID: 65534, GID: 7, TTY: true}
	got := strings.Split(strings.TrimSuffix(string(r.encode()), "\x00"), "\x00")
	want := []string{"1", "", "65534", "7", "1", "3", "sh", "-c", "echo 'a b'\nexit 3", "2", "A=1", "B=x=y z"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fields %q, want %q", got, want)
	}
}
