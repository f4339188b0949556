# Sourced by bench/run.sh and bench/storage.sh: what both do the same way.
# results holds "NAME|MIN MEDIAN MAX N" rows.

# unmount_under DIR: lazily unmounts what is mounted below DIR, deepest first
# (overlay volumes, a btrfs pool), so that DIR can be removed.
unmount_under() {
	awk -v d="$1/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
}

# rows_json: the results rows as JSON objects, one per line, comma-separated.
rows_json() {
	local sep="" r name stats mn md mx n
	for r in "${results[@]}"; do
		IFS='|' read -r name stats <<<"$r"
		read -r mn md mx n <<<"$stats"
		printf '%s  {"what": "%s", "n": %s, "min": %s, "median": %s, "max": %s}' "$sep" "$name" "$n" "$mn" "$md" "$mx"
		sep=$',\n'
	done
	echo
}

# rows_table WIDTH UNIT: the results rows as a table.
rows_table() {
	local w=$1 unit=$2 r name stats mn md mx n
	printf "\n%-${w}s %4s %10s %10s %10s\n" "what" "n" "min$unit" "median$unit" "max$unit"
	for r in "${results[@]}"; do
		IFS='|' read -r name stats <<<"$r"
		read -r mn md mx n <<<"$stats"
		printf "%-${w}s %4s %10s %10s %10s\n" "$name" "$n" "$mn" "$md" "$mx"
	done
}
