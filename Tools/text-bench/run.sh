#!/bin/sh
# Runs Strata's text CRDT and Loro / Yrs (Python bindings) on the same traces and prints a
# table with Strata's ratio to each. Strata is built as the shipped binary is: release, -O
# (checks kept; Package.swift sets no -Ounchecked). Needs: swift, python3, pip install loro pycrdt.
# Usage: Tools/text-bench/run.sh [trace ...]     (TRACES=dir to override the trace directory)
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
