#!/usr/bin/env bash
# Runs every fuzz target for FUZZTIME each (default 10s: the bounded run of
# `make test`; `make fuzz` runs them longer). Go runs one target per call.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${FUZZTIME:-10s}
total=0
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for fz in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
		out=$(go test -run '^$' -fuzz "^${fz}\$" -fuzztime "$t" "$pkg" 2>&1) || { echo "$out"; echo "fuzz: $pkg $fz FAILED" >&2; exit 1; }
		n=$(echo "$out" | grep -o 'execs: [0-9]*' | tail -1 | awk '{print $2}')
		total=$((total + ${n:-0}))
		printf 'fuzz %-40s %-28s %10s inputs, ok\n' "$pkg" "$fz" "${n:-?}"
	done
done
echo "fuzz: $total inputs tried, no failure"
