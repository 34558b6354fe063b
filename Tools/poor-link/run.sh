#!/usr/bin/env bash
# Syncs a field day of notes over a simulated field link (64 kbit/s, 600 ms round trip,
# seeded stalls, one cut mid-transfer each way) through the loopback link simulator
# (Sources/StrataTestSupport/LinkSimulator.swift) to a real Strata server on 127.0.0.1,
# and reports the time against the physical limit:
#   (bytes on the wire) / bandwidth + (requests + TCP connections) x round trip.
#
# Settings (environment): STRATA_POOR_LINK_NOTES (300), STRATA_POOR_LINK_NOTE_BYTES (600),
# STRATA_POOR_LINK_KBIT (64), STRATA_POOR_LINK_RTT_MS (600), STRATA_POOR_LINK_BATCH_KB (64),
# STRATA_POOR_LINK_SEED (2015).
#   Tools/poor-link/run.sh
#   STRATA_POOR_LINK_BATCH_KB=16 Tools/poor-link/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build --build-tests >/dev/null
STRATA_POOR_LINK_LONG=1 swift test --skip-build --filter 'PoorLinkTests/fieldLinkLongRun' 2>&1 \
    | grep -E '^poor-link|passed|failed|error' | grep -v '^􀟈' || true
