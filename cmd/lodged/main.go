// Command lodged is lodge's daemon: it wires the concrete drivers into the
// server and serves the LXD 1.0 API on DIR/unix.socket.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"lodge/cmd/internal/manpage"
	"lodge/files"
	"lodge/hostlimits"
	"lodge/idmap"
	"lodge/images"
	"lodge/instances"
	"lodge/instances/lxc"
	"lodge/network"
	"lodge/network/bridge"
	"lodge/network/proxy"
	"lodge/server"
	"lodge/server/daemon"
	"lodge/server/db"
	"lodge/storage/pools"
	"lodge/trace"
	lodgeversion "lodge/version"
)

var version = lodgeversion.String()

func main() {
	// liblxc's start and attach run in a fresh re-exec of this binary.
	if handled, code := lxc.HelperMain(os.Args[1:]); handled {
		os.Exit(code)
	}
	if handled, code := files.SFTPHelperMain(os.Args[1:]); handled {
		os.Exit(code)
	}
	if handled, code := proxy.HelperMain(os.Args[1:]); handled {
		os.Exit(code)
	}
	if err := rootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

func defaultDir() string {
	if d := os.Getenv("LODGE_DIR"); d != "" {
		return d
	}
	return "/var/lib/lodge"
}

func rootCmd() *cobra.Command {
	var stateDir, group, netName string
	var debug bool
	root := &cobra.Command{
		Use:           "lodged",
		Short:         "lodge's system-container daemon",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return serve(stateDir, group, netName, debug)
		},
	}
	root.PersistentFlags().StringVar(&stateDir, "dir", defaultDir(), "state directory (env LODGE_DIR)")
	root.Flags().StringVar(&group, "group", "", "group that may use the unix socket (mode 0660)")
	root.Flags().BoolVar(&debug, "debug", false, "log at debug level, with the steps of every request timed (as LODGE_TRACE=1)")
	root.Flags().StringVar(&netName, "network-name", os.Getenv("LODGE_DEFAULT_NETWORK"),
		"name of the managed bridge made at the first start, \"none\" for none (env LODGE_DEFAULT_NETWORK; default lodgebr0, or the next free name)")

	var timeout int
	waitready := &cobra.Command{
		Use:   "waitready",
		Short: "Wait until lodged answers on its socket",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return waitReady(stateDir, time.Duration(timeout)*time.Second)
		},
	}
	waitready.Flags().IntVar(&timeout, "timeout", 30, "seconds to wait")
	shutdown := &cobra.Command{
		Use:   "shutdown",
		Short: "Stop all instances cleanly, then stop lodged",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return shutdownDaemon(stateDir, time.Duration(timeout)*time.Second)
		},
	}
	shutdown.Flags().IntVar(&timeout, "timeout", 600, "seconds to wait for lodged to exit")
	root.AddCommand(waitready, shutdown, initCmd(&stateDir), manpage.Command(root, version))
	return root
}

func serve(stateDir, group, netName string, debug bool) error {
	// Taken first: helpers started below must not inherit NOTIFY_SOCKET.
	notify := newNotifier()
	if os.Geteuid() != 0 {
		return fmt.Errorf("lodged must run as root (it creates containers, mounts and cgroups)")
	}
	if netName != "" && netName != "none" {
		if err := network.ValidateName(netName); err != nil {
			return fmt.Errorf("--network-name: %w", err)
		}
	}
	stateDir, err := filepath.Abs(stateDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(stateDir, 0o711); err != nil {
		return fmt.Errorf("state directory %s: %w", stateDir, err)
	}
	logFile, err := os.OpenFile(filepath.Join(stateDir, "lodged.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	defer logFile.Close()
	level := slog.LevelInfo
	if debug {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	log := slog.New(slog.NewMultiHandler(slog.NewTextHandler(os.Stderr, opts), slog.NewJSONHandler(logFile, opts)))

	// Kernel limits that many containers run into, raised (never lowered).
	limits := hostlimits.Apply("/proc/sys", hostlimits.Density)
	for _, st := range limits {
		switch {
		case st.Err != nil:
			log.Warn("host limit not raised; containers may fail when they reach it", "sysctl", st.Key, "why", st.Why, "err", st.Err)
		case st.Changed:
			log.Info("host limit raised", "sysctl", st.Key, "from", st.Was, "to", st.Now, "why", st.Why)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	database, err := db.Open(ctx, filepath.Join(stateDir, "database", "lodge.db"))
	if err != nil {
		return err
	}
	defer database.Close()
	store, err := images.NewStore(filepath.Join(stateDir, "images"))
	if err != nil {
		return err
	}
	drv, err := lxc.New(filepath.Join(stateDir, "containers"), log)
	if err != nil {
		return err
	}
	lxcfsDir := filepath.Join(stateDir, "lxcfs")
	drv.StartLXCFS(lxcfsDir, func(err error) {
		log.Warn("lxcfs is not running; free, top and nproc inside containers show the host's resources", "err", err)
	})
	// Unprivileged containers by default: root's subordinate ids, written
	// to /etc/subuid and /etc/subgid if the host has none.
	var idRanges *idmap.Ranges
	if r, err := idmap.EnsureRootRange("/etc/subuid", "/etc/subgid"); err != nil {
		log.Warn("no subordinate id range for root; containers run privileged", "err", err)
	} else {
		idRanges = &r
		// Container roots must be able to traverse to their rootfs.
		if err := os.Chmod(stateDir, 0o711); err != nil {
			return err
		}
	}
	nets, err := bridge.New(filepath.Join(stateDir, "networks"), log)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find lodged's own binary for its helpers: %w", err)
	}
	drv.StopHook = server.StopHook(self, stateDir)
	cfg := daemon.Config{Dir: stateDir, Version: version, DriverVersion: lxc.Version(), Logger: log}
	// --debug or LODGE_TRACE=1: every request's steps timed in the log.
	srv := server.New(server.Config{Config: cfg, SocketGroup: group, Trace: debug || trace.Enabled(os.Getenv(trace.Env)), HostLimits: limits,
		GuestAPIDir: filepath.Join(stateDir, "devlxd")},
		daemon.Deps{DB: database, Instances: drv, Images: store, Unpack: images.Unpack, ExtractMetadata: images.ExtractMetadata,
			PoolName: "default", Pools: pools.Manager{StateDir: stateDir}, IDRanges: idRanges,
			Networks: nets, DefaultNetwork: netName, ProxyHelper: self})
	// SIGPWR (the host is going down): stop every instance cleanly first.
	pwr := make(chan os.Signal, 1)
	signal.Notify(pwr, syscall.SIGPWR)
	go func() {
		if _, ok := <-pwr; ok {
			log.Info("SIGPWR: shutting down instances")
			srv.Daemon().ShutdownInstances()
		}
	}()
	// systemd's Type=notify: ready once the API answers (notify.go).
	go notify.readyWhenServing(ctx, unixClient(stateDir), log)
	if err := srv.Run(ctx); err != nil {
		return err
	}
	// lxcfs serves running containers only: once none runs (after `lodged
	// shutdown`, or a stop with nothing running), it goes too, so that a
	// state directory can be removed; the next lodged starts it again.
	drv.WaitLXCFS()
	if srv.Daemon().StoppedInstances() || !anyRunning(drv) {
		if err := lxc.StopLXCFS(lxcfsDir); err != nil {
			log.Warn("stopping lxcfs", "err", err)
		}
	}
	return nil
}

func unixClient(stateDir string) *http.Client {
	sock := server.SocketPath(stateDir)
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
}

func waitReady(stateDir string, timeout time.Duration) error {
	c := unixClient(stateDir)
	deadline := time.Now().Add(timeout)
	for {
		resp, err := c.Get("http://unix.socket/1.0")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lodged did not answer on %s within %s (is it running? see %s)", server.SocketPath(stateDir), timeout, filepath.Join(stateDir, "lodged.log"))
		}
		// A start takes a few hundred ms at most: a fine poll reports it
		// as it happens, for a few connects.
		time.Sleep(10 * time.Millisecond)
	}
}

func shutdownDaemon(stateDir string, timeout time.Duration) error {
	c := unixClient(stateDir)
	req, _ := http.NewRequest(http.MethodPut, "http://unix.socket/internal/shutdown", nil)
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("lodged is not answering on %s: %w", server.SocketPath(stateDir), err)
	}
	resp.Body.Close()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		conn, err := net.Dial("unix", server.SocketPath(stateDir))
		if err != nil {
			return nil
		}
		conn.Close()
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("lodged still running after %s", timeout)
}

// anyRunning tells whether a container of this lxcpath still runs.
func anyRunning(drv *lxc.Driver) bool {
	ctx := context.Background()
	names, err := drv.List(ctx)
	if err != nil {
		return true
	}
	for _, n := range names {
		if st, err := drv.Status(ctx, n); err != nil || st != instances.StatusStopped {
			return true
		}
	}
	return false
}
