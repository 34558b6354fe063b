#!/usr/bin/env bash
# Syncs a field day of notes over a simulated field link (64 kbit/s, 600 ms round trip,
# seeded stalls, one cut mid-transfer each way, the link then down for 5 s) through the
# loopback link simulator (Sources/StrataTestSupport/LinkSimulator.swift) to a real Strata
# server on 127.0.0.1, retrying as a person would, and reports the time against the
# physical limit: (bytes on the wire) / bandwidth + (requests + TCP connections) x round trip.
#
# Settings (environment): STRATA_POOR_LINK_NOTES (300), STRATA_POOR_LINK_NOTE_BYTES (600),
# STRATA_POOR_LINK_KBIT (64), STRATA_POOR_LINK_RTT_MS (600), STRATA_POOR_LINK_BATCH_KB (64),
# STRATA_POOR_LINK_CUT (0.5: where the cut falls, as a fraction of an uncut transfer's bytes),
# STRATA_POOR_LINK_SEED (2015).
#   Tools/poor-link/run.sh
#   STRATA_POOR_LINK_BATCH_KB=16 Tools/poor-link/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
swift build --build-tests >"$log" 2>&1 || { cat "$log"; exit 1; }
STRATA_POOR_LINK_LONG=1 swift test --skip-build --filter 'PoorLinkTests/fieldLinkLongRun' >"$log" 2>&1 || status=$?
grep -E '^poor-link|fieldLinkLongRun|Expectation failed' "$log"
exit "${status:-0}"
