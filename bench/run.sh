#!/usr/bin/env bash
# Whole-process timings (hyperfine medians) of `gen-passwords` and `check` on a
# .env that sets 500 variables, release build. Not a test: run by hand.
#   bash bench/run.sh            # prints a table, writes bench/results.md
set -euo pipefail
source "$(dirname "$0")/common.sh"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$bin" init "$work/stack" --public-url https://meet.example.org --non-interactive >/dev/null
env="$work/stack/.env"
count() { grep -cE '^[[:space:]]*(export[[:space:]]+)?[A-Za-z_][A-Za-z0-9_.-]*[[:space:]]*=' "$1"; }
# A realistic large file: every `#NAME=default` line of the generated .env
# uncommented (all names known to the schema), topped up to 500 assignments
# with values that need quoting.
sed -E -i 's/^#([A-Z][A-Z0-9_]*=)/\1/' "$env"
for ((i = $(count "$env"); i < 500; i++)); do
    printf 'JIBRI_RECORDER_PASSWORD="value %d with spaces # and a hash"\n' "$i" >>"$env"
done
echo "assignments in .env: $(count "$env")"
# A second stack whose .env has 200 names the schema does not know (typos):
# `check` then looks for a "did you mean" suggestion for each.
cp -r "$work/stack" "$work/unknown"
for ((i = 0; i < 200; i++)); do
    printf 'UNKNOWN_SETTING_%03d=x\n' "$i" >>"$work/unknown/.env"
done

cd "$work/stack"
hyperfine --warmup 20 --min-runs 200 -N --ignore-failure \
    --export-json "$work/results.json" \
    -n 'gen-passwords' "$bin gen-passwords" \
    -n 'gen-passwords --force' "$bin gen-passwords --force" \
    -n 'check' "$bin check" \
    -n 'check (200 unknown names)' "$bin --dir $work/unknown check"

echo
echo "median wall time per whole process (release build):"
python3 - "$work/results.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(f"  {r['command']:<28} {r['median'] * 1000:6.2f} ms")
PY
