#!/usr/bin/env bash
# make bench: lodge's figures next to the floor the machine allows, measured
# in one run on a throw-away state directory. Prints a table and writes
# bench/results/<date>.json. Numbers come only from this run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
N=${N:-10}
DIR=$(mktemp -d /var/tmp/lodge-bench.XXXXXX)
export LODGE_DIR=$DIR
LODGE="bin/lodge"
results=()

cleanup() {
	stop_lxd
	# Deleted through lodge: overlay volumes are mounts and btrfs pools loop files.
	for n in $($LODGE list --format csv -c n 2>/dev/null); do
		$LODGE delete -f "$n" >/dev/null 2>&1 || true
	done
	for p in bdir bbtrfs; do $LODGE storage delete "$p" >/dev/null 2>&1 || true; done
	[ -n "${DPID:-}" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	awk -v d="$DIR/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	rm -rf "$DIR" "$DIR.out"
}
trap cleanup EXIT

now_ms() { echo "${EPOCHREALTIME/./}" | awk '{printf "%.3f", $1/1000}'; }

# measure NAME CMD...: runs CMD N times, records min/median/max in ms.
measure() {
	local name=$1; shift
	local samples=() _m
	for ((_m = 0; _m < N; _m++)); do
		local t0=${EPOCHREALTIME/./}
		"$@" >/dev/null
		local t1=${EPOCHREALTIME/./}
		samples+=($(((t1 - t0))))
	done
	record "$name" "${samples[@]}"
}

# record NAME MICROSECONDS...
record() {
	local name=$1; shift
	local stats
	stats=$(printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {printf "%.1f %.1f %.1f %d", a[1]/1000, a[int((NR+1)/2)]/1000, a[NR]/1000, NR}')
	results+=("$name|$stats")
}

# LXD 5.0 from Debian, in the same run, on its own state directory with a
# dir pool and no network (BENCH_LXD=0 skips it; it is installed if missing).
LXD_RUN=${BENCH_LXD:-1}
LXDDIR=$DIR/lxd
lxdc() { LXD_DIR=$LXDDIR HOME=$LXDDIR lxc "$@"; }
start_lxd() {
	if ! command -v lxd >/dev/null; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends lxd >/dev/null 2>&1 || return 1
	fi
	# LXD's containers are unprivileged: their root must be able to walk
	# down to its rootfs.
	chmod 0711 "$DIR"
	mkdir -p "$LXDDIR"
	chmod 0711 "$LXDDIR"
	LXD_DIR=$LXDDIR setsid lxd --logfile "$LXDDIR/lxd.log" >"$LXDDIR/lxd.out" 2>&1 </dev/null &
	LXDPID=$!
	LXD_DIR=$LXDDIR lxd waitready --timeout=60 || return 1
	LXD_DIR=$LXDDIR lxd init --preseed <<-EOF || return 1
	config:
	  images.auto_update_interval: "0"
	storage_pools:
	- name: default
	  driver: dir
	profiles:
	- name: default
	  devices:
	    root: {path: /, pool: default, type: disk}
	EOF
}
stop_lxd() {
	[ -n "${LXDPID:-}" ] || return 0
	for n in $(lxdc list --format csv -c n 2>/dev/null); do lxdc delete -f "$n" >/dev/null 2>&1 || true; done
	LXD_DIR=$LXDDIR lxd shutdown >/dev/null 2>&1 || kill "$LXDPID" 2>/dev/null
	wait "$LXDPID" 2>/dev/null
	LXDPID=
}

setsid bin/lodged --dir "$DIR" >"$DIR.out" 2>&1 </dev/null &
DPID=$!
bin/lodged --dir "$DIR" waitready --timeout 30
$LODGE image build busybox --alias busybox >/dev/null
$LODGE image build debian --release bookworm --alias debian/12 >/dev/null

lxd_rows() {
	bb_img=$(bin/lodge image export busybox "$DIR/bb.tar.zst" >/dev/null && echo "$DIR/bb.tar.zst")
	deb_img=$(bin/lodge image export debian/12 "$DIR/deb.tar.zst" >/dev/null && echo "$DIR/deb.tar.zst")
	lxdc image import "$bb_img" --alias busybox >/dev/null
	lxdc image import "$deb_img" --alias debian12 >/dev/null
	lxdc launch busybox lbb0 >/dev/null
	lxdc launch debian12 ldeb0 >/dev/null
	li=0
	lxd_launch_bb() { li=$((li + 1)); lxdc launch busybox "lbb$li"; }
	measure "LXD: lxc launch busybox (cached image)" lxd_launch_bb
	lj=0
	lxd_launch_deb() { lj=$((lj + 1)); lxdc launch debian12 "ldeb$lj"; }
	N=5 measure "LXD: lxc launch debian12 (cached image)" lxd_launch_deb
	# LXD's btrfs pool on a loop file, next to lodge's btrfs row.
	if lxdc storage create lbt btrfs size=8GiB >/dev/null 2>&1; then
		lxdc launch debian12 lbt0 -s lbt >/dev/null
		lk=0
		lxd_launch_bt() { lk=$((lk + 1)); lxdc launch debian12 "lbt$lk" -s lbt; }
		N=5 measure "LXD: lxc launch debian12 (cached image, btrfs pool)" lxd_launch_bt
	fi
	N=30 measure "LXD: lxc exec ldeb0 -- true" lxdc exec ldeb0 -- true
	head -c 1G /dev/urandom >"$DIR/lbig.bin"
	sync
	lxd_push() { lxdc file push "$DIR/lbig.bin" ldeb0/root/big.bin && sync; }
	N=3 measure "LXD: lxc file push 1 GiB + sync" lxd_push
	rm -f "$DIR/lbig.bin"
	ltree=$DIR/ltree
	for d in $(seq 1 100); do mkdir -p "$ltree/d$d"; for f in $(seq 1 100); do echo "$d $f" >"$ltree/d$d/f$f"; done; done
	lr=0
	lxd_tree() { lr=$((lr + 1)); lxdc file push -r "$ltree" "ldeb0/srv/" --create-dirs; }
	N=1 measure "LXD: lxc file push -r, 10,000 files" lxd_tree
	N=20 measure "LXD: lxc list --format json (~20 instances)" lxdc list --format json
}

# Launch from a cached image to RUNNING; the first launch unpacks the image
# into the pool, so it is measured separately.
first() { local t0=${EPOCHREALTIME/./}; $LODGE launch "$1" "$2" >/dev/null; local t1=${EPOCHREALTIME/./}; record "lodge launch $1 (first: unpacks the image)" $((t1 - t0)); }
first busybox bb0
first debian/12 deb0
i=0
launch_bb() { i=$((i + 1)); $LODGE launch busybox "bb$i"; }
measure "lodge launch busybox (cached image)" launch_bb
j=0
launch_deb() { j=$((j + 1)); $LODGE launch debian/12 "deb$j"; }
N=$((N / 2 > 3 ? N / 2 : 3)) measure "lodge launch debian/12 (cached image)" launch_deb

# The same launch on each pool driver. The default pool above is overlay
# (btrfs when the state directory is on btrfs); dir copies the whole tree;
# btrfs snapshots a subvolume on a loop file lodged made.
default_driver=$($LODGE storage list --format csv | awk -F, '$1 == "default" {print $2}')
echo "bench: the default pool (the rows without a pool) is $default_driver" >&2
$LODGE storage create bdir dir >/dev/null
$LODGE storage create bbtrfs btrfs size=8GiB >/dev/null
for pool in bdir bbtrfs; do
	$LODGE launch debian/12 "p$pool-0" -s "$pool" >/dev/null # unpacks the image into the pool
	pn=0
	launch_pool() { pn=$((pn + 1)); $LODGE launch debian/12 "p$pool-$pn" -s "$pool"; }
	N=$((N / 2 > 3 ? N / 2 : 3)) measure "lodge launch debian/12 (cached image, ${pool#b} pool)" launch_pool
done

# Time until systemd reports running, from launch.
k=0
boot_deb() {
	k=$((k + 1))
	$LODGE launch debian/12 "boot$k"
	until s=$($LODGE exec "boot$k" -- systemctl is-system-running 2>/dev/null); [ "$s" = running ] || [ "$s" = degraded ]; do sleep 0.05; done
}
N=3 measure "lodge launch debian/12 until systemd running" boot_deb

# exec round trip next to liblxc's own attach on the same container.
N=30 measure "lodge exec deb0 -- true" $LODGE exec deb0 -- true
N=30 measure "floor: lxc-attach -n deb0 -- true" lxc-attach -P "$DIR/containers" -n deb0 -- true
if command -v lxc >/dev/null; then
	N=30 measure "upstream lxc exec deb0 -- true (LXD client -> lodged)" env LXD_DIR="$DIR" HOME="$DIR" lxc exec deb0 -- true
fi

# File transfer: 1 GiB each way, timed until synced to disk, next to cp.
big=$DIR/big.bin
head -c 1G /dev/urandom >"$big"
sync
cp_sync() { cp "$big" "$DIR/big.copy" && sync; rm -f "$DIR/big.copy"; }
push_sync() { $LODGE file push "$big" deb0/root/big.bin && sync; }
pull_sync() { $LODGE file pull deb0/root/big.bin "$DIR/big.pulled" && sync; rm -f "$DIR/big.pulled"; }
N=3 measure "floor: cp 1 GiB + sync" cp_sync
N=3 measure "lodge file push 1 GiB + sync" push_sync
N=3 measure "lodge file pull 1 GiB + sync" pull_sync
rm -f "$big"
# Recursive push of 10,000 small files (100 directories of 100).
tree=$DIR/tree
for d in $(seq 1 100); do mkdir -p "$tree/d$d"; for f in $(seq 1 100); do echo "$d $f" >"$tree/d$d/f$f"; done; done
r=0
push_tree() { r=$((r + 1)); $LODGE file push -r "$tree" "deb0/srv/t$r/"; }
N=3 measure "lodge file push -r, 10,000 files" push_tree
rss=$(awk '/VmHWM/ {print $2}' /proc/$DPID/status)

# list with 50 defined instances (the running ones above plus stopped ones).
have=$($LODGE list --format csv -c n | wc -l)
for ((n = have; n < 50; n++)); do $LODGE init busybox "st$n" >/dev/null; done
N=20 measure "lodge list --format json, 50 instances" $LODGE list --format json
N=20 measure "lodge list (table), 50 instances" $LODGE list
# ... and with 1,000 (the extra ones stopped busybox instances, created
# through the API without waiting on each).
for ((n = 50; n < 1000; n++)); do
	curl -s --unix-socket "$DIR/unix.socket" -X POST -d "{\"name\":\"k$n\",\"source\":{\"type\":\"image\",\"alias\":\"busybox\"}}" http://lodge/1.0/instances >/dev/null
done
until [ "$(curl -s --unix-socket "$DIR/unix.socket" http://lodge/1.0/operations | grep -c '"running":\[')" = 0 ]; do sleep 0.5; done
N=20 measure "lodge list --format json, 1,000 instances" $LODGE list --format json
N=20 measure "GET /1.0/instances?recursion=2, 1,000 instances (curl)" curl -s --unix-socket "$DIR/unix.socket" "http://lodge/1.0/instances?recursion=2"

# LXD last, after lodge's rows, so its disk-heavy unpacks and deletes do not
# slow lodge's copies (ext4 with discard reuses freed blocks slowly).
sync
sleep 3
if [ "$LXD_RUN" = 1 ] && start_lxd; then
	lxd_rows || echo "bench: the LXD rows stopped early; see $LXDDIR/lxd.log" >&2
	stop_lxd
else
	echo "bench: LXD not run (BENCH_LXD=0 or it could not start); see $LXDDIR/lxd.log" >&2
fi
mkdir -p bench/results
out="bench/results/$(date -u +%Y-%m-%dT%H%M%SZ).json"
{
	echo "{\"date\": \"$(date -u +%FT%TZ)\", \"host\": \"$(uname -r), $(nproc) cpus\", \"unit\": \"ms\", \"rows\": ["
	sep=""
	for r in "${results[@]}"; do
		IFS='|' read -r name stats <<<"$r"
		read -r mn md mx n <<<"$stats"
		printf '%s  {"what": "%s", "n": %s, "min": %s, "median": %s, "max": %s}' "$sep" "$name" "$n" "$mn" "$md" "$mx"
		sep=$',\n'
	done
	echo; echo "]}"
} >"$out"

printf '\n%-58s %4s %10s %10s %10s\n' "what" "n" "min ms" "median ms" "max ms"
for r in "${results[@]}"; do
	IFS='|' read -r name stats <<<"$r"
	read -r mn md mx n <<<"$stats"
	printf '%-58s %4s %10s %10s %10s\n' "$name" "$n" "$mn" "$md" "$mx"
done
median_of() {
	for r in "${results[@]}"; do
		IFS='|' read -r name stats <<<"$r"
		[ "$name" = "$1" ] && { read -r _ md _ _ <<<"$stats"; echo "$md"; return; }
	done
}
ratio() { awk -v a="$2" -v b="$3" -v w="$1" 'BEGIN { if (a > 0 && b > 0) printf "ratio  %-50s %6.2fx\n", w, a / b }'; }
echo
ratio "lodge exec / lxc-attach (same container)" "$(median_of "lodge exec deb0 -- true")" "$(median_of "floor: lxc-attach -n deb0 -- true")"
ratio "lodge exec / LXD 5.0.2 lxc exec (25.7 ms, baseline file)" "$(median_of "lodge exec deb0 -- true")" 25.7
ratio "lodge launch debian / LXD dir pool (1121 ms, baseline)" "$(median_of "lodge launch debian/12 (cached image)")" 1121
ratio "lodge launch busybox / LXD (415 ms, baseline)" "$(median_of "lodge launch busybox (cached image)")" 415
# Same run, when LXD ran.
ratio "lodge / LXD: launch busybox (same run)" "$(median_of "lodge launch busybox (cached image)")" "$(median_of "LXD: lxc launch busybox (cached image)")"
ratio "lodge / LXD: launch debian (same run)" "$(median_of "lodge launch debian/12 (cached image)")" "$(median_of "LXD: lxc launch debian12 (cached image)")"
ratio "lodge / LXD: launch debian, both btrfs (same run)" "$(median_of "lodge launch debian/12 (cached image, btrfs pool)")" "$(median_of "LXD: lxc launch debian12 (cached image, btrfs pool)")"
ratio "lodge default pool / LXD btrfs: launch debian (same run)" "$(median_of "lodge launch debian/12 (cached image)")" "$(median_of "LXD: lxc launch debian12 (cached image, btrfs pool)")"
ratio "lodge / LXD: exec -- true (same run)" "$(median_of "lodge exec deb0 -- true")" "$(median_of "LXD: lxc exec ldeb0 -- true")"
ratio "lodge / LXD: file push 1 GiB (same run)" "$(median_of "lodge file push 1 GiB + sync")" "$(median_of "LXD: lxc file push 1 GiB + sync")"
ratio "lodge / LXD: file push -r 10,000 files (same run)" "$(median_of "lodge file push -r, 10,000 files")" "$(median_of "LXD: lxc file push -r, 10,000 files")"
ratio "lodge file push 1 GiB / cp (time, lower is better)" "$(median_of "lodge file push 1 GiB + sync")" "$(median_of "floor: cp 1 GiB + sync")"
ratio "lodge file pull 1 GiB / cp (time, lower is better)" "$(median_of "lodge file pull 1 GiB + sync")" "$(median_of "floor: cp 1 GiB + sync")"
awk -v ms="$(median_of "lodge file push -r, 10,000 files")" 'BEGIN { if (ms > 0) printf "rate   lodge file push -r: %.0f files/s (LXD: one request per file)\n", 10000 / (ms / 1000) }'
echo "memory lodged peak RSS after the transfers: ${rss:-?} KiB"
echo
echo "LXD 5.0.2 on this machine kind (../shared/reference/lxd-baseline.md, not this run):"
echo "  launch debian dir pool 1121 ms median in a series; busybox 415 ms; exec -- true 25.7 ms vs lxc-attach 5.7 ms; lxc list 111 ms with 30 running;"
echo "  file push 200 MiB at 207 MiB/s, pull at 184 MiB/s"
echo "results: $out"
