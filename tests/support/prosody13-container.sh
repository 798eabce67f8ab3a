#!/bin/sh
# A stand-in for the prosody container, for the boot-flow tests
# (tests/cli/prosody_boot.rs). Run it as root under
#   unshare --mount --net --propagation private -- sh prosody13-container.sh ROOT SECONDS SPEC...
# In the new mount and network namespaces it brings loopback up (the only
# interface: whatever listens there is reachable from this namespace only),
# mounts fresh tmpfs on ROOT/run (as compose's `tmpfs: /run`) and ROOT/defaults,
# then bind-mounts each SPEC `TARGET=SOURCE` (`TARGET=SOURCE:ro` read-only) at
# ROOT/TARGET, as compose's volumes. It prints `ready` and sleeps SECONDS (a
# bound: the test kills it earlier); commands join it with
# `nsenter -t PID -m -n chroot ROOT ...`. Nothing is mounted outside the
# namespace, which goes away with its last process.
set -eu
root="$1"; seconds="$2"; shift 2
ip link set lo up
mount -t tmpfs -o size=16M,mode=1755 tmpfs "$root/run"
mount -t tmpfs -o size=1M,mode=755 tmpfs "$root/defaults"
for spec in "$@"; do
  target="${spec%%=*}"; source="${spec#*=}"; ro=""
  case "$source" in *:ro) ro=1; source="${source%:ro}" ;; esac
  if [ -d "$source" ]; then
    mkdir -p "$root$target"
  else
    mkdir -p "$(dirname "$root$target")"
    [ -e "$root$target" ] || : >"$root$target"
  fi
  mount --bind "$source" "$root$target"
  [ -z "$ro" ] || mount -o remount,bind,ro "$root$target"
done
echo ready
exec sleep "$seconds"
