#!/usr/bin/env bash
# `render` of an unchanged stack, two builds side by side in one hyperfine
# run each (a benchmark, not a test):
#   bash bench/compare-render.sh BEFORE_BIN AFTER_BIN
# Scenarios as bench/render.sh: core + every overlay; every overlay with
# 20 bridges + 20 recorders. Each binary renders stacks it made itself
# (init, then a first render), so each timed run writes nothing.
set -euo pipefail
before="$1" after="$2"
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
all="jibri,jigasi,transcriber,etherpad,whiteboard,turn,monitoring,log-analyser"
setup() { # BIN DIR EXTRA-ENV-LINES...
    local bin="$1" dir="$2"; shift 2
    "$bin" init "$dir" --public-url https://meet.example.org --non-interactive >/dev/null
    {
        echo "JITSI_STACK_WITH=$all"
        echo "JIGASI_SIP_URI=gateway@sip.example.org"
        echo "JIGASI_SIP_PASSWORD=bench-sip-password"
        echo "JIGASI_SIP_SERVER=sip.example.org"
        echo "ENABLE_TRANSCRIPTIONS=1"
        for line in "$@"; do echo "$line"; done
    } >>"$dir/.env"
    "$bin" --dir "$dir" render >/dev/null
}
for side in before after; do
    bin="${!side}"
    setup "$bin" "$work/$side-all"
    setup "$bin" "$work/$side-big" JVB_INSTANCES=20 JIBRI_INSTANCES=20
done
hyperfine --warmup 10 --min-runs 100 -N \
    --command-name "before: core + all overlays" "$before --dir $work/before-all render" \
    --command-name "after: core + all overlays" "$after --dir $work/after-all render" \
    --command-name "before: 20 bridges + 20 recorders" "$before --dir $work/before-big render" \
    --command-name "after: 20 bridges + 20 recorders" "$after --dir $work/after-big render" \
    --export-json "$work/result.json" >&2
python3 - "$work/result.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(f"{r['command']}: median {r['median'] * 1000:.2f} ms (user+sys {(r['user'] + r['system']) * 1000:.2f} ms)")
PY
