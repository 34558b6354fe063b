#!/usr/bin/env bash
# Installs what Strata needs beyond the Swift toolchain: the system SQLite and zlib headers,
# and Leaflet for the web view's map.
set -euo pipefail
missing=()
pkg-config --exists sqlite3 2>/dev/null || missing+=(libsqlite3-dev)
pkg-config --exists zlib 2>/dev/null || missing+=(zlib1g-dev)
command -v pkg-config >/dev/null || missing+=(pkg-config)
# Leaflet for the web view's map, served by Strata itself (no CDN).
[ -f /usr/share/javascript/leaflet/leaflet.js ] || missing+=(libjs-leaflet)
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
if ! command -v swift >/dev/null; then
    if [ -x /opt/swift/usr/bin/swift ]; then
        echo "note: add /opt/swift/usr/bin to PATH" >&2
    else
        echo "error: no Swift toolchain found; install Swift 6.2 or later from swift.org" >&2
        exit 1
    fi
fi
