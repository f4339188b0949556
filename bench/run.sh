#!/usr/bin/env bash
# make bench: lodge's figures next to the floor the machine allows, measured
# in one run on a throw-away state directory. Prints a table and writes
# bench/results/<date>.json. Numbers come only from this run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
. bench/lib.sh
N=${N:-10}
# SCALE: running-instance counts for the list and API rows; MANY: the total
# for the big list row (the rest stopped). Smaller values make a quick run.
SCALE=${SCALE:-10 100}
MANY=${MANY:-1000}
# BENCH_ROWS=files runs only the file-transfer rows (a quick check of them);
# BENCH_ROWS=backup only the export/import rows (lodge's and LXD's);
# BENCH_ROWS=net only the network and metrics rows (issue 18): launch to
# DHCPv4 lease and global IPv6, and the /1.0/metrics scrape at each SCALE
# count (lodge's and LXD's). BENCH_ROWS=lifecycle: lodged's start to
# ready with no instance, and the stop of a booted Debian container
# (lodge's and LXD's).
ROWS=${BENCH_ROWS:-all}
# SCALE_TIME: seconds a daemon gets to reach the largest SCALE count; one
# that does not is measured at the count it reached (and says so).
SCALE_TIME=${SCALE_TIME:-900}
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
	$LODGE profile delete v6 >/dev/null 2>&1 || true
	$LODGE network delete "$LNET6" >/dev/null 2>&1 || true
	$LODGE profile device remove default eth0 >/dev/null 2>&1 || true
	$LODGE network delete "$LODGE_DEFAULT_NETWORK" >/dev/null 2>&1 || true
	[ -n "${DPID:-}" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	unmount_under "$DIR"
	rm -rf "$DIR" "$DIR.out"
}
trap cleanup EXIT

now_ms() { echo "${EPOCHREALTIME/./}" | awk '{printf "%.3f", $1/1000}'; }

# measure_prep PREP NAME CMD...: runs CMD N times and records min, median
# and max in ms, running PREP (untimed) before each sample: file rows remove
# their target and sync first, so no row pays for freeing the previous
# round's blocks (ext4 with discard makes that cost as much as the write).
measure_prep() {
	local prep=$1 name=$2; shift 2
	local samples=() _m
	for ((_m = 0; _m < N; _m++)); do
		$prep >/dev/null 2>&1 || true
		local t0=${EPOCHREALTIME/./}
		"$@" >/dev/null
		local t1=${EPOCHREALTIME/./}
		samples+=($(((t1 - t0))))
	done
	record "$name" "${samples[@]}"
}

# measure NAME CMD...: measure_prep with nothing to prepare.
measure() { measure_prep : "$@"; }

# measure_pair NAME_A FUNC_A NAME_B FUNC_B: N samples of each, taken in
# turn, so that both see the same load (the containers launched before
# still boot behind them) and their ratio is fair.
measure_pair() {
	local na=$1 fa=$2 nb=$3 fb=$4 a=() b=() _m t0 t1
	for ((_m = 0; _m < N; _m++)); do
		t0=${EPOCHREALTIME/./}
		$fa >/dev/null
		t1=${EPOCHREALTIME/./}
		a+=($((t1 - t0)))
		t0=${EPOCHREALTIME/./}
		$fb >/dev/null
		t1=${EPOCHREALTIME/./}
		b+=($((t1 - t0)))
	done
	record "$na" "${a[@]}"
	record "$nb" "${b[@]}"
}

# record NAME MICROSECONDS...
record() {
	local name=$1; shift
	local stats
	# p90: the nearest rank, ceil(0.9 n).
	stats=$(printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {printf "%.1f %.1f %.1f %d %.1f", a[1]/1000, a[int((NR+1)/2)]/1000, a[NR]/1000, NR, a[int((9*NR+9)/10)]/1000}')
	# Every sample, in the order taken, for the JSON.
	results+=("$name|$stats|$(printf '%s\n' "$@" | awk '{printf "%s%.1f", (NR > 1 ? " " : ""), $1 / 1000}')")
}

median_of() {
	for r in "${results[@]}"; do
		IFS='|' read -r name stats _ <<<"$r"
		[ "$name" = "$1" ] && { read -r _ md _ _ <<<"$stats"; echo "$md"; return; }
	done
}

# figure NAME VALUE UNIT: a figure that is not a time (requests/s, KiB).
figures=()
figure() { figures+=("$1|$2|$3"); }

# rss_kib PID: resident memory now.
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# mem_median_mib LXCPATH CLIENT...: the median, over the running instances
# the client lists, of the host memory each one costs: what its cgroup is
# charged (state.memory.usage) plus the PSS of its liblxc monitor process.
mem_median_mib() {
	local lxcpath=$1; shift
	"$@" list --format json 2>/dev/null | python3 -c '
import glob, json, sys
lxcpath = sys.argv[1]
monitors = {}
for p in glob.glob("/proc/[0-9]*/cmdline"):
    try:
        args = open(p, "rb").read().split(b"\0")
        if args[0] == b"[lxc monitor]" and args[1].decode() == lxcpath:
            pss = [l for l in open(p.replace("cmdline", "smaps_rollup")) if l.startswith("Pss:")]
            monitors[args[2].decode()] = int(pss[0].split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
u = sorted(i["state"]["memory"]["usage"] + monitors.get(i["name"], 0)
           for i in json.load(sys.stdin) if i.get("state") and i["state"]["status"] == "Running")
print("%.1f" % (u[len(u) // 2] / 1048576) if u else "0")' "$lxcpath"
}

# scale_rows WHO CLIENT SOCKET COUNTS...: launches busybox instances one at
# a time up to each count (each launch timed, with the count it reached, for
# the plot), then at each count times list --format json and a scrape of
# GET /1.0/metrics, and measures GET /1.0/instances per second with 1 and
# 32 clients (BENCH_ROWS=net: the scrape alone). A daemon that has not
# reached a count after SCALE_TIME seconds is measured at the count it
# reached, and no further; scale_reached says which.
scale_rows() {
	local who=$1 client=$2 sock=$3; shift 3
	local have=0 target t0 t1 s0=$SECONDS short=0
	for target in "$@"; do
		while ((have < target)); do
			if ((SECONDS - s0 > SCALE_TIME)); then
				echo "bench: $who reached $have running instances in ${SCALE_TIME} s, not $target: its rows are at $have" >&2
				target=$have short=1
				break
			fi
			have=$((have + 1))
			t0=${EPOCHREALTIME/./}
			$client launch busybox "sc$have" >/dev/null 2>"$DIR/launch.err" || { cat "$DIR/launch.err" >&2; return 1; }
			t1=${EPOCHREALTIME/./}
			echo "$have $(((t1 - t0) / 1000))" >>"$DIR/plot-launch-$who.dat"
		done
		scale_reached=$target
		((target > 0)) || break
		if [ "$ROWS" != net ]; then
			N=10 measure "$who list --format json, $target running" $client list --format json
			echo "$target $(median_of "$who list --format json, $target running")" >>"$DIR/plot-list-$who.dat"
		fi
		# Issue 18: a Prometheus scrape of every running instance's figures
		# (the first, untimed, also tells whether the daemon serves it).
		if curl -sf --unix-socket "$sock" http://x/1.0/metrics >/dev/null; then
			N=30 measure "$who GET /1.0/metrics, $target running" curl -sf --unix-socket "$sock" http://x/1.0/metrics
			# LXD keeps a scrape for 8 s, so the back-to-back ones above
			# are mostly its cache: at the largest count, also scrapes 9 s
			# apart, each a fresh collection (lodge keeps none).
			if ((short)) || [ "$target" = "${*: -1}" ]; then
				N=5 measure_prep "sleep 9" "$who GET /1.0/metrics, $target running, 9 s apart" curl -sf --unix-socket "$sock" http://x/1.0/metrics
			fi
		fi
		if [ "$ROWS" != net ]; then
			for c in 1 32; do
				read -r rps _ errs < <(bench/apiload.bin -socket "$sock" -c $c -d 5s)
				figure "$who GET /1.0/instances, $target running, $c client(s)" "$rps" "req/s (errors: $errs)"
			done
		fi
		((short)) && break
	done
	return 0
}

# v6_rows WHO LXCPATH CLIENT...: N launches of busybox with the profile v6
# (eth0 on a managed network with ipv4.address and ipv6.address=auto), each
# timed from the launch's start until eth0, seen from the host in the
# container's network namespace (polled every 20 ms), holds an IPv4
# address (the DHCPv4 lease, which the image's udhcpc applies) and a global
# IPv6 address past duplicate address detection (SLAAC from the router
# advertisements of the network's dnsmasq). Each is deleted (untimed).
v6_rows() {
	local who=$1 lxcpath=$2; shift 2
	local k t0 t4 t6 now pid out v4s=() boths=()
	for ((k = 1; k <= N; k++)); do
		t0=${EPOCHREALTIME/./}
		"$@" launch busybox "v6-$k" -p default -p v6 >/dev/null || return 1
		pid=$(lxc-info -P "$lxcpath" -n "v6-$k" -p -H)
		t4="" t6=""
		while [ -z "$t4" ] || [ -z "$t6" ]; do
			out=$(nsenter -t "$pid" -n ip -o addr show dev eth0 2>/dev/null || true)
			now=${EPOCHREALTIME/./}
			[ -z "$t4" ] && [[ $out == *" inet "* ]] && t4=$now
			[ -z "$t6" ] && grep -v tentative <<<"$out" | grep -q " inet6 .* scope global" && t6=$now
			if ((now - t0 > 60000000)); then
				printf 'bench: %s: v6-%s has no IPv4 lease and global IPv6 after 60 s:\n%s\n' "$who" "$k" "$out" >&2
				return 1
			fi
			sleep 0.02
		done
		v4s+=($((t4 - t0)))
		boths+=($(((t4 > t6 ? t4 : t6) - t0)))
		"$@" delete -f "v6-$k" >/dev/null
	done
	record "$who launch busybox until DHCPv4 lease on eth0" "${v4s[@]}"
	record "$who launch busybox until DHCPv4 lease + global IPv6" "${boths[@]}"
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
	figure "LXD daemon RSS, idle after start" "$(rss_kib $LXDPID)" KiB
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
	# The v6 rows' network goes before LXD stops: LXD leaves bridges up.
	lxdc profile delete v6 >/dev/null 2>&1 || true
	lxdc network delete "$XNET6" >/dev/null 2>&1 || true
	LXD_DIR=$LXDDIR lxd shutdown >/dev/null 2>&1 || kill "$LXDPID" 2>/dev/null
	wait "$LXDPID" 2>/dev/null
	LXDPID=
	# What a failed delete left: the bridge, and its chains in LXD's one
	# table (the table too once it holds none: no LXD uses it then).
	ip link del "$XNET6" 2>/dev/null || true
	local ch
	for ch in $(nft list table inet lxd 2>/dev/null | awk -v n="$XNET6" '$1 == "chain" && $2 ~ ("\\." n "$") {print $2}'); do
		if nft flush chain inet lxd "$ch" 2>/dev/null; then nft delete chain inet lxd "$ch" 2>/dev/null || true; fi
	done
	if nft list table inet lxd >/dev/null 2>&1 && ! nft list table inet lxd | grep -q chain; then
		nft delete table inet lxd 2>/dev/null || true
	fi
	return 0
}

# The v6 rows' networks: lodge's and LXD's, each with ipv4.address and
# ipv6.address=auto (a ULA /64 with router advertisements), and a profile
# v6 that puts eth0 on it.
LNET6=lb6$$
XNET6=lx6$$
lodge_v6_rows() {
	$LODGE network create "$LNET6" ipv4.address=auto ipv6.address=auto >/dev/null
	$LODGE profile create v6 >/dev/null
	$LODGE profile device add v6 eth0 nic "network=$LNET6" name=eth0 >/dev/null
	v6_rows lodge "$DIR/containers" $LODGE || echo "bench: the lodge lease-to-IPv6 rows stopped early" >&2
	for n in $($LODGE list --format csv -c n); do [[ $n == v6-* ]] && $LODGE delete -f "$n" >/dev/null; done
	$LODGE profile delete v6 >/dev/null
	$LODGE network delete "$LNET6" >/dev/null
}
lxd_v6_rows() {
	# LXD's own pick (ipv4.address=auto) gives up on a host with many bridges.
	if ! lxdc network create "$XNET6" "ipv4.address=$(free_subnet 24)" ipv4.nat=true ipv6.address=auto ipv6.nat=true >/dev/null; then
		echo "bench: LXD could not make a network with ipv6.address=auto: no LXD lease-to-IPv6 row" >&2
		return 0
	fi
	lxdc profile create v6 >/dev/null
	lxdc profile device add v6 eth0 nic "network=$XNET6" name=eth0 >/dev/null
	v6_rows LXD "$LXDDIR/containers" lxdc || echo "bench: the LXD lease-to-IPv6 rows stopped early" >&2
	for n in $(lxdc list --format csv -c n); do lxdc delete -f "$n" >/dev/null; done
	lxdc profile delete v6 >/dev/null
	lxdc network delete "$XNET6" >/dev/null
}

# lodged's containers get eth0 on a managed network of the run's own (as a
# user's do on lodgebr0; LXD's here have no network), removed at the end.
export LODGE_DEFAULT_NETWORK=lbench$$
setsid bin/lodged --dir "$DIR" >"$DIR.out" 2>&1 </dev/null &
DPID=$!
bin/lodged --dir "$DIR" waitready --timeout 30
figure "lodged RSS, idle after start" "$(rss_kib $DPID)" KiB

# lodged's start until a client sees its API answer (issue 19): stopped
# with SIGTERM (instances keep running) untimed, then timed from the exec
# until lodged waitready returns.
stop_lodged() { kill "$DPID" && wait "$DPID" 2>/dev/null; }
start_lodged() {
	setsid bin/lodged --dir "$DIR" >>"$DIR.out" 2>&1 </dev/null &
	DPID=$!
	bin/lodged --dir "$DIR" waitready --timeout 120
}
if [ "$ROWS" = all ] || [ "$ROWS" = lifecycle ]; then
	N=5 measure_prep stop_lodged "lodged start to ready, no instances" start_lodged
fi

# lodge_stop_rows: a clean stop of a booted Debian container, systemd's
# shutdown inside then the teardown (issue 19: no slower than LXD). LXD's
# profile here has no NIC, so the row to compare with has none either.
lodge_stop_rows() {
	$LODGE profile create nonic >/dev/null 2>&1 || true
	$LODGE profile device add nonic root disk path=/ pool=default >/dev/null 2>&1 || true
	sn=0
	boot_for_stop() { sn=$((sn + 1)); $LODGE launch debian/12 "st$sn" "$@" && wait_running $LODGE "st$sn"; }
	boot_for_stop_nonic() { boot_for_stop -p nonic; }
	stop_booted() { $LODGE stop "st$sn"; }
	N=5 measure_prep boot_for_stop "lodge stop debian/12 (booted, eth0 by DHCP)" stop_booted
	N=5 measure_prep boot_for_stop_nonic "lodge stop debian/12 (booted, no NIC)" stop_booted
	for ((m = 1; m <= sn; m++)); do $LODGE delete -f "st$m" >/dev/null 2>&1; done
	$LODGE profile delete nonic >/dev/null 2>&1 || true
}

# wait_running CLI... NAME: until systemd in NAME has booted (at most 60 s).
wait_running() {
	local name=${*: -1} s w
	for ((w = 0; w < 1200; w++)); do
		s=$("${@:1:$#-1}" exec "$name" -- systemctl is-system-running 2>/dev/null) || true
		case $s in running | degraded) return 0 ;; esac
		sleep 0.05
	done
	return 1
}
go build -o bench/apiload.bin ./bench/apiload
$LODGE image build busybox --alias busybox >/dev/null
[ "$ROWS" = net ] || $LODGE image build debian --release bookworm --alias debian/12 >/dev/null

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
	lb=0
	lxd_boot_deb() { lb=$((lb + 1)); lxdc launch debian12 "lboot$lb" && wait_running lxdc "lboot$lb"; }
	N=3 measure "LXD: lxc launch debian12 until systemd running" lxd_boot_deb
	for ((m = 1; m <= lb; m++)); do lxdc delete -f "lboot$m" >/dev/null 2>&1; done
	N=30 measure "LXD: lxc exec ldeb0 -- true" lxdc exec ldeb0 -- true
	lxd_stop_rows
	head -c 1G /dev/urandom >"$DIR/lbig.bin"
	sync
	lxd_push() { lxdc file push "$DIR/lbig.bin" ldeb0/root/big.bin && sync; }
	lxd_unpush() { lxdc file delete ldeb0/root/big.bin; sync; }
	N=3 measure_prep lxd_unpush "LXD: lxc file push 1 GiB + sync" lxd_push
	rm -f "$DIR/lbig.bin"
	ltree=$DIR/ltree
	for d in $(seq 1 100); do mkdir -p "$ltree/d$d"; for f in $(seq 1 100); do echo "$d $f" >"$ltree/d$d/f$f"; done; done
	lr=0
	lxd_tree() { lr=$((lr + 1)); lxdc file push -r "$ltree" "ldeb0/srv/" --create-dirs; }
	N=1 measure "LXD: lxc file push -r, 10,000 files" lxd_tree
	sleep 5
	figure "LXD: memory per idle Debian systemd container (median)" "$(mem_median_mib "$LXDDIR/containers" lxdc)" MiB
	for n in $(lxdc list --format csv -c n); do lxdc delete -f "$n" >/dev/null; done
	lxd_v6_rows
	lxd_scale_rows
}
# LXD's clean stop of a booted Debian container (its profile has no NIC).
lxd_stop_rows() {
	lsn=0
	lxd_boot_for_stop() { lsn=$((lsn + 1)); lxdc launch debian12 "lst$lsn" && wait_running lxdc "lst$lsn"; }
	lxd_stop_booted() { lxdc stop "lst$lsn"; }
	N=5 measure_prep lxd_boot_for_stop "LXD: lxc stop debian12 (booted, no NIC)" lxd_stop_booted
	for ((m = 1; m <= lsn; m++)); do lxdc delete -f "lst$m" >/dev/null 2>&1; done
}
# BENCH_ROWS=lifecycle: the image and the stop rows.
lxd_lifecycle_rows() {
	bin/lodge image export debian/12 "$DIR/deb.tar.zst" >/dev/null
	lxdc image import "$DIR/deb.tar.zst" --alias debian12 >/dev/null
	lxd_stop_rows
}
lxd_scale_rows() {
	scale_rows LXD lxdc "$LXDDIR/unix.socket" $SCALE
	figure "LXD daemon RSS with $scale_reached running containers" "$(rss_kib $LXDPID)" KiB
	figure "LXD: memory per busybox container (median of $scale_reached)" "$(mem_median_mib "$LXDDIR/containers" lxdc)" MiB
}
# BENCH_ROWS=net: the busybox image, one untimed launch (LXD's first from
# an image), then the lease-to-IPv6 and scale rows.
lxd_net_rows() {
	bin/lodge image export busybox "$DIR/bb.tar.zst" >/dev/null
	lxdc image import "$DIR/bb.tar.zst" --alias busybox >/dev/null
	lxdc launch busybox lbb0 >/dev/null
	lxdc delete -f lbb0 >/dev/null
	lxd_v6_rows
	lxd_scale_rows
}

# Launch from a cached image to RUNNING; the first launch unpacks the image
# into the pool, so it is measured separately.
first() { local t0=${EPOCHREALTIME/./}; $LODGE launch "$1" "$2" >/dev/null; local t1=${EPOCHREALTIME/./}; record "lodge launch $1 (first: unpacks the image)" $((t1 - t0)); }
first busybox bb0
[ "$ROWS" = net ] || first debian/12 deb0
if [ "$ROWS" = all ]; then
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

lodge_stop_rows

# exec round trip next to liblxc's own attach on the same container, in
# turn.
lodge_exec() { $LODGE exec deb0 -- true; }
floor_attach() { lxc-attach -P "$DIR/containers" -n deb0 -- true; }
N=30 measure_pair "lodge exec deb0 -- true" lodge_exec "floor: lxc-attach -n deb0 -- true" floor_attach
if command -v lxc >/dev/null; then
	N=30 measure "upstream lxc exec deb0 -- true (LXD client -> lodged)" env LXD_DIR="$DIR" HOME="$DIR" lxc exec deb0 -- true
fi

fi

[ "$ROWS" = lifecycle ] && lodge_stop_rows

# Launch until the DHCPv4 lease and a global IPv6 address (issue 18).
if [ "$ROWS" = all ] || [ "$ROWS" = net ]; then
	lodge_v6_rows
fi

if [ "$ROWS" = all ] || [ "$ROWS" = files ]; then
# File transfer: 1 GiB each way, timed until synced to disk, next to cp.
big=$DIR/big.bin
head -c 1G /dev/urandom >"$big"
sync
cp_sync() { cp "$big" "$DIR/big.copy" && sync; }
uncp() { rm -f "$DIR/big.copy" "$DIR/big.pulled"; sync; }
push_sync() { $LODGE file push "$big" deb0/root/big.bin && sync; }
unpush() { $LODGE file delete deb0/root/big.bin; sync; }
pull_sync() { $LODGE file pull deb0/root/big.bin "$DIR/big.pulled" && sync; }
N=5 measure_prep uncp "floor: cp 1 GiB + sync" cp_sync
N=5 measure_prep unpush "lodge file push 1 GiB + sync" push_sync
N=5 measure_prep uncp "lodge file pull 1 GiB + sync" pull_sync
# Overwriting an existing 1 GiB file also frees the old blocks before sync
# returns: shown apart, as a user replacing a file sees it.
N=3 measure "lodge file push 1 GiB over an existing one + sync" push_sync
uncp
rm -f "$big"
# Recursive push of 10,000 small files (100 directories of 100).
tree=$DIR/tree
for d in $(seq 1 100); do mkdir -p "$tree/d$d"; for f in $(seq 1 100); do echo "$d $f" >"$tree/d$d/f$f"; done; done
r=0
push_tree() { r=$((r + 1)); $LODGE file push -r "$tree" "deb0/srv/t$r/"; }
N=3 measure "lodge file push -r, 10,000 files" push_tree
rss=$(awk '/VmHWM/ {print $2}' /proc/$DPID/status)
fi

# Backups: export and import of a Debian container holding 1 GiB of data
# (base64 of random bytes, which gzip takes to about 3/4, as a mix of
# binaries and data), gzip as both default to, on a dir pool as LXD's here;
# each timed until sync returns, the previous round's output removed first.
if [ "$ROWS" = all ] || [ "$ROWS" = backup ]; then
$LODGE storage show bdir >/dev/null 2>&1 || $LODGE storage create bdir dir >/dev/null
$LODGE launch debian/12 bk0 -s bdir >/dev/null
$LODGE exec bk0 -- sh -c 'head -c 805306368 /dev/urandom | base64 > /root/data && sync'
$LODGE stop --force bk0
unexport() { rm -f "$DIR/bk0.tar.gz"; sync; }
export_bk() { $LODGE export bk0 "$DIR/bk0.tar.gz" && sync; }
unimport() { $LODGE delete -f bkimp; sync; }
import_bk() { $LODGE import "$DIR/bk0.tar.gz" bkimp --storage bdir && sync; }
N=3 measure_prep unexport "lodge export debian/12 + 1 GiB (dir pool, gzip) + sync" export_bk
N=3 measure_prep unimport "lodge import debian/12 + 1 GiB (dir pool, gzip) + sync" import_bk
unimport >/dev/null 2>&1
unexport
$LODGE delete -f bk0 >/dev/null
fi


if [ "$ROWS" = all ]; then
# Density: what the cgroup of an idle Debian container with systemd is
# charged, once systemd is up (the boot* ones above).
sleep 5
figure "lodge: memory per idle Debian systemd container (median)" "$(mem_median_mib "$DIR/containers" $LODGE)" MiB
fi

if [ "$ROWS" = all ] || [ "$ROWS" = net ]; then
for n in $($LODGE list --format csv -c n); do $LODGE delete -f "$n" >/dev/null; done
# Scale: 10 and 100 running busybox instances, then 1,000 (the extra 900
# stopped, created through the API without waiting on each).
scale_rows lodge "$LODGE" "$DIR/unix.socket" $SCALE
figure "lodged RSS with $scale_reached running containers" "$(rss_kib $DPID)" KiB
figure "lodge: memory per busybox container (median of $scale_reached)" "$(mem_median_mib "$DIR/containers" $LODGE)" MiB
fi

if [ "$ROWS" = all ]; then
for ((n = ${SCALE##* }; n < MANY; n++)); do
	curl -s --unix-socket "$DIR/unix.socket" -X POST -d "{\"name\":\"k$n\",\"source\":{\"type\":\"image\",\"alias\":\"busybox\"}}" http://lodge/1.0/instances >/dev/null
done
until [ "$(curl -s --unix-socket "$DIR/unix.socket" http://lodge/1.0/operations | grep -c '"running":\[')" = 0 ]; do sleep 0.5; done
N=20 measure "lodge list --format json, $MANY instances (${SCALE##* } running)" $LODGE list --format json
echo "$MANY $(median_of "lodge list --format json, $MANY instances (${SCALE##* } running)")" >>"$DIR/plot-list-lodge.dat"
N=20 measure "GET /1.0/instances?recursion=2, $MANY instances (curl)" curl -s --unix-socket "$DIR/unix.socket" "http://lodge/1.0/instances?recursion=2"
for c in 1 32; do
	read -r rps _ errs < <(bench/apiload.bin -socket "$DIR/unix.socket" -c $c -d 5s)
	figure "lodge GET /1.0/instances, $MANY instances, $c client(s)" "$rps" "req/s (errors: $errs)"
done
N=5 measure_prep stop_lodged "lodged start to ready, $MANY instances (${SCALE##* } running)" start_lodged
# The 900 stopped ones go before LXD runs (stopped: only files to remove).
for ((n = ${SCALE##* }; n < MANY; n++)); do $LODGE delete "k$n" >/dev/null 2>&1; done
fi
if [ "$ROWS" = all ] || [ "$ROWS" = net ]; then
for ((n = 1; n <= ${SCALE##* }; n++)); do $LODGE delete -f "sc$n" >/dev/null 2>&1; done
fi

# LXD's export and import, as lodge's above: same image, data and pool type.
lxd_backup_rows() {
	for n in $(lxdc list --format csv -c n); do lxdc delete -f "$n" >/dev/null; done
	if ! lxdc image info debian12 >/dev/null 2>&1; then
		bin/lodge image export debian/12 "$DIR/deb.tar.zst" >/dev/null
		lxdc image import "$DIR/deb.tar.zst" --alias debian12 >/dev/null
	fi
	lxdc launch debian12 lbk0 >/dev/null
	lxdc exec lbk0 -- sh -c 'head -c 805306368 /dev/urandom | base64 > /root/data && sync'
	lxdc stop --force lbk0
	lxd_unexport() { rm -f "$DIR/lbk0.tar.gz"; sync; }
	lxd_export() { lxdc export lbk0 "$DIR/lbk0.tar.gz" && sync; }
	lxd_unimport() { lxdc delete -f lbkimp; sync; }
	lxd_import() { lxdc import "$DIR/lbk0.tar.gz" lbkimp && sync; }
	N=3 measure_prep lxd_unexport "LXD: lxc export debian12 + 1 GiB (dir pool, gzip) + sync" lxd_export
	N=3 measure_prep lxd_unimport "LXD: lxc import debian12 + 1 GiB (dir pool, gzip) + sync" lxd_import
	lxd_unimport >/dev/null 2>&1
	lxd_unexport
	lxdc delete -f lbk0 >/dev/null
}

# LXD last, after lodge's rows, so its disk-heavy unpacks and deletes do not
# slow lodge's copies (ext4 with discard reuses freed blocks slowly).
sync
sleep 3
if [ "$ROWS" != files ] && [ "$LXD_RUN" = 1 ] && start_lxd; then
	if [ "$ROWS" = all ]; then
		lxd_rows || echo "bench: the LXD rows stopped early; see $LXDDIR/lxd.log" >&2
	fi
	if [ "$ROWS" = lifecycle ]; then
		lxd_lifecycle_rows || echo "bench: the LXD stop rows stopped early; see $LXDDIR/lxd.log" >&2
	fi
	if [ "$ROWS" = net ]; then
		lxd_net_rows || echo "bench: the LXD network rows stopped early; see $LXDDIR/lxd.log" >&2
	fi
	if [ "$ROWS" = all ] || [ "$ROWS" = backup ]; then
		lxd_backup_rows || echo "bench: the LXD backup rows stopped early; see $LXDDIR/lxd.log" >&2
	fi
	stop_lxd
else
	echo "bench: LXD not run (BENCH_LXD=0 or it could not start); see $LXDDIR/lxd.log" >&2
fi
mkdir -p bench/results
out="bench/results/$(date -u +%Y-%m-%dT%H%M%SZ).json"
{
	echo "{\"date\": \"$(date -u +%FT%TZ)\", \"host\": \"$(uname -r), $(nproc) cpus\", \"unit\": \"ms\", \"rows\": ["
	rows_json
	echo "], \"figures\": ["
	sep=""
	for f in "${figures[@]}"; do
		IFS='|' read -r name value unit <<<"$f"
		printf '%s  {"what": "%s", "value": %s, "unit": "%s"}' "$sep" "$name" "${value:-null}" "$unit"
		sep=$',\n'
	done
	echo; echo "]}"
} >"$out"

rows_table 58 " ms"
printf '\n%-62s %12s  %s\n' "what" "value" "unit"
for f in "${figures[@]}"; do
	IFS='|' read -r name value unit <<<"$f"
	printf '%-62s %12s  %s\n' "$name" "$value" "$unit"
done
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
ratio "lodge / LXD: stop a booted Debian, no NIC (same run)" "$(median_of "lodge stop debian/12 (booted, no NIC)")" "$(median_of "LXD: lxc stop debian12 (booted, no NIC)")"
target_under() { # ROW MS: a target line for a median under MS
	awk -v ms="$(median_of "$1")" -v t="$2" -v w="$1" 'BEGIN { if (ms > 0) printf "target %s under %d ms (issue 19): %s (median %.1f ms)\n", w, t, ms < t ? "met" : "missed", ms }'
}
# target_vs ROW LIMIT_MS REF_ROW FACTOR MINUS_MS TEXT: ROW's median at most
# LIMIT_MS (0: none) and at most REF_ROW's times FACTOR minus MINUS_MS.
target_vs() {
	awk -v a="$(median_of "$1")" -v lim="$2" -v r="$(median_of "$3")" -v f="$4" -v m="$5" -v w="$6" 'BEGIN {
		if (a <= 0) exit
		ok = (lim == 0 || a <= lim) && (r <= 0 || a <= r * f - m)
		printf "target %s (issue 19): %s (median %.1f ms%s)\n", w, (ok ? "met" : "missed"), a, (r > 0 ? sprintf(", reference %.1f ms", r) : ", no reference this run") }'
}
target_vs "lodge launch busybox (cached image)" 100 "LXD: lxc launch busybox (cached image)" 0.5 0 "launch busybox at most 100 ms and half of LXD's"
target_vs "lodge launch debian/12 (cached image)" 120 "" 1 0 "launch debian/12 at most 120 ms"
target_vs "lodge launch debian/12 (cached image, btrfs pool)" 120 "" 1 0 "launch debian/12 on btrfs at most 120 ms"
target_vs "lodge launch debian/12 until systemd running" 0 "LXD: lxc launch debian12 until systemd running" 1 500 "launch debian/12 until systemd running at most LXD's minus 0.5 s"
target_vs "lodge exec deb0 -- true" 0 "floor: lxc-attach -n deb0 -- true" 2 0 "exec at most 2x lxc-attach"
target_vs "upstream lxc exec deb0 -- true (LXD client -> lodged)" 0 "LXD: lxc exec ldeb0 -- true" 1 0 "upstream lxc exec against lodged at most LXD's own"
target_vs "lodge stop debian/12 (booted, no NIC)" 0 "LXD: lxc stop debian12 (booted, no NIC)" 1 0 "stop of a booted Debian no slower than LXD's"
target_under "lodged start to ready, no instances" 100
target_under "lodged start to ready, $MANY instances (${SCALE##* } running)" 300
ratio "lodge / LXD: exec -- true (same run)" "$(median_of "lodge exec deb0 -- true")" "$(median_of "LXD: lxc exec ldeb0 -- true")"
ratio "lodge / LXD: file push 1 GiB (same run)" "$(median_of "lodge file push 1 GiB + sync")" "$(median_of "LXD: lxc file push 1 GiB + sync")"
ratio "lodge / LXD: file push -r 10,000 files (same run)" "$(median_of "lodge file push -r, 10,000 files")" "$(median_of "LXD: lxc file push -r, 10,000 files")"
ratio "lodge / LXD: export 1 GiB Debian, dir pool (same run)" "$(median_of "lodge export debian/12 + 1 GiB (dir pool, gzip) + sync")" "$(median_of "LXD: lxc export debian12 + 1 GiB (dir pool, gzip) + sync")"
ratio "lodge / LXD: import 1 GiB Debian, dir pool (same run)" "$(median_of "lodge import debian/12 + 1 GiB (dir pool, gzip) + sync")" "$(median_of "LXD: lxc import debian12 + 1 GiB (dir pool, gzip) + sync")"
top=${SCALE##* }
ratio "lodge / LXD: GET /1.0/metrics, $top running (same run)" "$(median_of "lodge GET /1.0/metrics, $top running")" "$(median_of "LXD GET /1.0/metrics, $top running")"
ratio "lodge / LXD: GET /1.0/metrics, $top running, 9 s apart (same run)" "$(median_of "lodge GET /1.0/metrics, $top running, 9 s apart")" "$(median_of "LXD GET /1.0/metrics, $top running, 9 s apart")"
ratio "lodge / LXD: launch until lease + global IPv6 (same run)" "$(median_of "lodge launch busybox until DHCPv4 lease + global IPv6")" "$(median_of "LXD launch busybox until DHCPv4 lease + global IPv6")"
awk -v ms="$(median_of "lodge GET /1.0/metrics, 100 running")" 'BEGIN { if (ms > 0) printf "target lodge GET /1.0/metrics with 100 running under 50 ms (issue 18): %s (median %.1f ms)\n", ms < 50 ? "met" : "missed", ms }'
ratio "lodge file push 1 GiB / cp (time, lower is better)" "$(median_of "lodge file push 1 GiB + sync")" "$(median_of "floor: cp 1 GiB + sync")"
ratio "lodge file pull 1 GiB / cp (time, lower is better)" "$(median_of "lodge file pull 1 GiB + sync")" "$(median_of "floor: cp 1 GiB + sync")"
# Issue 19: each way at least 0.7x cp's throughput (cp's time over lodge's).
for way in push pull; do
	awk -v l="$(median_of "lodge file $way 1 GiB + sync")" -v c="$(median_of "floor: cp 1 GiB + sync")" -v w="$way" 'BEGIN { if (l > 0 && c > 0) printf "target lodge file %s 1 GiB at least 0.7x cp'"'"'s throughput (issue 19): %s (%.2fx, medians of 5)\n", w, (c / l >= 0.7 ? "met" : "missed"), c / l }'
done
awk -v ms="$(median_of "lodge file push -r, 10,000 files")" 'BEGIN { if (ms > 0) printf "rate   lodge file push -r: %.0f files/s (LXD: one request per file)\n", 10000 / (ms / 1000) }'
echo "memory lodged peak RSS after the transfers: ${rss:-?} KiB"
echo
echo "LXD 5.0.2 on this machine kind (../shared/reference/lxd-baseline.md, not this run):"
echo "  launch debian dir pool 1121 ms median in a series; busybox 415 ms; exec -- true 25.7 ms vs lxc-attach 5.7 ms; lxc list 111 ms with 30 running;"
echo "  file push 200 MiB at 207 MiB/s, pull at 184 MiB/s"
# The plot: launch time against the number of instances already there, and
# list latency against the number listed, for lodge and LXD, from this run.
png=${out%.json}.png
command -v gnuplot >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null 2>&1
if command -v gnuplot >/dev/null && [ "$ROWS" = all ]; then
	for f in "$DIR"/plot-*.dat; do [ -s "$f" ] && { echo "# $(basename "$f")"; cat "$f"; }; done >"${out%.json}.plot.txt"
	series() { # FILE TITLE STYLE
		[ -s "$1" ] && printf '"%s" using 1:2 with %s title "%s", ' "$1" "$3" "$2"
	}
	left=$(series "$DIR/plot-launch-lodge.dat" lodge "points pt 7 ps 0.6"; series "$DIR/plot-launch-LXD.dat" "LXD 5.0.2" "points pt 5 ps 0.6")
	right=$(series "$DIR/plot-list-lodge.dat" lodge "linespoints pt 7"; series "$DIR/plot-list-LXD.dat" "LXD 5.0.2" "linespoints pt 5")
	gnuplot <<-EOF
	set terminal pngcairo size 1200,480 font "sans,10"
	set output "$png"
	set multiplot layout 1,2 title "lodge and LXD 5.0.2 on this machine, $(date -u +%F)"
	set grid
	set key top left
	set title "launch busybox (cached image) to RUNNING"
	set xlabel "instances running before the launch"
	set ylabel "ms"
	set yrange [0:*]
	plot ${left%, }
	set title "list --format json"
	set xlabel "instances"
	set logscale x
	plot ${right%, }
	unset multiplot
	EOF
	echo "plot: $png"
fi
echo "results: $out"
