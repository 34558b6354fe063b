/// The latest text edit one replica made to a field: what a delete conflict shows and what
/// "last modified" counts. Only the latest per replica is kept: a change of replica R with
/// sequence number s is seen by a version vector exactly when R's later changes are.
public struct TextEditMark: Hashable, Sendable {
    public var change: ChangeID
    public var timestamp: HybridTimestamp
    public var author: String

    public init(change: ChangeID, timestamp: HybridTimestamp, author: String) {
        self.change = change
        self.timestamp = timestamp
        self.author = author
    }
}

/// A long-text field of a record (``Schema/textFields``): the text CRDT and, per replica, its
/// latest edit. A function of the set of operations received, like every other part of a
/// ``RecordState``.
public struct TextFieldState: Hashable, Sendable {
    public var document: TextDocument
    public var lastEdits: [ReplicaID: TextEditMark]

    public init(document: TextDocument = TextDocument(), lastEdits: [ReplicaID: TextEditMark] = [:]) {
        self.document = document
        self.lastEdits = lastEdits
    }

    public var text: String { document.string }

    var isEmpty: Bool { lastEdits.isEmpty && document.isPristine }

    mutating func noteEdit(_ change: Change) {
        if let old = lastEdits[change.id.replica], old.change.seq >= change.id.seq { return }
        lastEdits[change.id.replica] = TextEditMark(change: change.id, timestamp: change.timestamp, author: change.author)
    }

    public func hash(into h: inout Hasher) {
        h.combine(document.count)
        h.combine(document.version)
        h.combine(lastEdits)
    }
}

/// How a register write to a long-text field — made by a Strata from before text merging, or
/// still arriving from one — enters the text CRDT, deterministically on every replica:
///
/// - an assignment of text by change c inserts that text as one run of its own pseudo-replica
///   `insertAgent(c)` (counters from 0), at the start of the document;
/// - when the register rules supersede c (a later write named it as a predecessor), the run is
///   deleted by the pseudo-replica `deleteAgent(c)`.
///
/// So concurrent register writes are both kept in the text (nothing is lost, and there is no
/// register conflict left to resolve), a resolved conflict keeps only the resolution, and a
/// replica that migrates its store reaches the same document as one that receives the same
/// changes later. Pseudo-replica ids are the writer's id with fixed bits flipped and the
/// sequence number mixed in: distinct for distinct changes, and as unlikely as any random
/// 128-bit collision to meet a real replica id.
public enum LegacyText {
    static let insertMask: UInt64 = 0x5354_5241_5441_2D49  // "STRATA-I"
    static let deleteMask: UInt64 = 0x5354_5241_5441_2D44  // "STRATA-D"

    public static func insertAgent(_ c: ChangeID) -> ReplicaID {
        ReplicaID(high: c.replica.high ^ insertMask, low: c.replica.low ^ c.seq)
    }

    public static func deleteAgent(_ c: ChangeID) -> ReplicaID {
        ReplicaID(high: c.replica.high ^ deleteMask, low: c.replica.low ^ c.seq)
    }
}

extension RecordState {
    /// Applies an operation on a long-text field.
    mutating func applyText(_ op: FieldOperation, of change: Change, isApplied: (ChangeID) -> Bool) {
        let field = op.key.field
        var tf = texts.removeValue(forKey: field) ?? TextFieldState()
        defer { if !tf.isEmpty { texts[field] = tf } }
        switch op.action {
        case .editText(let edits):
            // An operation that is invalid against this document (an origin that names a
            // delete) is dropped. It is dropped whatever the order of delivery, since a buffered
            // operation that turns out invalid is dropped too, so replicas still agree.
            for e in edits { try? tf.document.apply(e) }
            tf.noteEdit(change)
        case .assign(let value):
            var ks = keys[op.key] ?? KeyState()
            let before = Set(ks.live.map(\.change))
            let arrivedSuperseded = ks.pending.contains(change.id)
            ks.apply(
                op.action, preds: op.preds, change: change.id, timestamp: change.timestamp, author: change.author,
                isApplied: isApplied)
            keys[op.key] = (ks.live.isEmpty && ks.pending.isEmpty) ? nil : ks
            if case .text(let s) = value, !s.isEmpty {
                let insert = TextOperation.insert(
                    id: TextID(replica: LegacyText.insertAgent(change.id), counter: 0), originLeft: nil, originRight: nil,
                    text: s)
                try? tf.document.apply(insert)
            }
            var superseded = before.subtracting(ks.live.map(\.change))
            if arrivedSuperseded { superseded.insert(change.id) }
            for c in superseded.sorted() {
                let agent = LegacyText.insertAgent(c)
                let n = tf.document.version[agent]
                guard n > 0 else { continue }
                let delete = TextOperation.delete(
                    id: TextID(replica: LegacyText.deleteAgent(c), counter: 0),
                    ranges: [TextIDRange(replica: agent, start: 0, count: n)])
                try? tf.document.apply(delete)
            }
        case .retract:
            break  // refused by validation: a long-text field is not a set
        }
    }
}
