#!/usr/bin/env python3
"""Checks of the reader beyond the vectors (not needed by CI; run by hand).

1. SPEC 4.3's worked STXT example decodes to "x" and re-encodes to the same bytes.
2. Random structurally valid STXT documents (built from the rules of SPEC 4.3, with pending
   STXO operations) encode canonically, decode to what was built, and re-encode to the same
   bytes (TXT-ENC-01).
3. Seeded random mutations of every valid vector, of change-set payloads and of the random
   documents either decode or fail with a spec error code: never another exception.

Usage: selftest.py [seed] [rounds]
"""

from __future__ import annotations

import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import strata_spec as spec  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
VALID = os.path.normpath(os.path.join(HERE, "..", "..", "Protocol", "vectors", "valid"))

SPEC_EXAMPLE = bytes.fromhex(
    "5354585401" "01" + "ab" * 16 + "01" "01" "0154" "0100" "00" "0101" "00" "00" "0178"
    "00" "000000" "00")

# The text branch's second example (SPEC 4.3, commit e04f8eb there): "Xb", a delete entry.
SPEC_EXAMPLE_2 = bytes.fromhex(
    "535458540102" + "aa" * 16 + "bb" * 16 + "02020303554a500300010000030101010101000361586200"
    "0101000100010100")

CODES = {"bad-magic", "unsupported-version", "unsupported-flags", "too-large", "length-mismatch",
         "truncated", "trailing-bytes", "corrupt-compression", "overlong-varint",
         "index-out-of-range", "malformed", "invalid-utf8", "unsupported-value",
         "invalid-change", "checksum-mismatch"}


def random_document(rng: random.Random) -> dict:
    """A document that follows every structural rule of SPEC 4.3."""
    nrep = rng.randint(1, 4)
    ids = sorted({bytes(rng.randrange(256) for _ in range(16)).hex() for _ in range(nrep)})
    alphabet = "ab é🏛\u0301x"
    # Per replica, a sequence of pieces: ("run", length) and ("del", length).
    pieces = {}
    runs = []
    for rid in ids:
        seq = []
        for _ in range(rng.randint(1, 5)):
            n = rng.randint(1, 4)
            if rng.random() < 0.75:
                run = {"replica": rid, "length": n, "deleted": False,
                       "text": "".join(rng.choice(alphabet) for _ in range(n))}
                runs.append(run)
                seq.append(("run", run))
            else:
                seq.append(("del", n))
        pieces[rid] = seq
    if not runs:  # at least one character
        run = {"replica": ids[0], "length": 1, "deleted": False, "text": "z"}
        runs.append(run)
        pieces[ids[0]].append(("run", run))
    # Counters, in each replica's piece order; delete pieces become entry slots.
    slots = []
    versions = {}
    for rid in ids:
        at = 0
        for kind, x in pieces[rid]:
            if kind == "run":
                x["counter"] = at
                at += x["length"]
            else:
                slots.append([rid, at, x])
                at += x
        versions[rid] = at
    # Deleted runs: the delete slots' counters name whole runs (so flags agree).
    targets = []
    for run in runs:
        if rng.random() < 0.3:
            run["deleted"] = True
            targets += [(run["replica"], run["counter"] + i) for i in range(run["length"])]
    rng.shuffle(targets)
    deletes = []
    for rid, own, n in slots:
        for i in range(n):
            if not targets:  # nothing left to delete: name an already deleted char again
                deleted = [r_ for r_ in runs if r_["deleted"]]
                if not deleted:
                    run = rng.choice(runs)
                    run["deleted"] = True
                    deleted = [run]
                    targets += [(run["replica"], run["counter"] + j) for j in range(run["length"])]
                    t = targets.pop()
                else:
                    run = rng.choice(deleted)
                    t = (run["replica"], run["counter"] + rng.randrange(run["length"]))
            else:
                t = targets.pop()
            deletes.append({"replica": rid, "own": own + i, "target": t[0], "start": t[1],
                            "length": 1})
    # Deleted runs still unnamed: give the first replica more delete counters for them.
    while targets:
        t = targets.pop()
        rid = ids[0]
        deletes.append({"replica": rid, "own": versions[rid], "target": t[0], "start": t[1],
                        "length": 1})
        versions[rid] += 1
    rng.shuffle(runs)
    chars = [(r_["replica"], r_["counter"] + i) for r_ in runs for i in range(r_["length"])]
    for k, run in enumerate(runs):
        choice = rng.random()
        if choice < 0.3:
            run["left"] = None
        elif choice < 0.5 and k > 0:
            p = runs[k - 1]
            run["left"] = (p["replica"], p["counter"] + p["length"] - 1)
        else:
            run["left"] = rng.choice(chars)
        choice = rng.random()
        if choice < 0.3:
            run["right"] = None
        elif choice < 0.5 and k + 1 < len(runs):
            run["right"] = (runs[k + 1]["replica"], runs[k + 1]["counter"])
        else:
            run["right"] = rng.choice(chars)
    pending = []
    for _ in range(rng.randint(0, 3)):
        rid = rng.choice(ids + ["ff" * 16])
        counter = versions.get(rid, 0) + rng.randint(0, 3)
        if rng.random() < 0.5:
            pending.append({"replica": rid, "counter": counter, "kind": "insert", "text": "q",
                            "left": rng.choice([None] + chars), "right": rng.choice([None] + chars)})
        else:
            c = rng.choice(chars)
            pending.append({"replica": rid, "counter": counter, "kind": "delete",
                            "ranges": [(c[0], c[1], 1)]})
    return {"versions": versions, "runs": runs, "deletes": deletes, "pending": pending}


def canonical(doc: dict) -> dict:
    """What decoding the canonical encoding gives: runs merged, deletes in counter order."""
    return spec.decode_text_document(spec.encode_text_document(doc))


def same_characters(built: dict, decoded: dict) -> bool:
    def expand(d):
        out = []
        for r_ in d["runs"]:
            for i in range(r_["length"]):
                left = r_["left"] if i == 0 else (r_["replica"], r_["counter"] + i - 1)
                out.append(((r_["replica"], r_["counter"] + i), left, r_["right"],
                            r_["deleted"], r_["text"][i]))
        return out

    def deleted(d):
        return sorted((e["target"], e["start"] + i) for e in d["deletes"] for i in range(e["length"]))
    return expand(built) == expand(decoded) and deleted(built) == deleted(decoded) and \
        built["pending"] == decoded["pending"]


def negative_documents(rng: random.Random, rounds: int) -> int:
    """Each rule of TXT-REJ-21 ... 29 broken on purpose in a valid document."""
    import copy
    refused = 0

    def delete_counter(doc):
        for e in doc["deletes"]:
            return (e["replica"], e["own"])
        return None

    breakers = {
        "TXT-REJ-21 version above 2^31 - 2": lambda d: d["versions"].update(
            {next(iter(d["versions"])): (1 << 31) - 1}) or True,
        "TXT-REJ-24 overlapping runs": lambda d: d["runs"].append(dict(d["runs"][0])) or True,
        "TXT-REJ-25 origin on a delete counter": lambda d: (
            delete_counter(d) is not None and d["runs"][0].update(left=delete_counter(d)) is None),
        "TXT-REJ-26 content shorter than the runs": lambda d: d["runs"][0].update(
            text=d["runs"][0]["text"][:-1]) or True,
        "TXT-REJ-27 delete of a delete counter": lambda d: (
            delete_counter(d) is not None and d["deletes"][0].update(
                target=delete_counter(d)[0], start=delete_counter(d)[1], length=1) is None),
        "TXT-REJ-28 deleted flag without a delete": lambda d: d["runs"][0].update(
            deleted=not d["runs"][0]["deleted"]) or True,
        "TXT-REJ-29 pending origin on a delete counter": lambda d: (
            delete_counter(d) is not None and d["pending"].append(
                {"replica": "ff" * 16, "counter": 0, "kind": "insert", "text": "q",
                 "left": delete_counter(d), "right": None}) is None),
    }
    for name, breaker in breakers.items():
        done = 0
        for _ in range(rounds * 20):
            doc = copy.deepcopy(random_document(rng))
            if not breaker(doc):
                continue
            data = spec.encode_text_document(doc)
            try:
                spec.decode_text_document(data)
            except spec.SpecError as e:
                if e.code != "malformed":
                    raise AssertionError(f"{name}: {e.code}: {e}") from None
            else:
                raise AssertionError(f"{name}: decoded {data.hex()}")
            done += 1
            if done == rounds:
                break
        assert done, f"{name}: never applied"
        refused += done
    return refused


def mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        op = rng.random()
        if op < 0.6 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op < 0.8:
            del b[rng.randrange(len(b) + 1):]
        else:
            b.insert(rng.randrange(len(b) + 1), rng.randrange(256))
    return bytes(b)


def survive(decode, data: bytes, what: str) -> str:
    try:
        decode(data)
        return "ok"
    except spec.SpecError as e:
        if e.code not in CODES:
            raise AssertionError(f"{what}: unknown code {e.code}") from None
        return e.code
    except Exception as e:  # a crash of the reader, not a decoding failure
        raise AssertionError(f"{what}: {type(e).__name__}: {e} on {data.hex()}") from None


def main(argv):
    seed = int(argv[1]) if len(argv) > 1 else 11
    rounds = int(argv[2]) if len(argv) > 2 else 2000
    rng = random.Random(seed)
    print(f"selftest seed {seed}, {rounds} rounds")
    doc = spec.decode_text_document(SPEC_EXAMPLE)
    assert doc["text"] == "x" and spec.encode_text_document(doc) == SPEC_EXAMPLE
    print("PASS SPEC 4.3 example decodes to 'x' and re-encodes exactly")
    doc = spec.decode_text_document(SPEC_EXAMPLE_2)
    assert doc["text"] == "Xb" and len(doc["deletes"]) == 1
    assert spec.encode_text_document(doc) == SPEC_EXAMPLE_2
    print("PASS SPEC 4.3 second example decodes to 'Xb' and re-encodes exactly")

    docs = []
    for i in range(rounds):
        built = random_document(rng)
        data = spec.encode_text_document(built)
        decoded = spec.decode_text_document(data)
        assert same_characters(built, decoded), f"round {i}: decoded differs"
        assert spec.encode_text_document(decoded) == data, f"round {i}: not canonical"
        docs.append(data)
    print(f"PASS {rounds} random documents decode to what was built and re-encode exactly")

    refusals = negative_documents(rng, rounds // 10 or 1)
    print(f"PASS {refusals} documents breaking one structural rule are refused as malformed")

    tally = {}
    decoders = {"cs": spec.decode_change_set, "bd": spec.decode_bundle,
                "sy-01": spec.decode_pull_request}
    inputs = []
    for name in sorted(os.listdir(VALID)):
        if name.endswith(".bin"):
            with open(os.path.join(VALID, name), "rb") as f:
                data = f.read()
            d = decoders.get(name[:5]) or decoders.get(name[:2]) or spec.decode_pull_response
            inputs.append((name, d, data))
            if name.startswith("cs-"):
                cs = spec.decode_change_set(data)

                def stored(payload, version=cs["version"]):
                    w = spec.Writer()
                    w.raw(b"SCHG" + bytes([version, 0]))
                    w.varint(len(payload))
                    w.raw(payload)
                    return spec.decode_change_set(bytes(w.out))
                inputs.append((name + " payload", stored, cs["payload"]))
    inputs += [(f"document {i}", spec.decode_text_document, d) for i, d in enumerate(docs[:50])]
    for name, decode, data in inputs:
        for _ in range(rounds // 10 or 1):
            code = survive(decode, mutate(rng, data), name)
            tally[code] = tally.get(code, 0) + 1
    print(f"PASS {sum(tally.values())} mutations: " +
          ", ".join(f"{k} {v}" for k, v in sorted(tally.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
