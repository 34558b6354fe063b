#!/usr/bin/env python3
"""Differential check: this reader's error code against a built strata's, input by input.

Seeded mutations of the valid vectors are wrapped in bundle files (a change-set payload
stored uncompressed or recompressed in a frame, or a whole bundle with its checksum and
length fixed up or not) and given to `strata bundle info`; its one-line error is mapped to a
spec code by its wording, and compared with `strata_spec.decode_bundle`'s code. Prints each
difference and ends with `crosscheck: N inputs, M differences`.

Usage: crosscheck.py [path/to/strata [inputs [seed]]]
(default: $STRATA, else .build/debug/strata; 1000 inputs; seed 1). By hand only: it runs
strata once per input (each under a 60 s limit), and the mapping follows the CLI's wording.
"""

from __future__ import annotations

import os
import random
import re
import struct
import subprocess
import sys
import tempfile
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import strata_spec as spec  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
VALID = os.path.normpath(os.path.join(HERE, "..", "..", "Protocol", "vectors", "valid"))
SENDER = "fedcba98765443219edcba9876543210"

# The CLI's wording of each code (first match wins, most specific first).
PHRASES = [("wrong magic", "bad-magic"), ("format version", "unsupported-version"),
           ("unknown flags", "unsupported-flags"), ("inflated payload is", "length-mismatch"),
           ("truncated", "truncated"), ("unexpected byte", "trailing-bytes"),
           ("compressed data is corrupt", "corrupt-compression"),
           ("invalid varint", "overlong-varint"), ("out of range", "index-out-of-range"),
           ("exceeds the", "too-large"), ("not valid UTF-8", "invalid-utf8"),
           ("unknown value tag", "unsupported-value"), ("invalid change", "invalid-change"),
           ("checksum mismatch", "checksum-mismatch"), ("malformed data", "malformed")]
FRAME_PREFIX = re.compile(r"^bundle change set \d+ of \d+ \(at byte \d+\)(, inflated payload)?: ")


def code_of(message: str) -> str:
    inner = FRAME_PREFIX.sub("", message)
    for phrase, code in PHRASES:
        if phrase in inner[:120]:
            return code
    return "?" + inner[:60]


def envelope(body: bytes) -> bytes:
    head = b"SBDL" + bytes([1, 0]) + struct.pack("<Q", 14 + len(body) + 4) + body
    return head + struct.pack("<I", zlib.crc32(head))


def bundle(frames: list[bytes]) -> bytes:
    w = spec.Writer()
    w.raw(bytes.fromhex(SENDER))
    w.string("Bob")
    w.varint(1)
    w.raw(bytes.fromhex(SENDER))
    w.varint(1)
    w.varint(1732550460000)
    w.varint(len(frames))
    for f in frames:
        w.varint(len(f))
        w.raw(f)
    return envelope(bytes(w.out))


def change_set(payload: bytes, version: int, compress: bool) -> bytes:
    w = spec.Writer()
    w.raw(b"SCHG" + bytes([version, 1 if compress else 0]))
    w.varint(len(payload))
    w.raw(zlib.compress(payload, 6) if compress else payload)
    return bytes(w.out)


def mutate(rng: random.Random, data: bytes, near: int | None = None) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 2)):
        pos = rng.randrange(min(len(b), near) if near and rng.random() < 0.5 else max(len(b), 1))
        op = rng.random()
        if op < 0.7 and b:
            b[min(pos, len(b) - 1)] = rng.choice([0, 1, 2, 3, 0x7F, 0x80, 0xFF, rng.randrange(256)])
        elif op < 0.85:
            del b[pos:pos + rng.randint(1, 20)]
        else:
            b.insert(pos, rng.randrange(256))
    return bytes(b)


def main(argv):
    strata = argv[1] if len(argv) > 1 else os.environ.get(
        "STRATA", os.path.join(HERE, "..", "..", ".build", "debug", "strata"))
    count = int(argv[2]) if len(argv) > 2 else 1000
    rng = random.Random(int(argv[3]) if len(argv) > 3 else 1)
    payloads, bundles = [], []
    for name in sorted(os.listdir(VALID)):
        path = os.path.join(VALID, name)
        if name.startswith("cs-") and name.endswith(".bin"):
            with open(path, "rb") as f:
                cs = spec.decode_change_set(f.read())
            payloads.append((cs["version"], cs["payload"]))
            bundles.append(bundle([change_set(cs["payload"], cs["version"], True)] * 2))
        elif name.startswith("bd-") and name.endswith(".bin"):
            with open(path, "rb") as f:
                bundles.append(f.read())
    differences = 0
    with tempfile.TemporaryDirectory(prefix="spec-reader-crosscheck-") as tmp:
        env = dict(os.environ, HOME=tmp, XDG_DATA_HOME=os.path.join(tmp, "xdg"))
        path = os.path.join(tmp, "input.strata-bundle")
        for i in range(count):
            if i % 2:
                version, payload = rng.choice(payloads)
                data = bundle([change_set(mutate(rng, payload), version, rng.random() < 0.3)])
            else:
                b = bytearray(mutate(rng, rng.choice(bundles), near=80))
                fix = rng.random()
                if fix < 0.6 and len(b) >= 18:
                    if fix < 0.3:
                        b[6:14] = struct.pack("<Q", len(b))
                    b[-4:] = struct.pack("<I", zlib.crc32(bytes(b[:-4])))
                data = bytes(b)
            with open(path, "wb") as f:
                f.write(data)
            out = subprocess.run([strata, "bundle", "info", path], env=env, capture_output=True,
                                 text=True, timeout=60)
            theirs = "ok" if out.returncode == 0 else code_of(
                out.stderr.strip().replace(f"Error: {path} cannot be read: ", ""))
            try:
                spec.decode_bundle(data)
                ours = "ok"
            except spec.SpecError as e:
                ours = e.code
            if ours != theirs:
                differences += 1
                print(f"DIFF input {i}: spec-reader {ours}, strata {theirs}: "
                      f"{out.stderr.strip()[:160]}\n     {data.hex()}")
    print(f"crosscheck: {count} inputs, {differences} differences")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
