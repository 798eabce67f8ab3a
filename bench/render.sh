#!/usr/bin/env bash
# Whole-process timing of `jitsi-stack render` (a benchmark, not a test).
#
#   bench/render.sh            # release build, then two scenarios
#
# Scenarios (targets are medians on one core of a small VM), each as a
# re-render of an unchanged stack and as a render that writes every file:
#   core + every overlay                         < 10 ms
#   core + every overlay, 20 bridges, 20 jibris  < 50 ms
# Needs hyperfine (installed with apt-get when missing).
set -euo pipefail
source "$(dirname "$0")/common.sh"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

all="jibri,jigasi,transcriber,etherpad,whiteboard,turn,monitoring,log-analyser"
setup() { # DIR EXTRA-ENV-LINES...
    local dir="$1"; shift
    "$bin" init "$dir" --public-url https://meet.example.org --non-interactive >/dev/null
    {
        echo "JITSI_STACK_WITH=$all"
        echo "JIGASI_SIP_URI=gateway@sip.example.org"
        echo "JIGASI_SIP_PASSWORD=bench-sip-password"
        echo "JIGASI_SIP_SERVER=sip.example.org"
        echo "ENABLE_TRANSCRIPTIONS=1"
        for line in "$@"; do echo "$line"; done
    } >>"$dir/.env"
    # First render records COMPOSE_FILE; the timed runs then rewrite nothing
    # in .env, as a user's repeated render would.
    "$bin" --dir "$dir" render >/dev/null
}

setup "$work/all"
setup "$work/big" JVB_INSTANCES=20 JIBRI_INSTANCES=20

# Re-render of an unchanged stack (what `up` does every time: nothing is
# written), then a full render that writes every file (the renders removed
# before each run).
hyperfine --warmup 5 --min-runs 50 -N \
    --command-name "render (unchanged): core + all overlays" "$bin --dir $work/all render" \
    --command-name "render (unchanged): all overlays, 20 bridges + 20 recorders" "$bin --dir $work/big render" \
    --export-json "$work/result.json" >&2
hyperfine --warmup 3 --min-runs 30 -N \
    --prepare "rm -rf $work/all/current $work/all/renders" \
    --command-name "render (writes all): core + all overlays" "$bin --dir $work/all render" \
    --export-json "$work/result-write.json" >&2
hyperfine --warmup 3 --min-runs 30 -N \
    --prepare "rm -rf $work/big/current $work/big/renders" \
    --command-name "render (writes all): all overlays, 20 bridges + 20 recorders" "$bin --dir $work/big render" \
    --export-json "$work/result-write-big.json" >&2
# Medians: the machine is shared, means are skewed by outliers.
python3 - "$work/result.json" "$work/result-write.json" "$work/result-write-big.json" <<'PY'
import json, sys
for path in sys.argv[1:]:
    for r in json.load(open(path))["results"]:
        print(f"{r['command']}: median {r['median'] * 1000:.1f} ms")
PY
