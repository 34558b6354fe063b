import StrataCore

/// A cursor over a contiguous buffer that decodes the primitives of Protocol/SPEC.md,
/// "Notation", with precise errors. Only valid inside the `withUnsafeBufferPointer` scope
/// that produced `buffer`.
///
/// A reader may also see a *window* of a longer structure (``ChangeSetReader`` inflating a
/// payload a piece at a time): `buffer` then starts at byte `base` of a structure of `total`
/// bytes. Counts are checked against the bytes left in the whole structure and errors name
/// offsets in it, so a decode in a window fails or succeeds exactly as over the whole buffer;
/// needing bytes past a window that is not the end throws ``CodecError/Kind/needsMoreInput``,
/// and the caller decodes again over a longer window.
struct ByteReader {
    let buffer: UnsafeBufferPointer<UInt8>
    var position: Int = 0
    /// Where `buffer` starts in the structure (0 unless this is a window).
    let base: Int
    /// Bytes in the whole structure (`buffer.count` unless this is a window).
    let total: Int
    /// What the buffer holds, for messages: "change set", "change set payload", ...
    let what: String
    /// True when running out of bytes means the input was cut short; false when the length
    /// of the buffer was already verified (an inflated payload), so running past the end
    /// means a count or length inside it is wrong.
    let endIsTruncation: Bool
    let context: String?

    init(_ buffer: UnsafeBufferPointer<UInt8>, what: String, endIsTruncation: Bool, context: String? = nil) {
        self.buffer = buffer
        self.what = what
        self.endIsTruncation = endIsTruncation
        self.context = context
        base = 0
        total = buffer.count
    }

    /// A reader over `window`, bytes `base..<base + window.count` of a structure of `total`
    /// bytes whose length is known (an inflated payload: running past its end is malformed).
    init(window: UnsafeBufferPointer<UInt8>, at base: Int, of total: Int, what: String, context: String?) {
        buffer = window
        self.base = base
        self.total = total
        self.what = what
        endIsTruncation = false
        self.context = context
    }

    /// Bytes left in the whole structure.
    var remaining: Int { total - base - position }
    /// Bytes left in `buffer` (fewer than `remaining` in a window that is not the end).
    var available: Int { buffer.count - position }
    var isAtEnd: Bool { base + position >= total }

    /// `offset` is in `buffer`; the error names it in the whole structure.
    func error(_ kind: CodecError.Kind, at offset: Int? = nil) -> CodecError {
        CodecError(kind, offset: base + (offset ?? position), total: total, context: context)
    }

    /// The error for needing `needed` bytes at `offset` when fewer remain in `buffer`: more
    /// input, when the buffer is a window with bytes after it.
    func pastEnd(at offset: Int, needing what: String) -> CodecError {
        if base + buffer.count < total { return error(.needsMoreInput, at: offset) }
        if endIsTruncation { return error(.truncated(what: self.what), at: offset) }
        return error(.malformed("\(what) runs past the end of the \(self.what)"), at: offset)
    }

    @inline(__always) mutating func u8(_ what: @autoclosure () -> String = "byte") throws(CodecError) -> UInt8 {
        guard position < buffer.count else { throw pastEnd(at: position, needing: what()) }
        let b = buffer[position]
        position += 1
        return b
    }

    /// Unsigned LEB128; rejects encodings longer than needed and values beyond 64 bits.
    @inline(__always) mutating func varint(_ what: @autoclosure () -> String = "varint") throws(CodecError) -> UInt64 {
        let start = position
        guard position < buffer.count else { throw pastEnd(at: start, needing: what()) }
        let first = buffer[position]
        position += 1
        if first < 0x80 { return UInt64(first) }
        var result = UInt64(first & 0x7F)
        var shift: UInt64 = 7
        while true {
            guard position < buffer.count else { throw pastEnd(at: start, needing: what()) }
            let b = buffer[position]
            position += 1
            if shift == 63 && b > 1 { throw error(.overlongVarint, at: start) }
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 {
                if b == 0 { throw error(.overlongVarint, at: start) }
                return result
            }
            shift += 7
        }
    }

    @inline(__always) mutating func zigzag(_ what: @autoclosure () -> String = "integer") throws(CodecError) -> Int64 {
        let u = try varint(what())
        return Int64(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
    }

    /// A count or length, checked against `limit` (too-large) and against the bytes left,
    /// assuming each item takes at least `minBytesEach` bytes.
    mutating func count(_ what: String, limit: Int, minBytesEach: Int = 1) throws(CodecError) -> Int {
        let start = position
        let v = try varint(what)
        guard v <= UInt64(limit) else {
            throw error(
                .tooLarge(
                    what: what, value: v > UInt64(Int.max) ? Int.max : Int(v), limit: limit,
                    bytes: what.hasSuffix("length")), at: start)
        }
        let n = Int(v)
        // minBytesEach 0: the count is of things not in these bytes (a pull response's remaining
        // changes), so only the limit applies.
        if minBytesEach > 0 && n > remaining / minBytesEach {
            throw pastEnd(at: start, needing: what)
        }
        return n
    }

    mutating func double(_ what: @autoclosure () -> String = "real") throws(CodecError) -> Double {
        guard available >= 8 else { throw pastEnd(at: position, needing: what()) }
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(buffer[position + i]) << (8 * UInt64(i)) }
        position += 8
        return Double(bitPattern: v)
    }

    mutating func u32le(_ what: @autoclosure () -> String = "checksum") throws(CodecError) -> UInt32 {
        guard available >= 4 else { throw pastEnd(at: position, needing: what()) }
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(buffer[position + i]) << (8 * UInt32(i)) }
        position += 4
        return v
    }

    /// 16 bytes, big-endian halves.
    mutating func id16(_ what: @autoclosure () -> String) throws(CodecError) -> (high: UInt64, low: UInt64) {
        guard available >= 16 else { throw pastEnd(at: position, needing: what()) }
        var h: UInt64 = 0
        var l: UInt64 = 0
        for i in 0..<8 { h = (h << 8) | UInt64(buffer[position + i]) }
        for i in 8..<16 { l = (l << 8) | UInt64(buffer[position + i]) }
        position += 16
        return (h, l)
    }

    /// A view of the next `n` bytes, consumed.
    mutating func slice(_ n: Int, _ what: @autoclosure () -> String) throws(CodecError) -> UnsafeBufferPointer<UInt8> {
        guard n <= available else { throw pastEnd(at: position, needing: what()) }
        let s = UnsafeBufferPointer(rebasing: buffer[position..<position + n])
        position += n
        return s
    }

    /// Varint length then UTF-8 bytes, validated.
    mutating func string(_ what: String, limit: Int) throws(CodecError) -> String {
        let start = position
        let n = try count("\(what) length", limit: limit)
        let bytes = try slice(n, what)
        if n == 0 { return "" }
        // ASCII fast path, then full validation.
        var ascii = true
        for b in bytes where b >= 0x80 {
            ascii = false
            break
        }
        if ascii { return String(decoding: bytes, as: UTF8.self) }
        guard let s = String(validating: bytes, as: UTF8.self) else {
            throw error(.invalidUTF8(what: what), at: start)
        }
        return s
    }

    /// Throws trailing-bytes unless the buffer is fully consumed.
    func expectEnd() throws(CodecError) {
        if remaining > 0 {
            throw error(.trailingBytes(count: remaining, what: what))
        }
    }

    /// Reads an index into a table of `count` entries.
    @inline(__always) mutating func index(_ what: @autoclosure () -> String, count: Int) throws(CodecError) -> Int {
        let start = position
        let v = try varint(what())
        guard v < UInt64(count) else { throw error(.indexOutOfRange(what: what(), index: v, count: count), at: start) }
        return Int(v)
    }
}

/// Runs `body` over the bytes of any collection, copying only when it is not contiguous.
@inline(__always)
func withContiguousBytes<C: Collection<UInt8>, R>(
    _ bytes: C, _ body: (UnsafeBufferPointer<UInt8>) -> Result<R, CodecError>
) -> Result<R, CodecError> {
    if let r = bytes.withContiguousStorageIfAvailable(body) { return r }
    return Array(bytes).withUnsafeBufferPointer(body)
}
