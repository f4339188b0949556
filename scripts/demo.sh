#!/usr/bin/env bash
# The main job on a fresh Debian 12 host, as root: install dependencies,
# build, start lodged, build a Debian image with systemd, launch a container
# and run a command in it. Re-running it reuses what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
export LODGE_DIR="${LODGE_DIR:-/var/lib/lodge}"
name="${1:-demo01}"

./scripts/setup-host.sh
make build
if ! bin/lodged waitready --timeout 1 >/dev/null 2>&1; then
	echo "+ starting lodged (state in $LODGE_DIR, log in $LODGE_DIR/lodged.log)"
	mkdir -p "$LODGE_DIR"
	setsid bin/lodged >>"$LODGE_DIR/lodged.out" 2>&1 </dev/null &
	bin/lodged waitready --timeout 30
fi
set -x
bin/lodge image info debian/12 >/dev/null 2>&1 || bin/lodge image build debian --release bookworm --alias debian/12
bin/lodge image info busybox >/dev/null 2>&1 || bin/lodge image build busybox --alias busybox
bin/lodge info "$name" >/dev/null 2>&1 || bin/lodge launch debian/12 "$name"
# systemd answers on its bus a moment after init starts: until then
# `systemctl` says "Failed to connect to bus". Wait for the boot to finish
# (running, or degraded: some unit a container cannot start) and for the
# DHCP lease, 60 s at most each.
set +x
for _ in $(seq 120); do
	state=$(bin/lodge exec "$name" -- systemctl is-system-running 2>/dev/null || true)
	case $state in running | degraded) break ;; esac
	sleep 0.5
done
echo "systemd in $name: ${state:-not answering}"
for _ in $(seq 120); do
	bin/lodge list "$name" --format csv -c 4 | grep -q . && break
	sleep 0.5
done
set -x
bin/lodge exec "$name" -- cat /proc/1/comm
bin/lodge exec "$name" -- sh -c 'echo "hello from $(hostname), $(. /etc/os-release; echo $PRETTY_NAME)"'
bin/lodge list
