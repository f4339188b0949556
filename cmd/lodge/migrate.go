package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"strings"

	"golang.org/x/term"

	"lodge/api"
	"lodge/client"
	"lodge/client/cliconfig"
)

// Copies and moves between servers (lodge or LXD) through LXD's
// migration API: the source server's operation offers websockets, the
// target's connects to it (pull, the default), the source connects to
// the target's (push), or this client joins the two (relay), as Debian's
// lxc does.

// migrateOpts are copy's and move's choices for another server.
type migrateOpts struct {
	mode         string // pull, push, relay
	instanceOnly bool
	refresh      bool
	stateless    bool
	pool         string
	config       map[string]string
	profiles     []string
	noProfiles   bool
	move         bool
}

// peer is one side of a migration: its client and what the other side
// needs to reach it.
type peer struct {
	remote string
	c      *client.Client
	info   api.Server
	cert   string   // the certificate the other server pins
	urls   []string // https://HOST:PORT where it can be reached
}

func openPeer(ctx context.Context, cfg *cliconfig.Config, remote string) (*peer, error) {
	c, err := cfg.Connect(remote)
	if err != nil {
		return nil, err
	}
	info, err := c.GetServer(ctx)
	if err != nil {
		return nil, fmt.Errorf("remote %s: %w", remote, err)
	}
	p := &peer{remote: remote, c: c, info: info, cert: info.Environment.Certificate}
	// The remote's pinned certificate, as LXD's client sends it; a unix
	// remote's own (environment.certificate).
	if pinned, err := cfg.ServerCert(remote); err == nil && pinned != "" && c.URL() != "" {
		p.cert = pinned
	}
	if u := c.URL(); u != "" {
		p.urls = append(p.urls, u)
	}
	for _, a := range info.Environment.Addresses {
		if u := "https://" + a; !strings.HasPrefix(a, ":") && !contains(p.urls, u) {
			p.urls = append(p.urls, u)
		}
	}
	return p, nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func (p *peer) has(ext string) bool { return contains(p.info.APIExtensions, ext) }

// notListening is LXD's refusal when a server has no network address.
func (p *peer) notListening() error {
	return fmt.Errorf("the server of remote %s isn't listening on the network: set core.https_address there (lodge config set %s: core.https_address :8443), or use --mode relay", p.remote, p.remote)
}

// migrationBody is the target's POST /1.0/instances: the source's
// writable fields (a copy drops volatile.* but the base image; a move
// and a refresh keep them, not last_state.power), with -c, -p and -s.
func migrationBody(name string, put api.InstancePut, o migrateOpts) api.InstancesPost {
	cfg := map[string]string{}
	for k, v := range put.Config {
		keep := !strings.HasPrefix(k, "volatile.") || k == "volatile.base_image" || (o.move || o.refresh) && k != "volatile.last_state.power"
		if keep {
			cfg[k] = v
		}
	}
	maps.Copy(cfg, o.config)
	devices := map[string]map[string]string{}
	for k, v := range put.Devices {
		devices[k] = v
	}
	if o.pool != "" {
		root := map[string]string{"type": "disk", "path": "/"}
		for k, v := range devices["root"] {
			root[k] = v
		}
		root["pool"] = o.pool
		devices["root"] = root
	}
	profiles := put.Profiles
	if len(o.profiles) > 0 || o.noProfiles {
		profiles = o.profiles
	}
	if profiles == nil {
		profiles = []string{}
	}
	return api.InstancesPost{
		Name: name, Type: "container",
		InstancePut: api.InstancePut{Architecture: put.Architecture, Config: cfg, Devices: devices, Ephemeral: put.Ephemeral,
			Profiles: profiles, Description: put.Description},
		Source: api.InstanceSource{Type: "migration", BaseImage: put.Config["volatile.base_image"],
			InstanceOnly: o.instanceOnly, ContainerOnly: o.instanceOnly, Refresh: o.refresh},
	}
}

// copyBetween copies (or moves) from's instance or snapshot to another
// server as to.
func copyBetween(ctx context.Context, w io.Writer, from, to cliconfig.Ref, o migrateOpts) error {
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	src, err := openPeer(ctx, cfg, from.Remote)
	if err != nil {
		return err
	}
	dst, err := openPeer(ctx, cfg, to.Remote)
	if err != nil {
		return err
	}
	inst, snap, isSnap := strings.Cut(from.Name, "/")
	name := to.Name
	if name == "" {
		if isSnap {
			return fmt.Errorf("give the copy of a snapshot a name: %s:NAME", to.Remote)
		}
		name = inst
	}
	if isSnap && o.move {
		return fmt.Errorf("a snapshot cannot be moved; copy it (lodge copy %s %s:%s)", from, to.Remote, name)
	}
	switch o.mode {
	case "", "pull":
		o.mode = "pull"
	case "push", "relay":
		for _, p := range []*peer{src, dst} {
			if !p.has("container_push") {
				return fmt.Errorf("remote %s does not support --mode %s (API extension container_push)", p.remote, o.mode)
			}
		}
		if o.mode == "push" && !src.has("container_push_target") {
			return fmt.Errorf("remote %s cannot push to another server (API extension container_push_target)", src.remote)
		}
	default:
		return fmt.Errorf("--mode %q: use pull, push or relay", o.mode)
	}
	if o.instanceOnly && (!src.has("container_only_migration") || !dst.has("container_only_migration")) {
		return errors.New("--instance-only needs the API extension container_only_migration on both servers")
	}
	if o.refresh && (!src.has("container_incremental_copy") || !dst.has("container_incremental_copy")) {
		return errors.New("--refresh needs the API extension container_incremental_copy on both servers")
	}
	// The source's writable fields, and whether it runs.
	var put api.InstancePut
	running := false
	if isSnap {
		sn, err := src.c.GetSnapshot(ctx, inst, snap)
		if err != nil {
			return err
		}
		put = api.InstancePut{Architecture: sn.Architecture, Config: sn.Config, Devices: sn.Devices, Ephemeral: sn.Ephemeral, Profiles: sn.Profiles}
	} else {
		full, err := src.c.GetInstanceFull(ctx, inst)
		if err != nil {
			return err
		}
		put = full.InstancePut
		running = full.StatusCode == api.Running || full.StatusCode == api.Frozen
	}
	if o.refresh {
		// A refresh of a copy that is not there is a plain copy.
		if _, _, err := dst.c.GetInstance(ctx, name); client.IsNotFound(err) {
			o.refresh = false
		} else if err != nil {
			return err
		}
		o.stateless = true
	}
	if o.move && running && !o.stateless {
		return fmt.Errorf("instance %s is running: lodge cannot move a running instance's memory (no CRIU); add --stateless to stop it, move it and start it on %s, or stop it first", inst, to.Remote)
	}
	// A stateless move of a running instance: stopped, moved, started on
	// the target (and started again here if the transfer fails).
	stopped := false
	if o.move && running {
		if err := setState(ctx, src.c, inst, api.InstanceStatePut{Action: "stop", Timeout: 30}); err != nil {
			return fmt.Errorf("stop %s before moving it: %w", inst, err)
		}
		stopped, running = true, false
	}
	body := migrationBody(name, put, o)
	live := running && !o.stateless
	srcReq := api.InstancePost{Live: &live, InstanceOnly: o.instanceOnly, ContainerOnly: o.instanceOnly}
	startSource := func(target *api.InstancePostTarget) (*client.Operation, error) {
		if isSnap {
			return src.c.MigrateSnapshot(ctx, inst, snap, api.InstanceSnapshotPost{Target: target})
		}
		r := srcReq
		r.Target = target
		return src.c.MigrateInstance(ctx, inst, r)
	}
	show := progressTo(w)
	switch o.mode {
	case "pull":
		err = migratePull(ctx, src, dst, body, startSource, show)
	case "push":
		err = migratePush(ctx, src, dst, body, startSource, show)
	case "relay":
		err = migrateRelay(ctx, src, dst, body, startSource, show)
	}
	if err != nil {
		if stopped {
			if serr := setState(context.WithoutCancel(ctx), src.c, inst, api.InstanceStatePut{Action: "start", Timeout: -1}); serr != nil {
				return fmt.Errorf("%w (and %s, stopped for the move, did not start again: %v)", err, inst, serr)
			}
		}
		return err
	}
	if o.refresh {
		if err := refreshConfig(ctx, dst.c, name, put, o); err != nil {
			return err
		}
	}
	if !o.move {
		return nil
	}
	if err := deleteForce(ctx, src.c, inst, running); err != nil {
		return fmt.Errorf("copied, but could not delete the original instance (delete it yourself once you checked the copy): %w", err)
	}
	if stopped {
		if err := setState(ctx, dst.c, name, api.InstanceStatePut{Action: "start", Timeout: -1}); err != nil {
			return fmt.Errorf("moved %s to %s:, but it did not start there: %w", inst, to.Remote, err)
		}
	}
	return nil
}

// setState starts or stops an instance and waits for it.
func setState(ctx context.Context, c *client.Client, name string, req api.InstanceStatePut) error {
	op, err := c.UpdateInstanceState(ctx, name, req)
	if err != nil {
		return err
	}
	return op.Wait(ctx)
}

// migratePull: the target connects to the source's operation, tried at each of
// the source's addresses until one can be reached.
func migratePull(ctx context.Context, src, dst *peer, body api.InstancesPost, startSource func(*api.InstancePostTarget) (*client.Operation, error), show *progressLine) error {
	if len(src.urls) == 0 {
		return src.notListening()
	}
	srcOp, err := startSource(nil)
	if err != nil {
		return err
	}
	body.Source.Mode, body.Source.Certificate, body.Source.Websockets = "pull", src.cert, srcOp.Secrets()
	var last error
	for _, u := range src.urls {
		body.Source.Operation = u + "/1.0/operations/" + srcOp.Op.ID
		dstOp, err := dst.c.CreateInstance(ctx, body)
		if err != nil {
			last = err
			break
		}
		last = show.wait(ctx, dstOp)
		if last == nil || !client.IsConnectError(last) {
			break
		}
	}
	if last != nil {
		_ = srcOp.Cancel(context.WithoutCancel(ctx))
		return fmt.Errorf("the copy failed on the target: %w", last)
	}
	return srcOp.Wait(ctx)
}

// migratePush: the source connects to the target's operation.
func migratePush(ctx context.Context, src, dst *peer, body api.InstancesPost, startSource func(*api.InstancePostTarget) (*client.Operation, error), show *progressLine) error {
	if len(dst.urls) == 0 {
		return dst.notListening()
	}
	body.Source.Mode = "push"
	dstOp, err := dst.c.CreateInstance(ctx, body)
	if err != nil {
		return err
	}
	var srcOp *client.Operation
	for _, u := range dst.urls {
		srcOp, err = startSource(&api.InstancePostTarget{Certificate: dst.cert, Operation: u + "/1.0/operations/" + dstOp.Op.ID, Websockets: dstOp.Secrets()})
		if err == nil || !client.IsConnectError(err) {
			break
		}
	}
	if err == nil {
		err = show.wait(ctx, srcOp)
	}
	if err != nil {
		_ = dstOp.Cancel(context.WithoutCancel(ctx))
		_ = dstOp.Wait(ctx)
		return fmt.Errorf("the migration failed on the source: %w", err)
	}
	return dstOp.Wait(ctx)
}

// migrateRelay: this client joins the source's operation to the target's.
func migrateRelay(ctx context.Context, src, dst *peer, body api.InstancesPost, startSource func(*api.InstancePostTarget) (*client.Operation, error), show *progressLine) error {
	srcOp, err := startSource(nil)
	if err != nil {
		return err
	}
	body.Source.Mode = "push"
	dstOp, err := dst.c.CreateInstance(ctx, body)
	if err != nil {
		_ = srcOp.Cancel(context.WithoutCancel(ctx))
		return err
	}
	stop, err := client.RelayMigration(ctx, src.c, srcOp, dst.c, dstOp)
	if err != nil {
		_ = srcOp.Cancel(context.WithoutCancel(ctx))
		_ = dstOp.Cancel(context.WithoutCancel(ctx))
		return err
	}
	defer stop()
	err = show.wait(ctx, dstOp)
	if err != nil {
		_ = srcOp.Cancel(context.WithoutCancel(ctx))
		return fmt.Errorf("the copy failed on the target: %w", err)
	}
	return srcOp.Wait(ctx)
}

// refreshConfig gives a refreshed copy the source's config, keeping the
// target's own volatile keys (its id map, its MACs), as lxc does.
func refreshConfig(ctx context.Context, c *client.Client, name string, put api.InstancePut, o migrateOpts) error {
	cur, etag, err := c.GetInstance(ctx, name)
	if err != nil {
		return err
	}
	next := migrationBody(name, put, migrateOpts{config: o.config, pool: o.pool, profiles: o.profiles, noProfiles: o.noProfiles}).InstancePut
	for k, v := range cur.Config {
		if strings.HasPrefix(k, "volatile.") {
			next.Config[k] = v
		}
	}
	for k := range next.Config {
		if _, ok := cur.Config[k]; strings.HasPrefix(k, "volatile.") && !ok {
			delete(next.Config, k)
		}
	}
	op, err := c.UpdateInstance(ctx, name, next, etag)
	if err != nil {
		return fmt.Errorf("refreshed %s, but could not give it the source's config: %w", name, err)
	}
	return op.Wait(ctx)
}

// deleteForce deletes a moved instance, stopping it first if it runs.
func deleteForce(ctx context.Context, c *client.Client, name string, running bool) error {
	if running {
		op, err := c.UpdateInstanceState(ctx, name, api.InstanceStatePut{Action: "stop", Force: true, Timeout: -1})
		if err != nil {
			return err
		}
		if err := op.Wait(ctx); err != nil {
			return err
		}
	}
	op, err := c.DeleteInstance(ctx, name)
	if err != nil {
		return err
	}
	return op.Wait(ctx)
}

// progressLine shows a migration's fs_progress on a terminal:
// "Transferring instance: c1: 12.35MB (3.09MB/s)". A nil one shows
// nothing (output that is not a terminal).
type progressLine struct {
	w     io.Writer
	drawn bool
}

func progressTo(w io.Writer) *progressLine {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return &progressLine{w: w}
}

func (p *progressLine) show(op api.Operation) {
	if s, _ := op.Metadata["fs_progress"].(string); s != "" {
		fmt.Fprintf(p.w, "\r\033[KTransferring instance: %s", s)
		p.drawn = true
	}
}

// wait waits for op, showing its progress.
func (p *progressLine) wait(ctx context.Context, op *client.Operation) error {
	if p == nil {
		return op.Wait(ctx)
	}
	err := op.WaitProgress(ctx, p.show)
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
	return err
}
