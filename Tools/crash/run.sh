#!/usr/bin/env bash
# The long crash-safety run: a `strata serve` team server and three replicas (the `strata`
# binary as subprocesses, stores in a temporary directory, 127.0.0.1 only) record and sync while
# one of them is SIGKILLed at a random point, RUNS times; see Tests/StrataCLITests/CrashTests.swift
# and Tools/crash/README.md.
#
#   Tools/crash/run.sh [RUNS] [SEED]     default: 300 kill points, seed 50341 (0xC4A5)
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
export PATH="/opt/swift/usr/bin:$PATH"
cd "$repo"
runs="${1:-300}"
seed="${2:-50341}"
swift build --build-tests -j 2 2>&1 | tail -n 2
STRATA_CRASH_RUNS="$runs" STRATA_CRASH_SEED="$seed" \
    swift test --skip-build --filter 'CrashTests' 2>&1 | grep -E 'crash safety:|Test run|passed|failed|error|missing|differs' | head -n 60
