#!/usr/bin/env bash
# Strata's main job, end to end, on one machine: a team server on 127.0.0.1, three
# researchers recording Palmyra offline on their own replicas (including concurrent edits to
# the same records), syncing, seeing and resolving the conflicts, and ending identical; then
# the same without any network, by bundle file. Installs what is missing and builds first.
#
#   Tools/demo.sh            build (debug) and run the session
#   STRATA_BIN=path Tools/demo.sh   use an existing strata binary
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

if [ -z "${STRATA_BIN:-}" ]; then
    Tools/install-deps.sh
    echo "building strata (a cold build takes a few minutes)..."
    swift build --product strata 2>&1 | grep -E "error|warning: unre|Compiling strata|Build complete" || true
    STRATA_BIN="$(swift build --show-bin-path)/strata"
fi
[ -x "$STRATA_BIN" ] || { echo "error: no strata binary at $STRATA_BIN" >&2; exit 1; }

DIR="$(mktemp -d "${TMPDIR:-/tmp}/strata-demo.XXXXXX")"
SERVER_PID=""
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true; }
trap cleanup EXIT
say() { printf '\n\033[1m# %s\033[0m\n' "$*"; }
show() {
    local colour=$1 who=$2 line="" a
    shift 2
    for a in "$@"; do
        a=${a//$DIR\//}
        if [[ $a =~ [[:space:]\;\(\)\'] ]]; then line+=" \"$a\""; else line+=" $a"; fi
    done
    printf '\033[%sm%s$\033[0m strata%s\n' "$colour" "$who" "$line" >&2
}
admin() { show 33 "admin " "$@"; STRATA_SERVER_DATA="$DIR/server" "$STRATA_BIN" "$@"; }
khaled() { show 36 khaled "$@"; STRATA_STORE="$DIR/khaled.strata" "$STRATA_BIN" "$@"; }
maria() { show 35 "maria " "$@"; STRATA_STORE="$DIR/maria.strata" "$STRATA_BIN" "$@"; }
omar() { show 32 "omar  " "$@"; STRATA_STORE="$DIR/omar.strata" "$STRATA_BIN" "$@"; }

say "The team's server: one project, one token per researcher (stored hashed)"
admin server project add palmyra
K_TOKEN=$(admin server token create --project palmyra --researcher Khaled 2>/dev/null)
M_TOKEN=$(admin server token create --project palmyra --researcher Maria 2>/dev/null)
O_TOKEN=$(admin server token create --project palmyra --researcher Omar 2>/dev/null)
admin server token list
STRATA_SERVER_DATA="$DIR/server" "$STRATA_BIN" serve --port 0 2> "$DIR/server.log" &
SERVER_PID=$!
for _ in $(seq 100); do grep -q "^listening on" "$DIR/server.log" 2>/dev/null && break; sleep 0.1; done
URL=$(sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$DIR/server.log")
[ -n "$URL" ] || { cat "$DIR/server.log" >&2; exit 1; }
echo "server listening on $URL"

say "Each researcher sets up a replica on their laptop"
khaled init --author "Khaled"
maria init --author "Maria"
omar init --author "Omar"
khaled remote add origin "$URL" --project palmyra --token "$K_TOKEN"
STRATA_TOKEN="$M_TOKEN" maria remote add origin "$URL" --project palmyra
STRATA_TOKEN="$O_TOKEN" omar remote add origin "$URL" --project palmyra
# Omar works over a satellite phone: his remote takes no attachment bytes unless he asks.
omar remote set origin --attachments none

say "Khaled, at the museum, records what the team knows and syncs"
BEL=$(khaled add site "Temple of Bel" --set location=34.5472,38.2673,30 --set condition=destroyed \
    --set damage_extent=91-100% --set disturbances="armed conflict; deliberate demolition" \
    --set designations="UNESCO World Heritage (1980)" --tag unesco --tag isis-2015)
echo "$BEL"
THEATRE=$(khaled add site "Roman theatre" --set location=34.5514,38.2690 --set condition=poor \
    --set threats="armed conflict; used for executions (2015)" --tag unesco)
echo "$THEATRE"
BUST=$(khaled add artefact "Funerary bust of a woman" --set object_type="funerary bust" \
    --set materials=limestone --set period="2nd century AD" --set state=in-situ \
    --set condition=fair --rel origin:"$BEL" --tag museum)
echo "$BUST"
khaled sync
maria sync
omar sync

say "Offline for days. Khaled learns the bust was evacuated to Damascus..."
khaled set "$BUST" state moved-for-safekeeping
khaled set "$BUST" keeper "National Museum, Damascus"
khaled set "$THEATRE" condition "very bad"

say "...Maria, at the site, cannot find it and records it as missing, with the evidence"
maria set "$BUST" state missing
LINK=$(maria add link "Palmyra's Temple of Bel destroyed, says UN" \
    --set url=https://www.bbc.com/news/world-middle-east-34111092 --set publisher="BBC News" \
    --set issued=2015-08-31 --set language=en \
    --set quote="Satellite images confirm the main building of the Temple of Bel has been destroyed." \
    --rel reports-on:"$BEL" --tag evidence)
echo "$LINK"

say "...and Omar surveys the theatre"
omar set "$THEATRE" condition fair
NOTE=$(omar add note "Theatre, east side" \
    --body "Stage front intact; new damage to the scaenae frons since the last visit." \
    --set observed_at=2017-03-04T10:20Z --set location=34.5514,38.2690,15 --rel about:"$THEATRE" --tag survey)
echo "$NOTE"
omar status

say "A link appears: everyone syncs (in any order; twice brings everything everywhere)"
maria sync
omar sync
khaled sync
maria sync
omar sync

say "Every replica shows the same records, and every researcher sees both conflicts: nothing was lost"
khaled list
omar conflicts

say "Maria, who now knows about the evacuation, resolves the bust; Omar resolves the theatre"
maria resolve "$BUST" state --value moved-for-safekeeping
omar resolve "$THEATRE" condition --value "very bad"
maria sync
omar sync
khaled sync
maria sync
khaled conflicts
khaled show "$BUST"

say "Provenance: who changed what, when, on which machine"
khaled history "$BUST"

say "Evidence: Khaled attaches his photo of the bust, with its EXIF time and position"
# A small photo made with ImageMagick and exiftool (Tests/StrataCodecTests/Fixtures/README.md).
cp Tests/StrataCodecTests/Fixtures/north-east-le.jpg "$DIR/bust-east.jpg"
khaled attach "$BUST" "$DIR/bust-east.jpg" --caption "The bust in the museum store, east face, before the evacuation"
khaled sync
say "Maria syncs: the note at once, the photo's bytes after it"
maria sync
maria show "$BUST"
say "Omar's remote takes no attachments: he sees the photo listed, and fetches it when he needs it"
omar sync
omar show "$BUST"
omar fetch "$BUST" 1
omar get "$BUST" 1 -o "$DIR/omar-bust.jpg"
cmp "$DIR/bust-east.jpg" "$DIR/omar-bust.jpg" && echo "Omar's copy is byte for byte Khaled's photo"

say "Offline again, Khaled and Omar both work on Omar's theatre note: long texts merge character by character"
# Khaled corrects the first sentence in his editor (here a scripted one) ...
EDITOR="sed -i 's/Stage front intact/Stage front partly intact (east half)/'" khaled edit "$NOTE"
# ... while Omar adds a paragraph from the field, without an editor.
omar append "$NOTE" "Photographs 3-17 taken from the east entrance; compare with the 2015 DGAM survey."
omar sync
khaled sync
omar sync
maria sync
omar show "$NOTE"
khaled history "$NOTE"

say "All three replicas and the server hold the same data"
for who in khaled maria omar; do
    STRATA_STORE="$DIR/$who.strata" "$STRATA_BIN" export --format json > "$DIR/$who.json"
done
if cmp -s "$DIR/khaled.json" "$DIR/maria.json" && cmp -s "$DIR/khaled.json" "$DIR/omar.json"; then
    echo "identical: $(grep -c '"kind"' "$DIR/khaled.json") records on all three replicas, same fields, same history"
else
    echo "replicas differ:" >&2
    diff "$DIR/khaled.json" "$DIR/maria.json" >&2 || true
    exit 1
fi
kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
echo "server stopped gracefully; its log (no tokens, no record content):"
grep -c "status=200" "$DIR/server.log" | sed 's/^/  requests answered 200: /'

say "No network at all: a bundle on a USB stick"
omar add note "Citadel, west wall" --body "Fresh shelling damage on the west wall." --tag survey >/dev/null
omar bundle create "$DIR/omar-to-khaled.bundle" --since "$(khaled status --version-vector)"
khaled bundle apply "$DIR/omar-to-khaled.bundle"
head -c 100 "$DIR/omar-to-khaled.bundle" > "$DIR/truncated.bundle"
maria bundle apply "$DIR/truncated.bundle" || echo "(refused, exit code $?: Maria's store is unchanged)"

echo
echo "The replicas and the server's data are in $DIR; explore them with:"
echo "  STRATA_STORE=$DIR/khaled.strata $STRATA_BIN list"

say "The home team's web view"
READ_TOKEN=$(STRATA_SERVER_DATA="$DIR/server" "$STRATA_BIN" server token create --project palmyra --researcher Registrar --role read 2>/dev/null)
echo "Khaled's replica in a browser (127.0.0.1 only, no token):"
echo "  STRATA_STORE=$DIR/khaled.strata $STRATA_BIN web    # then open http://127.0.0.1:7080/web/p/local/"
echo "The team's project palmyra, as its registrar reads it (a read token; sign in with it on the page):"
echo "  STRATA_SERVER_DATA=$DIR/server $STRATA_BIN serve --port 7070"
echo "  open http://127.0.0.1:7070/web/  (project: palmyra, token: $READ_TOKEN)"
