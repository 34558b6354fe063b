#!/usr/bin/env python3
"""Prints a JSON array of COUNT field notes for `strata import`, numbered from FIRST: a title,
an 800-character window of this repository's own prose (real English, so compression and
search behave as on real notes) and three tags. Run from the repository's root. Used by
Tools/startup/run.sh and Tools/memory/run.sh.

Usage: Tools/field-notes.py FIRST COUNT > notes.json
"""
import json
import pathlib
import sys

if len(sys.argv) != 3 or not all(a.isdigit() for a in sys.argv[1:]):
    sys.exit("usage: Tools/field-notes.py FIRST COUNT   (two whole numbers, e.g. 0 10000)")
first, count = int(sys.argv[1]), int(sys.argv[2])
prose = " ".join(" ".join(pathlib.Path(p).read_text().split()) for p in ("README.md", "ARCHITECTURE.md", "BENCHMARKS.md"))
tags = ["palmyra", "temple", "theatre", "citadel", "museum", "survey", "damage", "looting"]


def note(i):
    at = (i * 7919) % (len(prose) - 800)
    return {"kind": "note", "fields": {"title": f"Field note {i}", "body": prose[at:at + 800]},
            "tags": [tags[i % 8], tags[(i // 8) % 8], "batch-" + str(i // 10000)]}


json.dump([note(i) for i in range(first, first + count)], sys.stdout)
