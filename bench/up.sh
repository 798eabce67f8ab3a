#!/usr/bin/env bash
# Timing of `jitsi-stack up` against a fake docker (a benchmark, not a test).
#
#   bash bench/up.sh           # release build, then the scenarios below
#
# Before Docker Compose runs, `up` checks .env, renders every file, runs the
# preflight (ports, directories, image pin, NAT, DNS of PUBLIC_URL, memory),
# detects Compose (`docker compose version`, and `-f /nonexistent/... config`
# must fail), asks the daemon (`docker info`) and only then runs
# `docker compose ... up -d`. Target: all that adds under 20 ms; with the
# daemon stopped, `up` fails in under 5 s (it used to wait the whole
# --timeout, 300 s).
#
# 1. Time until `compose up` is executed: the fake docker writes a
#    timestamp when it is called with `up -d`; measured from just before
#    jitsi-stack is spawned, minus the same measurement for spawning the
#    fake directly (process start-up, `date`), so what remains is
#    jitsi-stack's own work plus its `compose version` probe of the fake.
# 2. Whole processes with hyperfine: `up --no-wait`; `up` with a fake whose
#    `ps` reports every service healthy at once (one poll); `up --no-wait`
#    when PUBLIC_URL's host needs a DNS query (the preflight resolves it);
#    `up` with the daemon stopped (until it exits 1).
# Each on a stack on disk (under $TMPDIR) and, where /dev/shm exists, on
# tmpfs: `render` fsyncs every file it writes, so on a busy disk most of the
# time is fsync latency, not jitsi-stack's work.
# Needs hyperfine (installed with apt-get when missing) and python3.
set -euo pipefail
source "$(dirname "$0")/common.sh"
work="$(mktemp -d)"
shm=""
if [ -d /dev/shm ] && [ -w /dev/shm ]; then shm="$(mktemp -d -p /dev/shm)"; fi
trap 'rm -rf "$work" ${shm:+"$shm"}' EXIT

# The fake docker: answers what `up` asks and nothing else, records nothing
# but the optional timestamp. POSIX sh (dash) starts fastest.
mkdir "$work/fake"
cat >"$work/fake/docker" <<'SH'
#!/bin/sh
case "$*" in
  "info --format {{.ServerVersion}}")
    if [ -n "${BENCH_DAEMON_DOWN:-}" ]; then
      echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2
      exit 1
    fi
    echo "28.2.2"; exit 0 ;;
  "compose version") echo "Docker Compose version v2.40.3 (bench fake)"; exit 0 ;;
  *"-f /nonexistent/"*) exit 14 ;;  # Compose must fail on a missing file
  *" up -d --remove-orphans")
    [ -n "${BENCH_STAMP:-}" ] && date +%s%N >"$BENCH_STAMP"
    exit 0 ;;
  *" ps --all --format json")
    for s in web prosody jicofo jvb; do
      printf '{"Service":"%s","State":"running","Health":"healthy"}\n' "$s"
    done
    exit 0 ;;
esac
echo "bench fake docker: unexpected call: $*" >&2
exit 1
SH
chmod +x "$work/fake/docker"
export PATH="$work/fake:$PATH"

setup() { # DIR PUBLIC-URL
    "$bin" init "$1" --public-url "$2" --non-interactive >/dev/null
    # The first up renders and records COMPOSE_FILE in .env; the timed runs
    # then find everything in place, as a user's repeated `up` would.
    "$bin" --dir "$1" up --no-wait >/dev/null 2>&1
}
setup "$work/local" https://localhost:8443
setup "$work/dns" https://meet.example.org
stacks=("$work/local")
if [ -n "$shm" ]; then
    setup "$shm/local" https://localhost:8443
    stacks+=("$shm/local")
fi

echo "time until the fake docker's \`compose up\` runs (medians of 200):"
python3 - "$bin" "$work" "${stacks[@]}" <<'PY'
import os, statistics, subprocess, sys, time
bin, work, stacks = sys.argv[1], sys.argv[2], sys.argv[3:]
stamp = os.path.join(work, "stamp")
env = dict(os.environ, BENCH_STAMP=stamp)

def once(argv):
    if os.path.exists(stamp):
        os.unlink(stamp)
    t0 = time.time_ns()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    with open(stamp) as f:
        return (int(f.read()) - t0) / 1e6

def median(argv, n=200):
    for _ in range(10):
        once(argv)
    return statistics.median(once(argv) for _ in range(n))

fake = median([os.path.join(work, "fake", "docker"), "compose", "--project-name",
               "bench", "up", "-d", "--remove-orphans"])
print(f"  spawn fake docker -> its timestamp (baseline)      {fake:6.2f} ms")
for stack in stacks:
    where = "tmpfs" if stack.startswith("/dev/shm/") else "disk"
    up = median([bin, "--dir", stack, "up", "--no-wait"])
    print(f"  up --no-wait -> compose up, stack on {where:<5}         {up:6.2f} ms"
          f"  (added by up: {up - fake:.2f} ms)")
PY

runs=(
    --command-name "up --no-wait (disk)" "$bin --dir $work/local up --no-wait"
    --command-name "up, healthy at the first poll (disk)" "$bin --dir $work/local up"
    --command-name "up --no-wait, PUBLIC_URL needs DNS (disk)" "$bin --dir $work/dns up --no-wait"
)
if [ -n "$shm" ]; then
    runs+=(
        --command-name "up --no-wait (tmpfs)" "$bin --dir $shm/local up --no-wait"
        --command-name "up, healthy at the first poll (tmpfs)" "$bin --dir $shm/local up"
    )
fi
hyperfine --warmup 10 --min-runs 100 -N "${runs[@]}" \
    --export-json "$work/result.json" >&2
# With the daemon stopped `up` exits 1 (checked first, then timed with -i).
if BENCH_DAEMON_DOWN=1 "$bin" --dir "$work/local" up >/dev/null 2>&1 || [ $? -ne 1 ]; then
    echo "bench: up with the daemon stopped did not exit 1" >&2
    exit 1
fi
BENCH_DAEMON_DOWN=1 hyperfine --warmup 5 --min-runs 50 -N -i \
    --command-name "up, daemon stopped: until it exits 1 (disk)" "$bin --dir $work/local up" \
    --export-json "$work/down.json" >&2
# Medians: the machine is shared, means are skewed by outliers.
echo "whole process (hyperfine medians):"
python3 - "$work/result.json" "$work/down.json" <<'PY'
import json, sys
for f in sys.argv[1:]:
    for r in json.load(open(f))["results"]:
        print(f"  {r['command']:<44} {r['median'] * 1000:6.2f} ms")
PY
