#!/usr/bin/env bash
# Builds the strata binary the README installs and prints its path: release (-O) with the
# Swift runtime and Foundation (ICU and its data included) linked statically
# (--static-swift-stdlib), so a command does not load twenty shared libraries before it starts
# (BENCHMARKS.md, "Start-up"). SQLite and zlib stay the system's shared libraries.
# Linked as a fixed-address executable (-no-pie): the loader then has ~500 relocations to apply
# instead of ~148,000, which is a quarter of `strata --version`'s time. The price is that the
# executable's own code is not placed at a random address (ASLR still moves the libraries, the
# heap and the stack); PIE=1 keeps position independence, e.g. for a server facing the internet
# (ARCHITECTURE.md, "The shipped binary").
#
#   Tools/build-release.sh                  build; prints .build/release/strata
#   PREFIX=~/.local Tools/build-release.sh  build and install as ~/.local/bin/strata
#   PIE=1 Tools/build-release.sh            a position-independent executable
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
Tools/install-deps.sh >&2
FLAGS=(-c release --static-swift-stdlib)
# Only the link differs, so switching between the two relinks and does not recompile.
[ "${PIE:-0}" = 1 ] || FLAGS+=(-Xlinker -no-pie)
swift build "${FLAGS[@]}" --product strata >&2
BIN="$(swift build "${FLAGS[@]}" --show-bin-path)/strata"
if [ -n "${PREFIX:-}" ]; then
    install -D -m 755 "$BIN" "$PREFIX/bin/strata"
    BIN="$PREFIX/bin/strata"
fi
echo "$BIN"
