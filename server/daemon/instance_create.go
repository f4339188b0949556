package daemon

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"lodge/api"
	"lodge/errdefs"
	"lodge/images/templates"
	"lodge/instances"
	"lodge/server/db"
	"lodge/server/operations"
	"lodge/storage"
	"lodge/trace"
)

func operationsSpec(desc, name string) operations.Spec {
	return operations.Spec{Description: desc, Resources: InstanceResources(name)}
}

// revert runs undo steps in reverse unless Success is called.
type revert struct{ undo []func() }

func (r *revert) add(f func()) { r.undo = append(r.undo, f) }

func (r *revert) success() { r.undo = nil }

func (r *revert) fail() {
	for i := len(r.undo) - 1; i >= 0; i-- {
		r.undo[i]()
	}
}

// rootPool is the pool of the root disk among devs, else def.
func rootPool(devs map[string]map[string]string, def string) string {
	for _, d := range devs {
		if d["type"] == "disk" && d["path"] == "/" && d["pool"] != "" {
			return d["pool"]
		}
	}
	return def
}

func randomMAC() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return fmt.Sprintf("00:16:3e:%02x:%02x:%02x", b[0], b[1], b[2])
}

// createInstance does the slow part of a create; any failure removes
// everything it made, including the row inserted by the handler.
func (d *Daemon) createInstance(ctx context.Context, op *operations.Op, row db.Instance, start bool) (err error) {
	endLock := trace.Step(ctx, "wait for the instance's lock")
	unlock := d.instLocks.lock(row.Name)
	endLock()
	locked := true
	defer func() {
		if locked {
			unlock()
		}
	}()
	rev := &revert{}
	defer func() {
		if err != nil {
			rev.fail()
			d.log.Warn("instance create failed, rolled back", "instance", row.Name, "err", err)
		}
	}()
	// Cleanup must run even if the operation's ctx was cancelled.
	bg := context.WithoutCancel(ctx)
	rev.add(func() { _ = d.db.DeleteInstance(bg, row.Name) })

	pool, err := d.instancePool(row)
	if err != nil {
		return err
	}
	if err := d.ensureImageVolume(ctx, op, pool, row.Pool, row.ImageFingerprint); err != nil {
		return err
	}
	vol := storage.Volume{Kind: storage.KindContainer, Name: row.Name}
	imgVol := storage.Volume{Kind: storage.KindImage, Name: row.ImageFingerprint}
	// Left by a crash of an earlier create of the same name; the row is ours now.
	if err := d.clearStale(ctx, row.Pool, pool, vol); err != nil {
		return err
	}
	op.SetMetadata("create_instance_from_image_unpack_progress", "Creating instance rootfs")
	if err := trace.Do(ctx, "pool: clone the image volume", func() error { return pool.Clone(ctx, imgVol, vol) }); err != nil {
		return fmt.Errorf("instance %q: create rootfs: %w", row.Name, err)
	}
	rev.add(func() { _ = pool.Delete(bg, vol) })
	if err := trace.Do(ctx, "pool: mount", func() error { return pool.Mount(ctx, vol) }); err != nil {
		return fmt.Errorf("instance %q: %w", row.Name, err)
	}
	if err := trace.Do(ctx, "image templates", func() error {
		return d.prepareTemplates(ctx, pool, vol, row.Name, row.ImageFingerprint, pool.Path(imgVol))
	}); err != nil {
		return err
	}
	if err := d.ensureRootfsMap(ctx, row); err != nil {
		return err
	}
	x, err := d.expand(ctx, row)
	if err != nil {
		return err
	}
	if err := d.defineCreated(ctx, rev, x); err != nil {
		return err
	}
	rev.success()
	d.syncInstanceHosts(ctx, nil, nicHosts(row, expandedDevices(x)))
	d.events.lifecycle("instance-created", InstanceURL(row.Name), nil)
	if start {
		unlock()
		locked = false
		return d.startNew(ctx, row.Name)
	}
	return nil
}

// startNew starts an instance a create just made (a launch: POST with
// start). If the start fails, the instance is removed again with all the
// create made (runtime config, rootfs, row, DHCP reservation), so that a
// launch that hits a limit leaves nothing half-made (issue 24). LXD keeps
// such an instance; a client that creates and then starts in two requests,
// as lxc launch does, still gets that.
func (d *Daemon) startNew(ctx context.Context, name string) error {
	err := d.startInstance(ctx, name)
	if err == nil {
		return nil
	}
	bg := context.WithoutCancel(ctx)
	if rerr := d.removeFailedStart(bg, name); rerr != nil {
		d.log.Warn("removing an instance whose launch failed", "instance", name, "err", rerr)
		return fmt.Errorf("%w\n(instance %q was created but could not be removed: %v; delete it with lodge delete -f %s)", err, name, rerr, name)
	}
	d.log.Info("instance removed after its launch failed to start", "instance", name, "err", err)
	return fmt.Errorf("%w\n(instance %q was removed: a launch that fails to start leaves nothing)", err, name)
}

// removeFailedStart removes an instance whose first start failed, stopping
// whatever of it still runs first.
func (d *Daemon) removeFailedStart(ctx context.Context, name string) error {
	unlock := d.instLocks.lock(name)
	defer unlock()
	in, err := d.db.GetInstance(ctx, name)
	if errors.Is(err, db.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if st := d.liveStatus(ctx, in); st == instances.StatusRunning || st == instances.StatusFrozen {
		if err := d.inst.Stop(ctx, name, 0, true); err != nil {
			return err
		}
		d.stopProxies(name)
	}
	if err := writeMarker(d.deleteMarker(name)); err != nil {
		return err
	}
	if err := d.removeInstance(ctx, in); err != nil {
		return err
	}
	d.events.lifecycle("instance-deleted", InstanceURL(name), nil)
	return nil
}

// ensureImageVolume unpacks an image into a pool once per fingerprint;
// every instance on that pool is then a clone of it. This is the one
// place an image volume is filled.
func (d *Daemon) ensureImageVolume(ctx context.Context, op *operations.Op, pool storage.Driver, poolName, fp string) error {
	defer trace.Step(ctx, "image volume in the pool (unpacked once)")()
	unlock := d.imageLocks.lock(fp)
	defer unlock()
	vol := storage.Volume{Kind: storage.KindImage, Name: fp}
	if pool.Exists(vol) {
		return nil
	}
	if err := trace.Do(ctx, "image files from another member", func() error { return d.imageFromMember(ctx, op, fp) }); err != nil {
		return err
	}
	op.SetMetadata("create_instance_from_image_unpack_progress", "Unpacking image")
	start := time.Now()
	err := pool.CreateImage(ctx, vol, func(dir string) error {
		if err := d.unpack(ctx, d.images.Path(fp), filepath.Join(dir, "rootfs")); err != nil {
			return err
		}
		// metadata.yaml and templates/ too, once, for the instances' templates.
		if d.extractMeta != nil {
			if err := d.extractMeta(ctx, d.images.Path(fp), dir); err != nil {
				return err
			}
		}
		return d.shiftImageVolume(filepath.Join(dir, "rootfs"))
	})
	if err != nil {
		return fmt.Errorf("image %s: unpack into pool %q: %w", short(fp), poolName, err)
	}
	d.log.Info("image unpacked into pool", "fingerprint", fp, "pool", poolName, "took", time.Since(start))
	return nil
}

func short(fp string) string {
	if len(fp) > 12 {
		return fp[:12]
	}
	return fp
}

// CreateInstance makes an instance from an image, or a copy of another
// instance or snapshot (source type copy). The row is inserted (phase
// creating) before it returns, so a duplicate name is refused at once;
// the operation unpacks, clones and defines, and a failure or a cancel
// removes all of it.
func (d *Daemon) CreateInstance(ctx context.Context, req api.InstancesPost) (*operations.Op, error) {
	if err := instances.ValidateName(req.Name); err != nil {
		return nil, err
	}
	switch req.Type {
	case "", "container":
	default:
		return nil, errdefs.Invalidf("instance type %q is not supported: lodge runs containers only", req.Type)
	}
	switch req.Source.Type {
	case "image":
	case "copy":
		return d.createCopy(ctx, req)
	case "", "none":
		return nil, errdefs.Invalidf("instance %q: source type %q: lodge needs an image to create an instance from", req.Name, req.Source.Type)
	default:
		return nil, errdefs.Invalidf("instance %q: source type %q is not supported yet (use image)", req.Name, req.Source.Type)
	}
	if req.Stateful {
		return nil, errdefs.Invalidf("instance %q: stateful instances are not supported (CRIU does not work on this host)", req.Name)
	}
	if err := instances.ValidateConfig(req.Config); err != nil {
		return nil, err
	}
	if req.Profiles == nil {
		req.Profiles = []string{"default"}
	}
	// The root disk's pool picks the instance's pool: the instance's own
	// root device (lodge launch -s POOL) over its profiles'.
	poolName := rootPool(d.mustExpand(ctx, db.Instance{Name: req.Name, Profiles: req.Profiles, Devices: req.Devices}).Devices, d.poolName)
	if _, err := d.pool(poolName); err != nil {
		return nil, errdefs.Invalidf("instance %q: storage pool %q not found or not available (see `lodge storage list`)", req.Name, poolName)
	}
	keepRootSize(req.Devices, poolName)
	if err := instances.ValidateDevices(req.Devices, nil); err != nil {
		return nil, err
	}
	if err := d.checkNewInstanceConfig(ctx, req); err != nil {
		return nil, err
	}
	if err := d.validateNICNetworks(ctx, req.Name, req.Devices, nil); err != nil {
		return nil, err
	}
	var img db.Image
	var remote *remoteImage // an image still to download from req.Source.Server
	var err error
	if req.Source.Server != "" {
		img, remote, err = d.resolveRemote(ctx, instanceRemoteRef(req.Source))
	} else {
		img, err = d.resolveImage(ctx, req.Source)
	}
	if err != nil {
		return nil, err
	}

	cfg := map[string]string{}
	for k, v := range img.Properties {
		cfg["image."+k] = v
	}
	for k, v := range req.Config {
		cfg[k] = v
	}
	cfg["volatile.base_image"] = img.Fingerprint
	cfg["volatile.uuid"] = uuid.NewString()
	newInstanceKeys(cfg, "", templates.Create)
	// Every NIC, the profiles' included, keeps its MAC in volatile, so its
	// DHCP lease and reservation follow it across restarts.
	for name, d := range d.mustExpand(ctx, db.Instance{Name: req.Name, Profiles: req.Profiles, Devices: req.Devices}).Devices {
		if d["type"] == "nic" && d["hwaddr"] == "" {
			cfg["volatile."+name+".hwaddr"] = randomMAC()
		}
	}
	arch := req.Architecture
	if arch == "" {
		arch = img.Architecture
	}
	row := db.Instance{
		Name: req.Name, Type: "container", Architecture: arch, ImageFingerprint: img.Fingerprint, Pool: poolName,
		Phase: db.PhaseCreating, Ephemeral: req.Ephemeral, Description: req.Description, Config: cfg,
		Devices: req.Devices, Profiles: req.Profiles, CreatedAt: time.Now().UTC(),
	}
	// The row is inserted before replying so a duplicate name is a 409 now,
	// not a failed operation later.
	d.idmapMu.Lock()
	defer d.idmapMu.Unlock()
	if err := d.checkNetworkRoom(ctx, row); err != nil {
		return nil, err
	}
	if err := d.allocateIsolated(ctx, row.Config, row.Profiles); err != nil {
		return nil, err
	}
	if _, err := d.db.CreateInstance(ctx, row); err != nil {
		if errors.Is(err, db.ErrExists) {
			err = errdefs.Existsf("instance %q already exists; pick another name or delete it first", req.Name)
		}
		return nil, err
	}
	spec := operationsSpec("Creating instance", req.Name)
	spec.Trace = trace.From(ctx)
	// Cancelling stops the unpack or copy under way and rolls the create back.
	spec.MayCancel = true
	op := d.ops.Start(spec, func(ctx context.Context, op *operations.Op) error {
		if remote != nil {
			if _, err := d.fetchImage(ctx, op, remote, true); err != nil {
				_ = d.db.DeleteInstance(context.WithoutCancel(ctx), row.Name)
				return fmt.Errorf("instance %q: %w", row.Name, err)
			}
		}
		// A use, for images.remote_cache_expiry.
		_ = d.db.TouchImage(ctx, row.ImageFingerprint, time.Now().UTC())
		return d.createInstance(ctx, op, row, req.Start)
	})
	return op, nil
}

// defineCreated writes x's runtime config and marks its row created: the
// last steps of a create, a copy and an import. rev deletes the runtime
// config if a step after it fails.
func (d *Daemon) defineCreated(ctx context.Context, rev *revert, x Expanded) error {
	spec, err := d.specFor(ctx, x)
	if err != nil {
		return err
	}
	if err := d.inst.Define(ctx, spec); err != nil {
		return fmt.Errorf("instance %q: %w", x.Name, err)
	}
	bg := context.WithoutCancel(ctx)
	rev.add(func() { _ = d.inst.Delete(bg, x.Name) })
	return trace.Do(ctx, "database: mark created", func() error { return d.db.SetInstancePhase(ctx, x.Name, db.PhaseCreated) })
}
