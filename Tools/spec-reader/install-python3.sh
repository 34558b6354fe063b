#!/usr/bin/env bash
# Installs python3 (for Tools/spec-reader) when it is missing, as Tools/install-deps.sh does.
set -euo pipefail
if ! command -v python3 >/dev/null; then
    echo "installing: python3"
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3
fi
