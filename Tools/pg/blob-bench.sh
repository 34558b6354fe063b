#!/usr/bin/env bash
# Attachment bytes through a PostgreSQL server against the SQLite server, in the same run
# (issue 13, item 1): `strata sync` uploading one attachment of STRATA_BLOB_MB megabytes
# (default 100) of random bytes, then a second replica's `strata sync` downloading it
# (byte-compared), through `strata serve` on SQLite files and `strata serve --database` on a
# throwaway PostgreSQL cluster (Tools/pg/start-test-cluster.sh with PG_FSYNC=on, so both
# storages make the bytes durable). Also each server's peak RSS (VmHWM) before and after.
# STRATA_BLOB_REPEATS (default 3) runs of each; the medians are printed.
#
#   Tools/pg/blob-bench.sh                       build release, 100 MB
#   STRATA_BLOB_MB=20 STRATA_BIN=.build/debug/strata Tools/pg/blob-bench.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/opt/swift/usr/bin:$PATH"
MB="${STRATA_BLOB_MB:-100}"
REPEATS="${STRATA_BLOB_REPEATS:-3}"
if [ -z "${STRATA_BIN:-}" ]; then
    swift build -c release --scratch-path .build-rel --product strata >/dev/null
    STRATA_BIN="$(swift build -c release --scratch-path .build-rel --show-bin-path)/strata"
fi
DIR="$(mktemp -d "${TMPDIR:-/tmp}/strata-pg-blob-bench.XXXXXX")"
PIDS=()
PGDIR=""
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    [ -n "$PGDIR" ] && Tools/pg/start-test-cluster.sh --stop "$PGDIR"
    rm -rf "$DIR"
}
trap cleanup EXIT
now() { date +%s.%N; }
rss() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }  # peak RSS of a process, KiB
timed() {  # timed OUTVAR command...: seconds into OUTVAR
    local var=$1; shift
    local t0 t1
    t0=$(now)
    "$@" >/dev/null 2>"$DIR/err" || { cat "$DIR/err" >&2; exit 1; }
    t1=$(now)
    printf -v "$var" '%s' "$(echo "$t1 - $t0" | bc -l)"
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

eval "$(PG_FSYNC=on Tools/pg/start-test-cluster.sh)"
PGDIR="$STRATA_TEST_PG_DIR"
BASE_URL="$STRATA_TEST_DATABASE_URL"

head -c "$((MB * 1000000))" /dev/urandom >"$DIR/photo.bin"
BYTES=$(stat -c %s "$DIR/photo.bin")
SUM=$(sha256sum "$DIR/photo.bin" | cut -c1-64)

# One run on one storage: a fresh server, Khaled uploads, Maria downloads. Prints
# "up down server_floor_kib server_peak_kib".
run() {
    local kind=$1 i=$2 w="$DIR/$1-$2" url server db=()
    mkdir -p "$w"
    if [ "$kind" = postgres ]; then
        local name="blob_bench_${i}_$RANDOM"
        # A database of its own per run; the URL is postgres://USER:PASSWORD@HOST:PORT/postgres?…
        psql -q "$BASE_URL" -c "CREATE DATABASE $name" >/dev/null
        db=(--database "${BASE_URL/\/postgres\?//$name?}")
    else
        db=(--data "$w/server")
    fi
    "$STRATA_BIN" server project add palmyra "${db[@]}" >/dev/null
    local K M
    K=$("$STRATA_BIN" server token create --project palmyra --researcher Khaled "${db[@]}" 2>/dev/null)
    M=$("$STRATA_BIN" server token create --project palmyra --researcher Maria "${db[@]}" 2>/dev/null)
    "$STRATA_BIN" serve --port 0 --rate-limit 0 --log-level error "${db[@]}" 2>"$w/server.log" &
    server=$!
    PIDS+=("$server")
    for _ in $(seq 100); do grep -q "^listening on" "$w/server.log" 2>/dev/null && break; sleep 0.1; done
    url=$(sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$w/server.log")
    STRATA_STORE="$w/k.strata" "$STRATA_BIN" init --author Khaled >/dev/null
    STRATA_STORE="$w/m.strata" "$STRATA_BIN" init --author Maria >/dev/null
    STRATA_STORE="$w/k.strata" "$STRATA_BIN" remote add origin "$url" --project palmyra --token "$K" >/dev/null
    STRATA_STORE="$w/m.strata" "$STRATA_BIN" remote add origin "$url" --project palmyra --token "$M" >/dev/null
    # The floor: records and a 1-byte attachment, each way.
    local id0 id
    id0=$(STRATA_STORE="$w/k.strata" "$STRATA_BIN" add artefact "Funerary bust (floor)")
    printf 'x' >"$w/tiny.bin"
    STRATA_STORE="$w/k.strata" "$STRATA_BIN" attach "$id0" "$w/tiny.bin" >/dev/null
    STRATA_STORE="$w/k.strata" "$STRATA_BIN" sync >/dev/null
    STRATA_STORE="$w/m.strata" "$STRATA_BIN" sync >/dev/null
    local floor peak up down
    floor=$(rss "$server")
    id=$(STRATA_STORE="$w/k.strata" "$STRATA_BIN" add artefact "Funerary bust")
    STRATA_STORE="$w/k.strata" "$STRATA_BIN" attach "$id" "$DIR/photo.bin" >/dev/null
    timed up env STRATA_STORE="$w/k.strata" "$STRATA_BIN" sync
    timed down env STRATA_STORE="$w/m.strata" "$STRATA_BIN" sync
    peak=$(rss "$server")
    cmp "$DIR/photo.bin" "$w/m.strata.blobs/sha256/${SUM:0:2}/$SUM"
    kill "$server"
    wait "$server" 2>/dev/null || true
    rm -rf "$w"
    echo "$up $down $floor $peak"
}

declare -A UP DOWN GROW PEAK
for kind in sqlite postgres; do UP[$kind]=""; DOWN[$kind]=""; GROW[$kind]=""; PEAK[$kind]=""; done
# Interleaved, so that load from other work on the machine falls on both alike.
for i in $(seq "$REPEATS"); do
    for kind in sqlite postgres; do
        read -r up down floor peak < <(run "$kind" "$i")
        UP[$kind]+=" $up"; DOWN[$kind]+=" $down"; GROW[$kind]+=" $(((peak - floor) / 1024))"; PEAK[$kind]+=" $((peak / 1024))"
        printf 'run %d %-8s upload %.2f s, download %.2f s, server peak RSS %d MiB (+%d MiB)\n' \
            "$i" "$kind" "$up" "$down" $((peak / 1024)) $(((peak - floor) / 1024)) >&2
    done
done
rate() { echo "$BYTES / $1 / 1000000" | bc -l; }
printf 'attachment: %s bytes, %d runs each, medians; strata %s\n' "$BYTES" "$REPEATS" "$("$STRATA_BIN" --version)"
for kind in sqlite postgres; do
    # shellcheck disable=SC2086
    u=$(median ${UP[$kind]}); d=$(median ${DOWN[$kind]}); g=$(median ${GROW[$kind]}); p=$(median ${PEAK[$kind]})
    printf '%-8s upload %.2f s (%.0f MB/s)  download %.2f s (%.0f MB/s)  server peak RSS %d MiB, growth %d MiB\n' \
        "$kind" "$u" "$(rate "$u")" "$d" "$(rate "$d")" "$p" "$g"
    eval "M_UP_$kind=$u; M_DOWN_$kind=$d"
done
printf 'postgres/sqlite time: upload %.2fx, download %.2fx\n' \
    "$(echo "$M_UP_postgres / $M_UP_sqlite" | bc -l)" "$(echo "$M_DOWN_postgres / $M_DOWN_sqlite" | bc -l)"
