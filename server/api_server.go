package server

import (
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"lodge/api"
)

// apiExtensions are the LXD API extensions lodged implements. LXD's client
// picks endpoints by them ("instances" makes it use /1.0/instances), so only
// those whose behaviour lodged really has are listed.
var apiExtensions = []string{
	"etag",
	"patch",
	"container_exec_signal_handling",
	"id_map",
	"operation_description",
	"event_lifecycle",
	"container_last_used_at",
	"container_cpu_time",
	"container_full",
	"container_exec_user_group_cwd",
	"image_types",
	"image_compression_algorithm",
	"instances",
	"instance_get_full",
	"image_profiles",
	"api_filtering",
	"kernel_features",
	"lxc_features",
	"api_os",
	"directory_manipulation",
	"file_delete",
	"file_append",
	"file_symlinks",
	"file_get_symlink",
	"console",
	// config: GET /1.0/resources (the v2 layout, CPU, memory and disks).
	"resources",
	"resources_v2",
	// storage pools and snapshots (storage lane)
	"storage",
	"snapshot_expiry",
	"snapshot_expiry_creation",
	"snapshot_disk_usage",
	"instance_pool_move",
	// remotes: POST /1.0/certificates with token (join tokens).
	"certificate_token",
	// networks: LXD's client checks these before it uses /1.0/networks,
	// its state and leases, and proxy devices.
	"network",
	"network_state",
	"network_leases",
	"proxy",
	"proxy_udp",
	"network_dhcp_expiry",
	// instance migration between servers (migrate.go, server/daemon
	// instance_migrate.go): push and relay, --instance-only, --refresh,
	// --allow-inconsistent, fs_progress, stateless copies of running
	// instances. Not container_snapshot_stateful_migration nor
	// migration_pre_copy (both CRIU, which does not work here).
	"container_push",
	"container_push_target",
	"container_only_migration",
	"container_incremental_copy",
	"instance_allow_inconsistent_copy",
	"migration_progress",
	"container_stateless_copy",
	"storage_rsync_bwlimit",
	"storage_rsync_compression",
	// issue 18: NIC filtering, port isolation, routed NICs and their
	// limits, network forwards, /1.0/metrics and its certificates.
	"firewall_driver",
	"container_nic_ipfilter",
	"container_nic_routed",
	"container_nic_routed_limits",
	"instance_nic_bridged_port_isolation",
	"network_forward",
	"metrics",
	"metrics_cpu_seconds",
	"metrics_authentication",
	// cloud-init.* keys, and the guest API (/dev/lxd) with
	// security.devlxd, its events and security.devlxd.images (issue 15).
	"cloud_init",
	"restrict_devlxd",
	"devlxd_events",
	"devlxd_images",
	// backups: /1.0/instances/{name}/backups, export, and import as
	// POST /1.0/instances with a tarball (X-LXD-pool, X-LXD-name).
	"container_backup",
	"backup_compression",
	"backup_compression_algorithm",
	"container_backup_override_pool",
	"backup_override_name",
	// security.privileged and security.idmap.* change on a stopped
	// instance (re-shifted at its next start), guarded by
	// security.protection.shift; disks with shift=true are idmapped.
	"container_protection_shift",
	"container_disk_shift",
	// cluster.go: clusters of lodged (enable, join by token, roles).
	"clustering",
	"clustering_join",
	"clustering_server_address",
	"clustering_roles",
	"clustering_join_token",
	"clustering_edit_roles",
	"clustering_description",
	"clustering_failure_domains",
	// cluster_move.go, cluster_evacuate.go: moves between members,
	// evacuate and restore (stopped moves: no live migration).
	"clustering_evacuation",
	// cluster_copy.go: a copy (source type copy) whose source is on
	// another member pulls it from there (lxc copy c1 c2 --target m2;
	// without this LXD's client tries a migration between two servers).
	"cluster_internal_copy",
	// daemon/events.go, cluster_events.go: every event carries the member
	// it happened on, and a member's stream has every member's.
	"event_location",
}

// extensions are LXD's extensions lodged implements, then lodge's own.
func extensions() []string { return slices.Concat(apiExtensions, lodgeExtensions) }

func kernelInfo() (release, arch string) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", runtime.GOARCH
	}
	return unix.ByteSliceToString(u.Release[:]), unix.ByteSliceToString(u.Machine[:])
}

func osRelease() (name, version string) {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "", ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `"`)
		switch k {
		case "NAME":
			name = v
		case "VERSION_ID":
			version = v
		}
	}
	return name, version
}

// serverGet is GET /1.0: for an untrusted client no config and no host
// details, as LXD answers it.
func (s *Server) serverGet(r *http.Request) (response, error) {
	if !isTrusted(r) {
		return reply(api.Server{APIExtensions: extensions(), APIStatus: "stable", APIVersion: "1.0", Auth: "untrusted",
			AuthMethods: []string{"tls"}, Environment: api.ServerEnvironment{}}), nil
	}
	kver, arch := kernelInfo()
	osName, osVer := osRelease()
	host, _ := os.Hostname()
	d, err := s.d.ServerInfo(r.Context())
	if err != nil {
		return nil, err
	}
	conf := map[string]any{}
	for k, v := range d.Config {
		conf[k] = v
	}
	arches := []string{arch}
	if arch == "x86_64" {
		arches = append(arches, "i686")
	}
	info := api.Server{
		APIExtensions: extensions(),
		APIStatus:     "stable",
		APIVersion:    "1.0",
		Auth:          "trusted",
		AuthMethods:   authMethods(r),
		Config:        conf,
		Environment: api.ServerEnvironment{
			Addresses:          []string{},
			Architectures:      arches,
			Driver:             "lxc",
			DriverVersion:      d.DriverVersion,
			Firewall:           "nftables",
			Kernel:             "Linux",
			KernelArchitecture: arch,
			KernelFeatures:     map[string]string{},
			KernelVersion:      kver,
			LXCFeatures:        map[string]string{},
			OSName:             osName,
			OSVersion:          osVer,
			Project:            "default",
			Server:             "lodge",
			ServerEventMode:    "full-mesh",
			ServerName:         host,
			ServerPid:          os.Getpid(),
			ServerVersion:      d.Version,
			Storage:            d.StorageDriver,
			StorageVersion:     "1",
		},
	}
	if d.CertPEM != "" {
		info.Environment.Certificate, info.Environment.CertificateFingerprint = d.CertPEM, d.CertFingerprint
	}
	if a := s.HTTPSAddress(); a != "" {
		info.Environment.Addresses = listenAddresses(a)
	}
	if s.d.Clustered() {
		info.Environment.ServerClustered, info.Environment.ServerName = true, s.d.MemberName()
	}
	return replyETag(info, info.Config), nil
}

// listenAddresses is where the HTTPS API can be reached, for GET /1.0's
// environment.addresses (a migration's target dials the source there): the
// address itself, or for a wildcard one each global unicast address of
// this host with its port, as LXD lists them.
func listenAddresses(addr string) []string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return []string{addr}
	}
	ip := net.ParseIP(host)
	if host != "" && (ip == nil || !ip.IsUnspecified()) {
		return []string{addr}
	}
	v4only := ip != nil && ip.To4() != nil
	ifAddrs, err := net.InterfaceAddrs()
	if err != nil {
		return []string{addr}
	}
	out := []string{}
	for _, a := range ifAddrs {
		n, ok := a.(*net.IPNet)
		if !ok || !n.IP.IsGlobalUnicast() || (v4only && n.IP.To4() == nil) {
			continue
		}
		out = append(out, net.JoinHostPort(n.IP.String(), port))
	}
	if len(out) == 0 {
		return []string{addr}
	}
	return out
}
