import StrataCore

/// Persists a ``RecordState`` in the store: uncompressed, versioned, compact
/// (Protocol/SPEC.md, "Record state"). The record id is the row key, so it is not stored.
public enum RecordStateCodec {
    /// Version 2 adds the long-text fields; version 1 (no text section) is still read.
    public static let formatVersion: UInt8 = 2

    public static func encode(_ state: RecordState) -> [UInt8] {
        var replicaSet = Set<ReplicaID>()
        var authorSet = Set<ExactName>()
        var fieldSet = Set<ExactName>()
        var hint = 16
        for (key, ks) in state.keys {
            fieldSet.insert(ExactName(key.field))
            hint += 8 + key.element.utf8.count + 8 * ks.pending.count
            for lv in ks.live {
                replicaSet.insert(lv.change.replica)
                authorSet.insert(ExactName(lv.author))
                lv.value.collectReplicas(into: &replicaSet)
                hint += 24
                if case .text(let s) = lv.value { hint += s.utf8.count }
            }
            for p in ks.pending { replicaSet.insert(p.replica) }
        }
        let textNames = state.texts.keys.sorted { TableOrder.string($0, $1) }
        var documents: [[UInt8]] = []
        for name in textNames {
            let tf = state.texts[name]!
            fieldSet.insert(ExactName(name))
            for mark in tf.lastEdits.values {
                replicaSet.insert(mark.change.replica)
                authorSet.insert(ExactName(mark.author))
            }
            let doc = TextDocumentCodec.encode(tf.document)
            hint += doc.count + 24 * tf.lastEdits.count + 8
            documents.append(doc)
        }
        let replicas = Table(replicaSet, by: TableOrder.replica)
        let authors = Table(authorSet, by: TableOrder.name)
        let fields = Table(fieldSet, by: TableOrder.name)
        var w = ByteWriter(capacity: hint + 16 * replicas.values.count)
        w.u8(formatVersion)
        w.replicaTable(replicas)
        w.stringTable(authors)
        w.stringTable(fields)
        let keys = state.keys.keys.sorted()
        w.varint(keys.count)
        for key in keys {
            let ks = state.keys[key]!
            w.varint(fields[ExactName(key.field)])
            w.string(key.element)
            w.varint(ks.live.count)
            for lv in ks.live {
                w.varint(replicas[lv.change.replica])
                w.varint(lv.change.seq)
                w.varint(lv.timestamp.rawValue)
                w.varint(authors[ExactName(lv.author)])
                w.value(lv.value, replicas: replicas)
            }
            let pending = ks.pending.sorted()
            w.varint(pending.count)
            for p in pending {
                w.varint(replicas[p.replica])
                w.varint(p.seq)
            }
        }
        w.varint(textNames.count)
        for (name, doc) in zip(textNames, documents) {
            let tf = state.texts[name]!
            w.varint(fields[ExactName(name)])
            let marks = tf.lastEdits.values.sorted { $0.change < $1.change }
            w.varint(marks.count)
            for m in marks {
                w.varint(replicas[m.change.replica])
                w.varint(m.change.seq)
                w.varint(m.timestamp.rawValue)
                w.varint(authors[ExactName(m.author)])
            }
            w.varint(doc.count)
            w.raw(doc)
        }
        return w.bytes
    }

    public static func decode(_ bytes: some Collection<UInt8>, id: RecordID) throws(CodecError) -> RecordState {
        try withContiguousBytes(bytes) { buf in
            Result { () throws(CodecError) in try decode(buffer: buf, id: id) }
        }.get()
    }

    static func decode(buffer: UnsafeBufferPointer<UInt8>, id: RecordID) throws(CodecError) -> RecordState {
        // What merging made must stay readable: no cap but the bytes (see `bytesOnly`).
        let limits = CodecLimits.bytesOnly
        var r = ByteReader(buffer, what: "record state", endIsTruncation: true, context: "record \(id.text)")
        let version = try r.u8("format version")
        guard (1...formatVersion).contains(version) else {
            throw r.error(.unsupportedVersion(found: version, supported: formatVersion, what: "record state"), at: 0)
        }
        let replicas = try r.replicaTable(limits: limits)
        let authors = try r.stringTable("author", limits: limits)
        let fields = try r.stringTable("field name", limits: limits)
        let keyCount = try r.count("key count", limit: limits.maxTableEntries, minBytesEach: 4)
        var keys = [FieldKey: KeyState](minimumCapacity: keyCount)
        for _ in 0..<keyCount {
            let keyAt = r.position
            let field = fields[try r.index("field name", count: fields.count)]
            let element = try r.string("set element", limit: limits.maxStringBytes)
            let liveCount = try r.count("live value count", limit: limits.maxPreds, minBytesEach: 5)
            var live = [LiveValue]()
            live.reserveCapacity(liveCount)
            for _ in 0..<liveCount {
                let replica = replicas[try r.index("live value replica", count: replicas.count)]
                let seqAt = r.position
                let seq = try r.varint("live value seq")
                if seq == 0 { throw r.error(.malformed("a live value has sequence number 0"), at: seqAt) }
                let ts = try r.varint("timestamp")
                let author = authors[try r.index("author", count: authors.count)]
                let value = try r.value(replicas: replicas, limits: limits)
                live.append(
                    LiveValue(
                        change: ChangeID(replica: replica, seq: seq), timestamp: HybridTimestamp(rawValue: ts),
                        author: author, value: value))
            }
            let pendingCount = try r.count("pending count", limit: limits.maxPreds, minBytesEach: 2)
            var pending = Set<ChangeID>(minimumCapacity: pendingCount)
            for _ in 0..<pendingCount {
                let at = r.position
                let replica = replicas[try r.index("pending replica", count: replicas.count)]
                let seq = try r.varint("pending seq")
                if seq == 0 { throw r.error(.malformed("a pending change has sequence number 0"), at: at) }
                if !pending.insert(ChangeID(replica: replica, seq: seq)).inserted {
                    throw r.error(.malformed("a pending change is listed twice"), at: at)
                }
            }
            let key = FieldKey(field, element: element)
            guard keys.updateValue(KeyState(live: live, pending: pending), forKey: key) == nil else {
                throw r.error(.malformed("a key is stored twice"), at: keyAt)
            }
        }
        var texts: [String: TextFieldState] = [:]
        if version >= 2 {
            let textCount = try r.count("text field count", limit: fields.count, minBytesEach: 3)
            for _ in 0..<textCount {
                let at = r.position
                let name = fields[try r.index("text field name", count: fields.count)]
                let markCount = try r.count("text edit mark count", limit: limits.maxTableEntries, minBytesEach: 4)
                var marks: [ReplicaID: TextEditMark] = [:]
                for _ in 0..<markCount {
                    let markAt = r.position
                    let replica = replicas[try r.index("text edit replica", count: replicas.count)]
                    let seq = try r.varint("text edit seq")
                    if seq == 0 { throw r.error(.malformed("a text edit has sequence number 0"), at: markAt) }
                    let ts = try r.varint("text edit timestamp")
                    let author = authors[try r.index("author", count: authors.count)]
                    guard marks[replica] == nil else { throw r.error(.malformed("a replica's text edit is listed twice"), at: markAt) }
                    marks[replica] = TextEditMark(
                        change: ChangeID(replica: replica, seq: seq), timestamp: HybridTimestamp(rawValue: ts), author: author)
                }
                let length = try r.count("text document length", limit: limits.maxInflatedBytes)
                let docAt = r.position
                let bytes = try r.slice(length, "text document")
                // Its length was given, so running out inside it is malformed (§4.3, "Embedding");
                // the context names the record and where the document starts, not the field.
                var reserved = 0
                let document = try TextDocumentCodec.decode(
                    buffer: bytes, limits: .decoding, endIsTruncation: false,
                    context: (r.context.map { "\($0), " } ?? "") + "text document at byte \(docAt)", reserved: &reserved)
                guard texts.updateValue(TextFieldState(document: document, lastEdits: marks), forKey: name) == nil else {
                    throw r.error(.malformed("a text field is stored twice"), at: at)
                }
            }
        }
        try r.expectEnd()
        return RecordState(id: id, keys: keys, texts: texts)
    }
}
