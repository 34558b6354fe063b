/// A local edit as the user means it; ``EditPlanner`` turns it into operations with
/// predecessors taken from the replica's current state.
public enum Edit: Hashable, Sendable {
    /// Creates a record of a kind.
    case create(RecordID, kind: RecordKind)
    /// Sets a register field (`.null` clears it). Also resolves a conflict on that field:
    /// the write supersedes every current value. On a long-text field, the new text is diffed
    /// against the current one and only the characters that differ are written, so concurrent
    /// edits elsewhere in the text survive.
    case set(RecordID, field: String, FieldValue)
    /// Appends `text` verbatim at the end of a long-text field.
    case appendText(RecordID, field: String, text: String)
    /// Adds an element to a set field (tags, relations).
    case add(RecordID, field: String, element: String)
    /// Removes an element from a set field: only the additions this replica has seen, so a
    /// concurrent addition wins.
    case remove(RecordID, field: String, element: String)
    /// Deletes a record (reversible).
    case delete(RecordID)
    /// Restores a deleted record.
    case restore(RecordID)
    /// Attaches a blob, or writes its reference again (a new caption): supersedes every
    /// current value of the attachment, so it also resolves a caption conflict.
    case attach(RecordID, AttachmentRef)
    /// Detaches a blob: only the attachments this replica has seen, so a concurrent attach wins.
    case detach(RecordID, BlobHash)

    public var record: RecordID {
        switch self {
        case .create(let r, _), .set(let r, _, _), .appendText(let r, _, _), .add(let r, _, _), .remove(let r, _, _),
            .delete(let r), .restore(let r), .attach(let r, _), .detach(let r, _):
            r
        }
    }
}

/// Why a local edit cannot be made.
public struct EditError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}

/// Turns edits into operations. Pure.
public enum EditPlanner {
    /// The operations `replica` writes for `edits`, given the current state of each record
    /// (`nil` when the replica has never heard of it) and the replica's version vector (stored
    /// in deletions).
    ///
    /// Edits that change nothing (adding a present tag, setting a field to the value it
    /// already holds without conflict) produce no operation.
    public static func operations(
        for edits: [Edit], replica: ReplicaID, state: (RecordID) -> RecordState?, seen: VersionVector
    ) throws(EditError) -> [FieldOperation] {
        var ops: [FieldOperation] = []
        var written = Set<OpKey>()
        func emit(_ record: RecordID, _ key: FieldKey, _ action: Action, _ heads: [ChangeID]) throws(EditError) {
            guard written.insert(OpKey(record: record, key: key)).inserted else {
                throw EditError("one command writes \(key) of \(record) twice")
            }
            ops.append(FieldOperation(record: record, key: key, action: action, preds: heads))
        }
        var created = Set<RecordID>()
        for edit in edits {
            let id = edit.record
            let current = state(id)
            if case .create(_, let kind) = edit {
                guard current?.kind == nil else { throw EditError("record \(id) already exists") }
                created.insert(id)
                try emit(id, FieldKey(SystemField.kind), .assign(.text(kind.rawValue)), [])
                continue
            }
            guard created.contains(id) || current?.kind != nil else {
                throw EditError("no record \(id) on this replica")
            }
            func ks(_ key: FieldKey) -> KeyState { current?.keys[key] ?? KeyState() }
            switch edit {
            case .create: break
            case .set(_, let field, let value) where Schema.textFields.contains(field):
                let new: String
                switch value {
                case .null: new = ""
                case .text(let t): new = t
                default: throw EditError("\(field) is a long-text field; it holds text, not \(value)")
                }
                var doc = current?.texts[field]?.document ?? TextDocument()
                try checkRoom(doc, field: field, adding: new.unicodeScalars.count)
                let edits = doc.edit(to: new, replica: replica)
                if edits.isEmpty { continue }
                try emit(id, FieldKey(field), .editText(edits), [])
            case .appendText(_, let field, let text):
                guard Schema.textFields.contains(field) else { throw EditError("\(field) is not a long-text field") }
                var doc = current?.texts[field]?.document ?? TextDocument()
                try checkRoom(doc, field: field, adding: text.unicodeScalars.count)
                guard let edit = doc.insert(text, at: doc.count, replica: replica) else { continue }
                try emit(id, FieldKey(field), .editText([edit]), [])
            case .set(_, let field, let value):
                let key = FieldKey(field)
                let k = ks(key)
                if !k.isConflicted && (k.winner?.value ?? .null) == value { continue }
                try emit(id, key, .assign(value), k.heads)
            case .add(_, let field, let element):
                let key = FieldKey(field, element: element)
                if !ks(key).live.isEmpty { continue }
                try emit(id, key, .assign(.bool(true)), ks(key).heads)
            case .remove(_, let field, let element):
                let key = FieldKey(field, element: element)
                let heads = ks(key).heads
                if heads.isEmpty { continue }
                try emit(id, key, .retract, heads)
            case .attach(_, let ref):
                let key = FieldKey(SystemField.attachments, element: ref.hash.hex)
                if let p = ref.problem { throw EditError("this attachment cannot be stored: \(p)") }
                let k = ks(key)
                if !k.isConflicted && k.winner?.value == .attachment(ref) { continue }
                try emit(id, key, .assign(.attachment(ref)), k.heads)
            case .detach(_, let hash):
                let key = FieldKey(SystemField.attachments, element: hash.hex)
                let heads = ks(key).heads
                if heads.isEmpty { continue }
                try emit(id, key, .retract, heads)
            case .delete:
                let key = FieldKey(SystemField.deleted)
                let k = ks(key)
                // Deleting again when a delete is current but missed edits: re-delete with a
                // fresh view, which clears the delete conflict.
                if current?.isDeleted == true && current?.deleteConflict == nil && !k.isConflicted { continue }
                try emit(id, key, .assign(.deletion(seen: seen)), k.heads)
            case .restore:
                let key = FieldKey(SystemField.deleted)
                let k = ks(key)
                if k.live.isEmpty || (!k.isConflicted && k.winner?.value == .null) { continue }
                try emit(id, key, .assign(.null), k.heads)
            }
        }
        return ops
    }

    /// Throws when a text cannot take an edit of up to `adding` new scalars (and deletes of
    /// its whole current text) without passing the counter limit of ``TextLimits``.
    static func checkRoom(_ doc: TextDocument, field: String, adding: Int) throws(EditError) {
        let used = doc.version.counters.values.reduce(0, +)
        let worst = UInt64(adding) + UInt64(doc.count)
        if used + worst > UInt64(TextLimits.default.maxCounters) {
            throw EditError(
                "\(field) has reached the size limit of its edit history (\(used) of \(TextLimits.default.maxCounters) operations); start a new record for further text")
        }
    }
}
