import StrataCore

/// Value tags (Protocol/SPEC.md, "Values"). A new kind of value is a new tag.
enum ValueTag {
    static let null: UInt8 = 0
    static let text: UInt8 = 1
    static let integer: UInt8 = 2
    static let real: UInt8 = 3
    static let boolFalse: UInt8 = 4
    static let boolTrue: UInt8 = 5
    static let location: UInt8 = 6
    static let deletion: UInt8 = 7
}

extension FieldValue {
    /// Replicas named inside the value (deletion vectors), for the replica table.
    @inline(__always) func collectReplicas(into set: inout Set<ReplicaID>) {
        if case .deletion(let seen) = self {
            for r in seen.entries.keys { set.insert(r) }
        }
    }
}

extension ByteWriter {
    mutating func value(_ v: FieldValue, replicas: Table<ReplicaID>) {
        switch v {
        case .null: u8(ValueTag.null)
        case .text(let s):
            u8(ValueTag.text)
            string(s)
        case .integer(let i):
            u8(ValueTag.integer)
            zigzag(i)
        case .real(let d):
            u8(ValueTag.real)
            double(d)
        case .bool(let b): u8(b ? ValueTag.boolTrue : ValueTag.boolFalse)
        case .location(let loc):
            u8(ValueTag.location)
            double(loc.latitude)
            double(loc.longitude)
            if let acc = loc.accuracyMetres {
                u8(1)
                double(acc)
            } else {
                u8(0)
            }
        case .deletion(let seen):
            u8(ValueTag.deletion)
            versionVector(seen, replicas: replicas)
        }
    }

    /// Count, then (replica index, seq) pairs in ascending replica order.
    mutating func versionVector(_ vv: VersionVector, replicas: Table<ReplicaID>) {
        let entries = vv.entries.map { (index: replicas[$0.key], seq: $0.value) }.sorted { $0.index < $1.index }
        varint(entries.count)
        for e in entries {
            varint(e.index)
            varint(e.seq)
        }
    }
}

extension ByteReader {
    mutating func value(replicas: [ReplicaID], limits: CodecLimits) throws(CodecError) -> FieldValue {
        let at = position
        let tag = try u8("value tag")
        switch tag {
        case ValueTag.null: return .null
        case ValueTag.text: return .text(try string("text value", limit: limits.maxStringBytes))
        case ValueTag.integer: return .integer(try zigzag("integer value"))
        case ValueTag.real: return .real(try double("real value"))
        case ValueTag.boolFalse: return .bool(false)
        case ValueTag.boolTrue: return .bool(true)
        case ValueTag.location:
            let lat = try double("latitude")
            let lon = try double("longitude")
            let flagAt = position
            switch try u8("accuracy presence byte") {
            case 0: return .location(Location(latitude: lat, longitude: lon))
            case 1: return .location(Location(latitude: lat, longitude: lon, accuracyMetres: try double("accuracy")))
            case let other:
                throw error(.malformed("location accuracy presence byte is \(other), expected 0 or 1"), at: flagAt)
            }
        case ValueTag.deletion:
            return .deletion(seen: try versionVector(replicas: replicas, limits: limits))
        default:
            throw error(.unsupportedValue(tag: tag), at: at)
        }
    }

    mutating func versionVector(replicas: [ReplicaID], limits: CodecLimits) throws(CodecError) -> VersionVector {
        let n = try count("version vector entry count", limit: limits.maxVersionVectorEntries, minBytesEach: 2)
        var entries = [ReplicaID: UInt64](minimumCapacity: n)
        var previous = -1
        for _ in 0..<n {
            let at = position
            let i = try index("version vector replica", count: replicas.count)
            if i <= previous {
                throw error(.malformed("version vector replicas are not in strictly ascending order (duplicate or unsorted)"), at: at)
            }
            previous = i
            let seqAt = position
            let seq = try varint("version vector seq")
            if seq == 0 { throw error(.malformed("version vector entry has sequence number 0"), at: seqAt) }
            entries[replicas[i]] = seq
        }
        return VersionVector(entries)
    }
}
