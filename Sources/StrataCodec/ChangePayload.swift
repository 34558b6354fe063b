import StrataCore

/// The change-set payload (Protocol/SPEC.md, "Payload"): four tables, then the changes.
/// Shared by ``ChangeSetCodec`` (compressed) and ``ChangeCodec`` (one change, uncompressed).
enum ChangePayload {
    static func encode(_ changes: [Change], into w: inout ByteWriter) {
        var replicaSet = Set<ReplicaID>()
        var authorSet = Set<ExactName>()
        var recordSet = Set<RecordID>()
        var fieldSet = Set<ExactName>()
        for c in changes {
            replicaSet.insert(c.id.replica)
            authorSet.insert(ExactName(c.author))
            for op in c.operations {
                recordSet.insert(op.record)
                fieldSet.insert(ExactName(op.key.field))
                for p in op.preds { replicaSet.insert(p.replica) }
                switch op.action {
                case .assign(let v): v.collectReplicas(into: &replicaSet)
                case .editText(let edits): for e in edits { e.collectReplicas(into: &replicaSet) }
                case .retract: break
                }
            }
        }
        let replicas = Table(replicaSet, by: TableOrder.replica)
        let authors = Table(authorSet, by: TableOrder.name)
        let records = Table(recordSet, by: TableOrder.record)
        let fields = Table(fieldSet, by: TableOrder.name)
        w.replicaTable(replicas)
        w.stringTable(authors)
        w.recordTable(records)
        w.stringTable(fields)

        w.varint(changes.count)
        var previous: UInt64 = 0
        for c in changes {
            w.varint(replicas[c.id.replica])
            w.varint(c.id.seq)
            w.zigzag(Int64(bitPattern: c.timestamp.rawValue &- previous))
            previous = c.timestamp.rawValue
            w.varint(authors[ExactName(c.author)])
            w.varint(c.operations.count)
            for op in c.operations {
                w.varint(records[op.record])
                w.varint(fields[ExactName(op.key.field)])
                w.string(op.key.element)
                switch op.action {
                case .assign: w.u8(ActionTag.assign)
                case .retract: w.u8(ActionTag.retract)
                case .editText: w.u8(ActionTag.editText)
                }
                w.varint(op.preds.count)
                for p in op.preds {
                    w.varint(replicas[p.replica])
                    w.varint(p.seq)
                }
                switch op.action {
                case .assign(let v): w.value(v, replicas: replicas)
                case .editText(let edits): w.textEdits(edits, replicas: replicas)
                case .retract: break
                }
            }
        }
    }

    /// A rough size hint for reserving the output buffer.
    static func sizeHint(_ changes: [Change]) -> Int {
        var n = 64
        for c in changes {
            n += 16 + c.author.utf8.count
            for op in c.operations {
                n += 24 + op.key.field.utf8.count + op.key.element.utf8.count + 4 * op.preds.count
                switch op.action {
                case .assign(.text(let s)): n += s.utf8.count
                case .editText(let edits):
                    for e in edits {
                        if case .insert(_, _, _, let s) = e { n += 12 + s.utf8.count } else { n += 12 }
                    }
                default: break
                }
            }
        }
        return n
    }

    /// The lowest format version that can hold `changes`: 2 when a change edits a long text
    /// (action 2), else 1, so that a Strata from before text merging still reads every change
    /// set it can understand and says "upgrade" for the others.
    /// 3 when a change holds an attachment (value tag 8), which version 2 readers do not know.
    static func requiredVersion(_ changes: [Change]) -> UInt8 {
        var version: UInt8 = 1
        for c in changes {
            for op in c.operations {
                switch op.action {
                case .assign(.attachment): return 3
                case .editText: version = 2
                default: break
                }
            }
        }
        return version
    }

    /// The tables at the head of a payload and the number of changes after them.
    struct Head {
        let replicas: [ReplicaID]
        let authors: [String]
        let records: [RecordID]
        let fields: [String]
        let count: Int
    }

    /// Decodes a whole payload of format `version`; `exactCount`, when given, is the number
    /// of changes required.
    static func decode(
        _ r: inout ByteReader, limits: CodecLimits, version: UInt8, exactCount: Int? = nil
    ) throws(CodecError) -> [Change] {
        let head = try decodeHead(&r, limits: limits, exactCount: exactCount)
        var changes = [Change]()
        changes.reserveCapacity(head.count)
        var previous: UInt64 = 0
        for _ in 0..<head.count {
            changes.append(try decodeChange(&r, head, previous: &previous, limits: limits, version: version))
        }
        try r.expectEnd()
        return changes
    }

    /// The tables and the change count.
    static func decodeHead(_ r: inout ByteReader, limits: CodecLimits, exactCount: Int? = nil) throws(CodecError) -> Head {
        let replicas = try r.replicaTable(limits: limits)
        let authors = try r.stringTable("author", limits: limits)
        let records = try r.recordTable(limits: limits)
        let fields = try r.stringTable("field name", limits: limits)

        let countAt = r.position
        let n = try r.count("change count", limit: limits.maxChanges, minBytesEach: 5)
        if let exactCount, n != exactCount {
            throw r.error(.malformed("holds \(n) changes, expected exactly \(exactCount)"), at: countAt)
        }
        return Head(replicas: replicas, authors: authors, records: records, fields: fields, count: n)
    }

    /// The next change; `previous` is the timestamp of the change before it (0 for the first).
    static func decodeChange(
        _ r: inout ByteReader, _ head: Head, previous: inout UInt64, limits: CodecLimits, version: UInt8
    ) throws(CodecError) -> Change {
        let (replicas, authors, records, fields) = (head.replicas, head.authors, head.records, head.fields)
        let changeAt = r.position
        let replica = replicas[try r.index("change replica", count: replicas.count)]
        let seqAt = r.position
        let seq = try r.varint("change seq")
        if seq == 0 {
            throw r.error(.invalidChange("a change has sequence number 0; sequence numbers start at 1"), at: seqAt)
        }
        let id = ChangeID(replica: replica, seq: seq)
        let delta = try r.zigzag("timestamp delta")
        let timestamp = previous &+ UInt64(bitPattern: delta)
        previous = timestamp
        let author = authors[try r.index("author", count: authors.count)]
        let opCount = try r.count("operation count", limit: limits.maxOperationsPerChange, minBytesEach: 5)
        if opCount == 0 { throw r.error(.invalidChange("change \(id) has no operations"), at: changeAt) }
        var ops = [FieldOperation]()
        ops.reserveCapacity(opCount)
        for _ in 0..<opCount {
            let record = records[try r.index("record", count: records.count)]
            let field = fields[try r.index("field name", count: fields.count)]
            let element = try r.string("set element", limit: limits.maxStringBytes)
            let actionAt = r.position
            let tag = try r.u8("action tag")
            guard tag == ActionTag.assign || tag == ActionTag.retract || (tag == ActionTag.editText && version >= 2)
            else {
                throw r.error(.malformed("unknown action tag \(tag)"), at: actionAt)
            }
            if tag == ActionTag.retract && element.isEmpty {
                throw r.error(
                    .invalidChange("change \(id) retracts a register field (only set elements can be retracted)"), at: actionAt)
            }
            let predCount = try r.count("predecessor count", limit: limits.maxPreds, minBytesEach: 2)
            var preds = [ChangeID]()
            preds.reserveCapacity(predCount)
            for _ in 0..<predCount {
                let predAt = r.position
                let pr = replicas[try r.index("predecessor replica", count: replicas.count)]
                let ps = try r.varint("predecessor seq")
                if ps == 0 { throw r.error(.malformed("a predecessor has sequence number 0"), at: predAt) }
                let p = ChangeID(replica: pr, seq: ps)
                if p == id { throw r.error(.invalidChange("change \(id) names itself as a predecessor"), at: predAt) }
                preds.append(p)
            }
            let action: Action
            switch tag {
            case ActionTag.assign:
                let value = try r.value(replicas: replicas, limits: limits, attachments: version >= 3)
                let key = FieldKey(field, element: element)
                if case .attachment(let ref) = value {
                    do { try Change.validateAttachment(ref, key: key, change: id) } catch {
                        throw r.error(.invalidChange(error.description), at: actionAt)
                    }
                } else if field.hasSameBytes(as: SystemField.attachments) {
                    throw r.error(.invalidChange("change \(id) assigns something other than an attachment to \(SystemField.attachments)"), at: actionAt)
                }
                action = .assign(value)
            case ActionTag.editText:
                let edits = try r.textEdits(replica: replica, replicas: replicas, limits: limits)
                do { try Change.validateTextEdits(edits, key: FieldKey(field, element: element), preds: preds, change: id) } catch {
                    throw r.error(.invalidChange(error.description), at: actionAt)
                }
                action = .editText(edits)
            default: action = .retract
            }
            ops.append(FieldOperation(record: record, key: FieldKey(field, element: element), action: action, preds: preds))
        }
        let change = Change(id: id, timestamp: HybridTimestamp(rawValue: timestamp), author: author, operations: ops)
        if opCount > 1 {
            do { try change.validate() } catch {
                throw r.error(.invalidChange("change \(id) writes the same record key twice"), at: changeAt)
            }
        }
        return change
    }
}

enum ActionTag {
    static let assign: UInt8 = 0
    static let retract: UInt8 = 1
    /// Format version 2 on.
    static let editText: UInt8 = 2
}
