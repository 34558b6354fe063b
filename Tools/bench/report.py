#!/usr/bin/env python3
"""Prints the benchmark table from Tools/bench/out (results.jsonl, machine.json, text.txt) and
plots incremental sync time against database size. Usage: Tools/bench/report.py [OUT_DIR]"""
import json, sys, os
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")
rows = [json.loads(l) for l in open(f"{out}/results.jsonl") if l.strip()]
m = json.load(open(f"{out}/machine.json"))["machine"]
print(f"# {m['date']}  {m['cores']} cores, {m['memory_gib']} GiB, {m['cpu']}; SQLite {m['sqlite']}, zlib {m['zlib']}")
print(f"{'scenario':17} {'metric':46} {'strata':>12} {'unit':6} {'baseline':>12}  {'ratio':>8}  goal")
for r in rows:
    verdict = "" if r.get("met") is None else ("met" if r["met"] else "NOT met")
    print(f"{r['scenario']:17} {r['metric']:46} {r['strata']:12.4g} {r['unit']:6} {r['baseline']:12.4g}  {r['ratio']:8.3f}  {r['goal']} {verdict}   [{r['baselineName']}]")
if os.path.exists(f"{out}/text.txt"):
    print()
    print(open(f"{out}/text.txt").read().rstrip())
inc = [r for r in rows if r["scenario"] == "incremental-sync" and r["unit"] == "s"]
if inc:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        xs = [max(r["size"], 1) for r in inc]
        ys = [r["strata"] * 1000 for r in inc]
        fig, ax = plt.subplots(figsize=(6, 3.6), dpi=120)
        ax.plot(xs, ys, marker="o", label="one new note: sync time (median)")
        ax.axhline(ys[0] * 1.5, color="grey", linestyle="--", label="goal: 1.5x the time at 0 records")
        ax.set_xscale("symlog", linthresh=100)
        ax.set_xlabel("records in the replica")
        ax.set_ylabel("ms")
        ax.set_ylim(bottom=0)
        ax.set_xlim(left=0, right=max(xs) * 2)
        ax.set_title(f"Incremental sync over loopback HTTP ({m['date'][:10]})")
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        fig.savefig(f"{out}/incremental-sync.png")
        print(f"\nplot: {out}/incremental-sync.png")
    except ImportError:
        print("\n(no plot: pip install matplotlib)")
