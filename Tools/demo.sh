#!/usr/bin/env bash
# Strata's main job, end to end: two researchers record Palmyra offline on their own
# replicas, exchange bundle files (no network at all), see the conflict, resolve it, and end
# with identical data. Installs what is missing and builds first.
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
khaled() { show 36 khaled "$@"; STRATA_STORE="$DIR/khaled.strata" "$STRATA_BIN" "$@"; }
maria() { show 35 "maria " "$@"; STRATA_STORE="$DIR/maria.strata" "$STRATA_BIN" "$@"; }

say "Khaled, at the museum, sets up his replica and records what the team knows"
khaled init --author "Khaled"
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

say "He hands Maria a bundle with everything: her replica starts as a copy of his"
khaled bundle create "$DIR/handover.bundle"
maria init --author "Maria"
maria bundle apply "$DIR/handover.bundle"

say "Offline for days. Khaled learns the bust was evacuated to Damascus..."
khaled set "$BUST" state moved-for-safekeeping
khaled set "$BUST" keeper "National Museum, Damascus"

say "...while Maria, at the site, cannot find it and records it as missing"
maria set "$BUST" state missing
LINK=$(maria add link "Palmyra's Temple of Bel destroyed, says UN" \
    --set url=https://www.bbc.com/news/world-middle-east-34111092 --set publisher="BBC News" \
    --set issued=2015-08-31 --set language=en \
    --set quote="Satellite images confirm the main building of the Temple of Bel has been destroyed." \
    --rel reports-on:"$BEL" --tag evidence)
echo "$LINK"
NOTE=$(maria add note "Theatre, east side" \
    --body "Stage front intact; new damage to the scaenae frons since the last visit." \
    --set observed_at=2017-03-04T10:20Z --set location=34.5514,38.2690,15 --rel about:"$THEATRE")
echo "$NOTE"

say "A USB stick goes back and forth: each sends only what the other lacks"
maria bundle create "$DIR/maria-to-khaled.bundle" --since-bundle "$DIR/handover.bundle"
khaled bundle apply "$DIR/maria-to-khaled.bundle"
khaled bundle create "$DIR/khaled-to-maria.bundle" --for maria
maria bundle apply "$DIR/khaled-to-maria.bundle"

say "Both replicas hold the same records, and both see the conflict: nothing was lost"
khaled list
maria conflicts

say "Maria, who now knows about the evacuation, resolves it; the resolution travels back"
maria resolve "$BUST" state --value moved-for-safekeeping
maria bundle create "$DIR/resolution.bundle" --for khaled
khaled bundle apply "$DIR/resolution.bundle"
khaled conflicts
khaled show "$BUST"

say "Provenance: who changed what, when, on which machine"
khaled history "$BUST"

say "Both replicas are identical"
khaled export --format json > "$DIR/khaled.json"
maria export --format json > "$DIR/maria.json"
if cmp -s "$DIR/khaled.json" "$DIR/maria.json"; then
    echo "identical: $(grep -c '"kind"' "$DIR/khaled.json") records, same fields, same conflicts"
else
    echo "replicas differ:" >&2
    diff "$DIR/khaled.json" "$DIR/maria.json" >&2 || true
    exit 1
fi

say "A damaged bundle is refused and changes nothing"
head -c 100 "$DIR/resolution.bundle" > "$DIR/truncated.bundle"
maria bundle apply "$DIR/truncated.bundle" || echo "(exit code $?: store unchanged)"

echo
echo "The two stores are in $DIR; explore them with:"
echo "  STRATA_STORE=$DIR/khaled.strata $STRATA_BIN list"
