package daemon

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lodge/api"
	"lodge/errdefs"
	"lodge/server/db"
	"lodge/storage"
)

// backupEnv is a started daemon env with the image bb.
func backupEnv(t *testing.T) *daemonEnv {
	e := newDaemonEnv(t)
	if err := e.d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.image(t, "busybox", "bb")
	return e
}

func (e *daemonEnv) rootfs(name string) string {
	return filepath.Join(e.pool.Path(storage.Volume{Kind: storage.KindContainer, Name: name}), "rootfs")
}

func (e *daemonEnv) writeFile(t *testing.T, inst, p, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(e.rootfs(inst), p), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (e *daemonEnv) readFile(inst, p string) string {
	b, err := os.ReadFile(filepath.Join(e.rootfs(inst), p))
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

// export makes a backup of inst and returns its tarball.
func (e *daemonEnv) export(t *testing.T, inst string, req api.InstanceBackupsPost) (string, []byte) {
	t.Helper()
	ctx := context.Background()
	o := e.ok(t)(e.d.CreateBackup(ctx, inst, req))
	urls := o.Resources["backups"]
	if len(urls) != 1 {
		t.Fatalf("the operation names no backup: %v", o.Resources)
	}
	name := filepath.Base(urls[0])
	f, err := e.d.OpenBackup(ctx, inst, name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return name, b
}

// TestBackupRoundTrip: a backup of a stopped instance with a snapshot,
// made and read back without HTTP, imports under another name with its
// files, its snapshot (as it was) and its config; a second import of the
// same name is a 409 that changes nothing.
func TestBackupRoundTrip(t *testing.T) {
	e := backupEnv(t)
	ctx := context.Background()
	e.launch(t, "c1", map[string]string{"user.k": "v"}, false)
	e.writeFile(t, "c1", "state", "one")
	e.ok(t)(e.d.CreateSnapshot(ctx, "c1", api.InstanceSnapshotsPost{Name: "s1"}))
	e.writeFile(t, "c1", "state", "two")
	name, tarball := e.export(t, "c1", api.InstanceBackupsPost{CompressionAlgorithm: "zstd"})
	if name != "backup0" {
		t.Fatalf("default name %q, want backup0 as LXD", name)
	}
	if name2, _ := e.export(t, "c1", api.InstanceBackupsPost{InstanceOnly: true}); name2 != "backup1" {
		t.Fatalf("second default name %q", name2)
	}
	list, err := e.d.Backups(ctx, "c1")
	if err != nil || len(list) != 2 || list[0].Compression != "zstd" || list[1].Compression != "gzip" || !list[1].InstanceOnly {
		t.Fatalf("backups: %+v %v", list, err)
	}

	e.ok(t)(e.d.ImportInstance(ctx, bytes.NewReader(tarball), ImportOptions{Name: "c2"}))
	in, err := e.db.GetInstance(ctx, "c2")
	if err != nil || in.Phase != db.PhaseCreated || in.Config["user.k"] != "v" || in.Pool != "default" {
		t.Fatalf("imported row: %+v %v", in, err)
	}
	if in.Config["volatile.uuid"] == "" || in.Config["volatile.uuid"] == e.mustInstance(t, "c1").Config["volatile.uuid"] {
		t.Errorf("the imported instance shares c1's uuid: %q", in.Config["volatile.uuid"])
	}
	if got := e.readFile("c2", "state"); got != "two" {
		t.Errorf("imported state: %q", got)
	}
	if !e.drv.Defined("c2") {
		t.Error("no runtime config for the import")
	}
	snaps, _ := e.db.ListSnapshots(ctx, "c2")
	if len(snaps) != 1 || snaps[0].Name != "s1" || snaps[0].Config["user.k"] != "v" {
		t.Fatalf("imported snapshots: %+v", snaps)
	}
	s1 := filepath.Join(e.pool.Path(storage.Volume{Kind: storage.KindContainer, Name: "c2"}.Snapshot("s1")), "rootfs", "state")
	if b, err := os.ReadFile(s1); err != nil || string(b) != "one" {
		t.Errorf("imported snapshot s1: %q %v", b, err)
	}

	_, err = e.d.ImportInstance(ctx, bytes.NewReader(tarball), ImportOptions{Name: "c2"})
	if !errors.Is(err, errdefs.ErrExists) {
		t.Fatalf("import over an existing instance: %v", err)
	}
	if got := e.readFile("c2", "state"); got != "two" {
		t.Errorf("the refused import changed c2: %q", got)
	}
	_, err = e.d.ImportInstance(ctx, bytes.NewReader(tarball), ImportOptions{Name: "c3", Pool: "nope"})
	if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("import into a missing pool: %v", err)
	}
	if _, err := e.db.GetInstance(ctx, "c3"); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("a refused import left a row: %v", err)
	}
}

func (e *daemonEnv) mustInstance(t *testing.T, name string) db.Instance {
	t.Helper()
	in, err := e.db.GetInstance(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// TestBackupRequestsChecked: a bad compression, name or a duplicate is
// refused before anything is made.
func TestBackupRequestsChecked(t *testing.T) {
	e := backupEnv(t)
	ctx := context.Background()
	e.launch(t, "c1", nil, false)
	for _, req := range []api.InstanceBackupsPost{{CompressionAlgorithm: "sh -c reboot"}, {Name: "a/b"}, {Name: "../x"}} {
		if _, err := e.d.CreateBackup(ctx, "c1", req); !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("%+v: %v", req, err)
		}
	}
	if _, err := e.d.CreateBackup(ctx, "nope", api.InstanceBackupsPost{}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("backup of a missing instance: %v", err)
	}
	e.export(t, "c1", api.InstanceBackupsPost{Name: "b"})
	if _, err := e.d.CreateBackup(ctx, "c1", api.InstanceBackupsPost{Name: "b"}); !errors.Is(err, errdefs.ErrExists) {
		t.Errorf("duplicate: %v", err)
	}
	if list, _ := e.d.Backups(ctx, "c1"); len(list) != 1 {
		t.Errorf("refused requests left backups: %+v", list)
	}
	if err := e.d.UpdateServerConfig(ctx, map[string]string{"backups.compression_algorithm": "rot13"}, Update{Patch: true}); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("server key with a bad compression: %v", err)
	}
	if err := e.d.UpdateServerConfig(ctx, map[string]string{"backups.compression_algorithm": "none"}, Update{Patch: true}); err != nil {
		t.Fatal(err)
	}
	e.export(t, "c1", api.InstanceBackupsPost{Name: "plain"})
	if b, _ := e.d.Backup(ctx, "c1", "plain"); b.Compression != "none" {
		t.Errorf("the server key was not used: %+v", b)
	}
}

// TestBackupLifecycle: rename, delete, expiry, and the files following
// the instance's rename and delete.
func TestBackupLifecycle(t *testing.T) {
	e := backupEnv(t)
	ctx := context.Background()
	e.launch(t, "c1", nil, false)
	e.export(t, "c1", api.InstanceBackupsPost{Name: "a"})
	e.export(t, "c1", api.InstanceBackupsPost{Name: "b"})
	if _, err := e.d.RenameBackup(ctx, "c1", "a", api.InstanceBackupPost{Name: "b"}); !errors.Is(err, errdefs.ErrExists) {
		t.Fatalf("rename onto another: %v", err)
	}
	e.ok(t)(e.d.RenameBackup(ctx, "c1", "a", api.InstanceBackupPost{Name: "a2"}))
	if _, err := os.Stat(e.d.backupFile("c1", "a2")); err != nil {
		t.Fatal(err)
	}
	e.ok(t)(e.d.DeleteBackup(ctx, "c1", "b"))
	if _, err := os.Stat(e.d.backupFile("c1", "b")); !os.IsNotExist(err) {
		t.Fatalf("deleted backup's file: %v", err)
	}
	if _, err := e.d.OpenBackup(ctx, "c1", "b"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("export of a deleted backup: %v", err)
	}

	// Expiry.
	e.export(t, "c1", api.InstanceBackupsPost{Name: "old", ExpiresAt: time.Now().Add(-time.Minute)})
	e.export(t, "c1", api.InstanceBackupsPost{Name: "new", ExpiresAt: time.Now().Add(time.Hour)})
	e.d.pruneBackups(ctx)
	names := func(inst string) string {
		list, _ := e.d.Backups(ctx, inst)
		var out []string
		for _, b := range list {
			out = append(out, b.Name)
		}
		return strings.Join(out, ",")
	}
	if got := names("c1"); got != "a2,new" {
		t.Fatalf("after expiry: %s", got)
	}
	if _, err := os.Stat(e.d.backupFile("c1", "old")); !os.IsNotExist(err) {
		t.Fatalf("expired backup's file: %v", err)
	}

	e.ok(t)(e.d.MoveInstance(ctx, "c1", api.InstancePost{Name: "c9"}))
	if got := names("c9"); got != "a2,new" {
		t.Fatalf("after the instance's rename: %s", got)
	}
	f, err := e.d.OpenBackup(ctx, "c9", "new")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	e.ok(t)(e.d.DeleteInstance(ctx, "c9"))
	if _, err := os.Stat(e.d.backupsDir("c9")); !os.IsNotExist(err) {
		t.Fatalf("a deleted instance's backups: %v", err)
	}
}

// TestBackupSweep: what a crash leaves is reconciled at start: a record
// whose file was never written, a temporary file, a file without a
// record, the backups of an instance that is gone.
func TestBackupSweep(t *testing.T) {
	e := backupEnv(t)
	ctx := context.Background()
	e.launch(t, "c1", nil, false)
	e.export(t, "c1", api.InstanceBackupsPost{Name: "kept"})
	if err := e.db.CreateBackup(ctx, db.Backup{Instance: "c1", Name: "unwritten", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{e.d.backupFile("c1", ".tmp-x-123"), e.d.backupFile("c1", "stray"), e.d.backupFile("gone", "b")} {
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e.start(t)
	e.d.Recover(ctx)
	if list, _ := e.d.Backups(ctx, "c1"); len(list) != 1 || list[0].Name != "kept" {
		t.Fatalf("records after the sweep: %+v", list)
	}
	ents, _ := os.ReadDir(e.d.backupsDir("c1"))
	if len(ents) != 1 || ents[0].Name() != "kept" {
		t.Fatalf("files after the sweep: %v", ents)
	}
	if _, err := os.Stat(e.d.backupsDir("gone")); !os.IsNotExist(err) {
		t.Fatalf("a missing instance's backups: %v", err)
	}
}

// hostileTarball is a backup of name whose container section holds one
// entry named entry.
func hostileTarball(t *testing.T, name, entry string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	index := "name: " + name + "\nbackend: dir\npool: default\ntype: container\nconfig:\n  container:\n    name: " + name + "\n    type: container\n    profiles: [default]\n    config: {}\n    devices: {}\n"
	add := func(n string, typ byte, data string) {
		hdr := &tar.Header{Name: n, Typeflag: typ, Mode: 0o644, Size: int64(len(data))}
		if typ == tar.TypeDir {
			hdr.Mode, hdr.Size = 0o755, 0
		}
		if typ == tar.TypeSymlink {
			hdr.Linkname, hdr.Size = data, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			tw.Write([]byte(data))
		}
	}
	add("backup/index.yaml", tar.TypeReg, index)
	add("backup/container", tar.TypeDir, "")
	add("backup/container/rootfs", tar.TypeDir, "")
	add(entry, tar.TypeReg, "pwned")
	tw.Close()
	return buf.Bytes()
}

// TestImportHostile: a tarball that reaches out of its instance is
// refused with a 400, and leaves no row, volume or file behind.
func TestImportHostile(t *testing.T) {
	e := backupEnv(t)
	ctx := context.Background()
	for _, entry := range []string{"backup/container/rootfs/../../../escaped", "/etc/escaped", "backup/container/other"} {
		_, err := e.d.ImportInstance(ctx, bytes.NewReader(hostileTarball(t, "h1", entry)), ImportOptions{})
		if !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("%s: %v", entry, err)
		}
		if _, err := e.db.GetInstance(ctx, "h1"); !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("%s: a row was left: %v", entry, err)
		}
		if e.pool.Exists(storage.Volume{Kind: storage.KindContainer, Name: "h1"}) {
			t.Fatalf("%s: a volume was left", entry)
		}
	}
	matches, _ := filepath.Glob(filepath.Join(e.dir, "pool", "*escaped*"))
	if m2, _ := filepath.Glob(filepath.Join(e.dir, "*escaped*")); len(matches)+len(m2) > 0 || fileExists("/etc/escaped") {
		t.Fatalf("files written outside the instance: %v %v", matches, m2)
	}
	// Not a backup at all.
	if _, err := e.d.ImportInstance(ctx, strings.NewReader("hello"), ImportOptions{}); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("garbage: %v", err)
	}
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// TestImportCrashRecovered: an import a crash cut short (its row still
// creating, its volume half written) is removed by the next start.
func TestImportCrashRecovered(t *testing.T) {
	e := backupEnv(t)
	ctx := context.Background()
	e.launch(t, "c1", nil, false)
	e.writeFile(t, "c1", "state", "x")
	_, tarball := e.export(t, "c1", api.InstanceBackupsPost{CompressionAlgorithm: "none"})
	// The body ends half-way: the import fails and rolls back.
	_, err := e.d.ImportInstance(ctx, bytes.NewReader(tarball[:len(tarball)/2]), ImportOptions{Name: "c2"})
	if err == nil {
		t.Fatal("a truncated backup imported")
	}
	if _, err := e.db.GetInstance(ctx, "c2"); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("a failed import left its row: %v", err)
	}
	if e.pool.Exists(storage.Volume{Kind: storage.KindContainer, Name: "c2"}) {
		t.Fatal("a failed import left its volume")
	}
	// What a SIGKILL leaves: the row creating, the volume half full.
	if _, err := e.db.CreateInstance(ctx, db.Instance{Name: "c3", Pool: "default", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	c3 := storage.Volume{Kind: storage.KindContainer, Name: "c3"}
	if err := e.pool.CreateEmptyContainer(ctx, c3); err != nil {
		t.Fatal(err)
	}
	if err := e.pool.Snapshot(ctx, c3, "s1"); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	e.d.Recover(ctx)
	if _, err := e.db.GetInstance(ctx, "c3"); !errors.Is(err, db.ErrNotFound) || e.pool.Exists(c3) || e.pool.Exists(c3.Snapshot("s1")) {
		t.Fatalf("recovery left the cut-short import: %v", err)
	}
}
