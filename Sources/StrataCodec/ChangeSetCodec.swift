import CStrataZlib
import StrataCore

/// Encodes and decodes change sets: a batch of changes, zlib-compressed, as sent between
/// replicas and inside bundles (Protocol/SPEC.md, "Change set").
public enum ChangeSetCodec {
    /// The newest format version this Strata reads and writes. It writes the lowest version
    /// that can hold a set's changes (1 unless a change edits a long text, 3 when one holds an
    /// attachment), and reads 1...3.
    public static let formatVersion: UInt8 = 3
    /// ASCII "SCHG".
    public static let magic: [UInt8] = [0x53, 0x43, 0x48, 0x47]
    /// Flag bit 0: the payload is a zlib stream (otherwise stored as is).
    static let flagZlib: UInt8 = 0x01
    static let knownFlags: UInt8 = 0x01

    /// Encodes `changes` (in the given order) into one compressed change set. Deterministic:
    /// the same changes and level always give the same bytes.
    public static func encode(_ changes: [Change], compressionLevel: Int32 = 6) -> [UInt8] {
        wrap(payload: payload(changes), version: ChangePayload.requiredVersion(changes), compressionLevel: compressionLevel)
    }

    /// The uncompressed payload of `changes`.
    static func payload(_ changes: [Change]) -> [UInt8] {
        var w = ByteWriter(capacity: ChangePayload.sizeHint(changes))
        ChangePayload.encode(changes, into: &w)
        return w.bytes
    }

    static func wrap(payload: [UInt8], version: UInt8, compressionLevel: Int32) -> [UInt8] {
        let compressed = Zlib.deflate(payload, level: compressionLevel)
        var w = ByteWriter(capacity: compressed.count + 16)
        w.raw(magic)
        w.u8(version)
        w.u8(flagZlib)
        w.varint(payload.count)
        w.raw(compressed)
        return w.bytes
    }

    /// Decodes one change set, checking every rule of Protocol/SPEC.md (CS-REJ-*) and never
    /// allocating beyond `limits`.
    public static func decode(_ bytes: some Collection<UInt8>, limits: CodecLimits = .standard) throws(CodecError) -> [Change] {
        try withContiguousBytes(bytes) { buf in
            decode(buffer: buf, limits: limits, context: nil).map(\.changes)
        }.get()
    }

    /// What a change set's header says (SPEC §2): format version, flags, declared inflated
    /// length, and where the body starts.
    struct Header {
        let version: UInt8
        let flags: UInt8
        let declared: Int
        let bodyAt: Int
        var isCompressed: Bool { flags & ChangeSetCodec.flagZlib != 0 }
    }

    /// Reads and checks the header, and the body's size against the compressed cap.
    static func header(_ r: inout ByteReader, limits: CodecLimits) throws(CodecError) -> Header {
        try r.magic(magic, name: "Strata change set")
        let version = try r.u8("format version")
        guard (1...formatVersion).contains(version) else {
            throw r.error(.unsupportedVersion(found: version, supported: formatVersion, what: "change set"), at: 4)
        }
        let flags = try r.u8("flags")
        guard flags & ~knownFlags == 0 else { throw r.error(.unsupportedFlags(found: flags, known: knownFlags), at: 5) }
        let lengthAt = r.position
        let declared = try r.varint("payload length")
        guard declared <= UInt64(limits.maxInflatedBytes) else {
            throw r.error(
                .tooLarge(what: "declared inflated size", value: declared > UInt64(Int.max) ? Int.max : Int(declared),
                    limit: limits.maxInflatedBytes), at: lengthAt)
        }
        let bodyAt = r.position
        guard r.remaining <= limits.maxCompressedBytes else {
            throw r.error(.tooLarge(what: "compressed size", value: r.remaining, limit: limits.maxCompressedBytes), at: bodyAt)
        }
        let header = Header(version: version, flags: flags, declared: Int(declared), bodyAt: bodyAt)
        if !header.isCompressed {
            let body = r.remaining
            if body < header.declared { throw r.error(.truncated(what: "change set"), at: r.buffer.count) }
            if body > header.declared {
                throw r.error(.trailingBytes(count: body - header.declared, what: "change set"), at: bodyAt + header.declared)
            }
        }
        return header
    }

    /// The context of errors inside the inflated payload.
    static func payloadContext(_ context: String?) -> String { (context.map { "\($0), " } ?? "") + "inflated payload" }

    static func decode(
        buffer: UnsafeBufferPointer<UInt8>, limits: CodecLimits, context: String?
    ) -> Result<(changes: [Change], inflatedBytes: Int), CodecError> {
        Result { () throws(CodecError) in
            var r = ByteReader(buffer, what: "change set", endIsTruncation: true, context: context)
            let h = try header(&r, limits: limits)
            let body = UnsafeBufferPointer(rebasing: buffer[h.bodyAt...])
            if h.isCompressed {
                let payload = try Zlib.inflate(
                    body, declared: h.declared, offset: h.bodyAt, total: buffer.count, context: context
                ).get()
                let changes = try payload.withUnsafeBufferPointer { p throws(CodecError) in
                    var pr = ByteReader(p, what: "payload", endIsTruncation: false, context: payloadContext(context))
                    return try ChangePayload.decode(&pr, limits: limits, version: h.version)
                }
                return (changes, payload.count)
            } else {
                var pr = ByteReader(body, what: "payload", endIsTruncation: false, context: payloadContext(context))
                return (try ChangePayload.decode(&pr, limits: limits, version: h.version), body.count)
            }
        }
    }
}

extension ByteReader {
    /// Checks the magic bytes: a mismatch is bad-magic, a short match is truncated.
    mutating func magic(_ m: [UInt8], name: String) throws(CodecError) {
        for i in 0..<m.count {
            guard position < buffer.count else { throw error(.truncated(what: what)) }
            guard buffer[position] == m[i] else { throw error(.badMagic(expected: name), at: 0) }
            position += 1
        }
    }
}

/// Encodes one change without compression, for the store's change log (Protocol/SPEC.md,
/// "Single change").
public enum ChangeCodec {
    /// The newest version read and written; as for change sets, the lowest that can hold the
    /// change is written.
    public static let formatVersion: UInt8 = 3

    public static func encode(_ change: Change) -> [UInt8] {
        var w = ByteWriter(capacity: ChangePayload.sizeHint([change]))
        w.u8(ChangePayload.requiredVersion([change]))
        ChangePayload.encode([change], into: &w)
        return w.bytes
    }

    public static func decode(_ bytes: some Collection<UInt8>) throws(CodecError) -> Change {
        try withContiguousBytes(bytes) { buf in
            Result { () throws(CodecError) in
                var r = ByteReader(buf, what: "stored change", endIsTruncation: true)
                let version = try r.u8("format version")
                guard (1...formatVersion).contains(version) else {
                    throw r.error(.unsupportedVersion(found: version, supported: formatVersion, what: "stored change"), at: 0)
                }
                return try ChangePayload.decode(&r, limits: .standard, version: version, exactCount: 1)[0]
            }
        }.get()
    }
}
