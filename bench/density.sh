#!/usr/bin/env bash
# make bench-density (issue 24): N unprivileged Debian bookworm containers
# with systemd on one host, launched P at a time, measured every STEP, for
# lodge and then for Debian's LXD 5.0.2 in the same run. Prints the per-step
# series and the issue's targets (met / not met), writes
# bench/results/density-<date>.json and a PNG of the series side by side.
# Numbers come only from this run. Everything it makes lives under one temp
# directory and is removed at the end, on failure and on Ctrl-C.
#
#   N=1000 P=4 STEP=50      containers, launch parallelism, measuring interval
#   BENCH_LXD=0             skip LXD
#   LXD_TIME=7200           seconds LXD's launches may take before its part stops
#   LODGE_TIME=10800        the same for lodge
#   FAIL_STOP=10            consecutive failed launches that stop a side
#   BOOT_TIMEOUT=300        seconds a container may take to reach running
#   LXD_POOL_SIZE=40GiB     LXD's btrfs loop pool (sparse)
# Quick check: N=40 STEP=10 make bench-density.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
. bench/lib.sh
N=${N:-1000}
P=${P:-4}
STEP=${STEP:-50}
BOOT_TIMEOUT=${BOOT_TIMEOUT:-300}
FAIL_STOP=${FAIL_STOP:-10}
LODGE_TIME=${LODGE_TIME:-10800}
LXD_TIME=${LXD_TIME:-7200}
LXD_RUN=${BENCH_LXD:-1}
LXD_POOL_SIZE=${LXD_POOL_SIZE:-40GiB}
DIR=$(mktemp -d /var/tmp/lodge-density.XXXXXX)
# Unprivileged containers' roots walk down to their rootfs.
chmod 0711 "$DIR"
# lodged makes no default network: the bench makes its own /22 (as
# lodged's default network is, on a subnet it picks itself).
export LODGE_DIR=$DIR LODGE_DEFAULT_NETWORK=none
LODGE=bin/lodge
NET=ldn$$          # lodge's bridge
LNET=lxn$$         # LXD's bridge
PROF=density       # the profile with eth0 on the bridge, on each side
PREFIX=dens        # containers are dens1..densN
LXDDIR=$DIR/lxd
DPID= LXDPID=
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)

log() { echo "density: $*" >&2; }
lxdc() { LXD_DIR=$LXDDIR HOME=$LXDDIR lxc "$@"; }

# pidfile_kill FILE COMM: terminates the process a pidfile names if it is a COMM.
pidfile_kill() {
	local pid
	pid=$(cat "$1" 2>/dev/null) || return 0
	[ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] && kill "$pid" 2>/dev/null
	return 0
}

# kill_dnsmasq_of BRIDGE: terminates the dnsmasq serving BRIDGE, if any.
kill_dnsmasq_of() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(cat "$p/comm" 2>/dev/null)" = dnsmasq ] || continue
		tr '\0' '\n' <"$p/cmdline" 2>/dev/null | grep -qx -- "--interface=$1" && kill "${p#/proc/}" 2>/dev/null
	done
	return 0
}

# kill_tree PID...: terminates each PID and every process below it.
kill_tree() {
	python3 - "$@" <<-'EOF' | xargs -r kill 2>/dev/null || true
	import glob, sys
	kids = {}
	for p in glob.glob("/proc/[0-9]*/stat"):
	    try:
	        f = open(p).read().rsplit(")", 1)[1].split()
	    except (OSError, IndexError):
	        continue
	    kids.setdefault(f[1], []).append(p.split("/")[2])
	todo, out = list(sys.argv[1:]), []
	while todo:
	    p = todo.pop()
	    out.append(p)
	    todo.extend(kids.get(p, []))
	print(" ".join(out))
	EOF
}

# delete_all CLI...: force-deletes every instance the client lists, P at a time.
delete_all() {
	local n pids=()
	for n in $("$@" list --format csv -c n 2>/dev/null); do
		"$@" delete -f "$n" >/dev/null 2>&1 &
		pids+=($!)
		if ((${#pids[@]} >= P)); then wait "${pids[@]}" 2>/dev/null || true; pids=(); fi
	done
	((${#pids[@]})) && { wait "${pids[@]}" 2>/dev/null || true; }
	return 0
}

cleanup_lodge() {
	if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
		delete_all "$LODGE"
		$LODGE profile delete "$PROF" >/dev/null 2>&1 || true
		$LODGE network delete "$NET" >/dev/null 2>&1 || true
		# With nothing running, lodged stops its lxcfs as it exits.
		kill "$DPID" 2>/dev/null
		wait "$DPID" 2>/dev/null || true
	fi
	DPID=
	# Whatever a lodged that died left: its containers, bridge, dnsmasq, lxcfs.
	local c
	for c in $(lxc-ls -P "$DIR/containers" 2>/dev/null); do lxc-stop -k -P "$DIR/containers" -n "$c" >/dev/null 2>&1 || true; done
	kill_dnsmasq_of "$NET"
	ip link del "$NET" 2>/dev/null || true
	nft delete table ip "lodge-$NET" 2>/dev/null || true
	pidfile_kill "$DIR/lxcfs.pid" lxcfs
}

cleanup_lxd() {
	if [ -n "$LXDPID" ] && kill -0 "$LXDPID" 2>/dev/null; then
		delete_all lxdc
		lxdc profile delete "$PROF" >/dev/null 2>&1 || true
		lxdc network delete "$LNET" >/dev/null 2>&1 || true
		for i in $(lxdc image list --format csv -c f 2>/dev/null); do lxdc image delete "$i" >/dev/null 2>&1 || true; done
		lxdc profile device remove default root >/dev/null 2>&1 || true
		lxdc storage delete default >/dev/null 2>&1 || true
		LXD_DIR=$LXDDIR timeout 120 lxd shutdown >/dev/null 2>&1 || kill "$LXDPID" 2>/dev/null
		wait "$LXDPID" 2>/dev/null || true
	fi
	LXDPID=
	[ -d "$LXDDIR" ] || return 0
	local c ch
	for c in $(lxc-ls -P "$LXDDIR/containers" 2>/dev/null); do lxc-stop -k -P "$LXDDIR/containers" -n "$c" >/dev/null 2>&1 || true; done
	kill_dnsmasq_of "$LNET"
	ip link del "$LNET" 2>/dev/null || true
	# LXD keeps its rules in one table for all its networks: only this
	# network's chains go.
	for ch in $(nft list table inet lxd 2>/dev/null | awk -v n="$LNET" '$1 == "chain" && $2 ~ ("\\." n "$") {print $2}'); do
		nft flush chain inet lxd "$ch" 2>/dev/null && nft delete chain inet lxd "$ch" 2>/dev/null || true
	done
	# The table itself once it holds no chain (no LXD uses it any more).
	if nft list table inet lxd >/dev/null 2>&1 && ! nft list table inet lxd | grep -q chain; then
		nft delete table inet lxd 2>/dev/null || true
	fi
}

cleanup() {
	local rc=$?
	set +e
	# Cleanup runs to its end: a second Ctrl-C does not leave half of it.
	trap '' INT TERM
	trap - EXIT
	((rc)) && log "cleaning up after exit status $rc: containers, networks, pools, daemons"
	# Launches and probes still running in the background, with the
	# clients they run.
	local j
	local bgs=()
	for j in $(jobs -p); do [ "$j" != "$DPID" ] && [ "$j" != "$LXDPID" ] && bgs+=("$j"); done
	((${#bgs[@]})) && kill_tree "${bgs[@]}"
	sleep 1
	cleanup_lxd
	cleanup_lodge
	unmount_under "$DIR"
	# Loop devices of LXD's btrfs pool.
	losetup -l -n -O NAME,BACK-FILE 2>/dev/null | awk -v d="$DIR/" 'index($2, d) == 1 {print $1}' | xargs -r -n1 losetup -d 2>/dev/null || true
	rm -rf "$DIR" "$DIR.out" "$DIR.lxd.out"
	exit "$rc"
}
trap cleanup EXIT
# bg_wait CMD...: runs CMD so that Ctrl-C reaches the trap at once (bash runs a
# trap only after the foreground command ends, but interrupts a wait).
bg_wait() {
	"$@" &
	wait $!
}
trap 'exit 130' INT
trap 'exit 143' TERM

# free_22: a 10.x.y.1/22 that overlaps no host route or address.
free_22() { free_subnet 22; }

# dhcp_size BRIDGE: how many addresses the dnsmasq serving BRIDGE hands out.
dhcp_size() {
	python3 - "$1" <<-'EOF'
	import glob, ipaddress, sys
	n = 0
	for p in glob.glob("/proc/[0-9]*/cmdline"):
	    try:
	        args = open(p, "rb").read().decode().split("\0")
	    except OSError:
	        continue
	    if not args[0].endswith("dnsmasq") or "--interface=" + sys.argv[1] not in args:
	        continue
	    # lodge writes --dhcp-range=A,B,...; LXD --dhcp-range A,B,...
	    for i, a in enumerate(args):
	        v = a.split("=", 1)[1] if a.startswith("--dhcp-range=") else args[i + 1] if a == "--dhcp-range" else None
	        if v and "." in v:
	            f = v.split(",")
	            n += int(ipaddress.ip_address(f[1])) - int(ipaddress.ip_address(f[0])) + 1
	print(n)
	EOF
}

mem_used_mib() { awk '/^MemTotal:/ {t = $2} /^MemAvailable:/ {a = $2} END {printf "%.1f", (t - a) / 1024}' /proc/meminfo; }
rss_mib() { awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
threads() { awk '/^Threads:/ {print $2}' "/proc/$1/status"; }
fd_count() { ls "/proc/$1/fd" | wc -l; }
# cpu_s PID: user+system CPU seconds the process has used.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / hz}' "/proc/$1/stat"; }
median() { sort -n | awk '{a[NR] = $1} END {if (NR) printf "%.1f", a[int((NR + 1) / 2)]; else print "null"}'; }

# time_ms CMD...: runs CMD, prints the milliseconds it took.
time_ms() {
	local t0=${EPOCHREALTIME/./}
	"$@" >/dev/null 2>&1 || true
	echo $(((${EPOCHREALTIME/./} - t0) / 1000))
}

# Per side: WHO (lodge|lxd), CLI (the client command), DAEMON (its pid),
# LEASES (dnsmasq's lease file), IMG (the image alias), W (work dir).
side_lodge() {
	WHO=lodge CLI=("$LODGE") DAEMON=$DPID LEASES=$DIR/networks/$NET/dnsmasq.leases IMG=debian/12 W=$DIR/lodge
}
side_lxd() {
	WHO=lxd CLI=(env "LXD_DIR=$LXDDIR" "HOME=$LXDDIR" lxc) DAEMON=$LXDPID LEASES=$LXDDIR/networks/$LNET/dnsmasq.leases IMG=debian12 W=$DIR/lxd-run
}

# launch_one I: launches cI; one line "I NAME T0_US MS ok|fail" in launches.
# A failed launch's message is kept and what it left is deleted.
launch_one() {
	local i=$1 name=$PREFIX$1 t0 t1 st=ok
	t0=${EPOCHREALTIME/./}
	"${CLI[@]}" launch "$IMG" "$name" -p default -p "$PROF" >/dev/null 2>"$W/err.$name" || st=fail
	t1=${EPOCHREALTIME/./}
	echo "$i $name $t0 $(((t1 - t0) / 1000)) $st" >>"$W/launches"
	if [ $st = fail ]; then
		echo "$name: $(head -c 1500 "$W/err.$name" | tr '\n\t' '  ')" >>"$W/failures"
		"${CLI[@]}" delete -f "$name" >/dev/null 2>&1 || true
	fi
	rm -f "$W/err.$name"
}

# boot_wait NAME T0_US OUT: waits for systemd in NAME to finish booting and
# appends "NAME MS STATE" (MS from the start of its launch; -1 if it never did).
boot_wait() {
	local end=$((SECONDS + BOOT_TIMEOUT)) out=
	while ((SECONDS < end)); do
		out=$(timeout 120 "${CLI[@]}" exec "$1" -- systemctl is-system-running --wait 2>/dev/null) || true
		case $out in running | degraded)
			echo "$1 $(((${EPOCHREALTIME/./} - $2) / 1000)) $out" >>"$3"
			return 0 ;;
		esac
		sleep 0.2
	done
	echo "$1 -1 ${out:-none}" >>"$3"
}

leases_now() { [ -s "$LEASES" ] && awk 'NF >= 4 && $3 ~ /^[0-9.]+$/' "$LEASES" | wc -l || echo 0; }

# step K I FROM: the figures with K containers launched (I attempts; the
# launches since attempt FROM are this step's).
step() {
	local k=$1 i=$2 from=$3 launch boot list exec st g lcpu
	# The daemon's CPU for this step's launches alone (the measurements
	# below cost it too, and list grows with the count).
	lcpu=$(awk -v c="$(cpu_s "$DAEMON")" -v m="$CPU_MARK" -v n="$((k - PREV_K))" 'BEGIN {printf "%.1f", (c - m) * 1000 / n}')
	launch=$(awk -v a="$from" -v b="$i" '$1 > a && $1 <= b && $5 == "ok" {print $4}' "$W/launches" | median)
	# Time to running: the step's last batch, waited on together.
	: >"$W/boot.step"
	local pids=() n t0
	while read -r n t0; do
		boot_wait "$n" "$t0" "$W/boot.step" &
		pids+=($!)
	done < <(awk -v a="$((i - P))" -v b="$i" '$1 > a && $1 <= b && $5 == "ok" {print $2, $3}' "$W/launches")
	((${#pids[@]})) && wait "${pids[@]}"
	boot=$(awk '$2 >= 0 {print $2}' "$W/boot.step" | median)
	cat "$W/boot.step" >>"$W/boot.all"
	list=$(for _ in 1 2 3; do time_ms "${CLI[@]}" list --format json; done | median)
	exec=$(for _ in 1 2 3 4 5; do time_ms "${CLI[@]}" exec "$FIRST" -- true; done | median)
	g=null
	if [ "$WHO" = lodge ]; then
		g=$(curl -s --unix-socket "$DIR/unix.socket" http://lodge/internal/stats | python3 -c 'import json, sys; print(json.load(sys.stdin)["metadata"]["goroutines"])' 2>/dev/null || echo null)
	fi
	local used ctmem
	used=$(mem_used_mib)
	# What the containers' cgroups are charged, as the API reports it (less
	# noisy than the host's figure on a shared machine).
	ctmem=$("${CLI[@]}" list --format json 2>/dev/null | python3 -c '
import json, sys
u = [i["state"]["memory"]["usage"] for i in json.load(sys.stdin) if i.get("state") and i["state"]["status"] == "Running"]
print("%.2f" % (sum(u) / len(u) / 1048576) if u else "null")' 2>/dev/null || echo null)
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$k" "$launch" "$used" \
		"$(awk -v u="$used" -v b="$BASE_MEM" -v k="$k" 'BEGIN {printf "%.2f", (u - b) / k}')" \
		"$(rss_mib "$DAEMON")" "$(fd_count "$DAEMON")" "$g" "$list" "$exec" "$boot" "$(leases_now)" \
		"$(cpu_s "$DAEMON")" "$((i - k))" "$((SECONDS - T0))" "$ctmem" "$lcpu" "$(threads "$DAEMON")" >>"$W/steps.tsv"
	PREV_K=$k
	CPU_MARK=$(cpu_s "$DAEMON")
	log "$WHO: $(tail -1 "$W/steps.tsv" | awk -F'\t' '{printf "%d running, launch %s ms, mem %s MiB/ct, daemon RSS %s MiB, fds %s, goroutines %s, list %s ms, exec %s ms, boot %s ms, leases %s", $1, $2, $4, $5, $6, $7, $8, $9, $10, $11}')"
}

# next_step K: the next count at which to measure after K.
next_step() {
	local k=$1 s
	if ((k < 10 && N > 10 && STEP > 10)); then echo 10; return; fi
	s=$(((k / STEP + 1) * STEP))
	echo $((s < N ? s : N))
}

# run_side LIMIT_S: launches up to N, measuring at every step; stops early
# after FAIL_STOP consecutive failures or when LIMIT_S seconds have passed.
run_side() {
	local limit=$1 i=0 ok=0 from=0 fails=0 target b pids st
	mkdir -p "$W"
	: >"$W/launches"
	: >"$W/failures"
	: >"$W/boot.all"
	printf 'count\tlaunch_ms\tmem_used_mib\tmem_per_ct_mib\tdaemon_rss_mib\tdaemon_fds\tgoroutines\tlist_ms\texec_ms\tboot_ms\tleases\tdaemon_cpu_s\tfailed\telapsed_s\tct_mem_mib\tlaunch_cpu_ms\tdaemon_threads\n' >"$W/steps.tsv"
	BASE_MEM=$(mem_used_mib)
	echo "base_mem_mib $BASE_MEM" >"$W/end"
	echo "daemon_rss_idle_mib $(rss_mib "$DAEMON")" >>"$W/end"
	T0=$SECONDS
	PREV_K=0
	CPU_MARK=$(cpu_s "$DAEMON")
	FIRST=
	target=$(next_step 0)
	while ((i < N)); do
		# One batch of up to P launches, never across a step.
		b=$((target - ok < P ? target - ok : P))
		pids=()
		for ((j = 0; j < b; j++)); do
			i=$((i + 1))
			launch_one "$i" &
			pids+=($!)
		done
		wait "${pids[@]}"
		st=$(awk -v a="$((i - b))" '$1 > a && $5 == "ok"' "$W/launches" | wc -l)
		ok=$((ok + st))
		if ((st == 0)); then fails=$((fails + b)); else fails=0; fi
		[ -z "$FIRST" ] && FIRST=$(awk '$5 == "ok" {print $2; exit}' "$W/launches")
		if ((ok >= target)) && ((ok > 0)); then
			step "$ok" "$i" "$from"
			from=$i
			target=$(next_step "$ok")
		fi
		if ((fails >= FAIL_STOP)); then
			log "$WHO: $fails launches in a row failed; this side stops at $ok (see failures in the JSON)"
			echo "stopped failures" >>"$W/end"
			break
		fi
		if ((SECONDS - T0 > limit)); then
			log "$WHO: the time limit (${limit}s) ran out at $ok"
			echo "stopped time" >>"$W/end"
			break
		fi
	done
	# The last partial step, if the loop stopped between steps.
	((ok > 0)) && [ "$(tail -1 "$W/steps.tsv" | cut -f1)" != "$ok" ] && step "$ok" "$i" "$from"
	{
		echo "attempted $i"
		echo "launched $ok"
		echo "launch_s $((SECONDS - T0))"
	} >>"$W/end"
}

# check_all TAG: every launched container: systemd running/degraded (waited
# for up to BOOT_TIMEOUT), and its MAC in the lease file. Adds
# TAG_systemd_up, TAG_leased, TAG_up_and_leased (both) to end.
check_all() {
	local tag=$1 n pids=() out
	: >"$W/check.$tag"
	for n in $(awk '$5 == "ok" {print $2}' "$W/launches"); do
		boot_wait "$n" "${EPOCHREALTIME/./}" "$W/check.$tag" &
		pids+=($!)
		if ((${#pids[@]} >= P)); then wait "${pids[@]}"; pids=(); fi
	done
	((${#pids[@]})) && wait "${pids[@]}"
	"${CLI[@]}" list --format json >"$W/list.json"
	python3 - "$W/check.$tag" "$W/list.json" "$LEASES" "$tag" >>"$W/end" <<-'EOF'
	import json, sys
	check, lst, leases, tag = sys.argv[1:]
	state = {f[0]: f[2] for f in (l.split() for l in open(check)) if len(f) >= 3}
	macs = {i["name"]: i.get("config", {}).get("volatile.eth0.hwaddr", "").lower() for i in json.load(open(lst))}
	try:
	    leased = {l.split()[1].lower() for l in open(leases) if len(l.split()) >= 4}
	except OSError:
	    leased = set()
	run = {n for n, s in state.items() if s in ("running", "degraded")}
	lease = {n for n in state if macs.get(n) in leased}
	print(f"{tag}_systemd_up {len(run)}")
	print(f"{tag}_leased {len(lease)}")
	print(f"{tag}_up_and_leased {len(run & lease)}")
	bad = sorted(set(state) - (run & lease))[:10]
	print(f"{tag}_bad " + (",".join(f"{n}:{state[n]}{'' if n in lease else '/nolease'}" for n in bad) or "-"))
	EOF
}

# cpu_idle_frac: the share of the host's CPU time idle over one second.
cpu_idle_frac() {
	local a b
	a=$(awk '/^cpu / {print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat)
	sleep 1
	b=$(awk '/^cpu / {print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat)
	awk -v a="$a" -v b="$b" 'BEGIN {split(a, x, " "); split(b, y, " "); t = y[2] - x[2]; printf "%.2f", (t > 0 ? (y[1] - x[1]) / t : 0)}'
}

# settled TAG: list and exec once every container has booted and the host
# is idle at least half of a second (or a minute has passed): the figures
# at N running, where the steps' are taken while the last launches boot.
# Adds TAG_idle, TAG_list_ms (median of 5) and TAG_exec_ms (median of 11).
settled() {
	local tag=$1 end=$((SECONDS + 60)) idle=0
	while ((SECONDS < end)); do
		idle=$(cpu_idle_frac)
		awk -v i="$idle" 'BEGIN {exit !(i >= 0.5)}' && break
	done
	{
		echo "${tag}_idle $idle"
		echo "${tag}_list_ms $(for _ in 1 2 3 4 5; do time_ms "${CLI[@]}" list --format json; done | median)"
		echo "${tag}_exec_ms $(for _ in $(seq 11); do time_ms "${CLI[@]}" exec "$FIRST" -- true; done | median)"
	} >>"$W/end"
}

# count_running: how many instances the client lists as RUNNING.
count_running() { "${CLI[@]}" list --format csv -c s 2>/dev/null | grep -ci '^running$' || true; }

# ---- lodge ----
make build >/dev/null
setsid bin/lodged --dir "$DIR" >"$DIR.out" 2>&1 </dev/null &
DPID=$!
bin/lodged --dir "$DIR" waitready --timeout 60
bg_wait $LODGE image build debian --release bookworm --alias debian/12 >/dev/null
if [ "$LXD_RUN" = 1 ]; then $LODGE image export debian/12 "$DIR/deb.tar.zst" >/dev/null; fi
SUBNET=$(free_22)
$LODGE network create "$NET" "ipv4.address=$SUBNET" ipv4.nat=true ipv6.address=none >/dev/null
# Every container needs an address: the DHCP range dnsmasq got must hold N.
range=$(dhcp_size "$NET")
if ((range < N)); then
	log "the DHCP range of $NET ($SUBNET) holds $range addresses, fewer than N=$N"
	exit 1
fi
$LODGE profile create "$PROF" >/dev/null
$LODGE profile device add "$PROF" eth0 nic "network=$NET" name=eth0 >/dev/null
log "lodge: $NET $SUBNET ($range DHCP addresses), launching N=$N, P=$P, every $STEP measured"
side_lodge
run_side "$LODGE_TIME"
check_all end
settled settled
# lodged shutdown with everything running, then a fresh start: they come back.
launched=$(awk '$1 == "launched" {print $2}' "$W/end")
t0=${EPOCHREALTIME/./}
bg_wait bin/lodged --dir "$DIR" shutdown --timeout 1800 || log "lodged shutdown failed"
echo "shutdown_ms $(((${EPOCHREALTIME/./} - t0) / 1000))" >>"$W/end"
wait "$DPID" 2>/dev/null || true
echo "running_after_shutdown $(lxc-ls -P "$DIR/containers" --running 2>/dev/null | wc -w)" >>"$W/end"
t0=${EPOCHREALTIME/./} s0=$SECONDS
setsid bin/lodged --dir "$DIR" >>"$DIR.out" 2>&1 </dev/null &
DPID=$!
bg_wait bin/lodged --dir "$DIR" waitready --timeout 300
echo "restart_ready_ms $(((${EPOCHREALTIME/./} - t0) / 1000))" >>"$W/end"
side_lodge
until (($(count_running) >= launched)) || ((SECONDS - s0 > 3600)); do sleep 1; done
echo "restart_all_running_ms $(((${EPOCHREALTIME/./} - t0) / 1000))" >>"$W/end"
echo "restart_running $(count_running)" >>"$W/end"
check_all restart
echo "daemon_rss_end_mib $(rss_mib "$DPID")" >>"$W/end"
log "lodge: $(tr '\n' ' ' <"$W/end")"
cp "$DIR.out" "$W/lodged.out" 2>/dev/null || true
cleanup_lodge

# ---- LXD 5.0.2 ----
start_lxd() {
	if ! command -v lxd >/dev/null; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends lxd >/dev/null 2>&1 || return 1
	fi
	mkdir -p "$LXDDIR"
	chmod 0711 "$LXDDIR"
	LXD_DIR=$LXDDIR setsid lxd --logfile "$LXDDIR/lxd.log" >"$DIR.lxd.out" 2>&1 </dev/null &
	LXDPID=$!
	LXD_DIR=$LXDDIR lxd waitready --timeout=60 || return 1
	LSUBNET=$(free_22)
	LXD_DIR=$LXDDIR lxd init --preseed >/dev/null <<-EOF || return 1
	config:
	  images.auto_update_interval: "0"
	storage_pools:
	- name: default
	  driver: btrfs
	  config: {size: $LXD_POOL_SIZE}
	networks:
	- name: $LNET
	  type: bridge
	  config: {ipv4.address: $LSUBNET, ipv4.nat: "true", ipv6.address: none}
	profiles:
	- name: default
	  devices:
	    root: {path: /, pool: default, type: disk}
	EOF
	lxdc profile create "$PROF" >/dev/null || return 1
	lxdc profile device add "$PROF" eth0 nic "network=$LNET" name=eth0 >/dev/null || return 1
	lxdc image import "$DIR/deb.tar.zst" --alias debian12 >/dev/null || return 1
	sleep 2
	range=$(dhcp_size "$LNET")
	log "lxd: $LNET $LSUBNET ($range DHCP addresses), btrfs pool of $LXD_POOL_SIZE"
}
lxd_ran=0
if [ "$LXD_RUN" = 1 ]; then
	sync
	sleep 3
	if start_lxd; then
		lxd_ran=1
		side_lxd
		run_side "$LXD_TIME"
		check_all end
		settled settled
		launched=$(awk '$1 == "launched" {print $2}' "$W/end")
		t0=${EPOCHREALTIME/./}
		bg_wait env LXD_DIR=$LXDDIR lxd shutdown --timeout 1800 || log "lxd shutdown failed"
		echo "shutdown_ms $(((${EPOCHREALTIME/./} - t0) / 1000))" >>"$W/end"
		wait "$LXDPID" 2>/dev/null || true
		t0=${EPOCHREALTIME/./} s0=$SECONDS
		LXD_DIR=$LXDDIR setsid lxd --logfile "$LXDDIR/lxd.log" >>"$DIR.lxd.out" 2>&1 </dev/null &
		LXDPID=$!
		# LXD 5.0.2 with 550 containers was not ready within 300 s: recorded,
		# and its side ends there (the report says so).
		if bg_wait env LXD_DIR=$LXDDIR lxd waitready --timeout=900; then
			echo "restart_ready_ms $(((${EPOCHREALTIME/./} - t0) / 1000))" >>"$W/end"
			side_lxd
			until (($(count_running) >= launched)) || ((SECONDS - s0 > 3600)); do sleep 1; done
			echo "restart_all_running_ms $(((${EPOCHREALTIME/./} - t0) / 1000))" >>"$W/end"
			echo "restart_running $(count_running)" >>"$W/end"
			check_all restart
		else
			echo "restart_ready_failed $(((${EPOCHREALTIME/./} - t0) / 1000))" >>"$W/end"
			log "lxd: not ready 900 s after its restart; its side ends here"
		fi
		echo "daemon_rss_end_mib $(rss_mib "$LXDPID" 2>/dev/null || echo null)" >>"$W/end"
		log "lxd: $(tr '\n' ' ' <"$W/end")"
	else
		log "LXD did not start; see $LXDDIR/lxd.log (its part is left out)"
		tail -5 "$LXDDIR/lxd.log" >&2 2>/dev/null || true
	fi
	cleanup_lxd
fi

# ---- results ----
mkdir -p bench/results
out=bench/results/density-$STAMP.json
sysctls=""
for k in fs.inotify.max_user_instances fs.inotify.max_user_watches kernel.keys.maxkeys kernel.keys.maxbytes \
	net.ipv4.neigh.default.gc_thresh3 kernel.pid_max; do
	sysctls+="$k=$(sysctl -n "$k") "
done
python3 bench/density_report.py "$out" "$DIR/lodge" "$([ $lxd_ran = 1 ] && echo "$DIR/lxd-run")" \
	"N=$N P=$P STEP=$STEP" "$(uname -r), $(nproc) cpus, $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)" "$sysctls"

# The plot: each series against the number of containers running.
png=${out%.json}.png
command -v gnuplot >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null 2>&1 || true
if command -v gnuplot >/dev/null; then
	cp "$DIR/lodge/steps.tsv" "${out%.json}.lodge.tsv"
	[ $lxd_ran = 1 ] && cp "$DIR/lxd-run/steps.tsv" "${out%.json}.lxd.tsv"
	panel() { # COLUMN TITLE YLABEL
		local s
		s="\"${out%.json}.lodge.tsv\" using 1:$1 with linespoints pt 7 title \"lodge\""
		[ $lxd_ran = 1 ] && s+=", \"${out%.json}.lxd.tsv\" using 1:$1 with linespoints pt 5 title \"LXD 5.0.2\""
		printf 'set title "%s"\nset ylabel "%s"\nplot %s\n' "$2" "$3" "$s"
	}
	gnuplot <<-EOF || log "gnuplot failed; the series are in ${out%.json}.*.tsv"
	set terminal pngcairo size 2800,800 font "sans,10"
	set output "$png"
	set datafile separator "\t"
	set datafile missing "null"
	set key autotitle columnhead
	set multiplot layout 2,7 title "$N Debian bookworm systemd containers, launched $P at a time: lodge and LXD 5.0.2 on this machine, $(date -u +%F)"
	set grid
	set key top left
	set xlabel "containers running"
	$(panel 2 "launch (median of the step)" ms)
	$(panel 4 "host memory per container" MiB)
	$(panel 3 "host memory used" MiB)
	$(panel 5 "daemon RSS" MiB)
	$(panel 6 "daemon open fds" fds)
	$(panel 17 "daemon threads" threads)
	$(panel 7 "lodged goroutines" goroutines)
	$(panel 8 "list --format json (median of 3)" ms)
	$(panel 9 "exec -- true (median of 5)" ms)
	$(panel 10 "launch to systemd running (step's last batch)" ms)
	$(panel 16 "daemon CPU per launch (launches only)" ms)
	$(panel 15 "container cgroup memory (mean)" MiB)
	unset multiplot
	EOF
	echo "plot: $png"
fi
echo "results: $out"
