#!/usr/bin/env bash
# Makes a Docker engine available on this machine and installs the host tools
# `agentix build` needs. Idempotent: every step checks first, and every wait is
# bounded. Called by .ci/run before `npm test`; safe to run by hand.
#
#   docker.io        dockerd (the engine); no registry is reachable, tests make
#                    their task images with `docker import`
#   patchelf         rewrites node's interpreter and rpath into /nix/runtime/lib
#   busybox-static   the root filesystem of the test task image
#   openssl          the Kubernetes stand-in API server's TLS certificate (tests)
set -euo pipefail

log() { echo "docker.sh: $*"; }
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v patchelf >/dev/null 2>&1 || need+=(patchelf)
# the dynamic busybox package also installs /bin/busybox, which cannot run in an image without libc
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if docker info >/dev/null 2>&1; then
  log "engine already running ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
  exit 0
fi

LOG=${AGENTIX_DOCKERD_LOG:-/tmp/agentix-dockerd.log}

# pid of a running dockerd, without relying on procps being installed
dockerd_pid() {
  local p
  for p in /proc/[0-9]*; do
    if [ "$(cat "$p/comm" 2>/dev/null)" = dockerd ]; then echo "${p#/proc/}"; return 0; fi
  done
  return 1
}

# A pid file left by a dockerd that died with its machine or session blocks a new start.
if [ -f /var/run/docker.pid ] && ! dockerd_pid >/dev/null; then
  log "removing stale /var/run/docker.pid"
  $SUDO rm -f /var/run/docker.pid
fi

start_dockerd() { # $1 = storage driver
  log "starting dockerd (storage driver $1, log $LOG)"
  # setsid + nohup: the engine outlives this script and the shell that ran it.
  $SUDO setsid nohup dockerd --storage-driver "$1" >>"$LOG" 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then return 0; fi
    # dockerd gone already: no point waiting out the full minute
    if ! dockerd_pid >/dev/null; then return 1; fi
    sleep 1
  done
  return 1
}

stop_dockerd() {
  local pid
  pid=$(dockerd_pid || true)
  if [ -n "$pid" ]; then
    $SUDO kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  fi
  $SUDO rm -f /var/run/docker.pid
}

if start_dockerd overlay2; then
  log "engine ready"
  exit 0
fi
log "overlay2 failed (see $LOG); retrying with vfs"
stop_dockerd
if start_dockerd vfs; then
  log "engine ready (vfs)"
  exit 0
fi
log "dockerd did not answer within 60 s; last lines of $LOG:"
tail -n 30 "$LOG" >&2 || true
exit 1
