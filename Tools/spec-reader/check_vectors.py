#!/usr/bin/env python3
"""Runs every vector of Protocol/vectors/MANIFEST.txt through the independent reader.

valid:   decode, compare with the .json content (SPEC section 9), and when the manifest says
         `exact`, re-encode and compare byte for byte.
invalid: decoding must fail with exactly the manifest's error code.

Prints one line per vector and ends with `spec-reader: N passed, M failed`; exits 1 on any
failure. Usage: check_vectors.py [vectors directory]
"""

from __future__ import annotations

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import strata_spec as spec  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_VECTORS = os.path.normpath(os.path.join(HERE, "..", "..", "Protocol", "vectors"))

# A text operation list read on its own takes TextLimits.default (SPEC 4.4, TXO-REJ-03); a
# text document is read as a record state reads it, with no text limits (TXT-REJ-08, section 9).
TEXT_OPERATION_LIMITS = spec.TextLimits(max_replicas=1 << 16, max_counters=1 << 24)

DECODERS = {
    "change-set": spec.decode_change_set,
    "bundle": spec.decode_bundle,
    "pull-request": spec.decode_pull_request,
    "pull-response": spec.decode_pull_response,
    "text-document": spec.decode_text_document,
    "text-operations": lambda data: spec.decode_text_operations(data, TEXT_OPERATION_LIMITS),
    "exif": spec.read_exif,
}

# The spec's limit for bundle re-encoding (section 9).
VECTOR_MAX_CHANGE_SET_BYTES = 200


class Mismatch(Exception):
    pass


def strip_approx(value):
    """`approx` is a human reading of a bit pattern, not content (section 9)."""
    if isinstance(value, dict):
        return {k: strip_approx(v) for k, v in value.items() if k != "approx"}
    if isinstance(value, list):
        return [strip_approx(v) for v in value]
    return value


def first_difference(expected, actual, path="$"):
    if type(expected) is not type(actual):
        return f"{path}: expected {expected!r}, decoded {actual!r}"
    if isinstance(expected, dict):
        for k in sorted(set(expected) | set(actual)):
            if k not in actual:
                return f"{path}.{k}: missing from the decoded content"
            if k not in expected:
                return f"{path}.{k}: decoded but not expected ({actual[k]!r})"
            d = first_difference(expected[k], actual[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(expected, list):
        if len(expected) != len(actual):
            return f"{path}: expected {len(expected)} items, decoded {len(actual)}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            d = first_difference(e, a, f"{path}[{i}]")
            if d:
                return d
        return None
    if expected != actual:
        return f"{path}: expected {expected!r}, decoded {actual!r}"
    return None


def compare(expected, actual, what):
    d = first_difference(strip_approx(expected), actual)
    if d:
        raise Mismatch(f"{what} differs: {d}")


def parse_sync_json(text: str):
    """A sync vector's content: a header line `kind key=value ...` (section 9), then for a
    pull response the JSON array of its changes."""
    header, _, rest = text.partition("\n")
    kind, _, fields = header.partition(" ")
    values = {}
    for m in re.finditer(r"(\w+)=(\{[^}]*\}|\S+)", fields):
        key, raw = m.group(1), m.group(2)
        values[key] = json.loads(raw) if raw.startswith("{") else raw
    for key in ("max_batch_bytes", "remaining"):
        if key in values:
            values[key] = int(values[key])
    if rest.strip():
        values["changes"] = json.loads(rest)
    return kind, values


def text_id(t):
    """A character id as section 9 writes it: `replica-hex@counter`, or null."""
    return None if t is None else f"{t[0]}@{t[1]}"


def text_operation_json(op):
    """A text operation as in a change set's `edits` (section 9)."""
    if op["kind"] == "insert":
        return {"insert": text_id((op["replica"], op["counter"])), "after": text_id(op["left"]),
                "before": text_id(op["right"]), "text": op["text"]}
    return {"delete": text_id((op["replica"], op["counter"])),
            "ranges": [f"{r}@{start}+{count}" for r, start, count in op["ranges"]]}


def text_document_json(doc):
    """An STXT document's content (section 9)."""
    return {
        "text": doc["text"],
        "versions": doc["versions"],
        "runs": [{"id": text_id((run["replica"], run["counter"])), "length": run["length"],
                  "after": text_id(run["left"]), "before": text_id(run["right"]),
                  "deleted": run["deleted"], "text": run["text"]} for run in doc["runs"]],
        "deletes": [{"delete": text_id((e["replica"], e["own"])),
                     "range": f"{e['target']}@{e['start']}+{e['length']}"}
                    for e in doc["deletes"]],
        "pending": [text_operation_json(op) for op in doc["pending"]],
    }


def check_valid(kind, data, content_text, exact):
    decoded = DECODERS[kind](data)
    notes = []
    if kind == "change-set":
        compare(json.loads(content_text), decoded["changes"], "changes")
        version, payload = spec.encode_payload(decoded["changes"])
        if (version, payload) != (decoded["version"], decoded["payload"]):
            raise Mismatch("the canonical payload re-encoding differs (CS-ENC-01)")
        notes.append("payload canonical")
        if exact:
            again = spec.encode_change_set(decoded["changes"], compress=bool(decoded["flags"] & 1))
            if again != data:
                raise Mismatch("re-encoding differs from the vector's bytes")
            notes.append("re-encodes exactly")
    elif kind == "bundle":
        expected = json.loads(content_text)
        actual = {k: decoded[k] for k in
                  ("sender", "senderAuthor", "senderVersion", "createdAtMillis", "changes", "blobs")
                  if k in decoded}
        compare(expected, actual, "bundle")
        for k, frame in enumerate(decoded["frames"]):
            if len(frame["payload"]) > VECTOR_MAX_CHANGE_SET_BYTES and len(frame["changes"]) > 1:
                raise Mismatch(f"frame {k + 1} holds several changes in "
                               f"{len(frame['payload'])} > {VECTOR_MAX_CHANGE_SET_BYTES} bytes")
        notes.append(f"{len(decoded['frames'])} frames within maxChangeSetBytes "
                     f"{VECTOR_MAX_CHANGE_SET_BYTES}")
        if exact:
            frames = [spec.encode_change_set(f["changes"], compress=bool(f["flags"] & 1))
                      for f in decoded["frames"]]
            again = spec.encode_bundle(decoded["sender"], decoded["senderAuthor"],
                                       decoded["senderVersion"], decoded["createdAtMillis"],
                                       frames, decoded.get("blobs"))
            if again != data:
                raise Mismatch("re-encoding (frame by frame) differs from the vector's bytes")
            notes.append("re-encodes exactly frame by frame")
    elif kind == "pull-request":
        k, expected = parse_sync_json(content_text)
        if k != kind:
            raise Mismatch(f"content file describes a {k}")
        actual = {key: decoded[key] for key in ("replica", "version", "max_batch_bytes")}
        compare(expected, actual, "pull request")
        if exact:
            again = spec.encode_pull_request(decoded["replica"], decoded["version"],
                                             decoded["max_batch_bytes"])
            if again != data:
                raise Mismatch("re-encoding differs from the vector's bytes")
            notes.append("re-encodes exactly")
    elif kind == "pull-response":
        k, expected = parse_sync_json(content_text)
        if k != kind:
            raise Mismatch(f"content file describes a {k}")
        actual = {key: decoded[key] for key in ("replica", "version", "remaining", "changes")}
        compare(expected, actual, "pull response")
        if exact:
            cs = decoded["change_set"]
            body = spec.encode_change_set(cs["changes"], compress=bool(cs["flags"] & 1))
            again = spec.encode_pull_response(decoded["replica"], decoded["version"],
                                              decoded["remaining"], body)
            if again != data:
                raise Mismatch("re-encoding differs from the vector's bytes")
            notes.append("re-encodes exactly")
    elif kind == "text-document":
        compare(json.loads(content_text), text_document_json(decoded), "text document")
        if exact:
            if spec.encode_text_document(decoded) != data:
                raise Mismatch("re-encoding differs from the vector's bytes (TXT-ENC-01)")
            notes.append("re-encodes exactly")
    elif kind == "text-operations":
        compare(json.loads(content_text), [text_operation_json(op) for op in decoded],
                "text operations")
        if exact:
            if spec.encode_text_operations(decoded) != data:
                raise Mismatch("re-encoding differs from the vector's bytes")
            notes.append("re-encodes exactly")
    elif kind == "exif":
        compare(json.loads(content_text), decoded, "photo metadata")
        notes.append("photo metadata")
    else:
        raise Mismatch(f"unknown kind {kind}")
    return ", ".join(notes)


def main(argv):
    vectors = argv[1] if len(argv) > 1 else DEFAULT_VECTORS
    passed = failed = 0
    with open(os.path.join(vectors, "MANIFEST.txt"), encoding="utf-8") as f:
        lines = f.read().splitlines()
    for number, line in enumerate(lines, 1):
        entry = line.split("#", 1)[0].split()
        if not entry:
            continue
        status, kind = entry[0], entry[1] if len(entry) > 1 else "?"
        name = entry[2] if len(entry) > 2 else f"line {number}"
        try:
            if status == "valid" and len(entry) == 5 and entry[4] in ("exact", "no"):
                with open(os.path.join(vectors, entry[2]), "rb") as f:
                    data = f.read()
                with open(os.path.join(vectors, entry[3]), encoding="utf-8") as f:
                    content = f.read()
                try:
                    note = check_valid(kind, data, content, entry[4] == "exact")
                except spec.SpecError as e:
                    raise Mismatch(f"a valid vector was refused: {e}") from None
                print(f"PASS {name}: decodes to its content; {note}")
            elif status == "invalid" and len(entry) == 5:
                code, requirement = entry[3], entry[4]
                with open(os.path.join(vectors, entry[2]), "rb") as f:
                    data = f.read()
                if kind not in DECODERS:
                    raise Mismatch(f"unknown kind {kind}")
                try:
                    DECODERS[kind](data)
                except spec.SpecError as e:
                    if e.code != code:
                        raise Mismatch(f"failed with {e.code}, expected {code} ({requirement}): "
                                       f"{e}") from None
                    print(f"PASS {name}: {code} ({requirement}): {e}")
                else:
                    raise Mismatch(f"decoded, expected {code} ({requirement})")
            else:
                raise Mismatch(f"manifest line {number} is not in the form of SPEC section 9")
            passed += 1
        except (Mismatch, OSError, ValueError, KeyError) as e:
            print(f"FAIL {name}: {e}")
            failed += 1
    print(f"spec-reader: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
