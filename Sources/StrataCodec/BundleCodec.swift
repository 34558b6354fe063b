import StrataCore

/// A file passed between replicas by hand (a USB stick): who wrote it, what they had, and
/// the changes the receiver may lack.
public struct Bundle: Sendable, Equatable {
    /// The replica that wrote the bundle.
    public var sender: ReplicaID
    /// The researcher's name on the sending replica.
    public var senderAuthor: String
    /// What the sender had when it wrote the bundle, so the receiver can answer with only
    /// what the sender lacks.
    public var senderVersion: VersionVector
    /// When the bundle was written, Unix milliseconds (sender's clock; informational).
    public var createdAtMillis: UInt64
    /// The changes, in the order they are to be applied.
    public var changes: [Change]

    public init(
        sender: ReplicaID, senderAuthor: String, senderVersion: VersionVector, createdAtMillis: UInt64,
        changes: [Change]
    ) {
        self.sender = sender
        self.senderAuthor = senderAuthor
        self.senderVersion = senderVersion
        self.createdAtMillis = createdAtMillis
        self.changes = changes
    }
}

/// Another name for ``Bundle`` that does not clash with `Foundation.Bundle`.
public typealias ChangeBundle = Bundle

/// Encodes and decodes bundle files (Protocol/SPEC.md, "Bundle file").
public enum BundleCodec {
    /// The newest version read and written. A writer writes version 1 unless the bundle
    /// carries blobs (version 2), so that older readers still read every bundle of changes only.
    public static let formatVersion: UInt8 = 2
    /// ASCII "SBDL".
    public static let magic: [UInt8] = [0x53, 0x42, 0x44, 0x4C]
    /// magic, version, flags, total length.
    static let prefixSize = 4 + 1 + 1 + 8
    static let crcSize = 4

    /// Encodes a bundle, splitting its changes into change sets whose uncompressed payload is
    /// at most `maxChangeSetBytes` (a single larger change gets a change set of its own).
    public static func encode(_ bundle: Bundle, maxChangeSetBytes: Int = 4 << 20) -> [UInt8] {
        var frames: [[UInt8]] = []
        for group in groups(bundle.changes, maxBytes: maxChangeSetBytes) {
            frames.append(contentsOf: changeSets(group, maxBytes: maxChangeSetBytes))
        }
        return assemble(bundle, frames: frames)
    }

    /// The bundle bytes around already-encoded change sets (the bundle's own `changes` are
    /// not read). Tests use it to wrap hostile frames in a valid envelope.
    static func assemble(_ bundle: Bundle, frames: [[UInt8]]) -> [UInt8] {
        var w = ByteWriter(capacity: frames.reduce(256) { $0 + $1.count + 5 })
        w.raw(magic)
        w.u8(1)
        w.u8(0)  // flags
        let lengthAt = w.bytes.count
        w.u64le(0)  // total length, patched below
        w.id16(high: bundle.sender.high, low: bundle.sender.low)
        w.string(bundle.senderAuthor)
        SyncCodec.writeVersion(bundle.senderVersion, into: &w)
        w.varint(bundle.createdAtMillis)
        w.varint(frames.count)
        for f in frames {
            w.varint(f.count)
            w.raw(f)
        }
        let total = UInt64(w.bytes.count + crcSize)
        for i in 0..<8 { w.bytes[lengthAt + i] = UInt8(truncatingIfNeeded: total >> (8 * UInt64(i))) }
        let crc = w.bytes.withUnsafeBufferPointer { Zlib.crc32($0) }
        w.u32le(crc)
        return w.bytes
    }

    /// Greedy grouping by estimated size; `changeSets` then enforces the bound exactly.
    static func groups(_ changes: [Change], maxBytes: Int) -> [ArraySlice<Change>] {
        var out: [ArraySlice<Change>] = []
        var start = 0
        var size = 0
        for (i, c) in changes.enumerated() {
            let s = ChangePayload.sizeHint([c])
            if i > start && size + s > maxBytes {
                out.append(changes[start..<i])
                start = i
                size = 0
            }
            size += s
        }
        if start < changes.count { out.append(changes[start...]) }
        return out
    }

    /// Encodes `group` as one change set, or halves it until each payload fits.
    static func changeSets(_ group: ArraySlice<Change>, maxBytes: Int) -> [[UInt8]] {
        let changes = Array(group)
        let payload = ChangeSetCodec.payload(changes)
        if payload.count <= maxBytes || group.count == 1 {
            return [ChangeSetCodec.wrap(payload: payload, version: ChangePayload.requiredVersion(changes), compressionLevel: 6)]
        }
        let mid = group.startIndex + group.count / 2
        return changeSets(group[..<mid], maxBytes: maxBytes) + changeSets(group[mid...], maxBytes: maxBytes)
    }

    /// Decodes a bundle file held in memory, checking every rule of Protocol/SPEC.md (BD-REJ-*)
    /// and the change sets inside it (CS-REJ-*). The blobs of a version-2 bundle are framed
    /// but not returned: ``decodeContents(_:limits:)`` and ``read(_:limits:)`` return them.
    public static func decode(_ bytes: [UInt8], limits: CodecLimits = .standard) throws(CodecError) -> Bundle {
        try decodeContents(bytes, limits: limits).bundle
    }

    /// Decodes a bundle file held in memory, blobs included (their bytes are at their offsets).
    public static func decodeContents(_ bytes: [UInt8], limits: CodecLimits = .standard) throws(CodecError) -> BundleContents {
        do {
            return try read(ByteArraySource(bytes), limits: limits)
        } catch let e as CodecError {
            throw e
        } catch {
            throw CodecError(.malformed("\(error)"))  // an array source does not fail
        }
    }

    /// The fixed header's checks (BD-REJ-01..04, -05) on the first bytes of a file of `size`
    /// bytes: returns the version and the declared total length.
    static func checkFixedHeader(_ first: UnsafeBufferPointer<UInt8>, size: UInt64) throws(CodecError) -> (version: UInt8, total: Int) {
        var r = ByteReader(first, what: "bundle", endIsTruncation: true)
        try r.magic(magic, name: "Strata bundle")
        let version = try r.u8("format version")
        guard (1...formatVersion).contains(version) else {
            throw r.error(.unsupportedVersion(found: version, supported: formatVersion, what: "bundle"), at: 4)
        }
        let flags = try r.u8("flags")
        guard flags == 0 else { throw r.error(.unsupportedFlags(found: flags, known: 0), at: 5) }
        guard r.remaining >= 8 else { throw r.error(.truncated(what: "bundle"), at: Int(clamping: size)) }
        var declared: UInt64 = 0
        for i in 0..<8 { declared |= UInt64(first[6 + i]) << (8 * UInt64(i)) }
        guard declared >= UInt64(prefixSize + crcSize) else {
            throw r.error(.malformed("declared bundle length \(declared) is shorter than the fixed header"), at: 6)
        }
        if size < declared {
            throw CodecError(.truncated(what: "bundle"), offset: Int(clamping: size), total: Int(clamping: declared))
        }
        if size > declared {
            throw r.error(.trailingBytes(count: Int(clamping: size - declared), what: "bundle"), at: Int(clamping: declared))
        }
        return (version, Int(declared))
    }

    /// Reads a bundle from a file or any other source a piece at a time, checking every rule
    /// of Protocol/SPEC.md §3: the fixed header, the size, the CRC-32 (one pass over the file
    /// in 1 MiB pieces), then the changes (held in memory, within the limits) and the framing
    /// of the blobs, whose bytes stay in the source: ``blobBytes(_:from:_:)`` streams them.
    /// Memory is bounded by the changes, never by the blobs. Errors other than ``CodecError``
    /// are the source's (an unreadable file).
    public static func read(_ source: some ByteSource, limits: CodecLimits = .standard) throws -> BundleContents {
        let size = source.size
        let first = try source.read(at: 0, count: Int(min(size, UInt64(prefixSize))))
        let (version, total) = try first.withUnsafeBufferPointer { buf throws(CodecError) in try checkFixedHeader(buf, size: size) }
        // BD-REJ-06: the checksum, before anything after the fixed header is interpreted.
        var crc: UInt32 = 0
        var at = 0
        let end = total - crcSize
        while at < end {
            let piece = try source.read(at: UInt64(at), count: min(chunk, end - at))
            guard !piece.isEmpty else { throw CodecError(.truncated(what: "bundle"), offset: at, total: total) }
            crc = piece.withUnsafeBufferPointer { Zlib.crc32($0, continuing: crc) }
            at += piece.count
        }
        let tail = try source.read(at: UInt64(end), count: crcSize)
        guard tail.count == crcSize else { throw CodecError(.truncated(what: "bundle"), offset: end, total: total) }
        let stored = UInt32(tail[0]) | UInt32(tail[1]) << 8 | UInt32(tail[2]) << 16 | UInt32(tail[3]) << 24
        guard stored == crc else {
            throw CodecError(.checksumMismatch(stored: stored, computed: crc), offset: end, total: total, context: nil)
        }
        // The checksum holds: what follows is what the writer wrote. Errors below are malformed,
        // never truncated.
        if version == 1 {
            let body = try source.read(at: 0, count: end)
            let bundle = try body.withUnsafeBufferPointer { buf throws(CodecError) in
                var h = ByteReader(buf, what: "bundle body", endIsTruncation: false)
                h.position = prefixSize
                return try decodeHead(&h, limits: limits)
            }
            return BundleContents(bundle: bundle, blobs: [], version: 1)
        }
        guard end >= blobsPrefixSize else {
            throw CodecError(.malformed("a version-2 bundle of \(total) bytes has no room for its head length"), offset: prefixSize)
        }
        let lengthBytes = try source.read(at: UInt64(prefixSize), count: 8)
        var headLength: UInt64 = 0
        for i in 0..<8 { headLength |= UInt64(lengthBytes[i]) << (8 * UInt64(i)) }
        guard headLength <= UInt64(end - blobsPrefixSize) else {
            throw CodecError(.malformed("the head length \(headLength) runs past the checksum"), offset: prefixSize)
        }
        let headEnd = blobsPrefixSize + Int(headLength)
        let head = try source.read(at: 0, count: headEnd)
        let bundle = try head.withUnsafeBufferPointer { buf throws(CodecError) in
            var h = ByteReader(buf, what: "bundle head", endIsTruncation: false)
            h.position = blobsPrefixSize
            return try decodeHead(&h, limits: limits)
        }
        let blobs = try readBlobFrames(source, from: headEnd, to: end, limits: limits)
        return BundleContents(bundle: bundle, blobs: blobs, version: 2)
    }

    /// Sender to the last change set (BD-REJ-07, -08, -09), from a reader over the file up to
    /// the end of the last change set, positioned at the sender.
    static func decodeHead(_ h: inout ByteReader, limits: CodecLimits) throws(CodecError) -> Bundle {
        let (sh, sl) = try h.id16("sender replica id")
        let author = try h.string("sender author", limit: limits.maxStringBytes)
        let senderVersion = try SyncCodec.readVersion(&h, limits: limits, what: "sender version")
        let created = try h.varint("created-at time")
        let frameCount = try h.count("change set count", limit: limits.maxChangeSetsPerBundle, minBytesEach: 8)
        var frames: [(offset: Int, bytes: UnsafeBufferPointer<UInt8>)] = []
        frames.reserveCapacity(frameCount)
        for _ in 0..<frameCount {
            let len = try h.count("change set length", limit: limits.maxCompressedBytes)
            let at = h.position
            frames.append((at, try h.slice(len, "change set")))
        }
        try h.expectEnd()

        var changes: [Change] = []
        var inflated = 0
        for (i, frame) in frames.enumerated() {
            let where_ = "bundle change set \(i + 1) of \(frameCount) (at byte \(frame.offset))"
            let (cs, size) = try ChangeSetCodec.decode(buffer: frame.bytes, limits: limits, context: where_).get()
            inflated += size
            if inflated > limits.maxBundleInflatedBytes {
                throw CodecError(.tooLarge(what: "total inflated size", value: inflated, limit: limits.maxBundleInflatedBytes), context: where_)
            }
            if changes.count + cs.count > limits.maxChanges {
                throw CodecError(.tooLarge(what: "total change count", value: changes.count + cs.count, limit: limits.maxChanges, bytes: false), context: where_)
            }
            if changes.isEmpty { changes = cs } else { changes.append(contentsOf: cs) }
        }
        return Bundle(
            sender: ReplicaID(high: sh, low: sl), senderAuthor: author, senderVersion: senderVersion,
            createdAtMillis: created, changes: changes)
    }
}
