#!/usr/bin/env bash
# Times strata backup, backup verify, check and backup restore on a store of 10,000 notes of
# about 600 characters (10 imports of 1,000 notes: seeded random words).
#   Tools/backup-bench/run.sh            # uses .build/debug/strata (STRATA_BIN to choose)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
strata="${STRATA_BIN:-$root/.build/debug/strata}"
[ -x "$strata" ] || (cd "$root" && swift build --product strata >/dev/null)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 - "$work" <<'PY'
import json, random, sys
random.seed(7)
letters = 'abcdefghijklmnopqrstuvwxyz'
vocab = [''.join(random.choice(letters) for _ in range(random.randint(3, 10))) for _ in range(600)]
for part in range(10):
    recs = []
    for i in range(1000):
        body = ''
        while len(body) < 600:
            body += random.choice(vocab) + ' '
        recs.append({"kind": "note", "fields": {"title": f"Field note {part}-{i}", "body": body}})
    json.dump(recs, open(f'{sys.argv[1]}/part{part}.json', 'w'))
PY
export STRATA_STORE="$work/s.strata"
"$strata" init --author Khaled >/dev/null
for i in $(seq 0 9); do "$strata" import "$work/part$i.json" >/dev/null; done
echo "store: $(du -h "$STRATA_STORE" | cut -f1)"
t() { /usr/bin/time -f "  %e s, %M KB peak" "$@" 2>&1 >/dev/null | grep -v "keep it as private"; }
echo "strata backup";         t "$strata" backup "$work/b.strata"
echo "strata backup verify";  t "$strata" backup verify "$work/b.strata"
echo "strata check";          t "$strata" check
echo "strata backup restore"; t "$strata" backup restore "$work/b.strata"
