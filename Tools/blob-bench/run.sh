#!/usr/bin/env bash
# Attachment bytes over loopback (issue 12): `strata sync` uploading, then another replica
# downloading, one attachment of STRATA_BLOB_MB megabytes (default 100), against the same
# bytes moved by curl to and from a Python HTTP server in the same run (GET: python3 -m
# http.server; PUT: a few lines of http.server writing the body to a file in 1 MiB pieces).
# Also the peak RSS of the `strata sync` processes and of the server, against a sync of the
# same records with no attachment bytes to move (the growth is what the bytes cost).
#
#   Tools/blob-bench/run.sh                      build release (the shipped settings), 100 MB
#   STRATA_BLOB_MB=20 STRATA_BIN=.build/release/strata Tools/blob-bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/opt/swift/usr/bin:$PATH"
MB="${STRATA_BLOB_MB:-100}"
if [ -z "${STRATA_BIN:-}" ]; then
    # The shipped settings (a static Swift runtime), one release build on the machine at a time.
    flock /tmp/release-build.lock swift build -c release --static-swift-stdlib --product strata >/dev/null
    STRATA_BIN="$(swift build -c release --static-swift-stdlib --show-bin-path)/strata"
fi
DIR="$(mktemp -d "${TMPDIR:-/tmp}/strata-blob-bench.XXXXXX")"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$DIR"; }
trap cleanup EXIT
now() { date +%s.%N; }
rss() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }   # peak RSS of a process, KiB
timed() {  # timed OUTVAR command...: seconds into OUTVAR, peak RSS (KiB) into ${OUTVAR}_rss
    local var=$1; shift
    local t0 t1
    t0=$(now)
    /usr/bin/time -f "%M %U %S" -o "$DIR/rss" "$@" >/dev/null 2>"$DIR/err" || { cat "$DIR/err" >&2; exit 1; }
    t1=$(now)
    printf -v "$var" '%s' "$(echo "$t1 - $t0" | bc -l)"
    printf -v "${var}_rss" '%s' "$(tail -1 "$DIR/rss" | cut -d' ' -f1)"
    printf -v "${var}_cpu" '%s' "$(tail -1 "$DIR/rss" | awk '{print $2 + $3}')"
}
cpu() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat"; }   # user + system CPU seconds of a process so far

head -c "$((MB * 1000000))" /dev/urandom >"$DIR/photo.bin"
BYTES=$(stat -c %s "$DIR/photo.bin")

# Strata: a team server, Khaled uploads, Maria downloads.
export STRATA_SERVER_DATA="$DIR/server"
"$STRATA_BIN" server project add palmyra >/dev/null
K=$("$STRATA_BIN" server token create --project palmyra --researcher Khaled 2>/dev/null)
M=$("$STRATA_BIN" server token create --project palmyra --researcher Maria 2>/dev/null)
"$STRATA_BIN" serve --port 0 --rate-limit 0 --log-level error 2>"$DIR/server.log" &
SERVER=$!
PIDS+=("$SERVER")
for _ in $(seq 100); do grep -q "^listening on" "$DIR/server.log" 2>/dev/null && break; sleep 0.1; done
URL=$(sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$DIR/server.log")
k() { STRATA_STORE="$DIR/k.strata" "$STRATA_BIN" "$@"; }
m() { STRATA_STORE="$DIR/m.strata" "$STRATA_BIN" "$@"; }
k init --author Khaled >/dev/null
m init --author Maria >/dev/null
k remote add origin "$URL" --project palmyra --token "$K" >/dev/null
m remote add origin "$URL" --project palmyra --token "$M" >/dev/null
# The floor: a sync of records only (an attachment of 1 byte), each way.
ID0=$(k add artefact "Funerary bust (floor)")
printf 'x' >"$DIR/tiny.bin"
k attach "$ID0" "$DIR/tiny.bin" >/dev/null
timed floor_up env STRATA_STORE="$DIR/k.strata" "$STRATA_BIN" sync
timed floor_down env STRATA_STORE="$DIR/m.strata" "$STRATA_BIN" sync
server_floor=$(rss "$SERVER")
ID=$(k add artefact "Funerary bust")
k attach "$ID" "$DIR/photo.bin" >/dev/null
c0=$(cpu "$SERVER")
timed up env STRATA_STORE="$DIR/k.strata" "$STRATA_BIN" sync
c1=$(cpu "$SERVER")
timed down env STRATA_STORE="$DIR/m.strata" "$STRATA_BIN" sync
c2=$(cpu "$SERVER")
server_up_cpu=$(echo "$c1 - $c0" | bc -l)
server_down_cpu=$(echo "$c2 - $c1" | bc -l)
server_peak=$(rss "$SERVER")
cmp "$DIR/photo.bin" "$DIR/m.strata.blobs/sha256/$(sha256sum "$DIR/photo.bin" | cut -c1-2)/$(sha256sum "$DIR/photo.bin" | cut -c1-64)"

# Baseline: curl to and from Python's http.server, same bytes, same loopback.
mkdir -p "$DIR/www" "$DIR/put"
cp "$DIR/photo.bin" "$DIR/www/photo.bin"
cat >"$DIR/put.py" <<'PY'
import http.server, sys, os
class H(http.server.SimpleHTTPRequestHandler):
    def do_PUT(self):
        n = int(self.headers["Content-Length"]); left = n
        with open(os.path.join(sys.argv[2], "upload.bin"), "wb") as f:
            while left:
                b = self.rfile.read(min(left, 1 << 20)); f.write(b); left -= len(b)
            f.flush(); os.fsync(f.fileno())
        self.send_response(201); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
PORT=$((20000 + RANDOM % 20000))
(cd "$DIR/www" && exec python3 "$DIR/put.py" "$PORT" "$DIR/put") &
PY=$!
PIDS+=("$PY")
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
c0=$(cpu "$PY")
timed base_down curl -s -o "$DIR/got.bin" "http://127.0.0.1:$PORT/photo.bin"
c1=$(cpu "$PY")
timed base_up curl -s -T "$DIR/photo.bin" "http://127.0.0.1:$PORT/upload.bin"
c2=$(cpu "$PY")
py_down_cpu=$(echo "$c1 - $c0" | bc -l)
py_up_cpu=$(echo "$c2 - $c1" | bc -l)
cmp "$DIR/photo.bin" "$DIR/got.bin"

rate() { echo "$BYTES / $1 / 1000000" | bc -l; }
printf 'attachment: %s bytes, strata %s\n' "$BYTES" "$("$STRATA_BIN" --version)"
printf 'upload   strata sync %.2f s (%.0f MB/s; records-only sync %.2f s)  curl PUT to python %.2f s (%.0f MB/s)  ratio %.2f (goal >= 0.8)\n' \
    "$up" "$(rate "$up")" "$floor_up" "$base_up" "$(rate "$base_up")" "$(echo "$base_up / $up" | bc -l)"
printf 'download strata sync %.2f s (%.0f MB/s; records-only sync %.2f s)  curl GET from python %.2f s (%.0f MB/s)  ratio %.2f (goal >= 0.8)\n' \
    "$down" "$(rate "$down")" "$floor_down" "$base_down" "$(rate "$base_down")" "$(echo "$base_down / $down" | bc -l)"
printf 'CPU seconds (user + system; /proc ticks of 10 ms for the servers): upload strata sync %.2f + server %.2f, curl %.2f + python %.2f; download strata sync %.2f + server %.2f, curl %.2f + python %.2f\n' \
    "$up_cpu" "$server_up_cpu" "$base_up_cpu" "$py_up_cpu" "$down_cpu" "$server_down_cpu" "$base_down_cpu" "$py_down_cpu"
printf 'peak RSS strata sync up %d MiB (floor %d), down %d MiB (floor %d): growth %d / %d MiB (goal < 64)\n' \
    $((up_rss / 1024)) $((floor_up_rss / 1024)) $((down_rss / 1024)) $((floor_down_rss / 1024)) \
    $(((up_rss - floor_up_rss) / 1024)) $(((down_rss - floor_down_rss) / 1024))
printf 'peak RSS strata serve %d MiB after the records-only syncs, %d MiB after the attachment: growth %d MiB (goal < 64)\n' \
    $((server_floor / 1024)) $((server_peak / 1024)) $(((server_peak - server_floor) / 1024))
