import StrataCore

/// The bytes of a text edit (Protocol/SPEC.md, "Text edits"): the character operations of one
/// long-text field in one change. Operation ids are the change's replica, so only their
/// counters are written; origins and deleted ranges name replicas by the payload's table.
extension ByteWriter {
    mutating func textEdits(_ edits: [TextOperation], replicas: Table<ReplicaID>) {
        varint(edits.count)
        for e in edits {
            switch e {
            case .insert(let id, let left, let right, let text):
                u8(TextEditTag.insert)
                varint(id.counter)
                origin(left, replicas: replicas)
                origin(right, replicas: replicas)
                string(text)
            case .delete(let id, let ranges):
                u8(TextEditTag.delete)
                varint(id.counter)
                varint(ranges.count)
                for r in ranges {
                    varint(replicas[r.replica])
                    varint(r.start)
                    varint(r.count)
                }
            }
        }
    }

    private mutating func origin(_ o: TextID?, replicas: Table<ReplicaID>) {
        guard let o else { return u8(0) }
        varint(replicas[o.replica] + 1)
        varint(o.counter)
    }
}

extension ByteReader {
    mutating func textEdits(
        replica: ReplicaID, replicas: [ReplicaID], limits: CodecLimits
    ) throws(CodecError) -> [TextOperation] {
        let n = try count("text operation count", limit: limits.maxOperationsPerChange, minBytesEach: 3)
        var out = [TextOperation]()
        out.reserveCapacity(n)
        for _ in 0..<n {
            let at = position
            let tag = try u8("text operation tag")
            let counter = try varint("text operation counter")
            let id = TextID(replica: replica, counter: counter)
            switch tag {
            case TextEditTag.insert:
                let left = try origin(replicas: replicas)
                let right = try origin(replicas: replicas)
                let text = try string("inserted text", limit: limits.maxStringBytes)
                out.append(.insert(id: id, originLeft: left, originRight: right, text: text))
            case TextEditTag.delete:
                let rangeCount = try count("deleted range count", limit: limits.maxOperationsPerChange, minBytesEach: 3)
                var ranges = [TextIDRange]()
                ranges.reserveCapacity(rangeCount)
                for _ in 0..<rangeCount {
                    let r = replicas[try index("deleted range replica", count: replicas.count)]
                    let start = try varint("deleted range start")
                    let length = try varint("deleted range length")
                    ranges.append(TextIDRange(replica: r, start: start, count: length))
                }
                out.append(.delete(id: id, ranges: ranges))
            default:
                throw error(.malformed("unknown text operation tag \(tag)"), at: at)
            }
        }
        return out
    }

    private mutating func origin(replicas: [ReplicaID]) throws(CodecError) -> TextID? {
        let at = position
        let i = try varint("text origin replica")
        if i == 0 { return nil }
        guard i <= UInt64(replicas.count) else {
            throw error(.malformed("text origin names replica \(i - 1) of a table of \(replicas.count)"), at: at)
        }
        return TextID(replica: replicas[Int(i - 1)], counter: try varint("text origin counter"))
    }
}

extension TextOperation {
    func collectReplicas(into set: inout Set<ReplicaID>) {
        switch self {
        case .insert(_, let l, let r, _):
            if let l { set.insert(l.replica) }
            if let r { set.insert(r.replica) }
        case .delete(_, let ranges):
            for r in ranges { set.insert(r.replica) }
        }
    }
}

enum TextEditTag {
    static let insert: UInt8 = 0
    static let delete: UInt8 = 1
}
