#!/usr/bin/env bash
# make compat: Debian's LXD client (lxd-client 5.0.2), a client nobody here
# wrote, drives a throw-away lodged through every feature lodge has. Prints a
# pass/fail table and the pass rate, and writes test/compat/results.txt.
# Every failure is either a bug to fix or a known difference listed in the
# README with its reason. Exits non-zero only if the harness itself breaks
# (or with COMPAT_STRICT=1, on any failure).
set -uo pipefail
cd "$(dirname "$0")/../.."
export PATH="/usr/local/go/bin:$PATH"
command -v lxc >/dev/null || { echo "compat: Debian's lxd-client is not installed (make deps)" >&2; exit 2; }
[ -x bin/lodged ] || make build >/dev/null

DIR=$(mktemp -d /var/tmp/lodge-compat.XXXXXX)
chmod 0711 "$DIR"
WORK=$DIR/work
mkdir -p "$WORK"
export LODGE_DIR=$DIR
export LXD_DIR=$DIR HOME=$WORK
LODGE=bin/lodge
PORT=$((20000 + RANDOM % 20000))
results=()

cleanup() {
	for n in $($LODGE list --format csv -c n 2>/dev/null); do $LODGE delete -f "$n" >/dev/null 2>&1; done
	$LODGE profile device remove default eth0 >/dev/null 2>&1
	$LODGE network delete "$LODGE_DEFAULT_NETWORK" >/dev/null 2>&1
	[ -n "${DPID:-}" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	rm -rf "$DIR"
}
trap cleanup EXIT

# A default network of this run's own, removed at the end (a lodgebr0
# would outlive the throw-away state directory).
export LODGE_DEFAULT_NETWORK=lcompat$$
setsid bin/lodged >"$DIR/lodged.out" 2>&1 </dev/null &
DPID=$!
bin/lodged waitready --timeout 30 >/dev/null || { cat "$DIR/lodged.out"; exit 2; }
$LODGE image build busybox --alias busybox >/dev/null || exit 2

# check NAME [--out REGEX] -- CMD...: runs CMD (30 s at most); passes if it
# exits 0 and, with --out, its output matches REGEX (grep -E).
check() {
	local name=$1; shift
	local want=""
	if [ "$1" = "--out" ]; then want=$2; shift 2; fi
	[ "$1" = "--" ] && shift
	local out rc
	out=$(timeout 30 "$@" 2>&1 </dev/null)
	rc=$?
	if [ $rc -eq 0 ] && { [ -z "$want" ] || grep -Eq -- "$want" <<<"$out"; }; then
		results+=("PASS|$name|")
	else
		local why
		why=$(tr '\n' ' ' <<<"$out" | cut -c1-110)
		[ $rc -ne 0 ] && why="exit $rc: $why" || why="output lacks /$want/: $why"
		results+=("FAIL|$name|$why")
	fi
}

# checkfail NAME REGEX -- CMD...: passes if CMD fails and says REGEX.
checkfail() {
	local name=$1 want=$2; shift 3
	local out
	if out=$(timeout 30 "$@" 2>&1 </dev/null); then
		results+=("FAIL|$name|succeeded, should have failed")
	elif grep -Eiq -- "$want" <<<"$out"; then
		results+=("PASS|$name|")
	else
		results+=("FAIL|$name|error lacks /$want/: $(tr '\n' ' ' <<<"$out" | cut -c1-100)")
	fi
}

# Server and listing.
check "lxc info (server)" --out "api_version: \"?1.0" -- lxc info
check "lxc launch busybox c1" -- lxc launch busybox c1
check "lxc list (table)" --out "c1 +\| RUNNING" -- lxc list
check "lxc list --format csv" --out "^c1,RUNNING" -- lxc list --format csv -c ns
check "lxc list --format json" --out '"name":"c1"' -- lxc list --format json
check "lxc list --format yaml" --out "name: c1" -- lxc list --format yaml
check "lxc list --format compact" --out "c1" -- lxc list --format compact
check "lxc info c1" --out "Status: RUNNING" -- lxc info c1
check "lxc init + start" -- sh -c 'lxc init busybox c3 && lxc start c3'
check "lxc restart" -- lxc restart c3
check "lxc stop --force" -- lxc stop --force c3
check "lxc delete stopped" -- lxc delete c3
checkfail "lxc delete running refused" "running|stop" -- lxc delete c1

# Exec.
check "lxc exec (non-interactive)" --out "^hello$" -- lxc exec c1 -- echo hello
check "lxc exec exit code" -- sh -c 'lxc exec c1 -- sh -c "exit 7"; [ $? -eq 7 ]'
check "lxc exec --env --cwd" --out "^bar /tmp$" -- lxc exec c1 --env FOO=bar --cwd /tmp -- sh -c 'echo $FOO $(pwd)'
check "lxc exec stdin" --out "^piped$" -- sh -c 'echo piped | lxc exec c1 -- cat'
check "lxc exec interactive pty + resize" --out "^size 40 120 / 50 132$" -- python3 test/compat/pty_exec.py

# Files.
echo "10.0.0.1 compat" >"$WORK/hosts"
mkdir -p "$WORK/site/css" && echo "a{}" >"$WORK/site/css/a.css" && echo "<h1>" >"$WORK/site/index.html"
check "lxc file push" -- lxc file push "$WORK/hosts" c1/tmp/hosts
check "lxc file pull" --out "10.0.0.1 compat" -- sh -c "lxc file pull c1/tmp/hosts $WORK/hosts.back && cat $WORK/hosts.back"
check "lxc file push --mode --uid" --out "^600 1000$" -- sh -c "lxc file push --mode 0600 --uid 1000 $WORK/hosts c1/tmp/h2 >/dev/null && lxc exec c1 -- stat -c '%a %u' /tmp/h2"
check "lxc file push -r" -- lxc file push -r "$WORK/site" c1/srv/ --create-dirs
check "lxc file pull -r" --out "a\{\}" -- sh -c "mkdir -p $WORK/back && lxc file pull -r c1/srv/site $WORK/back && cat $WORK/back/site/css/a.css"
check "lxc file delete" -- sh -c 'lxc file delete c1/tmp/h2 && ! lxc exec c1 -- test -e /tmp/h2'
# Without a terminal, lxc's edit commands read the new content from stdin.
check "lxc file edit" --out "edited" -- sh -c "echo '10.0.0.1 edited' | lxc file edit c1/tmp/hosts && lxc exec c1 -- cat /tmp/hosts"

# Config.
check "lxc config set" -- lxc config set c1 user.compat yes
check "lxc config get" --out "^yes$" -- lxc config get c1 user.compat
check "lxc config show" --out "user.compat: \"?yes" -- lxc config show c1
check "lxc config show --expanded" --out "user.compat" -- lxc config show --expanded c1
check "lxc config unset" -- sh -c 'lxc config unset c1 user.compat && [ -z "$(lxc config get c1 user.compat)" ]'
check "lxc config edit (YAML on stdin)" --out "^edited$" -- sh -c "lxc config show c1 | sed 's/^config:.*/config:\\n  user.edit: edited/' | lxc config edit c1 && lxc config get c1 user.edit"
checkfail "lxc config set unknown key refused" "unknown|invalid" -- lxc config set c1 no.such.key 1
check "lxc config set limits.memory" -- lxc config set c1 limits.memory 256MiB
check "lxc console --show-log" -- lxc console c1 --show-log

# cloud-init keys and the guest API (/dev/lxd).
check "lxc config set cloud-init.user-data" --out "^runcmd: \[true\]$" -- sh -c 'lxc config set c1 cloud-init.user-data "$(printf "#cloud-config\nruncmd: [true]\n")" && lxc config get c1 cloud-init.user-data'
checkfail "lxc config set cloud-init.network-config (not YAML) refused" "yaml|mapping" -- lxc config set c1 cloud-init.network-config "a: [b"
check "/dev/lxd/sock in the instance" -- lxc exec c1 -- test -S /dev/lxd/sock
check "lxc launch -c security.devlxd=false" -- sh -c 'lxc launch busybox c8 -c security.devlxd=false && ! lxc exec c8 -- test -e /dev/lxd/sock'
check "lxc config set security.devlxd.images" -- lxc config set c1 security.devlxd.images true

# Profiles.
check "lxc profile list" --out "default" -- lxc profile list
check "lxc profile show default" --out "name: default" -- lxc profile show default
check "lxc profile create/set" -- sh -c 'lxc profile create small && lxc profile set small limits.memory 128MiB'
check "lxc launch -p default -p small" -- lxc launch busybox c4 -p default -p small
check "lxc profile delete in use refused" -- sh -c '! lxc profile delete small'

# Snapshots, copies, publish.
check "lxc snapshot" -- lxc snapshot c1 s1
check "lxc info shows snapshot" --out "s1" -- lxc info c1
check "lxc restore" -- sh -c 'lxc exec c1 -- touch /root/after && lxc restore c1 s1 && ! lxc exec c1 -- test -e /root/after'
check "lxc copy" -- lxc copy c1 c2
check "lxc copy from snapshot" -- lxc copy c1/s1 c5
check "lxc move (rename)" -- sh -c 'lxc move c5 c6 && lxc info c6'
check "lxc delete snapshot" -- lxc delete c1/s1
# lxc copy leaves the copy stopped, as LXD does: it publishes as it is.
check "lxc publish" -- lxc publish c2 --alias published
check "lxc publish --force (running)" -- lxc publish c1 --alias published-running --force
check "lxc launch published image" -- lxc launch published c7

# Images.
check "lxc image list" --out "busybox" -- lxc image list
check "lxc image list --format json" --out '"aliases"' -- lxc image list --format json
check "lxc image info" --out "Fingerprint" -- lxc image info busybox
fp=$(lxc image list --format csv -c f busybox 2>/dev/null | head -1)
check "lxc image alias create/list/delete" -- sh -c "lxc image alias create bb2 $fp && lxc image alias list | grep -q bb2 && lxc image alias delete bb2"
check "lxc image export (hash = fingerprint)" -- sh -c "lxc image export busybox $WORK/bbexport >/dev/null && sha256sum $WORK/bbexport* | grep -q ^$fp"
checkfail "lxc image import of a known image refused" "exists" -- sh -c "lxc image import $WORK/bbexport*"
checkfail "lxc image copy to the same server refused" "same|different" -- lxc image copy busybox local:

# Operations: the launches above are recorded; their outcome is readable.
check "lxc operation list" --out "SUCCESS" -- lxc operation list
opid=$(lxc operation list --format csv 2>/dev/null | grep -m1 -i "creating instance" | cut -d, -f1)
check "lxc operation show" --out "status: Success" -- lxc operation show "$opid"

# Networks and storage.
check "lxc network list" -- lxc network list
check "lxc storage list" --out "default" -- lxc storage list
check "lxc storage info default" -- lxc storage info default
# Hosting networking (issue 18): IPv6, NIC filtering, network forwards.
NET=$LODGE_DEFAULT_NETWORK
check "lxc network set ipv6.address=auto" --out "^fd" -- sh -c "lxc network set $NET ipv6.address=auto && lxc network get $NET ipv6.address"
check "lxc config device override (filtering)" --out "security.ipv4_filtering: \"?true" -- sh -c \
	"lxc config device override c1 eth0 security.mac_filtering=true security.ipv4_filtering=true && lxc config show c1"
target=$(lxc network get "$NET" ipv4.address 2>/dev/null | sed 's|\.1/.*|.77|')
check "lxc network forward create" -- lxc network forward create "$NET" 198.51.100.77
check "lxc network forward port add" -- lxc network forward port add "$NET" 198.51.100.77 tcp 80,8080 "$target" 8000,8001
check "lxc network forward list" --out "198.51.100.77" -- lxc network forward list "$NET"
check "lxc network forward show" --out "target_port: \"?8000,8001" -- lxc network forward show "$NET" 198.51.100.77
check "lxc network forward delete" -- sh -c "lxc network forward delete $NET 198.51.100.77 && ! lxc network forward show $NET 198.51.100.77"

# Remote over HTTPS: this lodged serves TLS; the client joins with a token.
check "lxc config set core.https_address" -- lxc config set core.https_address "127.0.0.1:$PORT"
token=$($LODGE config trust add compat-client 2>/dev/null | tail -1)
check "lxc remote add (token)" -- lxc remote add l2 "$token" --accept-certificate
check "lxc list over HTTPS" --out "c1" -- lxc list l2:
check "lxc image list over HTTPS" --out "busybox" -- lxc image list l2:
# Metrics: a certificate of type metrics reads /1.0/metrics and nothing else.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:secp384r1 -nodes -keyout "$WORK/prom.key" -out "$WORK/prom.crt" \
	-days 30 -subj /CN=prom >/dev/null 2>&1
check "lxc config trust add --type metrics" -- lxc config trust add "$WORK/prom.crt" --type metrics --name prom
check "GET /1.0/metrics with the metrics cert" --out 'lxd_cpu_seconds_total\{cpu="0",mode="user",name="c1"' -- \
	curl -sfk --cert "$WORK/prom.crt" --key "$WORK/prom.key" "https://127.0.0.1:$PORT/1.0/metrics"
check "metrics cert refused elsewhere" --out '"error_code":403' -- \
	curl -sk --cert "$WORK/prom.crt" --key "$WORK/prom.key" "https://127.0.0.1:$PORT/1.0/instances"

# Backups, logs, ephemeral instances, disk hotplug, re-shift (issue 20).
check "lxc export" -- lxc export c1 "$WORK/c1.tar.gz"
check "lxc import (other name) + start + exec" --out "^imported$" -- sh -c "lxc import $WORK/c1.tar.gz c8 >/dev/null && lxc start c8 && lxc exec c8 -- echo imported"
check "lxc info --show-log" --out "^Log:" -- lxc info c1 --show-log
check "lxc launch --ephemeral + stop: gone" -- sh -c 'lxc launch busybox e1 --ephemeral && lxc stop --force e1 && ! lxc info e1'
mkdir -p "$WORK/share" && echo shared >"$WORK/share/f"
check "lxc config device add disk (running)" --out "^shared$" -- sh -c "lxc config device add c1 d1 disk source=$WORK/share path=/mnt/share >/dev/null && lxc exec c1 -- cat /mnt/share/f"
check "lxc config device remove disk (running)" -- sh -c 'lxc config device remove c1 d1 >/dev/null && ! lxc exec c1 -- test -e /mnt/share/f'
check "lxc config set security.privileged (stopped)" --out "^0 0 4294967295 0$" -- sh -c 'lxc launch busybox p1 >/dev/null && lxc stop --force p1 && lxc config set p1 security.privileged true && lxc start p1 && echo $(lxc exec p1 -- cat /proc/self/uid_map) $(lxc exec p1 -- stat -c %u /)'

# Delete.
check "lxc delete -f" -- sh -c 'lxc delete -f c1 && ! lxc info c1'

pass=0
fail=0
printf '\n%-4s  %-42s  %s\n' "" "lxc command (lxd-client 5.0.2 -> lodged)" "why it failed"
for r in "${results[@]}"; do
	IFS='|' read -r st name why <<<"$r"
	printf '%-4s  %-42s  %s\n' "$st" "$name" "$why"
	if [ "$st" = PASS ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
done
total=$((pass + fail))
echo
echo "compat: $pass of $total upstream client checks pass ($((100 * pass / total))%)"
printf '%s\n' "${results[@]}" >test/compat/results.txt
echo "$pass passed, $fail failed"
if [ "${COMPAT_STRICT:-0}" = 1 ] && [ $fail -gt 0 ]; then exit 1; fi
exit 0
