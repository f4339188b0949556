#!/usr/bin/env bash
# Installs what lodge needs on a Debian 12 host, and every command its tests,
# benchmarks and scripts call, so that a fresh machine runs `make test`
# (test/arch checks that each command the code calls comes from here).
# Idempotent. Why each package is here:
#   lxc lxc-dev pkg-config gcc     liblxc, and its headers for go-lxc's cgo; lxc-ls/-info/-attach in tests
#   lxcfs uidmap                   /proc views for containers; newuidmap for unprivileged containers
#   dnsmasq-base nftables iproute2 the managed bridge: DHCP/DNS, NAT, `ip` and `bridge` in tests
#   util-linux                     nsenter: the cluster netns test starts each member in a network namespace
#   dnsmasq-utils                  dhcp_release: a deleted container's lease goes without a dnsmasq restart
#   btrfs-progs rsync              the btrfs pool driver; copies between pools
#   acl attr libcap2-bin           setfacl/getfacl, getfattr, setcap/getcap: the migration tests' ACLs, xattrs, caps
#   debootstrap busybox-static     building the Debian and busybox images
#   squashfs-tools xz-utils zstd   split (squashfs) images and compressed tarballs
#   bzip2                          bzip2-compressed instance backups (xz and lzma use xz-utils)
#   sshfs fuse3                    lodge file mount (and fusermount3 in its test)
#   openssh-client                 the cloud-init tests log in to the provisioned user with Debian's ssh (and ssh-keygen)
#   lxd-client                     Debian's lxc, driven against lodged by the compat tests
#   iputils-ping                   the network tests ping containers from the host
#   iperf3 tcpdump                 NIC tests: bandwidth limits measured by iperf3, spoofed frames counted by tcpdump
#   prometheus                     promtool checks the /1.0/metrics text (metrics package test)
#   curl openssl python3           make bench and make compat (download floor, JSON parsing, pty driver)
#   make git                       the build
#   protobuf-compiler              protoc, for go generate ./migration/pb (LXD's migration messages)
#   libdqlite-dev libraft-dev      clustering: go-dqlite's cgo links libdqlite and libraft (and libsqlite3,
#   libsqlite3-dev                 which mattn/go-sqlite3 then uses too: the libsqlite3 build tag)
#   dpkg-dev lintian systemd       make deb (dpkg-shlibdeps), and the package tests: lintian, systemd-analyze verify
#   chromium                       the web UI's browser tests (chromedp drives /usr/bin/chromium headless)
# `make ui` (rebuilding ui/dist from ui/web) also needs Node.js 18+ with npm
# (Debian's nodejs and npm, or the machine's own); building lodge does not.
set -euo pipefail
pkgs=(lxc lxc-dev pkg-config gcc make git lxcfs uidmap dnsmasq-base dnsmasq-utils nftables iproute2 util-linux btrfs-progs rsync acl attr libcap2-bin
	debootstrap busybox-static squashfs-tools xz-utils zstd bzip2 sshfs fuse3 openssh-client lxd-client iputils-ping iperf3 tcpdump prometheus curl openssl python3 protobuf-compiler
	dpkg-dev lintian systemd chromium libdqlite-dev libraft-dev libsqlite3-dev)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "setup-host: installing ${missing[*]}" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v go >/dev/null; then
	if [ -x /usr/local/go/bin/go ]; then
		echo "setup-host: Go is at /usr/local/go/bin; add it to PATH" >&2
	else
		echo "setup-host: Go 1.22+ is needed (https://go.dev/dl or Debian's golang-go from backports)" >&2
		exit 1
	fi
fi
