#!/usr/bin/env bash
# make bench-storage: per pool driver (overlay, the default here; dir; btrfs
# on a loop file), the time to snapshot and to restore a running Debian
# container with 1 GiB of changes, and the disk 50 more containers from one
# image take. Prints a table and writes bench/results/<date>-storage.json.
# Numbers come only from this run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
. bench/lib.sh
N=${N:-3}
COUNT=${COUNT:-50}
DIR=$(mktemp -d /var/tmp/lodge-bench-storage.XXXXXX)
chmod 0711 "$DIR"
export LODGE_DIR=$DIR LODGE_DEFAULT_NETWORK=none
LODGE=bin/lodge
results=()

cleanup() {
	for n in $($LODGE list --format csv -c n 2>/dev/null); do $LODGE delete -f "$n" >/dev/null 2>&1 || true; done
	for p in bdir bbtrfs; do $LODGE storage delete "$p" >/dev/null 2>&1 || true; done
	[ -n "${DPID:-}" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	unmount_under "$DIR"
	rm -rf "$DIR" "$DIR.out"
}
trap cleanup EXIT

# ms CMD...: runs CMD, prints how long it took in ms.
ms() {
	local t0=${EPOCHREALTIME/./}
	"$@" >/dev/null
	echo $(((${EPOCHREALTIME/./} - t0) / 1000))
}

# record NAME VALUE...: min/median/max of the values.
record() {
	local name=$1; shift
	results+=("$name|$(printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {printf "%s %s %s %d", a[1], a[int((NR+1)/2)], a[NR], NR}')")
}

# used_kib PATH: what the filesystem holding PATH has in use, once synced.
used_kib() {
	sync
	df -k --output=used "$1" | tail -1 | tr -d ' '
}

make build >/dev/null
setsid bin/lodged --dir "$DIR" >"$DIR.out" 2>&1 </dev/null &
DPID=$!
bin/lodged --dir "$DIR" waitready --timeout 30
$LODGE image build debian --release bookworm --alias debian/12 >/dev/null
default_driver=$($LODGE storage list --format csv | awk -F, '$1 == "default" {print $2}')
$LODGE storage create bdir dir >/dev/null
$LODGE storage create bbtrfs btrfs size=12GiB >/dev/null

for pool in default bdir bbtrfs; do
	label=${pool#b}
	[ "$pool" = default ] && label="$default_driver (default)"
	c="s${pool}"
	$LODGE launch debian/12 "$c" -s "$pool" >/dev/null
	# 1 GiB of changes in the container.
	$LODGE exec "$c" -- sh -c 'head -c 1073741824 /dev/urandom > /root/changes && sync'
	snaps=() restores=()
	for ((i = 1; i <= N; i++)); do
		snaps+=("$(ms $LODGE snapshot "$c" "s$i")")
		restores+=("$(ms $LODGE restore "$c" "s$i")")
	done
	record "snapshot, 1 GiB changed, $label pool (ms)" "${snaps[@]}"
	record "restore of it, running (stop + start), $label pool (ms)" "${restores[@]}"
	for ((i = 1; i <= N; i++)); do $LODGE delete "$c/s$i" >/dev/null; done
	$LODGE delete -f "$c" >/dev/null

	# Disk for COUNT more containers from the image (already unpacked in
	# the pool by the launch above): what the pool's filesystem has in use
	# before and after creating them.
	where=$DIR/storage-pools/$pool
	before=$(used_kib "$where")
	for ((i = 1; i <= COUNT; i++)); do $LODGE init debian/12 "d${pool}$i" -s "$pool" >/dev/null; done
	after=$(used_kib "$where")
	record "disk for $COUNT more containers, $label pool (MiB)" $(((after - before) / 1024))
	for ((i = 1; i <= COUNT; i++)); do $LODGE delete "d${pool}$i" >/dev/null; done
done

mkdir -p bench/results
out="bench/results/$(date -u +%Y-%m-%dT%H%M%SZ)-storage.json"
{
	echo "{\"date\": \"$(date -u +%FT%TZ)\", \"host\": \"$(uname -r), $(nproc) cpus\", \"rows\": ["
	rows_json
	echo "]}"
} >"$out"
rows_table 62 ""
echo "results: $out"
