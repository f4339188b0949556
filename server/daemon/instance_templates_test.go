package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lodge/api"
	"lodge/images/templates"
	"lodge/instances"
	"lodge/storage"
)

// templatedMeta is the metadata.yaml of the test image "templated": each
// trigger writes a file of its own, and the hostname as real images do.
const templatedMeta = `architecture: x86_64
creation_date: 1700000000
templates:
  /etc/hostname:
    when: [create, copy, rename]
    template: hostname.tpl
  /etc/t-create:
    when: [create]
    template: trigger.tpl
  /etc/t-copy:
    when: [copy]
    template: trigger.tpl
  /etc/t-rename:
    when: [rename]
    template: trigger.tpl
  /etc/t-start:
    when: [start]
    template: trigger.tpl
    properties:
      p: prop
`

// withTemplates gives the env an ExtractMetadata that writes
// templatedMeta for images whose content says "templated", and a
// metadata.yaml without templates for the others.
func withTemplates(deps *Deps) {
	deps.ExtractMetadata = func(ctx context.Context, img, dst string) error {
		b, err := os.ReadFile(img)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dst, "templates"), 0o755); err != nil {
			return err
		}
		meta := "architecture: x86_64\ncreation_date: 1700000000\n"
		if strings.Contains(string(b), "templated") {
			meta = templatedMeta
			os.WriteFile(filepath.Join(dst, "templates", "hostname.tpl"), []byte("{{ container.name }}\n"), 0o644)
			os.WriteFile(filepath.Join(dst, "templates", "trigger.tpl"),
				[]byte(`{{ trigger }} {{ instance.name }} {{ config_get("user.x", "none") }} {{ properties.p }}`), 0o644)
		}
		return os.WriteFile(filepath.Join(dst, "metadata.yaml"), []byte(meta), 0o644)
	}
}

func (e *daemonEnv) rootfile(t *testing.T, inst, p string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.pool.Path(storage.Volume{Kind: storage.KindContainer, Name: inst}), "rootfs", p))
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

func (e *daemonEnv) config(t *testing.T, name string) map[string]string {
	t.Helper()
	in, err := e.db.GetInstance(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return in.Config
}

func (e *daemonEnv) startStop(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	e.ok(t)(e.d.ChangeState(ctx, name, api.InstanceStatePut{Action: "start"}))
	e.ok(t)(e.d.ChangeState(ctx, name, api.InstanceStatePut{Action: "stop", Force: true}))
}

// Image templates render at the first start after create, copy and
// rename, each with its own trigger, in that instance's rootfs, with the
// config it starts with; the start rules at every start. A pending trigger
// survives a copy of a never-started instance; instance-ids are new on
// create, copy and rename.
func TestImageTemplatesTriggers(t *testing.T) {
	e := newDaemonEnv(t, withTemplates)
	ctx := context.Background()
	e.image(t, "templated", "bb")

	e.launch(t, "c1", map[string]string{"user.x": "early"}, false)
	c1 := e.config(t, "c1")
	if c1[templates.ApplyKey] != "create" || c1[instances.CloudInitIDKey] == "" {
		t.Fatalf("after create: %v", c1)
	}
	if got := e.rootfile(t, "c1", "etc/t-create"); !strings.HasPrefix(got, "<") {
		t.Fatalf("rendered at create time: %q (LXD renders at the first start)", got)
	}
	// The config at the first start is what the templates see.
	e.ok(t)(e.d.UpdateInstance(ctx, "c1", api.InstancePut{Config: map[string]string{"user.x": "late"}}, Update{Patch: true}))
	e.startStop(t, "c1")
	if got := e.rootfile(t, "c1", "etc/t-create"); got != "create c1 late " {
		t.Errorf("t-create: %q", got)
	}
	if got := e.rootfile(t, "c1", "etc/t-start"); got != "start c1 late prop" {
		t.Errorf("t-start: %q", got)
	}
	if got := e.rootfile(t, "c1", "etc/hostname"); got != "c1\n" {
		t.Errorf("hostname: %q", got)
	}
	if _, ok := e.config(t, "c1")[templates.ApplyKey]; ok {
		t.Error("the pending trigger stays after the start")
	}
	// A start renders the start rules only.
	os.Remove(filepath.Join(e.pool.Path(storage.Volume{Kind: storage.KindContainer, Name: "c1"}), "rootfs/etc/t-create"))
	e.startStop(t, "c1")
	if got := e.rootfile(t, "c1", "etc/t-create"); !strings.HasPrefix(got, "<") {
		t.Errorf("create rendered again at a later start: %q", got)
	}

	// Copy: its own trigger and instance-id, the source's templates.
	e.ok(t)(e.d.CreateInstance(ctx, api.InstancesPost{Name: "c2", Source: api.InstanceSource{Type: "copy", Source: "c1"}}))
	c2 := e.config(t, "c2")
	if c2[templates.ApplyKey] != "copy" || c2[instances.CloudInitIDKey] == "" || c2[instances.CloudInitIDKey] == c1[instances.CloudInitIDKey] {
		t.Fatalf("copy: %v (source id %s)", c2, c1[instances.CloudInitIDKey])
	}
	e.startStop(t, "c2")
	if got := e.rootfile(t, "c2", "etc/t-copy"); got != "copy c2 late " {
		t.Errorf("t-copy: %q", got)
	}
	if got := e.rootfile(t, "c2", "etc/hostname"); got != "c2\n" {
		t.Errorf("copy's hostname: %q", got)
	}

	// A copy of a never-started instance still renders create.
	e.launch(t, "c3", nil, false)
	e.ok(t)(e.d.CreateInstance(ctx, api.InstancesPost{Name: "c4", Source: api.InstanceSource{Type: "copy", Source: "c3"}}))
	if got := e.config(t, "c4")[templates.ApplyKey]; got != "create" {
		t.Errorf("copy of a never-started instance: pending %q, want create", got)
	}

	// Rename: pending rename, a new instance-id, the new name rendered.
	before := e.config(t, "c2")[instances.CloudInitIDKey]
	e.ok(t)(e.d.MoveInstance(ctx, "c2", api.InstancePost{Name: "c5"}))
	c5 := e.config(t, "c5")
	if c5[templates.ApplyKey] != "rename" || c5[instances.CloudInitIDKey] == before {
		t.Fatalf("rename: %v", c5)
	}
	e.startStop(t, "c5")
	if got := e.rootfile(t, "c5", "etc/hostname"); got != "c5\n" {
		t.Errorf("renamed hostname: %q", got)
	}
	if got := e.rootfile(t, "c5", "etc/t-rename"); got != "rename c5 late " {
		t.Errorf("t-rename: %q", got)
	}

	// Rebuild: a fresh rootfs renders create again.
	e.ok(t)(e.d.RebuildInstance(ctx, "c5", api.InstanceRebuildPost{Source: api.InstanceSource{Type: "image", Alias: "bb"}}))
	if got := e.config(t, "c5")[templates.ApplyKey]; got != "create" {
		t.Errorf("rebuild: pending %q", got)
	}
	e.startStop(t, "c5")
	if got := e.rootfile(t, "c5", "etc/t-create"); got != "create c5 late " {
		t.Errorf("rebuild's t-create: %q", got)
	}
}

// An image without templates keeps lodge's own hostname writes, at
// create and now at rename too (systemd sets the hostname from it).
func TestNoTemplatesHostname(t *testing.T) {
	e := newDaemonEnv(t, withTemplates)
	ctx := context.Background()
	e.image(t, "plain", "bb")
	e.launch(t, "c1", nil, false)
	etc := filepath.Join(e.pool.Path(storage.Volume{Kind: storage.KindContainer, Name: "c1"}), "rootfs", "etc")
	os.MkdirAll(etc, 0o755)
	os.WriteFile(filepath.Join(etc, "hostname"), []byte("c1\n"), 0o644)
	e.ok(t)(e.d.MoveInstance(ctx, "c1", api.InstancePost{Name: "c2"}))
	if got := e.rootfile(t, "c2", "etc/hostname"); got != "c2\n" {
		t.Errorf("hostname after rename: %q", got)
	}
	e.startStop(t, "c2")
	if got := e.rootfile(t, "c2", "etc/hostname"); got != "c2\n" {
		t.Errorf("hostname after start: %q", got)
	}
}

// A template that cannot render fails the start with what to do, and
// keeps the trigger pending for the next try.
func TestImageTemplateFailsStart(t *testing.T) {
	e := newDaemonEnv(t, withTemplates)
	ctx := context.Background()
	e.image(t, "templated", "bb")
	e.launch(t, "c1", nil, false)
	dir := e.pool.Path(storage.Volume{Kind: storage.KindContainer, Name: "c1"})
	os.WriteFile(filepath.Join(dir, "templates", "trigger.tpl"), []byte("{% if %}"), 0o644)
	op, err := e.d.ChangeState(ctx, "c1", api.InstanceStatePut{Action: "start"})
	if err != nil {
		t.Fatal(err)
	}
	if o := e.wait(t, op); o.StatusCode == api.Success || !strings.Contains(o.Err, "template") {
		t.Fatalf("start with a broken template: %s %s", o.Status, o.Err)
	}
	if st, _ := e.drv.Status(ctx, "c1"); st == instances.StatusRunning {
		t.Error("started anyway")
	}
	if got := e.config(t, "c1")[templates.ApplyKey]; got != "create" {
		t.Errorf("pending trigger after a failed start: %q", got)
	}
}

// cloud-init runs again when what it was given changes: the instance-id
// is new after an edit of user-data, vendor-data or network-config (own
// or from a profile) or of the NIC names, and stays otherwise.
func TestCloudInitIDOnEdits(t *testing.T) {
	e := newDaemonEnv(t)
	ctx := context.Background()
	e.image(t, "busybox", "bb")
	e.launch(t, "c1", nil, false)
	id := func() string { return e.config(t, "c1")[instances.CloudInitIDKey] }
	cur := id()
	step := func(what string, change func(), want bool) {
		t.Helper()
		change()
		got := id()
		if (got != cur) != want {
			t.Errorf("%s: id %s -> %s, want a new one: %v", what, cur, got, want)
		}
		cur = got
	}
	patch := func(cfg map[string]string, devs map[string]map[string]string) func() {
		return func() {
			e.ok(t)(e.d.UpdateInstance(ctx, "c1", api.InstancePut{Config: cfg, Devices: devs}, Update{Patch: true}))
		}
	}
	step("user.role", patch(map[string]string{"user.role": "web"}, nil), false)
	step("cloud-init.user-data", patch(map[string]string{"cloud-init.user-data": "#cloud-config\n{}"}, nil), true)
	step("user.network-config", patch(map[string]string{"user.network-config": "version: 1"}, nil), true)
	step("user.meta-data", patch(map[string]string{"user.meta-data": "a: b"}, nil), false)
	step("a NIC", patch(nil, map[string]map[string]string{"eth1": {"type": "nic", "nictype": "bridged", "parent": "lo"}}), true)
	step("a profile's vendor-data", func() {
		if err := e.d.UpdateProfile(ctx, "default", api.ProfilePut{Config: map[string]string{"cloud-init.vendor-data": "#cloud-config\n{}"}}, Update{Patch: true}); err != nil {
			t.Fatal(err)
		}
	}, true)
	// A client cannot set it itself.
	if _, err := e.d.UpdateInstance(ctx, "c1", api.InstancePut{Config: map[string]string{instances.CloudInitIDKey: "mine"}}, Update{Patch: true}); err == nil {
		t.Error("a client set the instance-id")
	}
}
