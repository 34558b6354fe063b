#!/usr/bin/env python3
"""Replays the editing traces through Loro (pip install loro) and Yrs (pip install pycrdt), the
same way text-bench replays them through Strata, and prints one JSON line per (impl, trace):
replay time (best of 5 for Loro, 1 for Yrs; one commit / one transaction at the end), peak RSS growth of the first replay,
encoded size of the full history (Loro snapshot, Yrs update; raw and zlib level 9), load time.

Traces: github.com/josephg/editing-traces by Joseph Gentle, CC BY 4.0."""
import gzip, json, sys, time, zlib, gc, ctypes

def rss_kb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0

libc = ctypes.CDLL("libc.so.6")

def reset_peak():
    gc.collect()
    libc.malloc_trim(0)
    try:
        open("/proc/self/clear_refs", "w").write("5")
    except OSError:
        pass

def replay_loro(patches):
    import loro
    doc = loro.LoroDoc()
    text = doc.get_text("text")
    for pos, dele, ins in patches:
        if dele:
            text.delete(pos, dele)
        if ins:
            text.insert(pos, ins)
    doc.commit()
    return doc, text

def encode_loro(doc):
    import loro
    return doc.export(loro.ExportMode.Snapshot())

def load_loro(b):
    import loro
    d = loro.LoroDoc()
    d.import_(b)
    return d.get_text("text").to_string()

def replay_yrs(patches):
    import pycrdt
    doc = pycrdt.Doc()
    text = doc.get("text", type=pycrdt.Text)
    with doc.transaction():
        for pos, dele, ins in patches:
            if dele:
                del text[pos:pos + dele]
            if ins:
                text.insert(pos, ins)
    return doc, text

def encode_yrs(doc):
    return doc.get_update()

def load_yrs(b):
    import pycrdt
    d = pycrdt.Doc()
    d.apply_update(b)
    return str(d.get("text", type=pycrdt.Text))

IMPLS = {"loro": (replay_loro, encode_loro, load_loro), "yrs": (replay_yrs, encode_yrs, load_yrs)}

def main():
    args = sys.argv[1:]
    tdir = "../../../shared/data/editing-traces"
    if "--traces" in args:
        i = args.index("--traces"); tdir = args[i + 1]; del args[i:i + 2]
    names = args or ["automerge-paper", "rustcode", "sveltecomponent", "friendsforever_flat"]
    for name in names:
        data = json.load(gzip.open(f"{tdir}/{name}.json.gz"))
        if data.get("kind") == "concurrent":
            continue  # merge orders are measured for Strata alone (text-bench)
        patches = [tuple(p) for t in data["txns"] for p in t["patches"]]
        end = data["endContent"]
        for impl, (replay, encode, load) in IMPLS.items():
            best = 1e9
            growth = 0
            # Yrs through pycrdt is slow per call from Python (minutes on automerge-paper): 1 round.
            for rnd in range(5 if impl == "loro" else 1):
                reset_peak()
                before = rss_kb("VmRSS")
                t0 = time.perf_counter()
                doc, text = replay(patches)
                t = time.perf_counter() - t0
                if rnd == 0:
                    growth = rss_kb("VmHWM") - before
                best = min(best, t)
            assert str(text) == end, f"{impl} {name}: replay differs"
            b = encode(doc)
            loads = []
            for _ in range(10):
                t0 = time.perf_counter()
                s = load(b)
                loads.append(time.perf_counter() - t0)
            assert s == end, f"{impl} {name}: load differs"
            print(json.dumps({"impl": impl, "trace": name, "edits": len(patches), "replay_ms": best * 1000,
                              "mem_growth_kb": growth, "encoded": len(b), "zlib": len(zlib.compress(b, 9)),
                              "load_ms": min(loads) * 1000}), flush=True)

if __name__ == "__main__":
    main()
