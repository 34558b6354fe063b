import StrataCore

/// A table of distinct values, sorted ascending, with each value's index (Protocol/SPEC.md,
/// "Tables"). Sorting by value makes the encoding deterministic and lets a decoder reject
/// duplicates by checking strict order.
struct Table<Value: Hashable> {
    private(set) var values: [Value] = []
    private(set) var index: [Value: Int] = [:]

    init(_ set: Set<Value>, by less: (Value, Value) -> Bool) {
        values = set.sorted(by: less)
        index.reserveCapacity(values.count)
        for (i, v) in values.enumerated() { index[v] = i }
    }

    @inline(__always) subscript(_ v: Value) -> Int { index[v]! }
}

enum TableOrder {
    static func replica(_ a: ReplicaID, _ b: ReplicaID) -> Bool { a < b }
    static func record(_ a: RecordID, _ b: RecordID) -> Bool { (a.high, a.low) < (b.high, b.low) }
    /// Bytewise comparison of the UTF-8 encodings.
    static func string(_ a: String, _ b: String) -> Bool { a.precedesBytewise(b) }
    /// The same, for names kept apart by their bytes (a `Set<String>` would merge "é" and
    /// "e" + U+0301, and the decoded change would carry the other spelling).
    static func name(_ a: ExactName, _ b: ExactName) -> Bool { a < b }
}

extension ByteWriter {
    mutating func replicaTable(_ t: Table<ReplicaID>) {
        varint(t.values.count)
        for r in t.values { id16(high: r.high, low: r.low) }
    }

    mutating func recordTable(_ t: Table<RecordID>) {
        varint(t.values.count)
        for r in t.values { id16(high: r.high, low: r.low) }
    }

    mutating func stringTable(_ t: Table<ExactName>) {
        varint(t.values.count)
        for s in t.values { string(s.string) }
    }
}

extension ByteReader {
    mutating func replicaTable(limits: CodecLimits) throws(CodecError) -> [ReplicaID] {
        let n = try count("replica table count", limit: limits.maxTableEntries, minBytesEach: 16)
        var out = [ReplicaID]()
        out.reserveCapacity(n)
        for i in 0..<n {
            let at = position
            let (h, l) = try id16("replica id")
            let r = ReplicaID(high: h, low: l)
            if i > 0 && !(out[i - 1] < r) {
                throw error(.malformed("replica table entry \(i) is not greater than the previous one (duplicate or unsorted)"), at: at)
            }
            out.append(r)
        }
        return out
    }

    mutating func recordTable(limits: CodecLimits) throws(CodecError) -> [RecordID] {
        let n = try count("record table count", limit: limits.maxTableEntries, minBytesEach: 16)
        var out = [RecordID]()
        out.reserveCapacity(n)
        for i in 0..<n {
            let at = position
            let (h, l) = try id16("record id")
            let r = RecordID(high: h, low: l)
            if i > 0 && !TableOrder.record(out[i - 1], r) {
                throw error(.malformed("record table entry \(i) is not greater than the previous one (duplicate or unsorted)"), at: at)
            }
            out.append(r)
        }
        return out
    }

    mutating func stringTable(_ what: String, limits: CodecLimits) throws(CodecError) -> [String] {
        let n = try count("\(what) table count", limit: limits.maxTableEntries)
        var out = [String]()
        out.reserveCapacity(n)
        var previous: UnsafeBufferPointer<UInt8>? = nil
        for i in 0..<n {
            let at = position
            let s = try string(what, limit: limits.maxStringBytes)
            let bytes = UnsafeBufferPointer(rebasing: buffer[(position - s.utf8.count)..<position])
            if let p = previous, !p.lexicographicallyPrecedes(bytes) {
                throw error(.malformed("\(what) table entry \(i) is not greater than the previous one (duplicate or unsorted)"), at: at)
            }
            previous = bytes
            out.append(s)
        }
        return out
    }
}
