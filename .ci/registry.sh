#!/usr/bin/env bash
# Starts a container registry on 127.0.0.1:5000 for the `agentix build --push`
# tests (and the Kubernetes stand-in pulling from it): Debian's
# docker-registry, with its own config (loopback only, no auth, storage under
# /tmp). Idempotent, every wait bounded. Called by .ci/run; safe to run by hand.
set -euo pipefail

log() { echo "registry.sh: $*"; }
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
ADDR=127.0.0.1:5000
DIR=${AGENTIX_REGISTRY_DIR:-/tmp/agentix-registry}

answers() { node -e "fetch('http://$ADDR/v2/').then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))"; }

if answers; then
  log "a registry already answers on $ADDR"
  exit 0
fi
if ! command -v docker-registry >/dev/null 2>&1; then
  log "installing docker-registry"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y -qq --no-install-recommends docker-registry >/dev/null
fi
mkdir -p "$DIR/data"
cat >"$DIR/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $DIR/data
  delete:
    enabled: true
http:
  addr: $ADDR
YAML
log "starting docker-registry on $ADDR (log $DIR/registry.log)"
# setsid + nohup: it outlives this script and the shell that ran it
setsid nohup docker-registry serve "$DIR/config.yml" >>"$DIR/registry.log" 2>&1 </dev/null &
for _ in $(seq 1 30); do
  if answers; then
    log "registry ready"
    exit 0
  fi
  sleep 1
done
log "docker-registry did not answer within 30 s; last lines of $DIR/registry.log:"
tail -n 20 "$DIR/registry.log" >&2 || true
exit 1
