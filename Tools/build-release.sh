#!/usr/bin/env bash
# Builds the strata binary the README installs and prints its path: release (-O) with the
# Swift runtime and Foundation (ICU and its data included) linked statically
# (--static-swift-stdlib), so a command does not load twenty shared libraries before it starts
# (BENCHMARKS.md, "Start-up"). SQLite and zlib stay the system's shared libraries.
#
#   Tools/build-release.sh                  build; prints .build/release/strata
#   PREFIX=~/.local Tools/build-release.sh  build and install as ~/.local/bin/strata
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
Tools/install-deps.sh >&2
FLAGS=(-c release --static-swift-stdlib)
swift build "${FLAGS[@]}" --product strata >&2
BIN="$(swift build "${FLAGS[@]}" --show-bin-path)/strata"
if [ -n "${PREFIX:-}" ]; then
    install -D -m 755 "$BIN" "$PREFIX/bin/strata"
    BIN="$PREFIX/bin/strata"
fi
echo "$BIN"
