package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"lodge/api"
	"lodge/errdefs"
	"lodge/instances"
	"lodge/server/db"
	"lodge/server/operations"
	"lodge/storage"
)

type opT = operations.Op

func operationsSpec(desc, name string) operations.Spec {
	return operations.Spec{Description: desc, Resources: instanceResources(name)}
}

// revert runs undo steps in reverse unless Success is called.
type revert struct{ undo []func() }

func (r *revert) add(f func()) { r.undo = append(r.undo, f) }
func (r *revert) success()     { r.undo = nil }
func (r *revert) fail() {
	for i := len(r.undo) - 1; i >= 0; i-- {
		r.undo[i]()
	}
}

func (s *Server) handleInstancesPost(w http.ResponseWriter, r *http.Request) {
	var req api.InstancesPost
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if err := instances.ValidateName(req.Name); err != nil {
		writeError(w, err)
		return
	}
	switch req.Type {
	case "", "container":
	default:
		writeError(w, errdefs.Invalidf("instance type %q is not supported: lodge runs containers only", req.Type))
		return
	}
	switch req.Source.Type {
	case "image":
	case "copy":
		s.handleInstanceCopy(w, r, req)
		return
	case "", "none":
		writeError(w, errdefs.Invalidf("instance %q: source type %q: lodge needs an image to create an instance from", req.Name, req.Source.Type))
		return
	default:
		writeError(w, errdefs.Invalidf("instance %q: source type %q is not supported yet (use image)", req.Name, req.Source.Type))
		return
	}
	if req.Stateful {
		writeError(w, errdefs.Invalidf("instance %q: stateful instances are not supported (CRIU does not work on this host)", req.Name))
		return
	}
	if err := validateConfig(req.Config); err != nil {
		writeError(w, err)
		return
	}
	if req.Profiles == nil {
		req.Profiles = []string{"default"}
	}
	// The root disk's pool picks the instance's pool: the instance's own
	// root device (lodge launch -s POOL) over its profiles'.
	poolName := rootPool(s.d.mustExpand(r.Context(), db.Instance{Name: req.Name, Profiles: req.Profiles, Devices: req.Devices}).Devices, s.d.poolName)
	if _, err := s.d.pool(poolName); err != nil {
		writeError(w, errdefs.Invalidf("instance %q: storage pool %q not found or not available (see `lodge storage list`)", req.Name, poolName))
		return
	}
	keepRootSize(req.Devices, poolName)
	if err := validateDevices(req.Devices, nil); err != nil {
		writeError(w, err)
		return
	}
	if err := s.d.checkNewInstanceConfig(r.Context(), req); err != nil {
		writeError(w, err)
		return
	}
	if err := s.d.validateNICNetworks(r.Context(), req.Name, req.Devices, nil); err != nil {
		writeError(w, err)
		return
	}
	var img db.Image
	var remote *remoteImage // an image still to download from req.Source.Server
	var err error
	if req.Source.Server != "" {
		img, remote, err = s.d.resolveRemote(r.Context(), instanceRemoteRef(req.Source))
	} else {
		img, err = s.d.resolveImage(r.Context(), req.Source)
	}
	if err != nil {
		writeError(w, err)
		return
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
	// Every NIC, the profiles' included, keeps its MAC in volatile, so its
	// DHCP lease and reservation follow it across restarts.
	for name, d := range s.d.mustExpand(r.Context(), db.Instance{Name: req.Name, Profiles: req.Profiles, Devices: req.Devices}).Devices {
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
	s.d.idmapMu.Lock()
	defer s.d.idmapMu.Unlock()
	if err := s.d.allocateIsolated(r.Context(), row.Config, row.Profiles); err != nil {
		writeError(w, err)
		return
	}
	if _, err := s.d.db.CreateInstance(r.Context(), row); err != nil {
		if errors.Is(err, db.ErrExists) {
			err = errdefs.Existsf("instance %q already exists; pick another name or delete it first", req.Name)
		}
		writeError(w, err)
		return
	}
	spec := operationsSpec("Creating instance", req.Name)
	// Cancelling stops the unpack or copy under way and rolls the create back.
	spec.MayCancel = true
	op := s.d.ops.Start(spec, func(ctx context.Context, op *opT) error {
		if remote != nil {
			if _, err := s.d.fetchImage(ctx, op, remote, true); err != nil {
				_ = s.d.db.DeleteInstance(context.WithoutCancel(ctx), row.Name)
				return fmt.Errorf("instance %q: %w", row.Name, err)
			}
		}
		// A use, for images.remote_cache_expiry.
		_ = s.d.db.TouchImage(ctx, row.ImageFingerprint, time.Now().UTC())
		return s.d.createInstance(ctx, op, row, req.Start)
	})
	writeAsync(w, op)
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
func (d *Daemon) createInstance(ctx context.Context, op *opT, row db.Instance, start bool) (err error) {
	unlock := d.instLocks.lock(row.Name)
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
	if err := pool.Clone(ctx, imgVol, vol); err != nil {
		return fmt.Errorf("instance %q: create rootfs: %w", row.Name, err)
	}
	rev.add(func() { _ = pool.Delete(bg, vol) })
	if err := pool.Mount(ctx, vol); err != nil {
		return fmt.Errorf("instance %q: %w", row.Name, err)
	}
	if err := setHostname(filepath.Join(pool.Path(vol), "rootfs"), row.Name); err != nil {
		return fmt.Errorf("instance %q: set hostname: %w", row.Name, err)
	}
	if err := d.ensureRootfsMap(row); err != nil {
		return err
	}
	x, err := d.expand(ctx, row)
	if err != nil {
		return err
	}
	spec, err := d.specFor(x)
	if err != nil {
		return err
	}
	if err := d.inst.Define(ctx, spec); err != nil {
		return fmt.Errorf("instance %q: %w", row.Name, err)
	}
	rev.add(func() { _ = d.inst.Delete(bg, row.Name) })
	if err := d.db.SetInstancePhase(ctx, row.Name, db.PhaseCreated); err != nil {
		return err
	}
	rev.success()
	d.syncNetworkHosts(ctx)
	d.events.lifecycle("instance-created", instanceURL(row.Name), nil)
	if start {
		unlock()
		locked = false
		return d.startInstance(ctx, row.Name)
	}
	return nil
}

// ensureImageVolume unpacks an image into a pool once per fingerprint;
// every instance on that pool is then a clone of it. This is the one
// place an image volume is filled.
func (d *Daemon) ensureImageVolume(ctx context.Context, op *opT, pool storage.Driver, poolName, fp string) error {
	unlock := d.imageLocks.lock(fp)
	defer unlock()
	vol := storage.Volume{Kind: storage.KindImage, Name: fp}
	if pool.Exists(vol) {
		return nil
	}
	op.SetMetadata("create_instance_from_image_unpack_progress", "Unpacking image")
	start := time.Now()
	err := pool.CreateImage(ctx, vol, func(dir string) error {
		if err := d.unpack(ctx, d.images.Path(fp), filepath.Join(dir, "rootfs")); err != nil {
			return err
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

// specFor builds the runtime spec of an instance from its row.
// in must be expanded (s.expand).
func (d *Daemon) specFor(in db.Instance) (instances.Spec, error) {
	// Mounted here, before every start (an overlay volume after a reboot).
	rootfs, err := d.instanceRootfs(context.Background(), in)
	if err != nil {
		return instances.Spec{}, err
	}
	spec := instances.Spec{Name: in.Name, Rootfs: rootfs, Init: detectInit(rootfs), Config: in.Config}
	m, err := d.instanceMap(in)
	if err != nil {
		return spec, err
	}
	spec.IDMap = idmapEntries(m)
	devs := d.expandedDevices(in)
	names := make([]string, 0, len(devs))
	for n := range devs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		dev := devs[n]
		if dev["type"] != "nic" {
			continue
		}
		nic := instances.NIC{Name: dev["name"], Link: dev["parent"], HWAddr: dev["hwaddr"], HostName: dev["host_name"]}
		if dev["network"] != "" {
			if err := d.managedNIC(&nic, in.Name, n, dev); err != nil {
				return spec, err
			}
		}
		if nic.Name == "" {
			nic.Name = n
		}
		if nic.HWAddr == "" {
			nic.HWAddr = in.Config["volatile."+n+".hwaddr"]
		}
		switch dev["nictype"] {
		case "bridged":
			nic.Type = "veth"
		case "macvlan":
			nic.Type = "macvlan"
		}
		if dev["mtu"] != "" {
			fmt.Sscan(dev["mtu"], &nic.MTU)
		}
		spec.NICs = append(spec.NICs, nic)
	}
	if err := d.applyRootQuota(context.Background(), in); err != nil {
		return instances.Spec{}, err
	}
	if spec.Mounts, err = d.diskMounts(in); err != nil {
		return instances.Spec{}, fmt.Errorf("instance %q: %w", in.Name, err)
	}
	return spec, nil
}

// detectInit tells systemd from busybox by what the image's /sbin/init is,
// which decides the signal that shuts it down cleanly.
func detectInit(rootfs string) string {
	target, err := os.Readlink(filepath.Join(rootfs, "sbin", "init"))
	if err != nil {
		return ""
	}
	switch {
	case strings.Contains(target, "systemd"):
		return "systemd"
	case strings.Contains(target, "busybox"):
		return "busybox"
	}
	return ""
}

// setHostname writes the instance name into the new rootfs's /etc/hostname
// and /etc/hosts, as LXD's templates do, so that an init that sets the
// hostname from /etc/hostname (systemd) agrees with the container's name.
// Symlinks are not followed: the rootfs came from an image we do not trust.
func setHostname(rootfs, name string) error {
	etc := filepath.Join(rootfs, "etc")
	if fi, err := os.Lstat(etc); err != nil || !fi.IsDir() {
		return nil
	}
	write := func(file string, edit func(old string) string) error {
		p := filepath.Join(etc, file)
		fi, err := os.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		old, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(p, []byte(edit(string(old))), fi.Mode().Perm())
	}
	if err := write("hostname", func(string) string { return name + "\n" }); err != nil {
		return err
	}
	return write("hosts", func(old string) string {
		lines := strings.Split(old, "\n")
		for i, l := range lines {
			if strings.HasPrefix(l, "127.0.1.1") {
				lines[i] = "127.0.1.1\t" + name
			}
		}
		return strings.Join(lines, "\n")
	})
}
