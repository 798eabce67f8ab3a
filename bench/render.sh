#!/usr/bin/env bash
# Whole-process timing of `jitsi-stack render` (a benchmark, not a test).
#
#   bench/render.sh            # release build, then two scenarios
#
# Scenarios (targets are medians on one core of a small VM):
#   core + every overlay                         < 10 ms
#   core + every overlay, 20 bridges, 20 jibris  < 50 ms
# Needs hyperfine (installed with apt-get when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v hyperfine >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then apt=(apt-get); else apt=(sudo apt-get); fi
    "${apt[@]}" install -y -qq hyperfine >/dev/null \
        || { "${apt[@]}" update -qq && "${apt[@]}" install -y -qq hyperfine >/dev/null; }
fi

cargo build --release --quiet
bin="$PWD/target/release/jitsi-stack"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

all="jibri,jigasi,transcriber,etherpad,whiteboard,turn,monitoring,log-analyser"
setup() { # DIR EXTRA-ENV-LINES...
    local dir="$1"; shift
    "$bin" init "$dir" --public-url https://meet.example.org --non-interactive >/dev/null
    {
        echo "JITSI_STACK_WITH=$all"
        echo "JIGASI_SIP_URI=https://sip.example.org"
        echo "JIGASI_SIP_PASSWORD=bench-sip-password"
        echo "JIGASI_SIP_SERVER=sip.example.org"
        for line in "$@"; do echo "$line"; done
    } >>"$dir/.env"
    # First render records COMPOSE_FILE; the timed runs then rewrite nothing
    # in .env, as a user's repeated render would.
    "$bin" --dir "$dir" render >/dev/null
}

setup "$work/all"
setup "$work/big" JVB_INSTANCES=20 JIBRI_INSTANCES=20

hyperfine --warmup 5 --min-runs 50 -N \
    --command-name "render: core + all overlays" "$bin --dir $work/all render" \
    --command-name "render: all overlays, 20 bridges + 20 recorders" "$bin --dir $work/big render" \
    --export-json "$work/result.json" >&2
# Medians: the machine is shared, means are skewed by outliers.
python3 - "$work/result.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(f"{r['command']}: median {r['median'] * 1000:.1f} ms")
PY
