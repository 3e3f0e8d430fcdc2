#!/usr/bin/env bash
# Installs Debian's nix-bin so tests can check nix/*.nix with
# `nix-instantiate --parse`. Nothing is built with Nix here: no substituter or
# nixpkgs tarball is reachable from our machines. Idempotent.
set -euo pipefail
if command -v nix-instantiate >/dev/null 2>&1; then exit 0; fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
echo "nix.sh: installing nix-bin"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends nix-bin >/dev/null
