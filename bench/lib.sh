# shellcheck shell=bash disable=SC2154 # results: the sourcing script's
# Sourced by bench/run.sh and bench/storage.sh: what both do the same way.
# results holds "NAME|MIN MEDIAN MAX N [P90][|SAMPLES]" rows (run.sh's have
# P90 and every sample, in ms, in the order taken).

# unmount_under DIR: lazily unmounts what is mounted below DIR, deepest first
# (overlay volumes, a btrfs pool), so that DIR can be removed.
unmount_under() {
	awk -v d="$1/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
}

# rows_json: the results rows as JSON objects, one per line, comma-separated.
rows_json() {
	local sep="" r name stats mn md mx n p90 samples
	for r in "${results[@]}"; do
		IFS='|' read -r name stats samples <<<"$r"
		read -r mn md mx n p90 <<<"$stats"
		printf '%s  {"what": "%s", "n": %s, "min": %s, "median": %s, ' "$sep" "$name" "$n" "$mn" "$md"
		[ -n "$p90" ] && printf '"p90": %s, ' "$p90"
		[ -n "$samples" ] && printf '"samples": [%s], ' "${samples// /, }"
		printf '"max": %s}' "$mx"
		sep=$',\n'
	done
	echo
}

# rows_table WIDTH UNIT: the results rows as a table.
rows_table() {
	local w=$1 unit=$2 r name stats mn md mx n p90
	printf "\n%-${w}s %4s %10s %10s %10s %10s\n" "what" "n" "min$unit" "median$unit" "p90$unit" "max$unit"
	for r in "${results[@]}"; do
		IFS='|' read -r name stats _ <<<"$r"
		read -r mn md mx n p90 <<<"$stats"
		printf "%-${w}s %4s %10s %10s %10s %10s\n" "$name" "$n" "$mn" "$md" "${p90:--}" "$mx"
	done
}

# free_subnet PREFIXLEN: a 10.x.y.1/PREFIXLEN (16 < PREFIXLEN <= 24) that
# overlaps no host route or address, for a bridge of a bench's own.
free_subnet() {
	{ ip -4 -o addr show; ip -4 route show table all; } | python3 -c '
import ipaddress, random, re, sys
plen = int(sys.argv[1])
used = []
for l in sys.stdin:
    for w in re.findall(r"\b\d+\.\d+\.\d+\.\d+(?:/\d+)?\b", l):
        try:
            used.append(ipaddress.ip_network(w, strict=False))
        except ValueError:
            pass
used = [u for u in used if u.prefixlen > 0]
step = 2 ** (24 - plen)
for _ in range(2000):
    n = ipaddress.ip_network("10.%d.%d.0/%d" % (random.randint(1, 254), random.randrange(0, 256, step), plen))
    if not any(n.overlaps(u) for u in used):
        print("%s/%d" % (n.network_address + 1, plen)); break
else:
    sys.exit("no free 10.x.y.0/%d" % plen)' "$1"
}
