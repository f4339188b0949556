// Package daemon is what lodged does, whatever the transport: instance
// lifecycle (create, copy, move, delete, snapshots, exec), images and
// their download from remotes, storage pools and volumes, networks,
// profiles, the trust store, crash recovery and the background loops
// (autostart, scheduled snapshots, image refresh and expiry). It combines
// the domain packages (instances, images, storage, network, remotes) over
// the database (server/db) and runs long work as operations
// (server/operations).
//
// It never imports net/http or websockets (test/arch): the HTTP layer
// (package server) decodes requests into calls here and renders what they
// return. Errors are errdefs kinds (not found, invalid, conflict...), never
// statuses. Calls take a ctx and pass it down; work that must outlive the
// request that asked for it (an operation, a rollback) says so where it
// detaches from it.
package daemon

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"lodge/api"
	"lodge/idmap"
	"lodge/images"
	"lodge/instances"
	"lodge/network"
	"lodge/remotes"
	"lodge/server/db"
	"lodge/server/operations"
	"lodge/storage"
	"lodge/storage/pools"
)

// Daemon is what lodged does, whatever the transport.
type Daemon struct {
	cfg      Config
	log      *slog.Logger
	db       *db.DB
	inst     instances.Driver
	images   ImageStore
	unpack   func(ctx context.Context, imagePath, dst string) error
	pools    poolSet
	poolMgr  PoolManager
	poolName string // the default profile's root disk pool
	idRanges *idmap.Ranges
	// idmapMu serialises isolated range allocation and the network-room
	// check (checkNetworkRoom) with the row insert.
	idmapMu sync.Mutex
	// poolsMu serialises pool creation and deletion.
	poolsMu sync.Mutex
	// clusterEntMu serialises this member's cluster-wide creates and
	// deletes of pools and networks. It is held while the other members
	// are asked, so it stands in for poolsMu and nets.mu there: a member
	// asked takes its own, and two members each holding theirs while
	// asking the other would wait on each other for good.
	clusterEntMu sync.Mutex

	ops    *operations.Registry
	events *eventHub
	ctx    context.Context
	cancel context.CancelFunc

	instLocks  keyedMutex
	imageLocks keyedMutex
	nets       netState
	// rm holds image remotes and downloads in flight (remote_images.go).
	rm remoteState
	// cert is the daemon's certificate (d_cert.go).
	cert certState
	// https is the HTTPS listener the transport runs (nil: none).
	https HTTPSListener
	// cl is the cluster side (cluster.go).
	cl clusterState

	shutdownOnce sync.Once
	// stopAll is set when a client asked lodged to stop its instances and exit.
	stopAll chan struct{}
	// stoppedAll: StopInstances stopped every instance.
	stoppedAll bool
	started    time.Time

	// extractMeta keeps an image's metadata.yaml and templates/ for its
	// instances (nil: image templates are not used).
	extractMeta func(ctx context.Context, imagePath, dst string) error
	// guest is the guest API's sockets and events (nil: none; devlxd.go).
	guest GuestAPI
}

// New builds a daemon; Start brings it up.
func New(cfg Config, deps Deps) *Daemon {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if deps.PoolName == "" {
		deps.PoolName = "default"
	}
	// The daemon's own context: operations and background work outlive
	// the requests that start them, until Close.
	ctx, cancel := context.WithCancel(context.Background())
	d := &Daemon{
		cfg: cfg, log: cfg.Logger, db: deps.DB, inst: deps.Instances, images: deps.Images, unpack: deps.Unpack,
		poolMgr: deps.Pools, poolName: deps.PoolName, idRanges: deps.IDRanges, ctx: ctx, cancel: cancel,
		stopAll: make(chan struct{}), started: time.Now(), https: deps.HTTPS,
		extractMeta: deps.ExtractMetadata, guest: deps.GuestAPI,
	}
	d.events = newEventHub(func() string {
		if d.db == nil {
			return "none"
		}
		return d.db.Location()
	})
	d.rm.httpOpts = deps.RemoteHTTP
	d.cl.transport = deps.Cluster
	if d.poolMgr == nil {
		d.poolMgr = pools.Manager{StateDir: cfg.Dir}
	}
	if deps.Pool != nil {
		d.pools.set(deps.PoolName, deps.Pool)
	}
	d.nets.drv, d.nets.defaultName, d.nets.proxyHelper = deps.Networks, deps.DefaultNetwork, deps.ProxyHelper
	if d.nets.defaultName == "" {
		d.nets.defaultName = DefaultNetworkName
	}
	d.ops = operations.NewRegistry(ctx, func(o api.Operation) { d.events.send("operation", o) })
	if d.db != nil {
		d.ops.SetStore(&opStore{db: d.db, log: d.log})
	}
	return d
}

// Start opens the pools (making the default one at the first start),
// recovers what a crash left (Recover) and brings the networks up. Call
// it before serving.
func (d *Daemon) Start(ctx context.Context) error {
	if err := d.initPools(ctx); err != nil {
		return err
	}
	v := d.recover(ctx)
	d.startNetworks(ctx, v)
	d.startGuestAPI(ctx, v)
	return nil
}

// StartBackground starts the background work: image cache expiry and
// auto-update, autostart, scheduled snapshots, backup expiry; it runs
// until Close.
func (d *Daemon) StartBackground() {
	d.startClusterLoop()
	go d.imageTasks(d.ctx)
	go d.autostart(d.ctx)
	go d.snapshotScheduler(d.ctx)
	go d.backupTasks(d.ctx)
}

// ShutdownRequested is closed when a client asked lodged to stop its
// instances and exit (ShutdownInstances).
func (d *Daemon) ShutdownRequested() <-chan struct{} { return d.stopAll }

// StopInstances stops every instance for a shutdown (stopAllInstances).
func (d *Daemon) StopInstances(ctx context.Context) {
	d.stopAllInstances(ctx)
	d.stoppedAll = true
}

// WaitOperations waits for the operations under way to end.
func (d *Daemon) WaitOperations() { d.ops.Wait() }

// Close stops the background work and the operations' context; the
// networks (dnsmasq) keep serving, for the next lodged to adopt.
func (d *Daemon) Close() {
	if d.nets.drv != nil {
		d.nets.drv.Close()
	}
	d.cancel()
}

// ImageStore is what the server needs from the content-addressed image
// store (images.Store): unified images (one tarball at Path) and split
// ones (a metadata tarball at Path and a rootfs at RootfsPath).
type ImageStore interface {
	Import(ctx context.Context, r io.Reader, expectedFingerprint string) (images.Info, error)
	ImportSplit(ctx context.Context, meta, rootfs io.Reader, expectedFingerprint string) (images.Info, error)
	Path(fp string) string
	IsSplit(fp string) bool
	RootfsPath(fp string) string
	Delete(fp string) error
	// List is the fingerprints of the images stored.
	List() ([]string, error)
}

// Config is the daemon's static configuration.
type Config struct {
	Dir     string // state directory
	Version string
	// DriverVersion is liblxc's version, shown in GET /1.0.
	DriverVersion string
	Logger        *slog.Logger
}

// Deps are the concrete drivers, wired by cmd/lodged (and by tests).
type Deps struct {
	DB        *db.DB
	Instances instances.Driver
	Images    ImageStore
	// Unpack extracts an image file's rootfs into dst.
	Unpack func(ctx context.Context, imagePath, dst string) error
	// Pool, if set, is an already open pool registered as PoolName (tests).
	Pool     storage.Driver
	PoolName string
	// IDRanges is root's subordinate id range; nil runs every container
	// privileged (tests without /etc/subuid).
	IDRanges *idmap.Ranges
	// Pools opens the recorded pools; nil means storage/pools under Dir.
	Pools PoolManager
	// Networks manages bridges, dnsmasq and NAT; nil disables managed networks.
	Networks network.Driver
	// DefaultNetwork is the network made at first start: "" is lodgebr0, "none" makes none.
	DefaultNetwork string
	// ProxyHelper is the binary run as "forkproxy" for proxy devices (lodged itself).
	ProxyHelper string
	// RemoteHTTP are the network limits of image downloads (tests shorten them).
	RemoteHTTP remotes.HTTPOptions
	// HTTPS is the transport's HTTPS listener, which core.https_address
	// moves (the server sets itself); nil: no HTTPS API.
	HTTPS HTTPSListener

	// ExtractMetadata writes an image file's metadata.yaml and templates/
	// into dst (images.ExtractMetadata), which instances keep for their
	// image's templates; nil: image templates are not used.
	ExtractMetadata func(ctx context.Context, imagePath, dst string) error
	// GuestAPI serves /dev/lxd/sock in the instances (the server's
	// devlxd); nil: no guest API.
	GuestAPI GuestAPI
	// Cluster is the transport between cluster members (the server sets
	// itself); nil: no clustering.
	Cluster ClusterTransport
}

// keyedMutex serialises work per key (instance name, image fingerprint).
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedEntry{}
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
