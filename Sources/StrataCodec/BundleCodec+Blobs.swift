import StrataCore

/// A blob a bundle carries (format version 2): an attachment's bytes, named by their SHA-256.
public struct BundleBlob: Sendable, Equatable, Hashable {
    public var hash: BlobHash
    public var size: UInt64
    /// Where its bytes start in the bundle file (set by the reader; 0 when writing).
    public var offset: UInt64

    public init(hash: BlobHash, size: UInt64, offset: UInt64 = 0) {
        self.hash = hash
        self.size = size
        self.offset = offset
    }
}

/// What a bundle file holds: its changes and, from version 2, the blobs it carries (their
/// bytes stay in the file until they are streamed out).
public struct BundleContents: Sendable, Equatable {
    public var bundle: Bundle
    /// In ascending hash order, each once.
    public var blobs: [BundleBlob]
    /// The file's format version: 1 without blobs, 2 with.
    public var version: UInt8

    /// The blobs' bytes together.
    public var blobBytes: UInt64 { blobs.reduce(0) { $0 + $1.size } }
}

/// Bytes read a piece at a time at any offset: a bundle file larger than memory.
public protocol ByteSource {
    /// The number of bytes.
    var size: UInt64 { get }
    /// `count` bytes from `offset`; fewer only where the source ends.
    func read(at offset: UInt64, count: Int) throws -> [UInt8]
}

/// A ``ByteSource`` over bytes in memory (tests, vectors, small files).
public struct ByteArraySource: ByteSource {
    public let bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public var size: UInt64 { UInt64(bytes.count) }
    public func read(at offset: UInt64, count: Int) throws -> [UInt8] {
        guard offset < UInt64(bytes.count), count > 0 else { return [] }
        let start = Int(offset)
        return Array(bytes[start..<min(bytes.count, start + count)])
    }
}

/// A blob's provider gave other bytes than the bundle was told it has.
public struct BundleWriteError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

extension BundleCodec {
    /// magic, version, flags, total length, head length: the fixed part of a version-2 file.
    static let blobsPrefixSize = prefixSize + 8
    /// Bytes read at a time when checking the checksum or streaming a blob.
    static let chunk = 1 << 20
    /// The largest blob a bundle may carry (as an attachment reference, 2^53).
    public static let maxBlobBytes: UInt64 = AttachmentRef.maxSize

    /// Writes a bundle a piece at a time to `sink`: version 1 when `blobs` is empty (exactly
    /// ``encode(_:maxChangeSetBytes:)``'s bytes), else version 2 with each blob's bytes, which
    /// `blobBytes` hands over in pieces (it is called once per blob, in ascending hash order).
    /// Memory is bounded by the changes and one piece, never by the blobs. Throws
    /// ``BundleWriteError`` when a blob's pieces do not add up to its size, and whatever
    /// `sink` or `blobBytes` throw.
    public static func write(
        _ bundle: Bundle, blobs: [BundleBlob], maxChangeSetBytes: Int = 4 << 20,
        to sink: ([UInt8]) throws -> Void,
        blobBytes: (BundleBlob, _ piece: (ArraySlice<UInt8>) throws -> Void) throws -> Void
    ) throws {
        guard !blobs.isEmpty else {
            try sink(encode(bundle, maxChangeSetBytes: maxChangeSetBytes))
            return
        }
        var unique: [BundleBlob] = []
        for b in blobs.sorted(by: { $0.hash < $1.hash }) where unique.last?.hash != b.hash {
            unique.append(BundleBlob(hash: b.hash, size: b.size))
        }
        for b in unique where b.size > maxBlobBytes {
            throw BundleWriteError(description: "blob \(b.hash.short) is \(b.size) bytes; a bundle carries blobs of at most 2^53 bytes")
        }
        var frames: [[UInt8]] = []
        for group in groups(bundle.changes, maxBytes: maxChangeSetBytes) {
            frames.append(contentsOf: changeSets(group, maxBytes: maxChangeSetBytes))
        }
        var head = ByteWriter(capacity: frames.reduce(256) { $0 + $1.count + 5 })
        head.id16(high: bundle.sender.high, low: bundle.sender.low)
        head.string(bundle.senderAuthor)
        SyncCodec.writeVersion(bundle.senderVersion, into: &head)
        head.varint(bundle.createdAtMillis)
        head.varint(frames.count)
        for f in frames {
            head.varint(f.count)
            head.raw(f)
        }
        var count = ByteWriter()
        count.varint(unique.count)
        var total = UInt64(blobsPrefixSize + head.bytes.count + count.bytes.count + crcSize)
        for b in unique {
            var w = ByteWriter()
            w.varint(b.size)
            total += 32 + UInt64(w.bytes.count) + b.size
        }
        var prefix = ByteWriter()
        prefix.raw(magic)
        prefix.u8(2)
        prefix.u8(0)
        prefix.u64le(total)
        prefix.u64le(UInt64(head.bytes.count))

        // The blobs' pieces go to the sink from inside `blobBytes`: the sink is used there only
        // while this call runs.
        try withoutActuallyEscaping(sink) { sink in
            try writeBody(prefix: prefix.bytes, head: head.bytes, count: count.bytes, blobs: unique, to: sink, blobBytes: blobBytes)
        }
    }

    private static func writeBody(
        prefix: [UInt8], head: [UInt8], count: [UInt8], blobs unique: [BundleBlob], to sink: @escaping ([UInt8]) throws -> Void,
        blobBytes: (BundleBlob, _ piece: (ArraySlice<UInt8>) throws -> Void) throws -> Void
    ) throws {
        var crc: UInt32 = 0
        func emit(_ bytes: [UInt8]) throws {
            crc = bytes.withUnsafeBufferPointer { Zlib.crc32($0, continuing: crc) }
            try sink(bytes)
        }
        try emit(prefix)
        try emit(head)
        try emit(count)
        for b in unique {
            var w = ByteWriter()
            w.raw(b.hash.bytes)
            w.varint(b.size)
            try emit(w.bytes)
            var written: UInt64 = 0
            try blobBytes(b) { piece in
                written += UInt64(piece.count)
                guard written <= b.size else {
                    throw BundleWriteError(description: "blob \(b.hash.short) gave more than its \(b.size) bytes")
                }
                try emit(Array(piece))
            }
            guard written == b.size else {
                throw BundleWriteError(description: "blob \(b.hash.short) gave \(written) of its \(b.size) bytes")
            }
        }
        var trailer = ByteWriter()
        trailer.u32le(crc)
        try sink(trailer.bytes)
    }

    /// A whole bundle in memory, blobs included (tests and vectors); `blobs` maps each blob to
    /// its bytes.
    public static func encode(_ bundle: Bundle, blobs: [(BlobHash, [UInt8])], maxChangeSetBytes: Int = 4 << 20) -> [UInt8] {
        var out: [UInt8] = []
        let bytes = Dictionary(blobs, uniquingKeysWith: { a, _ in a })
        // The sink and the provider here do not throw; sizes are those of the bytes given.
        try? write(
            bundle, blobs: blobs.map { BundleBlob(hash: $0.0, size: UInt64($0.1.count)) }, maxChangeSetBytes: maxChangeSetBytes,
            to: { out.append(contentsOf: $0) }, blobBytes: { b, piece in try piece(bytes[b.hash]![...]) })
        return out
    }

    /// The blob frames between the end of the head and the checksum (BD-REJ-10..12): count,
    /// then per blob its hash, size and bytes, hashes strictly ascending, filling the space
    /// exactly. Only the frame headers are read.
    static func readBlobFrames(_ source: some ByteSource, from start: Int, to end: Int, limits: CodecLimits) throws -> [BundleBlob] {
        func window(_ at: Int, _ n: Int) throws -> [UInt8] { try source.read(at: UInt64(at), count: min(n, end - at)) }
        let countBytes = try window(start, 10)
        var at = start
        let count: Int = try countBytes.withUnsafeBufferPointer { buf throws(CodecError) in
            var r = ByteReader(buf, what: "bundle blobs", endIsTruncation: false)
            let v = try r.varint("blob count")
            guard v <= UInt64(limits.maxBlobsPerBundle) else {
                throw CodecError(.tooLarge(what: "blob count", value: Int(clamping: v), limit: limits.maxBlobsPerBundle, bytes: false), offset: at)
            }
            guard v <= UInt64(end - at - r.position) / 33 else {
                throw CodecError(.malformed("blob count \(v) runs past the checksum"), offset: at)
            }
            at += r.position
            return Int(v)
        }
        var out: [BundleBlob] = []
        out.reserveCapacity(count)
        for i in 0..<count {
            let frameAt = at
            let header = try window(at, 42)
            let (hash, size, used): (BlobHash, UInt64, Int) = try header.withUnsafeBufferPointer { buf throws(CodecError) in
                var r = ByteReader(buf, what: "bundle blob \(i + 1) of \(count)", endIsTruncation: false)
                let h = BlobHash(bytes: Array(try r.slice(32, "blob hash")))!
                let sizeAt = r.position
                let s = try r.varint("blob size")
                guard s <= maxBlobBytes else {
                    throw CodecError(.tooLarge(what: "blob \(i + 1) of \(count)", value: Int(clamping: s), limit: Int(maxBlobBytes)), offset: frameAt + sizeAt)
                }
                return (h, s, r.position)
            }
            at += used
            guard size <= UInt64(end - at) else {
                throw CodecError(.malformed("blob \(i + 1) of \(count) (\(size) bytes) runs past the checksum"), offset: frameAt)
            }
            if let last = out.last, !(last.hash < hash) {
                throw CodecError(.malformed("blob \(i + 1) of \(count) is not after the previous one in hash order (duplicate or unsorted)"), offset: frameAt)
            }
            out.append(BundleBlob(hash: hash, size: size, offset: UInt64(at)))
            at += Int(size)
        }
        guard at == end else {
            throw CodecError(.trailingBytes(count: end - at, what: "bundle blobs"), offset: at)
        }
        return out
    }

    /// Streams a blob's bytes out of the bundle file in pieces of at most 1 MiB. The bytes are
    /// not verified here: the receiver hashes them (BD-REJ-13) before it keeps them.
    public static func blobBytes(_ blob: BundleBlob, from source: some ByteSource, _ body: ([UInt8]) throws -> Void) throws {
        var at = blob.offset
        let end = blob.offset + blob.size
        while at < end {
            let piece = try source.read(at: at, count: Int(min(UInt64(chunk), end - at)))
            guard !piece.isEmpty else {
                throw CodecError(.truncated(what: "bundle"), offset: Int(clamping: at))
            }
            try body(piece)
            at += UInt64(piece.count)
        }
    }
}
