#!/usr/bin/env bash
# Start-up of the strata binary the README installs, against the sqlite3 shell in the same run:
# `strata --version` against `sqlite3 --version`, and `strata add note` into a replica of
# RECORDS notes against the sqlite3 shell inserting one row into a table of RECORDS rows
# (WAL, as the replica). hyperfine runs each command RUNS times (after 3 warm-ups) and the
# table gives medians of wall time, mean CPU time (user + system; the steadier figure on a
# shared machine) and the ratio of each to its baseline.
#
#   Tools/startup/run.sh                     build the shipped binary, 100,000 records, 50 runs
#   RECORDS=10000 RUNS=20 Tools/startup/run.sh
#   STRATA_BIN=path Tools/startup/run.sh     measure an existing binary (no build)
#
# Needs: swift (unless STRATA_BIN), python3, hyperfine and sqlite3 (apt-get install -y
# hyperfine sqlite3). The replica is made once per size with `strata import` (10,000 notes
# per import; about 1.5 s per 10,000 in a release build) and kept in Tools/startup/out;
# each run measures a copy of it.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/opt/swift/usr/bin:$PATH"
RECORDS="${RECORDS:-100000}"
RUNS="${RUNS:-50}"
for tool in hyperfine sqlite3 python3; do
    command -v "$tool" >/dev/null || { echo "error: $tool is missing: apt-get install -y $tool" >&2; exit 1; }
done
if [ -z "${STRATA_BIN:-}" ]; then
    echo "building the shipped binary (Tools/build-release.sh)..." >&2
    STRATA_BIN="$(Tools/build-release.sh)"
fi
[ -x "$STRATA_BIN" ] || { echo "error: no strata binary at $STRATA_BIN" >&2; exit 1; }
OUT=Tools/startup/out
mkdir -p "$OUT"
TEMPLATE="$OUT/replica-$RECORDS.strata"
PLAIN_TEMPLATE="$OUT/plain-$RECORDS.db"

# The notes: titles and 800-character windows of this repository's own prose, three tags each.
notes() { # FIRST COUNT -> a JSON array of COUNT notes for `strata import`
    python3 Tools/field-notes.py "$1" "$2"
}
if [ ! -f "$TEMPLATE" ]; then
    echo "making a replica of $RECORDS notes ($TEMPLATE)..." >&2
    rm -f "$TEMPLATE.tmp" "$TEMPLATE.tmp-wal" "$TEMPLATE.tmp-shm"
    STRATA_STORE="$TEMPLATE.tmp" "$STRATA_BIN" init --author "Start-up bench" >/dev/null
    for ((first = 0; first < RECORDS; first += 10000)); do
        count=$((RECORDS - first < 10000 ? RECORDS - first : 10000))
        notes "$first" "$count" > "$OUT/notes.json"
        STRATA_STORE="$TEMPLATE.tmp" "$STRATA_BIN" import "$OUT/notes.json" >/dev/null
        echo "  $((first + count)) notes" >&2
    done
    rm -f "$OUT/notes.json"
    STRATA_STORE="$TEMPLATE.tmp" "$STRATA_BIN" check >/dev/null
    mv "$TEMPLATE.tmp" "$TEMPLATE"
    rm -f "$TEMPLATE.tmp-wal" "$TEMPLATE.tmp-shm"
fi
if [ ! -f "$PLAIN_TEMPLATE" ]; then
    rm -f "$PLAIN_TEMPLATE.tmp"
    notes 0 "$RECORDS" | python3 -c '
import json, os, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("PRAGMA journal_mode=WAL")
db.execute("CREATE TABLE notes (id BLOB PRIMARY KEY, title TEXT, body TEXT, tags TEXT)")
db.executemany("INSERT INTO notes VALUES (?, ?, ?, ?)",
    ((os.urandom(16), n["fields"]["title"], n["fields"]["body"], " ".join(n["tags"])) for n in json.load(sys.stdin)))
db.commit()
db.close()' "$PLAIN_TEMPLATE.tmp"
    mv "$PLAIN_TEMPLATE.tmp" "$PLAIN_TEMPLATE"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/strata-startup.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
cp "$TEMPLATE" "$WORK/replica.strata"
cp "$PLAIN_TEMPLATE" "$WORK/plain.db"
BODY="$(python3 -c 'import pathlib; print(" ".join(pathlib.Path("README.md").read_text().split())[:800])')"
SQL_BODY="${BODY//\'/\'\'}"
export STRATA_STORE="$WORK/replica.strata"
hyperfine -N --style basic --warmup 3 --runs "$RUNS" --export-json "$WORK/version.json" \
    "sqlite3 --version" "$STRATA_BIN --version" >&2
hyperfine -N --style basic --warmup 3 --runs "$RUNS" --export-json "$WORK/add.json" \
    "sqlite3 $WORK/plain.db \"PRAGMA journal_mode=WAL; INSERT INTO notes VALUES (randomblob(16), 'A new note', '$SQL_BODY', 'palmyra');\"" \
    "$STRATA_BIN add note \"A new note\" --body \"$BODY\" --tag palmyra" >&2
python3 - "$WORK/version.json" "$WORK/add.json" "$RECORDS" "$RUNS" "$STRATA_BIN" <<'PY'
import json, sys
version, add = (json.load(open(p))["results"] for p in sys.argv[1:3])
records, runs, binary = int(sys.argv[3]), sys.argv[4], sys.argv[5]
print(f"strata: {binary}; {runs} runs each, medians of wall time, means of CPU time (user + system)")
print(f"{'command':44} {'wall ms':>8} {'CPU ms':>8} {'wall ÷ base':>11} {'CPU ÷ base':>10}")
for label, (base, mine) in ((f"strata --version (base: sqlite3 --version)", version),
                            (f"strata add note, {records:,} records (base: sqlite3 INSERT)", add)):
    cpu = lambda r: (r["user"] + r["system"]) * 1000
    for name, r in (("  baseline", base), ("  strata", mine)):
        print(f"{(label if name == '  strata' else name):44} {r['median'] * 1000:8.1f} {cpu(r):8.1f}"
              + (f" {mine['median'] / base['median']:11.1f} {cpu(mine) / cpu(base):10.1f}" if r is mine else ""))
    print(json.dumps({"scenario": label, "strata_ms": mine["median"] * 1000, "baseline_ms": base["median"] * 1000,
                      "strata_cpu_ms": cpu(mine), "baseline_cpu_ms": cpu(base)}), file=sys.stderr)
PY
