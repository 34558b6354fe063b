#!/usr/bin/env python3
"""Black-box interop: bytes written by a built `strata` read by this independent reader.

Two replicas in a temporary directory edit one note (concurrent text edits, a rewrite that
deletes, tags, a location, a delete and a restore) and exchange bundle files. Then:
- every bundle file decodes (section 3) and its frames re-encode exactly;
- every change in each store's log (section 4.1) decodes and re-encodes exactly;
- every record state (section 4.2) decodes, its STXT documents (4.3) re-encode exactly
  (TXT-ENC-01), and each document's text is what `strata show --json` shows.

Usage: interop.py [path/to/strata [rounds [seed]]]   (default: $STRATA, else .build/debug/strata;
12 rounds of seeded random line edits, seed 11)
Not run by CI (it needs a built strata); every command has a time limit.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import strata_spec as spec  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv):
    strata = argv[1] if len(argv) > 1 else os.environ.get(
        "STRATA", os.path.join(HERE, "..", "..", ".build", "debug", "strata"))
    rounds = int(argv[2]) if len(argv) > 2 else 12
    rounds_seed = int(argv[3]) if len(argv) > 3 else 11
    checks = failures = 0

    def check(ok, what):
        nonlocal checks, failures
        checks += 1
        if not ok:
            failures += 1
        print(("PASS " if ok else "FAIL ") + what)

    with tempfile.TemporaryDirectory(prefix="spec-reader-interop-") as tmp:
        env = dict(os.environ, HOME=tmp, XDG_DATA_HOME=os.path.join(tmp, "xdg"), EDITOR="true")
        env.pop("STRATA_STORE", None)

        def run(*args, store=None):
            cmd = [strata, *args] + (["--store", store] if store else [])
            out = subprocess.run(cmd, env=env, cwd=tmp, capture_output=True, text=True,
                                 timeout=120)
            if out.returncode != 0:
                raise SystemExit(f"strata {' '.join(args)} failed: {out.stderr.strip()}")
            return out.stdout

        a, b = os.path.join(tmp, "a.strata"), os.path.join(tmp, "b.strata")
        run("init", "--author", "Khaled al-Asaad", store=a)
        run("init", "--author", "Maria", store=b)
        rid = run("add", "note", "Temple of Bel", "--body", "The cella was blown up in 2015.",
                  "--tag", "palmyra", "--set", "location=34.5472,38.2692", store=a).strip()
        run("add", "site", "Palmyra", "--body", "Oasis city — معبد بل 🏛️", store=a)
        bundles = []

        def exchange(src, dst, name):
            path = os.path.join(tmp, name)
            run("bundle", "create", path, store=src)
            run("bundle", "apply", path, store=dst)
            bundles.append(path)

        exchange(a, b, "a-to-b-1.strata-bundle")
        run("append", rid, "Satellite images of 31 August confirm the cella is gone.", store=a)
        run("append", rid, "Maria: the portico columns still stand.", store=b)
        run("set", rid, "body", "The cella of the Temple of Bel was destroyed in August 2015.",
            store=b)
        run("tag", rid, "unesco", store=b)
        run("tag", rid, "palmyra", "--remove", store=a)
        exchange(a, b, "a-to-b-2.strata-bundle")
        exchange(b, a, "b-to-a-1.strata-bundle")
        run("rm", rid, store=a)
        run("append", rid, "A concurrent note.", store=b)
        exchange(a, b, "a-to-b-3.strata-bundle")
        exchange(b, a, "b-to-a-2.strata-bundle")
        run("restore", rid, store=a)
        exchange(a, b, "a-to-b-4.strata-bundle")
        # Seeded rounds of concurrent line edits of one body, exchanged every other round.
        rng = random.Random(rounds_seed)
        words = ["cella", "portico", "معبد", "🏛️", "e\u0301", "Bel", "column", "", "2015"]
        for i in range(rounds):
            for store in (a, b):
                body = json.loads(run("show", rid, "--json", store=store))["fields"].get("body", "")
                lines = body.split("\n")
                for _ in range(rng.randint(1, 3)):
                    k = rng.randrange(len(lines) + 1)
                    op = rng.random()
                    if op < 0.4 or not lines:
                        lines.insert(k, " ".join(rng.choice(words) for _ in range(rng.randint(1, 4))))
                    elif op < 0.7:
                        del lines[min(k, len(lines) - 1)]
                    else:
                        lines[min(k, len(lines) - 1)] += " " + rng.choice(words)
                run("set", rid, "body", "\n".join(lines) or "x", store=store)
            if i % 2:
                exchange(a, b, f"round-{i}-a-to-b.strata-bundle")
                exchange(b, a, f"round-{i}-b-to-a.strata-bundle")

        for path in bundles:
            with open(path, "rb") as f:
                data = f.read()
            try:
                bd = spec.decode_bundle(data)
                frames = [spec.encode_change_set(fr["changes"], compress=bool(fr["flags"] & 1))
                          for fr in bd["frames"]]
                again = spec.encode_bundle(bd["sender"], bd["senderAuthor"], bd["senderVersion"],
                                           bd["createdAtMillis"], frames)
                check(again == data, f"{os.path.basename(path)}: {len(bd['changes'])} changes "
                      f"in {len(frames)} frames decode and re-encode exactly")
            except spec.SpecError as e:
                check(False, f"{os.path.basename(path)}: {e}")

        for name, store in (("a", a), ("b", b)):
            db = sqlite3.connect(store)
            n = bad = 0
            for (payload,) in db.execute("SELECT payload FROM changes"):
                n += 1
                try:
                    changes = spec.decode_payload(payload[1:], payload[0])
                    version, again = spec.encode_payload(changes)
                    if len(changes) != 1 or bytes([version]) + again != payload:
                        bad += 1
                except spec.SpecError as e:
                    print(f"     {name}: a logged change: {e}")
                    bad += 1
            check(bad == 0, f"store {name}: {n} logged changes decode and re-encode exactly "
                  f"({bad} did not)")
            shown = {r["id"]: r for r in json.loads(run("list", "--json", store=store))}
            for rowid, text_id, doc in db.execute("SELECT rowid, text_id, doc FROM records"):
                if len(doc) == 0:
                    # Derived (SPEC.md §4.2): the state is the record's one change applied to
                    # nothing; that change was decoded and re-encoded above.
                    links = db.execute("SELECT count(*) FROM change_records WHERE record = ?", (rowid,)).fetchone()[0]
                    check(links == 1, f"store {name}: record {text_id[:7]}: no stored state, "
                          f"derived from its one change ({links} logged)")
                    continue
                try:
                    state = spec.decode_record_state(doc)
                except spec.SpecError as e:
                    check(False, f"store {name}: record {text_id[:7]}: {e}")
                    continue
                for t in state["texts"]:
                    stxt = spec.encode_text_document(t["document"])
                    fields = shown.get(text_id, {}).get("fields", {})
                    same = fields.get(t["field"]) == t["document"]["text"]
                    runs, deletes = len(t["document"]["runs"]), len(t["document"]["deletes"])
                    canonical = stxt in doc
                    check(same and canonical,
                          f"store {name}: record {text_id[:7]} {t['field']}: STXT of {runs} runs "
                          f"and {deletes} delete entries decodes to the shown text"
                          f"{'' if same else ' (DIFFERS)'}, re-encodes "
                          f"{'exactly' if canonical else 'DIFFERENTLY'}")
    print(f"interop: {checks - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
