#!/usr/bin/env bash
# Peak memory (maximum resident set size, /usr/bin/time -f %M) of the two bulk paths of the
# strata binary the README installs, at two sizes, so a figure that grows with the size shows:
#   import      `strata import` of SIZE notes from one JSON file, into an empty replica
#   first sync  `strata sync` of an empty replica from a team server holding SIZE notes
#               (the server is `strata serve` on 127.0.0.1; its own peak is given as well)
# Notes are Tools/field-notes.py's (as the start-up bench's): a title, an 800-character window
# of this repository's prose, three tags. Beside each figure: the JSON file's size, and the replica's size on disk.
#
#   Tools/memory/run.sh                       the shipped binary, 10,000 and 100,000 notes
#   SIZES="2000 20000" Tools/memory/run.sh
#   STRATA_BIN=path Tools/memory/run.sh       measure an existing binary (no build)
#
# Needs: python3, /usr/bin/time (apt-get install -y time), swift unless STRATA_BIN.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/opt/swift/usr/bin:$PATH"
SIZES="${SIZES:-10000 100000}"
for tool in python3 /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "error: $tool is missing: apt-get install -y ${tool##*/}" >&2; exit 1; }
done
if [ -z "${STRATA_BIN:-}" ]; then
    echo "building the shipped binary (Tools/build-release.sh)..." >&2
    STRATA_BIN="$(Tools/build-release.sh)"
fi
[ -x "$STRATA_BIN" ] || { echo "error: no strata binary at $STRATA_BIN" >&2; exit 1; }
WORK="$(mktemp -d "${TMPDIR:-/tmp}/strata-memory.XXXXXX")"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        pkill -P "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

notes() { # COUNT FILE: a JSON array of COUNT notes for `strata import`
    python3 Tools/field-notes.py 0 "$1" >"$2"
}
# Runs a command under /usr/bin/time; prints "peak_kb seconds".
measure() {
    /usr/bin/time -f "%M %e" -o "$WORK/time" "$@" >"$WORK/out" 2>"$WORK/err" || {
        echo "error: $* failed:" >&2; cat "$WORK/err" >&2; exit 1
    }
    cat "$WORK/time"
}
mb() { python3 -c "print(f'{$1 / 1024:.0f}')"; }
filemb() { python3 -c "import os,sys; print(f'{sum(os.path.getsize(p) for p in sys.argv[1:] if os.path.exists(p)) / 1e6:.1f}')" "$@"; }

printf '%-11s %8s %14s %10s %16s\n' "path" "notes" "peak RSS (MiB)" "time (s)" "beside it"
for size in $SIZES; do
    dir="$WORK/$size"
    mkdir -p "$dir"
    notes "$size" "$dir/notes.json"
    STRATA_STORE="$dir/khaled.strata" "$STRATA_BIN" init --author Khaled >/dev/null
    read -r kb secs < <(STRATA_STORE="$dir/khaled.strata" measure "$STRATA_BIN" import "$dir/notes.json")
    printf '%-11s %8d %14s %10s %16s\n' "import" "$size" "$(mb "$kb")" "$secs" "JSON $(filemb "$dir/notes.json") MB"

    # A team server holding Khaled's notes, then Maria's first sync.
    data="$dir/server"
    "$STRATA_BIN" server project add palmyra --data "$data" >/dev/null
    khaled_token="$("$STRATA_BIN" server token create --project palmyra --researcher Khaled --data "$data" 2>/dev/null | grep -o 'stk_[A-Za-z0-9_-]*' | head -1)"
    maria_token="$("$STRATA_BIN" server token create --project palmyra --researcher Maria --data "$data" 2>/dev/null | grep -o 'stk_[A-Za-z0-9_-]*' | head -1)"
    port=$((20000 + RANDOM % 20000))
    /usr/bin/time -f "%M" -o "$dir/server.time" "$STRATA_BIN" serve --data "$data" --host 127.0.0.1 --port "$port" >"$dir/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 100); do
        grep -q "listening\|Listening\|serving" "$dir/server.log" 2>/dev/null && break
        sleep 0.1
    done
    STRATA_STORE="$dir/khaled.strata" "$STRATA_BIN" remote add origin "http://127.0.0.1:$port" --project palmyra --token "$khaled_token" >/dev/null
    STRATA_STORE="$dir/khaled.strata" "$STRATA_BIN" sync >/dev/null
    STRATA_STORE="$dir/maria.strata" "$STRATA_BIN" init --author Maria >/dev/null
    STRATA_STORE="$dir/maria.strata" "$STRATA_BIN" remote add origin "http://127.0.0.1:$port" --project palmyra --token "$maria_token" >/dev/null
    read -r kb secs < <(STRATA_STORE="$dir/maria.strata" measure "$STRATA_BIN" sync)
    grep -q "$size" "$WORK/out" || { echo "error: Maria's sync did not pull $size changes:" >&2; cat "$WORK/out" >&2; exit 1; }
    printf '%-11s %8d %14s %10s %16s\n' "first sync" "$size" "$(mb "$kb")" "$secs" "replica $(filemb "$dir/maria.strata" "$dir/maria.strata-wal") MB"
    # /usr/bin/time ignores SIGINT while it waits: stop the server itself, gracefully.
    pkill -INT -P "$SERVER_PID" || true
    wait "$SERVER_PID" || true
    SERVER_PID=""
    printf '%-11s %8d %14s %10s %16s\n' "  server" "$size" "$(mb "$(tail -1 "$dir/server.time")")" "-" "(push + pull)"
    rm -rf "$dir"
done
