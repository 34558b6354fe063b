import StrataCore

/// The `STXO` operation list (Protocol/SPEC.md §4.4): text operations with their replicas, as
/// a document keeps its buffered operations.
public enum TextOperationCodec {
    public static let magic: [UInt8] = [0x53, 0x54, 0x58, 0x4F]
    public static let formatVersion: UInt8 = 1

    /// The list's bytes: replicas in order of first use, operations in the given order.
    public static func encode(_ ops: [TextOperation]) -> [UInt8] {
        var table: [ReplicaID: Int] = [:]
        var order: [ReplicaID] = []
        func idx(_ r: ReplicaID) -> Int {
            if let i = table[r] { return i }
            table[r] = order.count
            order.append(r)
            return order.count - 1
        }
        var body = ByteWriter()
        body.varint(ops.count)
        for op in ops {
            switch op {
            case .insert(let id, let l, let r, let text):
                body.u8((l == nil ? 0 : 1) | (r == nil ? 0 : 2))
                body.varint(idx(id.replica))
                body.varint(id.counter)
                if let l {
                    body.varint(idx(l.replica))
                    body.varint(l.counter)
                }
                if let r {
                    body.varint(idx(r.replica))
                    body.varint(r.counter)
                }
                body.string(text)
            case .delete(let id, let ranges):
                body.u8(TextOperationTag.delete)
                body.varint(idx(id.replica))
                body.varint(id.counter)
                body.varint(ranges.count)
                for range in ranges {
                    body.varint(idx(range.replica))
                    body.varint(range.start)
                    body.varint(range.count)
                }
            }
        }
        var w = ByteWriter(capacity: 6 + 16 * order.count + body.bytes.count)
        w.raw(magic)
        w.u8(formatVersion)
        w.varint(order.count)
        for r in order { w.id16(high: r.high, low: r.low) }
        w.raw(body.bytes)
        return w.bytes
    }

    /// Decodes `encode(_:)`'s bytes; every operation is checked as `TextDocument.apply` would
    /// (`TextOperation.validate()`).
    public static func decode(_ bytes: some Collection<UInt8>, limits: TextLimits = .default) throws(CodecError) -> [TextOperation] {
        try withContiguousBytes(bytes) { buf in
            Result { () throws(CodecError) in try decode(buffer: buf, limits: limits, endIsTruncation: true, context: nil) }
        }.get()
    }

    /// `endIsTruncation` false when the list's length was given by an outer structure (a
    /// document's pending column): running out then means a count inside is wrong.
    static func decode(
        buffer: UnsafeBufferPointer<UInt8>, limits: TextLimits, endIsTruncation: Bool, context: String?
    ) throws(CodecError) -> [TextOperation] {
        var rd = ByteReader(buffer, what: "text operation list", endIsTruncation: endIsTruncation, context: context)
        try rd.textHeader(magic: magic, formatVersion: formatVersion, what: "text operation list")
        var reserved = 0
        let ids = try rd.textReplicas(limit: limits.maxReplicas, reserved: &reserved)
        func replica(_ rd: inout ByteReader) throws(CodecError) -> ReplicaID {
            ids[try rd.index("replica", count: ids.count)]
        }
        let n = try rd.count("operation count", limit: limits.maxCounters, minBytesEach: 3)
        var ops: [TextOperation] = []
        ops.reserveCapacity(n)
        for _ in 0..<n {
            let at = rd.position
            let tag = try rd.u8("operation tag")
            let op: TextOperation
            switch tag {
            case 0, 1, 2, 3:
                let id = TextID(replica: try replica(&rd), counter: try rd.varint("counter"))
                var l: TextID? = nil
                var r: TextID? = nil
                if tag & 1 != 0 { l = TextID(replica: try replica(&rd), counter: try rd.varint("counter")) }
                if tag & 2 != 0 { r = TextID(replica: try replica(&rd), counter: try rd.varint("counter")) }
                let text = try rd.string("inserted text", limit: .max)
                op = .insert(id: id, originLeft: l, originRight: r, text: text)
            case TextOperationTag.delete:
                let id = TextID(replica: try replica(&rd), counter: try rd.varint("counter"))
                let k = try rd.count("range count", limit: limits.maxCounters, minBytesEach: 3)
                var ranges: [TextIDRange] = []
                ranges.reserveCapacity(k)
                for _ in 0..<k {
                    let r = try replica(&rd)
                    ranges.append(TextIDRange(replica: r, start: try rd.varint("range start"), count: try rd.varint("range count")))
                }
                op = .delete(id: id, ranges: ranges)
            default:
                throw rd.error(.malformed("unknown text operation tag \(tag)"), at: at)
            }
            do {
                try op.validate()
            } catch {
                throw rd.error(.malformed("\(error)"), at: at)
            }
            ops.append(op)
        }
        try rd.expectEnd()
        return ops
    }
}

enum TextOperationTag {
    static let delete: UInt8 = 0x10
}

extension ByteReader {
    /// The 5 bytes both text formats start with (SPEC §4.3, §4.4): magic, then format version;
    /// fewer than 5 bytes is truncation (TXT-REJ-01), whatever they hold.
    mutating func textHeader(magic: [UInt8], formatVersion: UInt8, what: String) throws(CodecError) {
        guard buffer.count >= 5 else { throw pastEnd(at: buffer.count, needing: "\(what) header") }
        guard Array(buffer[0..<4]) == magic else { throw error(.badMagic(expected: "Strata \(what)"), at: 0) }
        guard buffer[4] == formatVersion else {
            throw error(.unsupportedVersion(found: buffer[4], supported: formatVersion, what: what), at: 4)
        }
        position = 5
    }

    /// The replica table of a text format: a count (at most `limit`, 16 bytes each), then the
    /// ids. Adds what it reserves to `reserved`.
    mutating func textReplicas(limit: Int, reserved: inout Int) throws(CodecError) -> [ReplicaID] {
        let count = try self.count("replica count", limit: limit, minBytesEach: 16)
        var ids: [ReplicaID] = []
        ids.reserveCapacity(count)
        reserved += count
        for _ in 0..<count {
            let (h, l) = try id16("replica id")
            ids.append(ReplicaID(high: h, low: l))
        }
        return ids
    }
}
