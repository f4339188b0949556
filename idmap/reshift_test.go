package idmap

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"lodge/test/gate"

	"golang.org/x/sys/unix"
)

// The test binary doubles as the process a re-shift is killed in.
func TestMain(m *testing.M) {
	if root := os.Getenv("LODGE_RESHIFT_CHILD"); root != "" {
		var to Map
		fmt.Sscan(os.Getenv("LODGE_RESHIFT_TO"), &to.UIDBase)
		to.GIDBase = to.UIDBase
		step, at := os.Getenv("LODGE_RESHIFT_STEP"), os.Getenv("LODGE_RESHIFT_AT")
		n := 0
		reshiftHook = func(s, p string) {
			if s != step {
				return
			}
			n++
			if strings.HasSuffix(p, at) || at == fmt.Sprint(n) {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
		if _, err := Reshift(root, to); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func capsV2() []byte {
	b := make([]byte, vfsCapV2Size)
	binary.LittleEndian.PutUint32(b, vfsCapRevision2|1)
	binary.LittleEndian.PutUint32(b[4:], 1<<13) // cap_net_raw
	return b
}

func acl2(uid, gid uint32) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint32(aclVersion))
	for _, e := range []struct {
		tag  uint16
		perm uint16
		id   uint32
	}{{0x01, 7, 0xffffffff}, {aclUser, 5, uid}, {0x04, 5, 0xffffffff}, {aclGroup, 5, gid}, {0x10, 7, 0xffffffff}, {0x20, 5, 0xffffffff}} {
		binary.Write(&b, binary.LittleEndian, e.tag)
		binary.Write(&b, binary.LittleEndian, e.perm)
		binary.Write(&b, binary.LittleEndian, e.id)
	}
	return b.Bytes()
}

// reshiftTree makes a rootfs owned in map m: many files (so a kill lands
// mid-walk), setuid and setgid files, file capabilities, an ACL, a hard
// link and a symlink.
func reshiftTree(t *testing.T, dir string, m Map) string {
	t.Helper()
	root := filepath.Join(dir, "rootfs")
	for i := 0; i < 30; i++ {
		d := filepath.Join(root, fmt.Sprintf("d%02d", i))
		os.MkdirAll(d, 0o755)
		for j := 0; j < 10; j++ {
			os.WriteFile(filepath.Join(d, fmt.Sprintf("f%d", j)), []byte("x"), 0o644)
		}
	}
	os.WriteFile(filepath.Join(root, "d05/suid"), []byte("x"), 0o755)
	os.WriteFile(filepath.Join(root, "d07/sgid"), []byte("x"), 0o755)
	os.WriteFile(filepath.Join(root, "d10/ping"), []byte("x"), 0o755)
	os.WriteFile(filepath.Join(root, "d12/acl"), []byte("x"), 0o644)
	os.Link(filepath.Join(root, "d05/suid"), filepath.Join(root, "d20/suid-link"))
	os.Symlink("/etc/passwd", filepath.Join(root, "d15/link"))
	os.MkdirAll(filepath.Join(root, "home/u"), 0o700)
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		id := int64(0)
		if strings.Contains(p, "home/u") {
			id = 1000
		}
		return os.Lchown(p, int(m.HostUID(id)), int(m.HostGID(id)))
	})
	unix.Chmod(filepath.Join(root, "d05/suid"), 0o4755)
	unix.Chmod(filepath.Join(root, "d07/sgid"), 0o2755)
	caps, _ := ShiftCaps(capsV2(), Privileged, m)
	if err := unix.Setxattr(filepath.Join(root, "d10/ping"), "security.capability", caps, 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(filepath.Join(root, "d12/acl"), "system.posix_acl_access", acl2(uint32(m.HostUID(1000)), uint32(m.HostGID(1000))), 0); err != nil {
		t.Fatal(err)
	}
	return root
}

// describeTree lists owners (as container ids under m), modes, caps and ACLs.
func describeTree(t *testing.T, root string, m Map) []string {
	var out []string
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		unix.Lstat(p, &st)
		rel, _ := filepath.Rel(root, p)
		line := fmt.Sprintf("%s %o %d:%d", rel, st.Mode, m.ContainerUID(int64(st.Uid)), m.ContainerGID(int64(st.Gid)))
		if fi.Mode()&os.ModeSymlink == 0 {
			if c := getxattr(p, "security.capability"); c != nil {
				line += fmt.Sprintf(" caps=%x", c)
			}
			if a := getxattr(p, "system.posix_acl_access"); a != nil {
				line += fmt.Sprintf(" acl=%x", a)
			}
		}
		out = append(out, line)
		return nil
	})
	sort.Strings(out)
	return out
}

func TestReshift(t *testing.T) {
	gate.Root(t, "chown")
	a, b := Map{UIDBase: 1000000, GIDBase: 1000000}, Map{UIDBase: 1065536, GIDBase: 1065536}
	for _, to := range []Map{b, Privileged} {
		root := reshiftTree(t, t.TempDir(), a)
		want := describeTree(t, reshiftTree(t, t.TempDir(), to), to)
		changed, err := Reshift(root, to)
		if err != nil || !changed {
			t.Fatalf("reshift to %d: %v %v", to.UIDBase, changed, err)
		}
		if got := describeTree(t, root, to); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("reshift to %d:\n%s\nwant\n%s", to.UIDBase, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if changed, err := Reshift(root, to); err != nil || changed {
			t.Fatalf("second reshift: %v %v", changed, err)
		}
		if ShiftPending(root) {
			t.Fatal("marker left")
		}
	}
}

// TestReshiftInterrupted: a re-shift SIGKILLed at various points (mid-walk,
// between the chown of a setuid or capability file and the restore of its
// bits, before the marker goes) is finished by the next Reshift with the
// same result as one never interrupted; and one whose wanted map changed
// meanwhile ends in the new map.
func TestReshiftInterrupted(t *testing.T) {
	gate.Root(t, "chown")
	a, b, c := Map{UIDBase: 1000000, GIDBase: 1000000}, Map{UIDBase: 1065536, GIDBase: 1065536}, Map{UIDBase: 1131072, GIDBase: 1131072}
	self, _ := os.Executable()
	for _, k := range []struct{ step, at string }{{"chowned", "7"}, {"chowned", "150"}, {"chowned", "suid"}, {"chowned", "ping"}, {"chowned", "sgid"}, {"top", "rootfs"}} {
		for _, final := range []Map{Privileged, b, c} {
			name := fmt.Sprintf("%s-%s-then-%d", k.step, k.at, final.UIDBase)
			t.Run(name, func(t *testing.T) {
				root := reshiftTree(t, t.TempDir(), a)
				want := describeTree(t, reshiftTree(t, t.TempDir(), final), final)
				cmd := exec.Command(self, "-test.run=^$")
				cmd.Env = append(os.Environ(), "LODGE_RESHIFT_CHILD="+root, fmt.Sprintf("LODGE_RESHIFT_TO=%d", b.UIDBase), "LODGE_RESHIFT_STEP="+k.step, "LODGE_RESHIFT_AT="+k.at)
				out, err := cmd.CombinedOutput()
				if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
					t.Fatalf("the shift was not killed: %v %s", err, out)
				}
				if !ShiftPending(root) {
					t.Fatal("no marker after a killed shift")
				}
				if changed, err := Reshift(root, final); err != nil || !changed {
					t.Fatalf("resume: %v %v", changed, err)
				}
				if got := describeTree(t, root, final); strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Fatalf("after a resumed shift:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
				if ShiftPending(root) {
					t.Fatal("marker left")
				}
				if _, err := os.Lstat(filepath.Join(filepath.Dir(root), ShiftJournal)); err == nil {
					t.Fatal("journal left")
				}
			})
		}
	}
}
