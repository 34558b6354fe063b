#!/usr/bin/env bash
# The benchmark suite: builds strata and strata-bench in release, runs every scenario beside its
# baseline in the same run (medians of --repeat runs), then the text CRDT against Loro and Yrs,
# and writes the results (JSON lines), a table and a plot of incremental sync time against
# database size.
#
#   Tools/bench/run.sh                       everything, 100,000 records (about 15 minutes)
#   Tools/bench/run.sh --size 10000 write    one scenario, another size
#   SKIP_TEXT=1 Tools/bench/run.sh           without the text-CRDT comparison
#   TEXT_TRACES="automerge-paper" Tools/bench/run.sh   the text traces to compare (default: the
#       two small ones; automerge-paper adds ~10 minutes, nearly all of it Yrs through Python)
#
# Needs: swift, python3; sqlite3 (the shell) for the cli scenario; pip install loro pycrdt for
# the text comparison, matplotlib for the plot (each is skipped with a note when missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/opt/swift/usr/bin:$PATH"
OUT=Tools/bench/out
mkdir -p "$OUT"
echo "building (release, as Tools/build-release.sh builds the shipped binary)..." >&2
FLAGS=(-c release --static-swift-stdlib -Xlinker -no-pie)
swift build "${FLAGS[@]}" --product strata >/dev/null
swift build "${FLAGS[@]}" --product strata-bench >/dev/null
BIN="$(swift build "${FLAGS[@]}" --show-bin-path)"
{
    echo "{\"machine\": {\"date\": \"$(date -u +%Y-%m-%dT%H:%MZ)\", \"cores\": $(nproc), \"memory_gib\": $(awk '/MemTotal/ {printf "%.1f", $2/1048576}' /proc/meminfo), \"cpu\": \"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')\", \"sqlite\": \"$(sqlite3 --version 2>/dev/null | cut -d' ' -f1 || echo '?')\", \"zlib\": \"$(python3 -c 'import zlib; print(zlib.ZLIB_RUNTIME_VERSION)')\", \"swift\": \"$(swift --version 2>&1 | head -1)\"}}"
} > "$OUT/machine.json"
echo "running strata-bench $* ..." >&2
"$BIN/strata-bench" --json --strata "$BIN/strata" "$@" | tee "$OUT/results.jsonl" >/dev/null
if [ -z "${SKIP_TEXT:-}" ] && [ $# -eq 0 ]; then
    echo "running the text CRDT against Loro and Yrs..." >&2
    # shellcheck disable=SC2086
    Tools/text-bench/run.sh ${TEXT_TRACES:-sveltecomponent friendsforever_flat} > "$OUT/text.txt" 2>&1 || echo "(text bench failed: see $OUT/text.txt)" >&2
fi
python3 Tools/bench/report.py "$OUT"
