#!/usr/bin/env bash
# Installs what lodge needs on a Debian 12 host: liblxc (and its headers for
# go-lxc's cgo), the image build tools, and the upstream LXD client used by
# the compatibility test. Idempotent.
set -euo pipefail
pkgs=(lxc lxc-dev debootstrap busybox-static squashfs-tools xz-utils zstd uidmap pkg-config gcc make git lxd-client sshfs lxcfs)
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
