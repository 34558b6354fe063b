"""An independent reader of the Strata wire formats, written from Protocol/SPEC.md alone.

Decodes change sets (SPEC section 2), bundle files (section 3) and the sync messages
PullRequest / PullResponse (section 10.3) into plain Python values (dicts, lists, ints,
strings), re-encodes them canonically (CS-ENC-01), and reports every failure as a
`SpecError` whose `code` is the spec's error code (section 6).

Standard library only. No Swift code was consulted to write it.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass

__all__ = [
    "SpecError", "Limits", "STANDARD",
    "decode_change_set", "encode_change_set", "change_set_header",
    "decode_bundle", "encode_bundle",
    "decode_pull_request", "encode_pull_request",
    "decode_pull_response", "encode_pull_response",
    "record_text", "parse_record_text", "replica_hex", "TEXT_FIELDS",
]

CHANGE_SET_MAGIC = b"SCHG"
BUNDLE_MAGIC = b"SBDL"
PULL_REQUEST_MAGIC = b"SPLQ"
PULL_RESPONSE_MAGIC = b"SPLR"

# Section 2.3: the long-text fields (compared as bytes, section 1).
TEXT_FIELDS = frozenset(["body", "description", "quote"])
# Section 2.3 / CS-REJ-21: ids and the (exclusive) ends of id ranges stay below 2^31 - 1.
TEXT_ID_BOUND = (1 << 31) - 1
# Section 2.2, tag 8 (change-set format 3): the attachments set and the reference's bounds.
ATTACHMENTS_FIELD = "att"
ATTACHMENT_MAX_SIZE = 1 << 53
ATTACHMENT_LIMITS = {"media type": 127, "name": 255, "caption": 4096, "time taken": 64,
                     "camera": 255}
PHOTO_PARTS = {"takenAt": 1, "location": 2, "orientation": 4, "camera": 8}
NEWEST_CHANGE_SET_VERSION = 3
INFLATE_CHUNK = 64 * 1024
MASK64 = (1 << 64) - 1


class SpecError(Exception):
    """A decoding failure: `code` is the spec's error code, `offset` where it was found."""

    def __init__(self, code: str, message: str, offset: int | None = None):
        self.code = code
        self.offset = offset
        self.detail = message
        where = f" (at byte {offset})" if offset is not None else ""
        super().__init__(f"{code}: {message}{where}")


@dataclass(frozen=True)
class Limits:
    """Section 5, `CodecLimits.standard`."""

    max_inflated_bytes: int = 32 << 20
    max_compressed_bytes: int = 32 << 20
    max_changes: int = 1_048_576
    max_operations_per_change: int = 65_536
    max_string_bytes: int = 8 << 20
    max_preds: int = 4_096
    max_table_entries: int = 1_048_576
    max_version_vector_entries: int = 65_536
    max_change_sets_per_bundle: int = 65_536
    max_bundle_inflated_bytes: int = 1 << 30
    max_blobs_per_bundle: int = 65_536


STANDARD = Limits()


# ---------------------------------------------------------------------------
# Identifiers (sections 1 and 7)

CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def replica_hex(raw: bytes) -> str:
    """A replica id as 32 lowercase hex digits (the id16 bytes in order)."""
    return raw.hex()


def record_text(raw: bytes) -> str:
    """Section 7: 26 Crockford base-32 characters of (low 64, high 64, two zero bits)."""
    high = int.from_bytes(raw[:8], "big")
    low = int.from_bytes(raw[8:], "big")
    value = (low << 66) | (high << 2)
    return "".join(CROCKFORD[(value >> (5 * (25 - i))) & 31] for i in range(26))


def parse_record_text(text: str) -> bytes:
    """The inverse of `record_text` (upper case accepted, i/l read as 1, o as 0)."""
    text = text.lower().replace("i", "1").replace("l", "1").replace("o", "0")
    if len(text) != 26:
        raise ValueError("a record id is 26 characters")
    value = 0
    for ch in text:
        value = (value << 5) | CROCKFORD.index(ch)
    if value & 3:
        raise ValueError("the pad bits of a record id must be zero")
    low = value >> 66
    high = (value >> 2) & MASK64
    return high.to_bytes(8, "big") + low.to_bytes(8, "big")


# ---------------------------------------------------------------------------
# Byte reader


class Reader:
    """Reads the primitive types of section 1 from `data[start:end]`.

    Running out of bytes raises `end_code`: `malformed` inside a change-set payload whose
    length was already verified (CS-REJ-12), `truncated` in headers and sync messages.
    """

    def __init__(self, data: bytes, start: int = 0, end: int | None = None,
                 end_code: str = "malformed", base: int = 0):
        self.data = data
        self.pos = start
        self.end = len(data) if end is None else end
        self.end_code = end_code
        self.base = base  # added to offsets in messages (position of data[0] in the file)

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def at(self) -> int:
        return self.base + self.pos

    def fail(self, code: str, message: str, offset: int | None = None) -> SpecError:
        return SpecError(code, message, self.at() if offset is None else offset)

    def need(self, n: int, what: str) -> None:
        if n > self.remaining:
            raise self.fail(self.end_code,
                            f"{what} needs {n} bytes, {self.remaining} remain")

    def bytes(self, n: int, what: str) -> bytes:
        self.need(n, what)
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def u8(self, what: str) -> int:
        return self.bytes(1, what)[0]

    def u32le(self, what: str) -> int:
        return struct.unpack("<I", self.bytes(4, what))[0]

    def u64le(self, what: str) -> int:
        return struct.unpack("<Q", self.bytes(8, what))[0]

    def varint(self, what: str) -> int:
        start = self.at()
        value = 0
        for i in range(10):
            if self.pos >= self.end:
                raise self.fail(self.end_code, f"{what}: input ends inside a varint", start)
            b = self.data[self.pos]
            self.pos += 1
            if i == 9 and b > 1:
                raise self.fail("overlong-varint", f"{what}: varint beyond 64 bits", start)
            value |= (b & 0x7F) << (7 * i)
            if b & 0x80 == 0:
                if b == 0 and i > 0:
                    raise self.fail("overlong-varint", f"{what}: varint not minimal", start)
                return value
        raise self.fail("overlong-varint", f"{what}: varint longer than 10 bytes", start)

    def zigzag(self, what: str) -> int:
        u = self.varint(what)
        return (u >> 1) ^ -(u & 1)

    def f64_bits(self, what: str) -> int:
        return self.u64le(what)

    def id16(self, what: str) -> bytes:
        return self.bytes(16, what)

    def string(self, limits: Limits, what: str) -> str:
        start = self.at()
        n = self.varint(what + " length")
        if n > limits.max_string_bytes:
            raise self.fail("too-large", f"{what}: {n} bytes, over maxStringBytes", start)
        raw = self.bytes(n, what)
        try:
            return raw.decode("utf-8", errors="strict")
        except UnicodeDecodeError:
            raise self.fail("invalid-utf8", f"{what} is not valid UTF-8", start) from None

    def count(self, limit: int, limit_name: str, min_entry_bytes: int, what: str) -> int:
        """A count: checked against its limit (too-large), then the bytes left (end code)."""
        start = self.at()
        n = self.varint(what)
        if n > limit:
            raise self.fail("too-large", f"{what} {n} is over {limit_name} ({limit})", start)
        if n * min_entry_bytes > self.remaining:
            raise self.fail(self.end_code,
                            f"{what} {n} needs more than the {self.remaining} bytes left", start)
        return n

    def index(self, table: list, what: str) -> int:
        start = self.at()
        i = self.varint(what)
        if i >= len(table):
            raise self.fail("index-out-of-range",
                            f"{what} {i} in a table of {len(table)}", start)
        return i


class Writer:
    def __init__(self):
        self.out = bytearray()

    def u8(self, v: int) -> None:
        self.out.append(v)

    def raw(self, b: bytes) -> None:
        self.out += b

    def varint(self, v: int) -> None:
        assert 0 <= v <= MASK64
        while True:
            b = v & 0x7F
            v >>= 7
            if v:
                self.out.append(b | 0x80)
            else:
                self.out.append(b)
                return

    def zigzag(self, n: int) -> None:
        self.varint(((n << 1) ^ (n >> 63)) & MASK64)

    def u64le(self, v: int) -> None:
        self.out += struct.pack("<Q", v)

    def u32le(self, v: int) -> None:
        self.out += struct.pack("<I", v)

    def string(self, s: str) -> None:
        b = s.encode("utf-8")
        self.varint(len(b))
        self.out += b


def _check_magic(data: bytes, magic: bytes, what: str) -> None:
    """Magic first: bytes present that differ are bad-magic; a prefix of it is truncated."""
    head = data[:len(magic)]
    if head != magic[:len(head)]:
        raise SpecError("bad-magic", f"not a {what} (magic {head!r})", 0)
    if len(head) < len(magic):
        raise SpecError("truncated", f"input ends inside the {what} magic", len(data))


# ---------------------------------------------------------------------------
# Change sets (section 2)


def _inflate(body: bytes, declared: int, base: int) -> bytes:
    """CS-REJ-06/07/08/09: inflate 64 KiB at a time, never past declared + one chunk."""
    d = zlib.decompressobj()
    out = bytearray()
    tail = body
    try:
        while True:
            # At most one byte past the declared length: output beyond it is length-mismatch
            # even when the deflate data is corrupt further on.
            chunk = d.decompress(tail, min(INFLATE_CHUNK, declared + 1 - len(out)))
            out += chunk
            if len(out) > declared:
                raise SpecError("length-mismatch",
                                f"the zlib stream inflates past the declared {declared} bytes",
                                base)
            tail = d.unconsumed_tail
            if d.eof:
                break
            if not chunk and not tail:
                raise SpecError("truncated", "input ends before the zlib stream ends",
                                base + len(body))
    except zlib.error as e:
        if _raw_output_exceeds(body, declared):
            raise SpecError("length-mismatch",
                            f"the zlib stream inflates past the declared {declared} bytes",
                            base) from None
        raise SpecError("corrupt-compression", f"invalid zlib data ({e})", base) from None
    if len(out) != declared:
        raise SpecError("length-mismatch",
                        f"the zlib stream inflates to {len(out)} bytes, {declared} declared",
                        base)
    if d.unused_data:
        raise SpecError("trailing-bytes",
                        f"{len(d.unused_data)} bytes after the end of the zlib stream",
                        base + len(body) - len(d.unused_data))
    return bytes(out)


def _raw_output_exceeds(body: bytes, declared: int) -> bool:
    """Whether the deflate data yields more than `declared` bytes before it fails.

    Python's zlib drops the output of a call that fails, so a stream whose output passes the
    declared length just before its Adler-32 (checked in the same call) would read as corrupt;
    the output comes first (CS-REJ-06), so it is counted again without the check."""
    if len(body) < 2 or body[0] & 0x0F != 8 or body[1] & 0x20 or (body[0] << 8 | body[1]) % 31:
        return False  # the zlib header itself is bad: nothing was inflated
    d = zlib.decompressobj(-15)
    out, tail = 0, body[2:]
    try:
        while out <= declared:
            chunk = d.decompress(tail, min(INFLATE_CHUNK, declared + 1 - out))
            out += len(chunk)
            tail = d.unconsumed_tail
            if d.eof or (not chunk and not tail):
                break
    except zlib.error:
        pass
    return out > declared


def change_set_header(data: bytes, limits: Limits = STANDARD, base: int = 0):
    """Reads the header (CS-REJ-01..04): returns (version, flags, declared length, body offset)."""
    _check_magic(data, CHANGE_SET_MAGIC, "change set")
    r = Reader(data, 4, end_code="truncated", base=base)
    version = r.u8("version")
    if not 1 <= version <= NEWEST_CHANGE_SET_VERSION:
        hint = (": written by a newer Strata; upgrade strata"
                if version > NEWEST_CHANGE_SET_VERSION else "")
        raise SpecError("unsupported-version", f"change-set version {version}{hint}", base + 4)
    flags = r.u8("flags")
    if flags & ~1:
        raise SpecError("unsupported-flags", f"change-set flags 0x{flags:02x}", base + 5)
    start = r.at()
    declared = r.varint("payload length")
    if declared > limits.max_inflated_bytes:
        raise SpecError("too-large",
                        f"declared payload of {declared} bytes is over maxInflatedBytes", start)
    return version, flags, declared, r.pos


def decode_change_set(data: bytes, limits: Limits = STANDARD, base: int = 0) -> dict:
    """Section 2: returns {"version", "flags", "payload", "changes"} or raises SpecError."""
    data = bytes(data)
    version, flags, declared, body_at = change_set_header(data, limits, base)
    body = data[body_at:]
    if len(body) > limits.max_compressed_bytes:
        raise SpecError("too-large", f"body of {len(body)} bytes is over maxCompressedBytes",
                        base + body_at)
    if flags & 1:
        payload = _inflate(body, declared, base + body_at)
    else:
        if len(body) < declared:
            raise SpecError("truncated",
                            f"stored payload has {len(body)} of {declared} bytes", base + len(data))
        if len(body) > declared:
            raise SpecError("trailing-bytes", f"{len(body) - declared} bytes after the payload",
                            base + body_at + declared)
        payload = body
    changes = decode_payload(payload, version, limits)
    return {"version": version, "flags": flags, "payload": payload, "changes": changes}


def _table(r: Reader, limits: Limits, kind: str, what: str) -> list:
    """A table, each entry checked against the previous one as soon as it is read."""
    n = r.count(limits.max_table_entries, "maxTableEntries", 16 if kind == "id" else 1,
                what + " count")
    items, previous = [], None
    for i in range(n):
        at = r.at()
        item = r.id16(what) if kind == "id" else r.string(limits, what)
        key = item if kind == "id" else item.encode("utf-8")
        if previous is not None and not previous < key:
            raise r.fail("malformed", f"{what} table entry {i} is not greater than the previous one",
                         at)
        previous = key
        items.append(item)
    return items


def _version_vector(r: Reader, limits: Limits, replica_of, what: str, entry_bytes: int) -> list:
    """[(replica bytes, seq)], strictly ascending replicas, seq >= 1 (CS-REJ-18, SY-REJ-04).

    `entry_bytes`: the fewest bytes an entry takes (2 with a table index, 17 with an id16)."""
    start = r.at()
    n = r.count(limits.max_version_vector_entries, "maxVersionVectorEntries", entry_bytes,
                what + " count")
    entries = []
    for _ in range(n):
        at = r.at()
        replica = replica_of()
        seq = r.varint(what + " seq")
        if seq == 0:
            raise r.fail("malformed", f"{what} entry with seq 0", at)
        if entries and not entries[-1][0] < replica:
            raise r.fail("malformed", f"{what} replicas are not strictly ascending", start)
        entries.append((replica, seq))
    return entries


def _value(r: Reader, limits: Limits, replicas: list, attachments: bool = True) -> dict:
    """A value (section 2.2); `attachments`: whether tag 8 may appear (change-set format 3
    on; record states always)."""
    at = r.at()
    tag = r.u8("value tag")
    if tag == 0:
        return {"null": None}
    if tag == 1:
        return {"text": r.string(limits, "text value")}
    if tag == 2:
        return {"integer": r.zigzag("integer value")}
    if tag == 3:
        return {"real": "0x%016x" % r.f64_bits("real value")}
    if tag in (4, 5):
        return {"bool": tag == 5}
    if tag == 6:
        lat = r.f64_bits("latitude")
        lon = r.f64_bits("longitude")
        pat = r.at()
        present = r.u8("accuracy presence")
        if present not in (0, 1):
            raise r.fail("malformed", f"location accuracy presence byte {present}", pat)
        v = {"latitude": "0x%016x" % lat, "longitude": "0x%016x" % lon}
        if present:
            v["accuracyMetres"] = "0x%016x" % r.f64_bits("accuracy")
        return v
    if tag == 7:
        # Replica indices strictly ascending: the table is sorted, so this is replica order.
        def replica():
            return r.index(replicas, "deletion replica index")
        entries = _version_vector(r, limits, replica, "deletion vector", 2)
        return {"deletion": {replica_hex(replicas[i]): s for i, s in entries}}
    if tag == 8 and attachments:
        return {"attachment": _attachment(r)}
    raise r.fail("unsupported-value",
                 f"value tag {tag}: the data comes from a newer Strata; upgrade strata to read it",
                 at)


def _bounded_string(r: Reader, limit: int, what: str) -> str:
    """A string whose length has its own limit (too-large above it, CS-REJ-13)."""
    start = r.at()
    n = r.varint(what + " length")
    if n > limit:
        raise r.fail("too-large", f"{what}: {n} bytes, over its limit of {limit}", start)
    raw = r.bytes(n, what)
    try:
        return raw.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise r.fail("invalid-utf8", f"{what} is not valid UTF-8", start) from None


def _is_control(c: str) -> bool:
    o = ord(c)
    return o < 0x20 or 0x7F <= o <= 0x9F


def _is_bidi_control(c: str) -> bool:
    o = ord(c)
    return o in (0x061C, 0x200E, 0x200F) or 0x202A <= o <= 0x202E or 0x2066 <= o <= 0x2069


_MEDIA_TYPE_FIRST = set("abcdefghijklmnopqrstuvwxyz0123456789")
_MEDIA_TYPE_REST = _MEDIA_TYPE_FIRST | set("!#$&-^_.+")


def _f64(bits: str) -> float:
    return struct.unpack("<d", struct.pack("<Q", int(bits, 16)))[0]


def attachment_problem(a: dict) -> str | None:
    """Section 2.2, CS-REJ-22: what is wrong with a decoded reference, or None."""
    if a["size"] > ATTACHMENT_MAX_SIZE:
        return "size over 2^53"
    name = a["name"]
    if name in ("", ".", ".."):
        return "name is empty, . or .."
    for c in name:
        if c in "/\\":
            return "name holds a path separator"
        if _is_control(c) or _is_bidi_control(c):
            return "name holds a control or bidirectional control character"
    parts = a["mediaType"].split("/")
    if len(parts) != 2 or any(not p or p[0] not in _MEDIA_TYPE_FIRST
                              or any(c not in _MEDIA_TYPE_REST for c in p) for p in parts):
        return "media type is not type/subtype of lowercase name characters"
    if any(c not in "\n\t" and (_is_control(c) or _is_bidi_control(c)) for c in a["caption"]):
        return "caption holds a control or bidirectional control character"
    for key in ("takenAt", "camera"):
        if key in a and (a[key] == "" or any(_is_control(c) or _is_bidi_control(c)
                                             for c in a[key])):
            return f"{key} is empty or holds control characters"
    if "orientation" in a and not 1 <= a["orientation"] <= 8:
        return f"orientation {a['orientation']} is not 1 to 8"
    if "location" in a:
        loc = a["location"]
        lat, lon = _f64(loc["latitude"]), _f64(loc["longitude"])
        if not (abs(lat) <= 90 and abs(lon) <= 180):  # NaN fails too
            return "position out of range"
        if "accuracyMetres" in loc:
            acc = _f64(loc["accuracyMetres"])
            if not (acc >= 0 and acc != float("inf")):
                return "position accuracy is not a distance"
    return None


def _attachment(r: Reader) -> dict:
    """Tag 8's payload (section 2.2): hash, size, media type, name, caption, parts, parts."""
    start = r.at()
    a = {"hash": r.bytes(32, "attachment hash").hex(), "size": r.varint("attachment size")}
    a["mediaType"] = _bounded_string(r, ATTACHMENT_LIMITS["media type"], "attachment media type")
    a["name"] = _bounded_string(r, ATTACHMENT_LIMITS["name"], "attachment name")
    a["caption"] = _bounded_string(r, ATTACHMENT_LIMITS["caption"], "attachment caption")
    pat = r.at()
    parts = r.u8("attachment metadata parts")
    if parts & ~0x0F:
        raise r.fail("malformed", f"attachment metadata parts 0x{parts:02x} has reserved bits",
                     pat)
    if parts & PHOTO_PARTS["takenAt"]:
        a["takenAt"] = _bounded_string(r, ATTACHMENT_LIMITS["time taken"], "time taken")
    if parts & PHOTO_PARTS["location"]:
        lat = r.f64_bits("latitude")
        lon = r.f64_bits("longitude")
        lpat = r.at()
        present = r.u8("accuracy presence")
        if present not in (0, 1):
            raise r.fail("malformed", f"location accuracy presence byte {present}", lpat)
        loc = {"latitude": "0x%016x" % lat, "longitude": "0x%016x" % lon}
        if present:
            loc["accuracyMetres"] = "0x%016x" % r.f64_bits("accuracy")
        a["location"] = loc
    if parts & PHOTO_PARTS["orientation"]:
        a["orientation"] = r.u8("orientation")
    if parts & PHOTO_PARTS["camera"]:
        a["camera"] = _bounded_string(r, ATTACHMENT_LIMITS["camera"], "camera")
    problem = attachment_problem(a)
    if problem:
        raise r.fail("malformed", f"attachment: {problem}", start)
    return a


def _check_attachment_key(op: dict) -> None:
    """CS-REJ-23: an attachment is the value of att[<its hash hex>], and att holds nothing
    else; checked once the value is read."""
    value = op.get("value") or {}
    if "attachment" in value:
        if op["field"] != ATTACHMENTS_FIELD or op["element"] != value["attachment"]["hash"]:
            raise SpecError("invalid-change", "an attachment outside att[<its hash>]", op["at"])
    elif op["action"] == "assign" and op["field"] == ATTACHMENTS_FIELD:
        raise SpecError("invalid-change", "something other than an attachment assigned to att",
                        op["at"])


def _text_id(replicas: list, i: int, counter: int) -> str:
    return f"{replica_hex(replicas[i])}@{counter}"


def _text_edit(r: Reader, limits: Limits, replicas: list, own: int) -> list:
    n = r.count(limits.max_operations_per_change, "maxOperationsPerChange", 3,
                "text operation count")
    ops = []
    for _ in range(n):
        at = r.at()
        kind = r.u8("text operation kind")
        if kind not in (0, 1):
            raise r.fail("malformed", f"text operation kind {kind}", at)
        counter = r.varint("text operation counter")
        if kind == 0:
            origins = []
            for side in ("left", "right"):
                oat = r.at()
                o = r.varint(f"origin {side}")
                if o == 0:
                    origins.append(None)
                    continue
                if o - 1 >= len(replicas):
                    raise r.fail("malformed",
                                 f"origin {side} names replica {o - 1} of a table of {len(replicas)}",
                                 oat)
                origins.append((o - 1, r.varint(f"origin {side} counter")))
            text = r.string(limits, "inserted text")
            ops.append({"kind": "insert", "counter": counter, "left": origins[0],
                        "right": origins[1], "text": text, "at": at})
        else:
            m = r.count(limits.max_operations_per_change, "maxOperationsPerChange", 3,
                        "delete range count")
            ranges = []
            for _ in range(m):
                i = r.index(replicas, "delete range replica index")
                start = r.varint("delete range start")
                count = r.varint("delete range count")
                ranges.append((i, start, count))
            ops.append({"kind": "delete", "counter": counter, "ranges": ranges, "at": at})
    return ops


def _check_text_edit(ops: list, own: int) -> None:
    """CS-REJ-21, the per-operation rules of section 2.3."""
    if not ops:
        raise SpecError("invalid-change", "a text edit with no operations")
    for op in ops:
        counter = op["counter"]
        if op["kind"] == "insert":
            n = len(op["text"])  # Unicode scalars
            if n == 0:
                raise SpecError("invalid-change", "an insert of no text", op["at"])
            named = [o for o in (op["left"], op["right"]) if o is not None]
            spans = [(i, c, 1) for i, c in named]
        else:
            n = sum(c for _, _, c in op["ranges"])
            if not op["ranges"]:
                raise SpecError("invalid-change", "a delete of no ranges", op["at"])
            if any(c == 0 for _, _, c in op["ranges"]):
                raise SpecError("invalid-change", "a delete range of no characters", op["at"])
            spans = list(op["ranges"])
        # Section 2.3: ids below 2^31 - 1, range ends (exclusive) below 2^31 - 1 too.
        if counter + n >= TEXT_ID_BOUND:
            raise SpecError("invalid-change", "a text operation's counters reach 2^31 - 1",
                            op["at"])
        for i, start, count in spans:
            end = start + count if op["kind"] == "delete" else start
            if end >= TEXT_ID_BOUND:
                raise SpecError("invalid-change", "a named character id reaches 2^31 - 1",
                                op["at"])
            if i == own and start + count > counter:
                raise SpecError("invalid-change",
                                "an operation names its own or a later counter of its replica",
                                op["at"])


def _text_json(ops: list, replicas: list, own: int) -> list:
    out = []
    for op in ops:
        if op["kind"] == "insert":
            def origin(o):
                return None if o is None else _text_id(replicas, o[0], o[1])
            out.append({"insert": _text_id(replicas, own, op["counter"]),
                        "after": origin(op["left"]), "before": origin(op["right"]),
                        "text": op["text"]})
        else:
            out.append({"delete": _text_id(replicas, own, op["counter"]),
                        "ranges": [f"{replica_hex(replicas[i])}@{s}+{c}"
                                   for i, s, c in op["ranges"]]})
    return out


def decode_payload(payload: bytes, version: int, limits: Limits = STANDARD) -> list:
    """Section 2.1: the payload's changes, as the vectors' JSON shape."""
    r = Reader(payload, end_code="malformed")
    replicas = _table(r, limits, "id", "replica")
    authors = _table(r, limits, "string", "author")
    records = _table(r, limits, "id", "record")
    fields = _table(r, limits, "string", "field")
    n = r.count(limits.max_changes, "maxChanges", 5, "change count")
    changes = []
    previous = 0
    for _ in range(n):
        cat = r.at()
        own = r.index(replicas, "change replica index")
        seq = r.varint("change seq")
        if seq == 0:
            raise SpecError("invalid-change", "a change with seq 0", cat)
        timestamp = (previous + r.zigzag("timestamp delta")) & MASK64
        previous = timestamp
        author = authors[r.index(authors, "author index")]
        m = r.count(limits.max_operations_per_change, "maxOperationsPerChange", 5,
                    "operation count")
        ops = []
        for _ in range(m):
            oat = r.at()
            record = records[r.index(records, "record index")]
            field = fields[r.index(fields, "field index")]
            element = r.string(limits, "element")
            aat = r.at()
            action = r.u8("action")
            if action not in ((0, 1) if version == 1 else (0, 1, 2)):
                raise r.fail("malformed", f"action {action} in a version-{version} change set", aat)
            # CS-REJ-19: a retract of a register is refused as soon as its action is read.
            if action == 1 and element == "":
                raise SpecError("invalid-change", "a retract of a register", oat)
            k = r.count(limits.max_preds, "maxPreds", 2, "predecessor count")
            preds = []
            for _ in range(k):
                pat = r.at()
                pi = r.index(replicas, "predecessor replica index")
                ps = r.varint("predecessor seq")
                if ps == 0:
                    raise r.fail("malformed", "a predecessor with seq 0", pat)
                if (pi, ps) == (own, seq):
                    raise SpecError("invalid-change", "a change names itself as a predecessor",
                                    pat)
                preds.append((pi, ps))
            op = {"record": record, "field": field, "element": element, "preds": preds,
                  "at": oat}
            if action == 0:
                op["action"] = "assign"
                op["value"] = _value(r, limits, replicas, attachments=version >= 3)
                _check_attachment_key(op)
            elif action == 1:
                op["action"] = "retract"
            else:
                op["action"] = "edit-text"
                op["edits"] = _text_edit(r, limits, replicas, own)
            _validate_operation(own, seq, op)
            ops.append(op)
        _validate(own, seq, ops, cat)
        changes.append({
            "replica": replica_hex(replicas[own]), "seq": seq, "timestamp": timestamp,
            "wallMillis": timestamp >> 16, "counter": timestamp & 0xFFFF, "author": author,
            "operations": [_op_json(op, replicas, own) for op in ops],
        })
    if r.remaining:
        raise r.fail("trailing-bytes", f"{r.remaining} bytes after the last change")
    return changes


def _validate(own: int, seq: int, ops: list, at: int) -> None:
    """CS-REJ-19 (`Change.validate()`) rules of a whole change: some operations, no key twice.

    The rules of one operation (`_validate_operation`) are checked as each is read, and seq 0
    as soon as it is read: Strata's reader reports them before faults later in the payload."""
    if not ops:
        raise SpecError("invalid-change", "a change with no operations", at)
    seen = set()
    for op in ops:
        key = (op["record"], op["field"].encode(), op["element"].encode())
        if key in seen:
            raise SpecError("invalid-change", "a change writes one (record, key) twice", op["at"])
        seen.add(key)


def _validate_operation(own: int, seq: int, op: dict) -> None:
    """CS-REJ-21 rules of one whole text edit, checked once the operation is read (a retract
    of a register and a predecessor naming its own change are refused as they are read)."""
    if op["action"] == "edit-text":
        if op["field"] not in TEXT_FIELDS or op["element"] != "":
            raise SpecError("invalid-change", "a text edit of a key that is not a long-text field",
                            op["at"])
        if op["preds"]:
            raise SpecError("invalid-change", "a text edit names predecessors", op["at"])
        _check_text_edit(op["edits"], own)


def _op_json(op: dict, replicas: list, own: int) -> dict:
    out = {"record": record_text(op["record"]), "field": op["field"],
           "element": op["element"], "action": op["action"]}
    if op["action"] == "assign":
        out["value"] = op["value"]
    if op["action"] == "edit-text":
        out["edits"] = _text_json(op["edits"], replicas, own)
    out["preds"] = [f"{replica_hex(replicas[i])}/{s}" for i, s in op["preds"]]
    return out


# ---------------------------------------------------------------------------
# Change-set encoder (CS-ENC-01), from the JSON shape


def _parse_text_id(s: str):
    replica, counter = s.split("@")
    return bytes.fromhex(replica), int(counter)


def encode_payload(changes: list) -> tuple[int, bytes]:
    """Section 2.1 from the JSON shape: (lowest version that holds it, payload bytes)."""
    replicas, authors, records, fields = set(), set(), set(), set()
    version = 1
    for c in changes:
        replicas.add(bytes.fromhex(c["replica"]))
        authors.add(c["author"].encode())
        for op in c["operations"]:
            records.add(parse_record_text(op["record"]))
            fields.add(op["field"].encode())
            for p in op["preds"]:
                replicas.add(bytes.fromhex(p.split("/")[0]))
            v = op.get("value") or {}
            for rep in (v.get("deletion") or {}):
                replicas.add(bytes.fromhex(rep))
            if "attachment" in v:
                version = 3
            if op["action"] == "edit-text":
                version = max(version, 2)
                for e in op["edits"]:
                    for key in ("after", "before"):
                        if e.get(key):
                            replicas.add(_parse_text_id(e[key])[0])
                    for rg in e.get("ranges", []):
                        replicas.add(bytes.fromhex(rg.split("@")[0]))
    R, A, D, F = (sorted(t) for t in (replicas, authors, records, fields))
    ri = {x: i for i, x in enumerate(R)}
    ai = {x: i for i, x in enumerate(A)}
    di = {x: i for i, x in enumerate(D)}
    fi = {x: i for i, x in enumerate(F)}
    w = Writer()
    for table in (R, A, D, F):
        w.varint(len(table))
        for x in table:
            if table is R or table is D:
                w.raw(x)
            else:
                w.varint(len(x))
                w.raw(x)
    w.varint(len(changes))
    previous = 0
    for c in changes:
        w.varint(ri[bytes.fromhex(c["replica"])])
        w.varint(c["seq"])
        delta = (c["timestamp"] - previous) & MASK64
        w.zigzag(delta - (1 << 64) if delta >> 63 else delta)
        previous = c["timestamp"]
        w.varint(ai[c["author"].encode()])
        w.varint(len(c["operations"]))
        for op in c["operations"]:
            w.varint(di[parse_record_text(op["record"])])
            w.varint(fi[op["field"].encode()])
            w.string(op["element"])
            w.u8({"assign": 0, "retract": 1, "edit-text": 2}[op["action"]])
            w.varint(len(op["preds"]))
            for p in op["preds"]:
                rep, seq = p.split("/")
                w.varint(ri[bytes.fromhex(rep)])
                w.varint(int(seq))
            if op["action"] == "assign":
                _encode_value(w, op["value"], ri)
            elif op["action"] == "edit-text":
                w.varint(len(op["edits"]))
                for e in op["edits"]:
                    if "insert" in e:
                        w.u8(0)
                        w.varint(_parse_text_id(e["insert"])[1])
                        for key in ("after", "before"):
                            if e[key] is None:
                                w.varint(0)
                            else:
                                rep, counter = _parse_text_id(e[key])
                                w.varint(ri[rep] + 1)
                                w.varint(counter)
                        w.string(e["text"])
                    else:
                        w.u8(1)
                        w.varint(_parse_text_id(e["delete"])[1])
                        w.varint(len(e["ranges"]))
                        for rg in e["ranges"]:
                            rep, rest = rg.split("@")
                            start, count = rest.split("+")
                            w.varint(ri[bytes.fromhex(rep)])
                            w.varint(int(start))
                            w.varint(int(count))
    return version, bytes(w.out)


def _encode_value(w: Writer, v: dict, ri: dict) -> None:
    if "null" in v:
        w.u8(0)
    elif "text" in v:
        w.u8(1)
        w.string(v["text"])
    elif "integer" in v:
        w.u8(2)
        w.zigzag(v["integer"])
    elif "real" in v:
        w.u8(3)
        w.u64le(int(v["real"], 16))
    elif "bool" in v:
        w.u8(5 if v["bool"] else 4)
    elif "latitude" in v:
        w.u8(6)
        w.u64le(int(v["latitude"], 16))
        w.u64le(int(v["longitude"], 16))
        if "accuracyMetres" in v:
            w.u8(1)
            w.u64le(int(v["accuracyMetres"], 16))
        else:
            w.u8(0)
    elif "deletion" in v:
        w.u8(7)
        entries = sorted((bytes.fromhex(k), s) for k, s in v["deletion"].items())
        w.varint(len(entries))
        for rep, s in entries:
            w.varint(ri[rep])
            w.varint(s)
    elif "attachment" in v:
        a = v["attachment"]
        w.u8(8)
        w.raw(bytes.fromhex(a["hash"]))
        w.varint(a["size"])
        for key in ("mediaType", "name", "caption"):
            w.string(a[key])
        w.u8(sum(bit for key, bit in PHOTO_PARTS.items() if key in a))
        if "takenAt" in a:
            w.string(a["takenAt"])
        if "location" in a:  # tag 6's payload, without the tag
            loc = a["location"]
            w.u64le(int(loc["latitude"], 16))
            w.u64le(int(loc["longitude"], 16))
            w.u8(1 if "accuracyMetres" in loc else 0)
            if "accuracyMetres" in loc:
                w.u64le(int(loc["accuracyMetres"], 16))
        if "orientation" in a:
            w.u8(a["orientation"])
        if "camera" in a:
            w.string(a["camera"])
    else:
        raise ValueError(f"unknown value {v!r}")


def encode_change_set(changes: list, compress: bool = True, level: int = 6) -> bytes:
    """Section 2: magic, lowest version, flags, payload length, zlib stream (or payload)."""
    version, payload = encode_payload(changes)
    w = Writer()
    w.raw(CHANGE_SET_MAGIC)
    w.u8(version)
    w.u8(1 if compress else 0)
    w.varint(len(payload))
    w.raw(zlib.compress(payload, level) if compress else payload)
    return bytes(w.out)


# ---------------------------------------------------------------------------
# Bundles (section 3)

BUNDLE_FIXED_HEADER = 4 + 1 + 1 + 8
# Version 2: the fixed header, then the head's length (u64le).
BUNDLE_BLOBS_HEADER = BUNDLE_FIXED_HEADER + 8


class FrameError(SpecError):
    """A change-set failure inside a bundle: names the frame (BD-REJ-08)."""


def decode_bundle(data: bytes, limits: Limits = STANDARD) -> dict:
    data = bytes(data)
    _check_magic(data, BUNDLE_MAGIC, "bundle")
    h = Reader(data, 4, end_code="truncated")
    version = h.u8("version")
    if version not in (1, 2):
        hint = ": written by a newer Strata; upgrade strata" if version > 2 else ""
        raise SpecError("unsupported-version", f"bundle version {version}{hint}", 4)
    flags = h.u8("flags")
    if flags != 0:
        raise SpecError("unsupported-flags", f"bundle flags 0x{flags:02x}", 5)
    total = h.u64le("total length")
    if len(data) < total:
        raise SpecError("truncated",
                        f"the file has {len(data)} of {total} bytes: the file is incomplete; "
                        "copy it again", len(data))
    if len(data) > total:
        raise SpecError("trailing-bytes", f"{len(data) - total} bytes after the bundle", total)
    if total < BUNDLE_FIXED_HEADER + 4:
        raise SpecError("malformed", f"total length {total} leaves no room for the checksum", 6)
    stored = struct.unpack("<I", data[-4:])[0]
    if zlib.crc32(data[:-4]) & 0xFFFFFFFF != stored:
        raise SpecError("checksum-mismatch", "the bundle's CRC-32 does not match its bytes",
                        len(data) - 4)
    head_start, head_end = BUNDLE_FIXED_HEADER, len(data) - 4
    if version == 2:
        # Section 3, version 2: the head length, then the head, then the blob frames.
        if total < BUNDLE_BLOBS_HEADER + 4:
            raise SpecError("malformed", "a version-2 bundle with no room for its head length",
                            BUNDLE_FIXED_HEADER)
        head_length = struct.unpack("<Q", data[BUNDLE_FIXED_HEADER:BUNDLE_BLOBS_HEADER])[0]
        if head_length > total - BUNDLE_BLOBS_HEADER - 4:
            raise SpecError("malformed", f"head length {head_length} runs past the checksum",
                            BUNDLE_FIXED_HEADER)
        head_start, head_end = BUNDLE_BLOBS_HEADER, BUNDLE_BLOBS_HEADER + head_length
    r = Reader(data, head_start, head_end, end_code="malformed")
    sender = r.id16("sender")
    author = r.string(limits, "sender author")
    vv = _version_vector(r, limits, lambda: r.id16("sender version replica"), "sender version",
                         17)
    created = r.varint("created at")
    fat = r.at()
    # The framing first (every frame's length, the body filled exactly), then each frame:
    # a fault of the framing is reported before a fault inside a frame.
    n = r.count(limits.max_change_sets_per_bundle, "maxChangeSetsPerBundle", 8,
                "change set count")
    spans = []
    for k in range(n):
        at = r.at()
        length = r.varint("frame length")
        if length > limits.max_compressed_bytes:
            raise SpecError("too-large", f"bundle change set {k + 1} of {n}: {length} bytes, "
                            "over maxCompressedBytes", at)
        r.need(length, f"bundle change set {k + 1} of {n}")
        spans.append((r.pos, length))
        r.pos += length
    if r.remaining:
        raise r.fail("trailing-bytes", f"{r.remaining} bytes after the last frame", r.at())
    frames, changes = [], []
    inflated = 0
    for k, (at, length) in enumerate(spans):
        where = f"bundle change set {k + 1} of {n} (at byte {at})"
        frame = data[at:at + length]
        try:
            _, _, declared, _ = change_set_header(frame, limits, at)
            inflated += declared
            if inflated > limits.max_bundle_inflated_bytes:
                raise SpecError("too-large", "the frames inflate past maxBundleInflatedBytes")
            cs = decode_change_set(frame, limits, at)
        except SpecError as e:
            raise FrameError(e.code, f"{where}: {e.detail}", e.offset) from None
        if len(changes) + len(cs["changes"]) > limits.max_changes:
            raise SpecError("too-large", f"{where}: the bundle holds more than maxChanges", at)
        changes += cs["changes"]
        frames.append(cs)
    out = {"sender": replica_hex(sender), "senderAuthor": author,
           "senderVersion": {replica_hex(k): s for k, s in vv},
           "createdAtMillis": created, "changes": changes, "frames": frames, "version": version}
    if version == 2:
        out["blobs"] = _blob_frames(data, head_end, len(data) - 4, limits)
    return out


def _blob_frames(data: bytes, start: int, end: int, limits: Limits) -> list:
    """Section 3, version 2: the blob frames (BD-REJ-10..12), then every blob's bytes hashed
    (BD-REJ-13), as a receiver does before it keeps anything."""
    b = Reader(data, start, end, end_code="malformed")
    n = b.count(limits.max_blobs_per_bundle, "maxBlobsPerBundle", 33, "blob count")
    blobs, previous = [], None
    for k in range(n):
        at = b.at()
        digest = b.bytes(32, f"blob {k + 1} hash")
        sat = b.at()
        size = b.varint(f"blob {k + 1} size")
        if size > ATTACHMENT_MAX_SIZE:
            raise SpecError("too-large", f"blob {k + 1} of {n}: {size} bytes, over 2^53", sat)
        if size > b.remaining:
            raise b.fail("malformed", f"blob {k + 1} of {n} ({size} bytes) runs past the checksum",
                         at)
        if previous is not None and not previous < digest:
            raise SpecError("malformed", f"blob {k + 1} of {n} is not after the previous one in "
                            "hash order", at)
        previous = digest
        blobs.append({"hash": digest.hex(), "size": size, "bytes": b.bytes(size, "blob bytes"),
                      "at": at})
    if b.remaining:
        raise b.fail("trailing-bytes", f"{b.remaining} bytes after the last blob", b.at())
    for k, blob in enumerate(blobs):
        if hashlib.sha256(blob["bytes"]).hexdigest() != blob["hash"]:
            raise SpecError("blob-mismatch", f"blob {k + 1} of {n}'s bytes do not hash to its name",
                            blob["at"])
    return [{"hash": x["hash"], "size": x["size"], "bytes": x["bytes"].hex()} for x in blobs]


def encode_bundle(sender: str, author: str, version: dict, created: int,
                  frames: list[bytes], blobs: list | None = None) -> bytes:
    """Section 3, given the change sets (the split into frames is the writer's choice) and,
    for version 2, the blobs ({"hash", "bytes" as hex}); version 1 when there are none."""
    w = Writer()
    w.raw(bytes.fromhex(sender))
    w.string(author)
    entries = sorted((bytes.fromhex(k), s) for k, s in version.items())
    w.varint(len(entries))
    for rep, s in entries:
        w.raw(rep)
        w.varint(s)
    w.varint(created)
    w.varint(len(frames))
    for f in frames:
        w.varint(len(f))
        w.raw(f)
    body = bytes(w.out)
    if not blobs:
        total = BUNDLE_FIXED_HEADER + len(body) + 4
        head = BUNDLE_MAGIC + bytes([1, 0]) + struct.pack("<Q", total) + body
        return head + struct.pack("<I", zlib.crc32(head) & 0xFFFFFFFF)
    b = Writer()
    b.varint(len(blobs))
    for blob in sorted(blobs, key=lambda x: bytes.fromhex(x["hash"])):
        raw = bytes.fromhex(blob["bytes"])
        b.raw(bytes.fromhex(blob["hash"]))
        b.varint(len(raw))
        b.raw(raw)
    total = BUNDLE_BLOBS_HEADER + len(body) + len(b.out) + 4
    head = (BUNDLE_MAGIC + bytes([2, 0]) + struct.pack("<Q", total) + struct.pack("<Q", len(body))
            + body + bytes(b.out))
    return head + struct.pack("<I", zlib.crc32(head) & 0xFFFFFFFF)


# ---------------------------------------------------------------------------
# Sync messages (section 10.3)


def _message_header(data: bytes, magic: bytes, what: str) -> tuple[Reader, int]:
    _check_magic(data, magic, what)
    r = Reader(data, 4, end_code="truncated")
    version = r.u8("version")
    if version != 1:
        raise SpecError("unsupported-version",
                        f"{what} version {version}; this reader speaks version 1", 4)
    flags = r.u8("flags")
    return r, flags


def _sync_vector(r: Reader, limits: Limits) -> dict:
    vv = _version_vector(r, limits, lambda: r.id16("version replica"), "version vector", 17)
    return {replica_hex(k): s for k, s in vv}


def decode_pull_request(data: bytes, limits: Limits = STANDARD) -> dict:
    data = bytes(data)
    r, flags = _message_header(data, PULL_REQUEST_MAGIC, "pull request")
    if flags != 0:
        raise SpecError("unsupported-flags", f"pull-request flags 0x{flags:02x}", 5)
    replica = r.id16("client replica")
    version = _sync_vector(r, limits)
    bound = r.varint("max batch bytes")
    if r.remaining:
        raise r.fail("trailing-bytes", f"{r.remaining} bytes after the pull request")
    return {"replica": replica_hex(replica), "version": version, "max_batch_bytes": bound}


def decode_pull_response(data: bytes, limits: Limits = STANDARD) -> dict:
    data = bytes(data)
    r, flags = _message_header(data, PULL_RESPONSE_MAGIC, "pull response")
    if flags & ~1:
        raise SpecError("unsupported-flags", f"pull-response flags 0x{flags:02x}", 5)
    replica = r.id16("server replica")
    version = _sync_vector(r, limits)
    rat = r.at()
    remaining = r.varint("remaining")  # a number, not a count of bytes that follow
    if bool(flags & 1) != (remaining > 0):
        raise SpecError("malformed",
                        f"the more flag is {flags & 1} but {remaining} changes remain", rat)
    lat = r.at()
    length = r.varint("change set length")
    if length > limits.max_compressed_bytes:
        raise SpecError("too-large", f"a change set of {length} bytes", lat)
    body = r.bytes(length, "change set")
    cs = decode_change_set(body, limits, r.pos - length)
    if r.remaining:
        raise r.fail("trailing-bytes", f"{r.remaining} bytes after the pull response")
    return {"replica": replica_hex(replica), "version": version, "remaining": remaining,
            "more": bool(flags & 1), "changes": cs["changes"], "change_set": cs}


def _encode_vector(w: Writer, version: dict) -> None:
    entries = sorted((bytes.fromhex(k), s) for k, s in version.items())
    w.varint(len(entries))
    for rep, s in entries:
        w.raw(rep)
        w.varint(s)


def encode_pull_request(replica: str, version: dict, max_batch_bytes: int) -> bytes:
    w = Writer()
    w.raw(PULL_REQUEST_MAGIC + bytes([1, 0]) + bytes.fromhex(replica))
    _encode_vector(w, version)
    w.varint(max_batch_bytes)
    return bytes(w.out)


def encode_pull_response(replica: str, version: dict, remaining: int, change_set: bytes) -> bytes:
    w = Writer()
    w.raw(PULL_RESPONSE_MAGIC + bytes([1, 1 if remaining > 0 else 0]) + bytes.fromhex(replica))
    _encode_vector(w, version)
    w.varint(remaining)
    w.varint(len(change_set))
    w.raw(change_set)
    return bytes(w.out)


# ---------------------------------------------------------------------------
# Text documents (STXT) and text operation lists (STXO): SPEC sections 4.3 and 4.4, as
# written in the `text` branch (read there; this reader was written from that text alone).

STXT_MAGIC = b"STXT"
STXO_MAGIC = b"STXO"
TEXT_VERSION_BOUND = (1 << 31) - 2  # next[r] <= 2^31 - 2 (TXT-REJ-21)

F_DELETED, F_LEFT_PREV, F_LEFT_NONE, F_RIGHT_NEXT = 0x01, 0x02, 0x04, 0x08
F_RIGHT_NONE, F_SAME_REPLICA, F_COUNTER_CONTINUES, F_RESERVED = 0x10, 0x20, 0x40, 0x80


@dataclass(frozen=True)
class TextLimits:
    """TXT-REJ-08 / TXO-REJ-03: `None` is no limit (a record state's reader sets none)."""

    max_replicas: int | None = None
    max_counters: int | None = None


NO_TEXT_LIMITS = TextLimits()


def _over(n: int, limit: int | None) -> bool:
    return limit is not None and n > limit


def _column(r: Reader, what: str) -> Reader:
    start = r.at()
    n = r.varint(what + " column length")
    if n > r.remaining:
        raise r.fail(r.end_code, f"{what} column of {n} bytes, {r.remaining} remain", start)
    col = Reader(r.data, r.pos, r.pos + n, end_code="malformed", base=r.base)
    r.pos += n
    return col


def _done(col: Reader, what: str) -> None:
    if col.remaining:
        raise col.fail("trailing-bytes", f"{col.remaining} bytes left in the {what} column")


class _Intervals:
    """Sorted, disjoint [start, end) intervals of one replica's counters."""

    def __init__(self, spans):
        self.spans = sorted(spans)

    def overlapping(self) -> bool:
        return any(a[1] > b[0] for a, b in zip(self.spans, self.spans[1:]))

    def covered(self, start: int, end: int) -> int:
        """How many counters of [start, end) the intervals hold."""
        import bisect
        i = bisect.bisect_right(self.spans, (start, float("inf"))) - 1
        i = max(i, 0)
        total = 0
        while i < len(self.spans) and self.spans[i][0] < end:
            a, b = self.spans[i]
            total += max(0, min(b, end) - max(a, start))
            i += 1
        return total

    def holds(self, c: int) -> bool:
        return self.covered(c, c + 1) == 1

    def holes(self, end: int):
        """The counters below `end` that no interval holds, as [start, end) spans."""
        at = 0
        for a, b in self.spans:
            if a > at:
                yield (at, a)
            at = max(at, b)
        if at < end:
            yield (at, end)


def _union(spans) -> list:
    out = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def decode_text_document(data: bytes, limits: TextLimits = NO_TEXT_LIMITS,
                         embedded: bool = False, base: int = 0) -> dict:
    """SPEC 4.3: an STXT document. `embedded`: inside a record state, so running out of
    bytes is `malformed` instead of `truncated`."""
    data = bytes(data)
    end_code = "malformed" if embedded else "truncated"
    if len(data) < 5:
        raise SpecError(end_code, f"a text document of {len(data)} bytes", base)
    if data[:4] != STXT_MAGIC:
        raise SpecError("bad-magic", "not a text document (STXT)", base)
    if data[4] != 1:
        hint = ": written by a newer Strata; upgrade strata" if data[4] > 1 else ""
        raise SpecError("unsupported-version", f"text document version {data[4]}{hint}", base + 4)
    r = Reader(data, 5, end_code=end_code, base=base)
    at = r.at()
    R = r.varint("replica count")
    if _over(R, limits.max_replicas):
        raise SpecError("too-large", f"{R} replicas, over maxReplicas", at)
    r.need(16 * R, "replica ids")
    replicas = [r.id16("replica id") for _ in range(R)]
    nxt = [r.varint("version") for _ in range(R)]
    if _over(sum(nxt), limits.max_counters):
        raise SpecError("too-large", "the versions sum past maxCounters", at)
    at = r.at()
    N = r.varint("run count")
    if _over(N, limits.max_counters):
        raise SpecError("too-large", f"{N} runs, over maxCounters", at)
    r.need(N, "run flags")
    c_flags = _column(r, "flags")
    c_replicas = _column(r, "replicas")
    c_counters = _column(r, "counters")
    c_lengths = _column(r, "lengths")
    c_lefts = _column(r, "lefts")
    c_rights = _column(r, "rights")
    c_content = _column(r, "content")
    D = [r.varint("delete entry count") for _ in range(R)]
    for d in D:
        if _over(d, limits.max_counters):
            raise SpecError("too-large", f"{d} delete entries, over maxCounters", r.at())
    c_targets = _column(r, "targets")
    c_starts = _column(r, "starts")
    c_dlengths = _column(r, "deleteLengths")
    c_pending = _column(r, "pending")
    if r.remaining:
        raise r.fail("trailing-bytes", f"{r.remaining} bytes after the pending column")

    # Pass 1, bytes (TXT-REJ-05, -06, -07, -10): every column's values, in run order.
    if c_flags.remaining != N:
        raise c_flags.fail("malformed", f"a flags column of {c_flags.remaining} bytes for {N} runs")
    raw = []
    for k in range(N):
        fat = c_flags.at()
        f = c_flags.u8("flags")
        if f & F_RESERVED or (f & F_LEFT_PREV and f & F_LEFT_NONE) or \
                (f & F_RIGHT_NEXT and f & F_RIGHT_NONE):
            raise SpecError("malformed", f"run {k}: flags 0x{f:02x}", fat)
        if k == 0 and f & (F_SAME_REPLICA | F_LEFT_PREV):
            raise SpecError("malformed", "run 0 refers to a previous run", fat)
        if k == N - 1 and f & F_RIGHT_NEXT:
            raise SpecError("malformed", f"run {k}, the last, refers to a next run", fat)
        run = {"flags": f, "at": fat}
        if not f & F_SAME_REPLICA:
            run["replica"] = c_replicas.index(replicas, "run replica index")
        if not f & F_COUNTER_CONTINUES:
            run["delta"] = c_counters.zigzag("run counter")
        run["length"] = c_lengths.varint("run length")
        raw.append(run)
    # The replica of each run is needed to read explicit origins (zigzag or varint).
    for k, run in enumerate(raw):
        if "replica" not in run:
            run["replica"] = raw[k - 1]["replica"]
    for k, run in enumerate(raw):
        for side, col, flag_link, flag_none in (("left", c_lefts, F_LEFT_PREV, F_LEFT_NONE),
                                                ("right", c_rights, F_RIGHT_NEXT, F_RIGHT_NONE)):
            f = run["flags"]
            if f & flag_link or f & flag_none:
                continue
            dat = col.at()
            d = col.varint(f"origin {side} distance")
            if d == 0:
                o = col.index(replicas, f"explicit origin {side} replica")
                if o == run["replica"]:
                    run[side] = ("relative", o, col.zigzag(f"origin {side} counter"))
                else:
                    run[side] = ("absolute", o, col.varint(f"origin {side} counter"))
            else:
                j = k - 1 - d if side == "left" else k + 1 + d
                if not 0 <= j < N:
                    raise SpecError("malformed", f"run {k}: origin {side} distance {d} names no run",
                                    dat)
                run[side] = ("run", j)
    cat = c_content.at()
    try:
        content = c_content.bytes(c_content.remaining, "content").decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError("invalid-utf8", "the content column is not valid UTF-8", cat) from None
    entries = []
    for rep in range(R):
        for _ in range(D[rep]):
            entries.append({"replica": rep,
                            "target": c_targets.index(replicas, "delete target replica"),
                            "delta": c_starts.zigzag("delete start"),
                            "length": c_dlengths.varint("delete length")})
    for col, what in ((c_replicas, "replicas"), (c_counters, "counters"),
                      (c_lengths, "lengths"), (c_lefts, "lefts"), (c_rights, "rights"),
                      (c_targets, "targets"), (c_starts, "starts"),
                      (c_dlengths, "deleteLengths")):
        _done(col, what)

    # Pass 2, structure (TXT-REJ-20 on, all `malformed`).
    def bad(message, offset=None):
        return SpecError("malformed", message, offset)

    for a, b in zip(replicas, replicas[1:]):
        if not a < b:
            raise bad("replica ids are not strictly ascending")
    for v in nxt:
        if not 1 <= v <= TEXT_VERSION_BOUND:
            raise bad(f"a version of {v}")
    last_end = [0] * R
    for k, run in enumerate(raw):
        rep = run["replica"]
        f = run["flags"]
        left = run.get("left")
        if f & F_LEFT_PREV:
            left = ("run", k - 1)
        if left and left[0] == "run":
            j = left[1]
            pj = raw[j]
            run["left_id"] = (pj["replica"], pj["counter"] + pj["length"] - 1)
        elif f & F_LEFT_NONE:
            run["left_id"] = None
        if f & F_COUNTER_CONTINUES:
            counter = last_end[rep]
        elif left and left[0] == "run" and run["left_id"][0] == rep:
            counter = run["left_id"][1] + 1 + run["delta"]
        else:
            counter = last_end[rep] + run["delta"]
        length = run["length"]
        if length < 1 or counter < 0 or counter + length > nxt[rep]:
            raise bad(f"run {k}: counters {counter} ..< {counter + length} of a replica at "
                      f"version {nxt[rep]}", run["at"])
        run["counter"] = counter
        last_end[rep] = counter + length
        if left and left[0] in ("relative", "absolute"):
            o, v = left[1], left[2]
            run["left_id"] = (o, counter + v if left[0] == "relative" else v)
    for k, run in enumerate(raw):
        f = run["flags"]
        right = ("run", k + 1) if f & F_RIGHT_NEXT else run.get("right")
        if f & F_RIGHT_NONE:
            run["right_id"] = None
        elif right[0] == "run":
            run["right_id"] = (raw[right[1]]["replica"], raw[right[1]]["counter"])
        else:
            o, v = right[1], right[2]
            run["right_id"] = (o, run["counter"] + v if right[0] == "relative" else v)
    chars = [_Intervals((run["counter"], run["counter"] + run["length"])
                        for run in raw if run["replica"] == rep) for rep in range(R)]
    for rep in range(R):
        if chars[rep].overlapping():
            raise bad(f"two runs of replica {rep} hold the same character")
    for k, run in enumerate(raw):
        for side in ("left_id", "right_id"):
            o = run[side]
            if o is None:
                continue
            if not 0 <= o[1] < nxt[o[0]]:
                raise bad(f"run {k}: an origin counter {o[1]} outside 0 ..< {nxt[o[0]]}",
                          run["at"])
            if not chars[o[0]].holds(o[1]):
                raise bad(f"run {k}: an origin names a delete counter", run["at"])
    if len(content) != sum(run["length"] for run in raw):
        raise bad(f"content of {len(content)} scalars for runs of {sum(r_['length'] for r_ in raw)}")
    pos = 0
    for run in raw:
        run["text"] = content[pos:pos + run["length"]]
        pos += run["length"]

    # Deletes: own counters from the holes between runs, targets must be characters.
    start = 0
    targets = [[] for _ in range(R)]
    at_entry = 0
    for rep in range(R):
        holes = list(chars[rep].holes(nxt[rep]))
        hi, used = 0, 0  # hole index, counters used in it
        for _ in range(D[rep]):
            e = entries[at_entry]
            at_entry += 1
            start += e["delta"]
            e["start"] = start
            n = e["length"]
            t = e["target"]
            if n < 1 or start < 0 or start + n > nxt[t]:
                raise bad(f"a delete entry of {start} ..< {start + n} of a replica at version "
                          f"{nxt[t]}")
            if chars[t].covered(start, start + n) != n:
                raise bad("a delete entry names a delete counter")
            while hi < len(holes) and used == holes[hi][1] - holes[hi][0]:
                hi, used = hi + 1, 0
            if hi >= len(holes) or holes[hi][0] + used + n > holes[hi][1]:
                raise bad("a delete entry's own counters pass the version or hold a character")
            e["own"] = holes[hi][0] + used
            used += n
            targets[t].append((start, start + n))
        taken = sum(b - a for a, b in holes)
        given = sum(e["length"] for e in entries if e["replica"] == rep)
        if taken != given:
            raise bad(f"replica {rep} has {taken - given} counters that are neither "
                      "characters nor delete counters")
    deleted = [_Intervals(_union(t)) for t in targets]
    for k, run in enumerate(raw):
        cov = deleted[run["replica"]].covered(run["counter"], run["counter"] + run["length"])
        flagged = bool(run["flags"] & F_DELETED)
        if (flagged and cov != run["length"]) or (not flagged and cov != 0):
            raise bad(f"run {k}: the deleted flag disagrees with the deletes", run["at"])

    pending = []
    if c_pending.end > c_pending.pos:
        try:
            pending = decode_text_operations(data[c_pending.pos:c_pending.end], limits,
                                             embedded=True, base=base + c_pending.pos)
        except SpecError as e:
            raise SpecError("malformed", f"pending operations: {e.detail}", e.offset) from None
        index_of = {rid: i for i, rid in enumerate(replicas)}

        def is_delete_counter(rid, lo, hi):
            i = index_of.get(rid)
            if i is None:
                return False
            hi = min(hi, nxt[i])
            return lo < hi and chars[i].covered(lo, hi) != hi - lo
        for op in pending:
            named = [o for o in (op.get("left"), op.get("right")) if o]
            spans = [(bytes.fromhex(o[0]), o[1], o[1] + 1) for o in named]
            spans += [(bytes.fromhex(g[0]), g[1], g[1] + g[2]) for g in op.get("ranges", [])]
            for rid, lo, hi in spans:
                if is_delete_counter(rid, lo, hi):
                    raise bad("a pending operation names a delete counter")

    def tid(o):
        return None if o is None else (replica_hex(replicas[o[0]]), o[1])
    runs = [{"replica": replica_hex(replicas[run["replica"]]), "counter": run["counter"],
             "length": run["length"], "left": tid(run["left_id"]),
             "right": tid(run["right_id"]), "deleted": bool(run["flags"] & F_DELETED),
             "text": run["text"]} for run in raw]
    deletes = [{"replica": replica_hex(replicas[e["replica"]]), "own": e["own"],
                "target": replica_hex(replicas[e["target"]]), "start": e["start"],
                "length": e["length"]} for e in entries]
    return {"versions": {replica_hex(x): v for x, v in zip(replicas, nxt)}, "runs": runs,
            "deletes": deletes, "pending": pending,
            "text": "".join(run["text"] for run in runs if not run["deleted"])}


def decode_text_operations(data: bytes, limits: TextLimits = NO_TEXT_LIMITS,
                           embedded: bool = False, base: int = 0) -> list:
    """SPEC 4.4: an STXO list of text operations, ids as (replica hex, counter)."""
    data = bytes(data)
    end_code = "malformed" if embedded else "truncated"
    if len(data) < 5:
        raise SpecError(end_code, f"an operation list of {len(data)} bytes", base)
    if data[:4] != STXO_MAGIC:
        raise SpecError("bad-magic", "not a text operation list (STXO)", base)
    if data[4] != 1:
        raise SpecError("unsupported-version", f"operation list version {data[4]}", base + 4)
    r = Reader(data, 5, end_code=end_code, base=base)
    at = r.at()
    R = r.varint("replica count")
    if _over(R, limits.max_replicas):
        raise SpecError("too-large", f"{R} replicas, over maxReplicas", at)
    r.need(16 * R, "replica ids")
    table = [r.id16("replica id") for _ in range(R)]
    at = r.at()
    K = r.varint("operation count")
    if _over(K, limits.max_counters):
        raise SpecError("too-large", f"{K} operations, over maxCounters", at)
    r.need(3 * K, "operations")
    ops = []
    for _ in range(K):
        oat = r.at()
        tag = r.u8("operation tag")
        if tag not in (0, 1, 2, 3, 0x10):
            raise SpecError("malformed", f"operation tag 0x{tag:02x}", oat)
        own = r.index(table, "operation replica")
        counter = r.varint("operation counter")
        op = {"replica": replica_hex(table[own]), "counter": counter}
        if tag == 0x10:
            rat = r.at()
            m = r.varint("range count")
            if _over(m, limits.max_counters):
                raise SpecError("too-large", f"{m} ranges, over maxCounters", rat)
            r.need(3 * m, "ranges")
            ranges = []
            for _ in range(m):
                i = r.index(table, "range replica")
                ranges.append((i, r.varint("range start"), r.varint("range count")))
            op["kind"] = "delete"
            n = sum(c for _, _, c in ranges)
            if not ranges or any(c == 0 for _, _, c in ranges):
                raise SpecError("malformed", "a delete with no range or an empty range", oat)
            spans = ranges
            op["ranges"] = [(replica_hex(table[i]), s, c) for i, s, c in ranges]
        else:
            origins = []
            for bit in (1, 2):
                if tag & bit:
                    i = r.index(table, "origin replica")
                    origins.append((i, r.varint("origin counter")))
                else:
                    origins.append(None)
            text = r.bytes(r.varint("text length"), "text")
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError:
                raise SpecError("invalid-utf8", "inserted text is not valid UTF-8", oat) from None
            if not text:
                raise SpecError("malformed", "an empty insert", oat)
            n = len(text)
            op.update(kind="insert", text=text,
                      left=None if origins[0] is None else (replica_hex(table[origins[0][0]]), origins[0][1]),
                      right=None if origins[1] is None else (replica_hex(table[origins[1][0]]), origins[1][1]))
            spans = [(i, c, 1) for i, c in (o for o in origins if o)]
        if counter + n >= TEXT_ID_BOUND:
            raise SpecError("malformed", "an operation's counters reach 2^31 - 1", oat)
        for i, s, c in spans:
            if (s + c if tag == 0x10 else s) >= TEXT_ID_BOUND:
                raise SpecError("malformed", "an id reaches 2^31 - 1", oat)
            if table[i] == table[own] and s + c > counter:
                raise SpecError("malformed", "an operation names its own or a later counter", oat)
        ops.append(op)
    if r.remaining:
        raise r.fail("trailing-bytes", f"{r.remaining} bytes after the last operation")
    return ops


def encode_text_operations(ops: list) -> bytes:
    """SPEC 4.4: table R in order of first use, operations in the given order."""
    table, index = [], {}

    def use(rid_hex):
        if rid_hex not in index:
            index[rid_hex] = len(table)
            table.append(bytes.fromhex(rid_hex))
        return index[rid_hex]
    for op in ops:
        use(op["replica"])
        if op["kind"] == "insert":
            for o in (op["left"], op["right"]):
                if o:
                    use(o[0])
        else:
            for g in op["ranges"]:
                use(g[0])
    w = Writer()
    w.raw(STXO_MAGIC)
    w.u8(1)
    w.varint(len(table))
    for t in table:
        w.raw(t)
    w.varint(len(ops))
    for op in ops:
        if op["kind"] == "insert":
            w.u8((1 if op["left"] else 0) | (2 if op["right"] else 0))
            w.varint(index[op["replica"]])
            w.varint(op["counter"])
            for o in (op["left"], op["right"]):
                if o:
                    w.varint(index[o[0]])
                    w.varint(o[1])
            w.string(op["text"])
        else:
            w.u8(0x10)
            w.varint(index[op["replica"]])
            w.varint(op["counter"])
            w.varint(len(op["ranges"]))
            for rid, s, c in op["ranges"]:
                w.varint(index[rid])
                w.varint(s)
                w.varint(c)
    return bytes(w.out)


def encode_text_document(doc: dict) -> bytes:
    """SPEC 4.3, the canonical form (TXT-ENC-01), from `decode_text_document`'s shape.

    Pending operations are written in the order given: the spec's tie-break
    (`TextOperation.description`) is not defined in it, so sorting is the caller's."""
    R = sorted(bytes.fromhex(k) for k, v in doc["versions"].items() if v >= 1)
    ri = {replica_hex(x): i for i, x in enumerate(R)}
    nxt = [doc["versions"][replica_hex(x)] for x in R]
    # Maximal runs.
    runs = []
    for run in doc["runs"]:
        run = dict(run)
        if runs:
            p = runs[-1]
            if (p["replica"] == run["replica"] and p["counter"] + p["length"] == run["counter"]
                    and run["left"] == (p["replica"], p["counter"] + p["length"] - 1)
                    and p["right"] == run["right"] and p["deleted"] == run["deleted"]):
                p["length"] += run["length"]
                p["text"] += run["text"]
                continue
        runs.append(run)
    last_char = {(r_["replica"], r_["counter"] + r_["length"] - 1): k for k, r_ in enumerate(runs)}
    first_char = {(r_["replica"], r_["counter"]): k for k, r_ in enumerate(runs)}
    flags, reps, ctrs, lens, lefts, rights = bytearray(), Writer(), Writer(), Writer(), Writer(), Writer()
    last_end = {}

    def explicit(col, o, run):
        col.varint(0)
        col.varint(ri[o[0]])
        if o[0] == run["replica"]:
            col.zigzag(o[1] - run["counter"])
        else:
            col.varint(o[1])
    for k, run in enumerate(runs):
        f = F_DELETED if run["deleted"] else 0
        rep = run["replica"]
        left_by_run = False
        if run["left"] is None:
            f |= F_LEFT_NONE
        elif k > 0 and last_char.get(run["left"]) == k - 1:
            f |= F_LEFT_PREV
            left_by_run = True
        elif last_char.get(run["left"], k) < k - 1:
            lefts.varint(k - 1 - last_char[run["left"]])
            left_by_run = True
        else:
            explicit(lefts, run["left"], run)
        if run["right"] is None:
            f |= F_RIGHT_NONE
        elif first_char.get(run["right"]) == k + 1:
            f |= F_RIGHT_NEXT
        elif first_char.get(run["right"], -1) > k + 1:
            rights.varint(first_char[run["right"]] - k - 1)
        else:
            explicit(rights, run["right"], run)
        if k > 0 and runs[k - 1]["replica"] == rep:
            f |= F_SAME_REPLICA
        else:
            reps.varint(ri[rep])
        end = last_end.get(rep, 0)
        if run["counter"] == end:
            f |= F_COUNTER_CONTINUES
        elif left_by_run and run["left"][0] == rep:
            ctrs.zigzag(run["counter"] - (run["left"][1] + 1))
        else:
            ctrs.zigzag(run["counter"] - end)
        last_end[rep] = run["counter"] + run["length"]
        lens.varint(run["length"])
        flags.append(f)
    # Deletes, per replica in table order, by own counter, merged when they continue.
    entries = []
    for x in R:
        mine = sorted((e for e in doc["deletes"] if e["replica"] == replica_hex(x)),
                      key=lambda e: e["own"])
        merged = []
        for e in mine:
            e = dict(e)
            if merged:
                p = merged[-1]
                if (p["own"] + p["length"] == e["own"] and p["target"] == e["target"]
                        and p["start"] + p["length"] == e["start"]):
                    p["length"] += e["length"]
                    continue
            merged.append(e)
        entries.append(merged)
    targets, starts, dlens = Writer(), Writer(), Writer()
    previous = 0
    for merged in entries:
        for e in merged:
            targets.varint(ri[e["target"]])
            starts.zigzag(e["start"] - previous)
            previous = e["start"]
            dlens.varint(e["length"])
    w = Writer()
    w.raw(STXT_MAGIC)
    w.u8(1)
    w.varint(len(R))
    for x in R:
        w.raw(x)
    for v in nxt:
        w.varint(v)
    w.varint(len(runs))
    content = "".join(r_["text"] for r_ in runs).encode("utf-8")
    for col in (bytes(flags), reps.out, ctrs.out, lens.out, lefts.out, rights.out, content):
        w.varint(len(col))
        w.raw(bytes(col))
    for merged in entries:
        w.varint(len(merged))
    pending = encode_text_operations(doc["pending"]) if doc["pending"] else b""
    for col in (targets.out, starts.out, dlens.out, pending):
        w.varint(len(col))
        w.raw(bytes(col))
    return bytes(w.out)


# ---------------------------------------------------------------------------
# Record state (SPEC 4.2): the store's materialised record blob. Counts are checked against
# the bytes remaining only (section 5: merging is not capped); running out is `truncated`.

UNCAPPED = Limits(max_inflated_bytes=1 << 62, max_compressed_bytes=1 << 62, max_changes=1 << 62,
                  max_operations_per_change=1 << 62, max_string_bytes=1 << 62,
                  max_preds=1 << 62, max_table_entries=1 << 62,
                  max_version_vector_entries=1 << 62, max_change_sets_per_bundle=1 << 62,
                  max_bundle_inflated_bytes=1 << 62)


def decode_record_state(data: bytes) -> dict:
    data = bytes(data)
    r = Reader(data, end_code="truncated")
    version = r.u8("version")
    if version not in (1, 2):
        raise SpecError("unsupported-version", f"record state version {version}", 0)
    replicas = _table(r, UNCAPPED, "id", "replica")
    authors = _table(r, UNCAPPED, "string", "author")
    fields = _table(r, UNCAPPED, "string", "field")
    n = r.count(1 << 62, "", 4, "key count")
    keys = []
    for _ in range(n):
        field = fields[r.index(fields, "field index")]
        element = r.string(UNCAPPED, "element")
        live = []
        for _ in range(r.count(1 << 62, "", 5, "live count")):
            rep = r.index(replicas, "live replica")
            seq = r.varint("live seq")
            ts = r.varint("live timestamp")
            author = authors[r.index(authors, "live author")]
            live.append({"replica": replica_hex(replicas[rep]), "seq": seq, "timestamp": ts,
                         "author": author, "value": _value(r, UNCAPPED, replicas)})
        pending = []
        for _ in range(r.count(1 << 62, "", 2, "pending count")):
            rep = r.index(replicas, "pending replica")
            pending.append((replica_hex(replicas[rep]), r.varint("pending seq")))
        keys.append({"field": field, "element": element, "live": live, "pending": pending})
    texts = []
    if version >= 2:
        for _ in range(r.count(1 << 62, "", 3, "text count")):
            field = fields[r.index(fields, "text field index")]
            marks = []
            for _ in range(r.count(1 << 62, "", 4, "mark count")):
                rep = r.index(replicas, "mark replica")
                seq = r.varint("mark seq")
                ts = r.varint("mark timestamp")
                author = authors[r.index(authors, "mark author")]
                marks.append({"replica": replica_hex(replicas[rep]), "seq": seq,
                              "timestamp": ts, "author": author})
            length = r.varint("document length")
            at = r.pos
            doc = decode_text_document(r.bytes(length, "text document"), embedded=True, base=at)
            texts.append({"field": field, "marks": marks, "document": doc})
    if r.remaining:
        raise r.fail("trailing-bytes", f"{r.remaining} bytes after the record state")
    return {"version": version, "keys": keys, "texts": texts}


# --- EXIF metadata (section 11) -------------------------------------------------------------

EXIF_MAX_ENTRIES = 1024
EXIF_MAX_ASCII = 256  # declared bytes, NUL included
EXIF_TYPE_SIZES = {1: 1, 2: 1, 6: 1, 7: 1, 3: 2, 8: 2, 4: 4, 9: 4, 11: 4, 13: 4, 5: 8, 10: 8, 12: 8}


class _TIFF:
    """A TIFF structure in data[start:end]; in a JPEG, running past the end is malformed."""

    def __init__(self, data: bytes, start: int, end: int, in_jpeg: bool):
        self.data, self.start, self.end, self.in_jpeg = data, start, end, in_jpeg
        self.length = end - start
        self.order = "<"

    def u16(self, o: int) -> int:
        return struct.unpack_from(self.order + "H", self.data, self.start + o)[0]

    def u32(self, o: int) -> int:
        return struct.unpack_from(self.order + "I", self.data, self.start + o)[0]

    def check(self, o: int, n: int, what: str) -> None:
        if o < 0 or o + n > self.length:
            code = "malformed" if self.in_jpeg else "truncated"
            raise SpecError(code, f"{what} runs past the end of the EXIF block", self.start + o)

    def header(self) -> int:
        if self.length < 8:
            raise SpecError("truncated", "the TIFF header needs 8 bytes", self.start)
        bo = self.data[self.start:self.start + 2]
        if bo == b"II":
            self.order = "<"
        elif bo == b"MM":
            self.order = ">"
        else:
            raise SpecError("malformed", "no byte order II or MM", self.start)
        if self.u16(2) != 42:
            raise SpecError("malformed", "no 42 in the TIFF header", self.start)
        return self.u32(4)

    def ifd(self, o: int, visited: set, what: str) -> dict:
        if o in visited:
            raise SpecError("malformed", f"{what} reached twice (an IFD loop)", self.start + o)
        visited.add(o)
        self.check(o, 2, what)
        n = self.u16(o)
        if n > EXIF_MAX_ENTRIES:
            raise SpecError("too-large", f"{what} declares {n} entries", self.start + o)
        self.check(o + 2, 12 * n, what)
        entries = {}
        for i in range(n):
            at = o + 2 + 12 * i
            tag = self.u16(at)
            if tag not in entries:
                entries[tag] = (at, self.u16(at + 2), self.u32(at + 4))
        return entries

    def value(self, e, what: str) -> bytes:
        at, typ, count = e
        if typ not in EXIF_TYPE_SIZES:
            raise SpecError("bad-value", f"{what} has unknown type {typ}", self.start + at)
        size = EXIF_TYPE_SIZES[typ] * count
        o = at + 8 if size <= 4 else self.u32(at + 8)
        self.check(o, size, what)
        return self.data[self.start + o:self.start + o + size]

    def pointer(self, e, what: str) -> int:
        at, typ, count = e
        if typ not in (4, 13) or count != 1:
            raise SpecError("bad-value", f"{what} is not one LONG", self.start + at)
        return self.u32(at + 8)

    def ascii(self, e, what: str) -> str:
        at, typ, count = e
        if typ != 2:
            raise SpecError("bad-value", f"{what} is not ASCII", self.start + at)
        if count > EXIF_MAX_ASCII:
            raise SpecError("too-large", f"{what} declares {count} bytes", self.start + at)
        raw = self.value(e, what).split(b"\0", 1)[0].rstrip(b" ")
        try:
            s = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise SpecError("bad-value", f"{what} is not UTF-8", self.start + at) from None
        for ch in s:
            c = ord(ch)
            if c < 0x20 or 0x7F <= c <= 0x9F or c in (0x061C, 0x200E, 0x200F) \
                    or 0x202A <= c <= 0x202E or 0x2066 <= c <= 0x2069:
                raise SpecError("bad-value", f"{what} holds a control character", self.start + at)
        return s

    def rationals(self, e, what: str, count: int) -> list:
        at, typ, n = e
        if typ != 5 or n != count:
            raise SpecError("bad-value", f"{what} is not {count} RATIONAL", self.start + at)
        raw = self.value(e, what)
        pairs = [struct.unpack_from(self.order + "II", raw, 8 * i) for i in range(count)]
        if any(d == 0 for _, d in pairs):
            raise SpecError("bad-value", f"{what} has a zero denominator", self.start + at)
        return [n_ / d for n_, d in pairs]


def _exif_block(data: bytes):
    if data[:4] in (b"II*\0", b"MM\0*"):
        return _TIFF(data, 0, len(data), False)
    if data[:2] != b"\xff\xd8":
        return None
    pos = 2
    while pos + 1 < len(data):
        if data[pos] != 0xFF:
            return None
        m = data[pos + 1]
        if m == 0xFF:
            pos += 1
            continue
        if m in (0xD9, 0xDA):
            return None
        if m == 0x01 or 0xD0 <= m <= 0xD7:
            pos += 2
            continue
        if pos + 4 > len(data):
            return None
        length = data[pos + 2] << 8 | data[pos + 3]
        if length < 2:
            return None
        end = pos + 2 + length
        present = data[pos + 4:min(end, len(data))]
        header = b"Exif\0\0"
        if m == 0xE1 and present and header.startswith(present[:6]):
            if end > len(data):
                raise SpecError("truncated", "the Exif APP1 segment runs past the end", pos)
            if len(present) < 6:
                raise SpecError("truncated", "the Exif APP1 segment ends inside its header", pos)
            return _TIFF(data, pos + 10, end, True)
        pos = end
    return None


def _exif_date(s: str):
    if s == "" or all(c in " :0" for c in s):
        return None
    bad = SpecError("bad-value", "DateTimeOriginal is not YYYY:MM:DD HH:MM:SS")
    if len(s) != 19 or s[4] != ":" or s[7] != ":" or s[10] != " " or s[13] != ":" or s[16] != ":":
        raise bad
    parts = [s[0:4], s[5:7], s[8:10], s[11:13], s[14:16], s[17:19]]
    if not all(len(p) == len(p.encode()) and p.isdigit() and p.isascii() for p in parts):
        raise bad
    _, mo, d, h, mi, se = (int(p) for p in parts)
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h <= 23 and mi <= 59 and se <= 60):
        raise SpecError("bad-value", "DateTimeOriginal out of range")
    return s[0:4] + "-" + s[5:7] + "-" + s[8:10] + "T" + s[11:19]


def _exif_offset(s: str):
    if s == "" or all(c in " :" for c in s):
        return None
    if (len(s) != 6 or s[0] not in "+-" or s[3] != ":" or not (s[1:3] + s[4:6]).isascii()
            or not (s[1:3] + s[4:6]).isdigit() or int(s[1:3]) > 14 or int(s[4:6]) > 59):
        raise SpecError("bad-value", "OffsetTimeOriginal is not +HH:MM or -HH:MM")
    return s


def read_exif(data: bytes) -> dict:
    """A file's PhotoMetadata (section 11) as an `exif` vector's .json gives it."""
    t = _exif_block(data)
    if t is None:
        return {}
    visited: set = set()
    ifd0 = t.ifd(t.header(), visited, "IFD0")
    out = {}
    orientation = None
    if 0x0112 in ifd0:
        at, typ, count = ifd0[0x0112]
        if typ != 3 or count != 1:
            raise SpecError("bad-value", "Orientation is not one SHORT", t.start + at)
        orientation = t.u16(at + 8)
        if not 1 <= orientation <= 8:
            raise SpecError("bad-value", "Orientation is not 1 to 8", t.start + at)
    make = t.ascii(ifd0[0x010F], "Make") if 0x010F in ifd0 else ""
    model = t.ascii(ifd0[0x0110], "Model") if 0x0110 in ifd0 else ""
    if 0x8769 in ifd0:
        exif = t.ifd(t.pointer(ifd0[0x8769], "Exif IFD pointer"), visited, "the Exif IFD")
        if 0x9003 in exif:
            taken = _exif_date(t.ascii(exif[0x9003], "DateTimeOriginal"))
            if taken is not None:
                if 0x9011 in exif:
                    offset = _exif_offset(t.ascii(exif[0x9011], "OffsetTimeOriginal"))
                    if offset is not None:
                        taken += offset
                out["takenAt"] = taken
    if 0x8825 in ifd0:
        gps = t.ifd(t.pointer(ifd0[0x8825], "GPS IFD pointer"), visited, "the GPS IFD")
        present = [k for k in (1, 2, 3, 4) if k in gps]
        if present and len(present) != 4:
            raise SpecError("bad-value", "only some of the four position tags")
        if present:
            ns = t.ascii(gps[1], "GPSLatitudeRef")
            ew = t.ascii(gps[3], "GPSLongitudeRef")
            if ns not in ("N", "S"):
                raise SpecError("bad-value", "GPSLatitudeRef is not N or S")
            if ew not in ("E", "W"):
                raise SpecError("bad-value", "GPSLongitudeRef is not E or W")
            lat = [t.rationals(gps[2], "GPSLatitude", 3)]
            lon = [t.rationals(gps[4], "GPSLongitude", 3)]
            latitude = lat[0][0] + lat[0][1] / 60 + lat[0][2] / 3600
            longitude = lon[0][0] + lon[0][1] / 60 + lon[0][2] / 3600
            if latitude > 90:
                raise SpecError("bad-value", "GPSLatitude beyond 90 degrees")
            if longitude > 180:
                raise SpecError("bad-value", "GPSLongitude beyond 180 degrees")
            if ns == "S":
                latitude = -latitude
            if ew == "W":
                longitude = -longitude
            loc = {"latitude": _f64_hex(latitude), "longitude": _f64_hex(longitude)}
            if 0x1F in gps:
                loc["accuracyMetres"] = _f64_hex(t.rationals(gps[0x1F], "GPSHPositioningError", 1)[0])
            out["location"] = loc
    if orientation is not None:
        out["orientation"] = orientation
    if make and model:
        fold = lambda x: x.translate(_ASCII_LOWER)  # noqa: E731
        camera = model if fold(model).startswith(fold(make)) else make + " " + model
    else:
        camera = make or model
    if camera:
        out["camera"] = camera
    return out


_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def _f64_hex(x: float) -> str:
    return "0x%016x" % struct.unpack("<Q", struct.pack("<d", x))[0]
