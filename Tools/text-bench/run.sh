#!/bin/sh
# Runs Strata's text CRDT and Loro / Yrs (Python bindings) on the same traces and prints a
# table with Strata's ratio to each. Strata is built as the shipped binary is: release, -O
# (checks kept; Package.swift sets no -Ounchecked). Needs: swift, python3, pip install loro pycrdt.
# Usage: Tools/text-bench/run.sh [trace ...]     (TRACES=dir to override the trace directory;
# friendsforever, a concurrent trace, is merged in three delivery orders, Strata alone)
set -eu
cd "$(dirname "$0")"
TRACES="${TRACES:-$(cd ../.. && pwd)/Tests/StrataTextTests/Traces}"
swift build -c release >/dev/null
BIN="$(swift build -c release --show-bin-path)/text-bench"
OUT="$(mktemp)"
"$BIN" --json --traces "$TRACES" "$@" >"$OUT"
python3 peers.py --traces "$TRACES" "$@" >>"$OUT"
python3 - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
merges = [r for r in rows if r.get("kind") == "concurrent"]
rows = [r for r in rows if r.get("kind") != "concurrent"]
for r in merges:
    c = r["merge_causal_ms"]
    print(f"{r['trace']}: {r['operations']} operations merged into a fresh replica: causally {c:.2f} ms, "
          f"replica by replica {r['merge_by_replica_ms']:.2f} ms ({r['merge_by_replica_ms'] / c:.2f}x), "
          f"shuffled {r['merge_shuffled_ms']:.2f} ms ({r['merge_shuffled_ms'] / c:.2f}x); "
          f"the first half shuffled {r['merge_shuffled_half_ms']:.2f} ms (whole / half {r['merge_shuffled_ms'] / r['merge_shuffled_half_ms']:.2f})")
by = {(r["impl"], r["trace"]): r for r in rows}
traces = list(dict.fromkeys(r["trace"] for r in rows))
cols = [("replay_ms", "replay ms"), ("mem_growth_kb", "peak RSS +KB"), ("encoded", "encoded B"),
        ("zlib", "zlib B"), ("load_ms", "load ms")]
print(f"{'trace':20} {'impl':7} " + " ".join(f"{h:>13}" for _, h in cols))
for t in traces:
    for impl in ("strata", "loro", "yrs"):
        r = by.get((impl, t))
        if not r: continue
        print(f"{t:20} {impl:7} " + " ".join(f"{r[k]:13.2f}" if isinstance(r[k], float) else f"{r[k]:13d}" for k, _ in cols))
    s = by.get(("strata", t))
    for impl in ("loro", "yrs"):
        r = by.get((impl, t))
        if not (s and r): continue
        print(f"{t:20} {'÷'+impl:7} " + " ".join(f"{(s[k] / r[k] if r[k] else float('nan')):13.2f}" for k, _ in cols))
PY
rm -f "$OUT"
