/// A value that is current at a key: written by `change` and not yet superseded.
public struct LiveValue: Hashable, Sendable {
    public var change: ChangeID
    public var timestamp: HybridTimestamp
    public var author: String
    public var value: FieldValue

    public init(change: ChangeID, timestamp: HybridTimestamp, author: String, value: FieldValue) {
        self.change = change
        self.timestamp = timestamp
        self.author = author
        self.value = value
    }

    /// The deterministic display order: later timestamp first, then higher replica id.
    static func winsOver(_ a: LiveValue, _ b: LiveValue) -> Bool {
        (a.timestamp, a.change.replica, a.change.seq) > (b.timestamp, b.change.replica, b.change.seq)
    }
}

/// The state of one key: a multi-value register.
///
/// > Invariant: `live` holds every assignment that no received operation supersedes, sorted
/// > winner first. `pending` holds operations that a received operation superseded before they
/// > themselves arrived; it is empty once every change named as a predecessor has arrived.
/// > Both are functions of the *set* of operations received, not of their order.
public struct KeyState: Hashable, Sendable {
    public var live: [LiveValue]
    public var pending: Set<ChangeID>

    public init(live: [LiveValue] = [], pending: Set<ChangeID> = []) {
        self.live = live
        self.pending = pending
    }

    /// The displayed value: the first live value.
    public var winner: LiveValue? { live.first }

    /// True when more than one distinct value is current: a conflict a person should resolve.
    /// (Two people who concurrently wrote the same value agree: that is not a conflict.)
    public var isConflicted: Bool {
        guard live.count > 1, let first = live.first?.value else { return false }
        return live.dropFirst().contains { $0.value != first }
    }

    /// The ids of every live value: the predecessors a new local write names.
    public var heads: [ChangeID] { live.map(\.change).sorted() }

    /// Applies one operation carried by `change`. `isApplied` tells whether a change has
    /// already been applied to this replica (so a predecessor that is absent from `live` was
    /// superseded earlier rather than not yet received).
    public mutating func apply(
        _ action: Action, preds: [ChangeID], change: ChangeID, timestamp: HybridTimestamp, author: String,
        isApplied: (ChangeID) -> Bool
    ) {
        if live.contains(where: { $0.change == change }) { return }
        for p in preds {
            if let i = live.firstIndex(where: { $0.change == p }) {
                live.remove(at: i)
            } else if !isApplied(p) {
                pending.insert(p)
            }
        }
        if pending.remove(change) != nil { return }
        guard case .assign(let value) = action else { return }
        let lv = LiveValue(change: change, timestamp: timestamp, author: author, value: value)
        let at = live.firstIndex(where: { LiveValue.winsOver(lv, $0) }) ?? live.endIndex
        live.insert(lv, at: at)
    }
}

/// System field names shared by every record kind.
public enum SystemField {
    /// The record kind (`note`, `artefact`, `site`, `link`), set once when the record is created.
    public static let kind = "kind"
    /// `.deletion(seen:)` when deleted, `.null` when restored.
    public static let deleted = "deleted"
    /// Set field of free tags: element is the tag.
    public static let tags = "tags"
    /// Set field of relations: element is `relation:target-record-id`.
    public static let relations = "rel"
    /// Set field of attachments: element is the blob's hash in lowercase hex, value an
    /// ``FieldValue/attachment(_:)``.
    public static let attachments = "att"
}

/// A delete that did not see some edits of the record: the edits stay, the record stays
/// deleted, and both are shown until someone restores the record or deletes it again.
public struct DeleteConflict: Hashable, Sendable {
    public var deletion: LiveValue
    public var unseenEdits: [(key: FieldKey, value: LiveValue)]

    public static func == (a: DeleteConflict, b: DeleteConflict) -> Bool {
        a.deletion == b.deletion && a.unseenEdits.map(\.key) == b.unseenEdits.map(\.key)
            && a.unseenEdits.map(\.value) == b.unseenEdits.map(\.value)
    }

    public func hash(into h: inout Hasher) {
        h.combine(deletion)
        for e in unseenEdits {
            h.combine(e.key)
            h.combine(e.value)
        }
    }
}

/// One record as a map of keys to multi-value registers. Pure merge logic: no I/O.
public struct RecordState: Hashable, Sendable {
    public let id: RecordID
    /// Registers and set elements. A long-text field keeps here only the register writes of
    /// Strata versions from before text merging (see ``LegacyText``).
    public var keys: [FieldKey: KeyState]
    /// Long-text fields (``Schema/textFields``), by field name.
    public var texts: [String: TextFieldState]

    public init(id: RecordID, keys: [FieldKey: KeyState] = [:], texts: [String: TextFieldState] = [:]) {
        self.id = id
        self.keys = keys
        self.texts = texts
    }

    /// The state of a record after one change, applied to nothing: what a replica holds for a
    /// record that `change` made and no other change touched, when none of the change's
    /// operations on it names a predecessor (``namesNoPredecessor(_:on:)``; then no answer of
    /// `isApplied` is ever asked). A function of the change alone, so a store may derive it
    /// from its log instead of keeping a second copy of it.
    public init(id: RecordID, madeBy change: Change) {
        self.init(id: id)
        for op in change.operations where op.record == id { apply(op, of: change, isApplied: { _ in false }) }
    }

    /// True when no operation of `change` on record `id` names a predecessor.
    public static func namesNoPredecessor(_ change: Change, on id: RecordID) -> Bool {
        change.operations.allSatisfy { $0.record != id || $0.preds.isEmpty }
    }

    /// Applies one operation of `change`.
    public mutating func apply(_ op: FieldOperation, of change: Change, isApplied: (ChangeID) -> Bool) {
        if op.key.element.isEmpty && Schema.textFields.contains(op.key.field) {
            applyText(op, of: change, isApplied: isApplied)
            return
        }
        var ks = keys[op.key] ?? KeyState()
        ks.apply(
            op.action, preds: op.preds, change: change.id, timestamp: change.timestamp, author: change.author,
            isApplied: isApplied)
        keys[op.key] = (ks.live.isEmpty && ks.pending.isEmpty) ? nil : ks
    }

    public subscript(field: String) -> KeyState? { keys[FieldKey(field)] }

    /// The winning value of a register field, or the text of a long-text field; `nil` when
    /// unset or cleared.
    public func value(_ field: String) -> FieldValue? {
        if Schema.textFields.contains(field) {
            guard let t = texts[field]?.text, !t.isEmpty else { return nil }
            return .text(t)
        }
        guard let v = keys[FieldKey(field)]?.winner?.value, v != .null else { return nil }
        return v
    }

    public func text(_ field: String) -> String? {
        if case .text(let s)? = value(field) { return s }
        return nil
    }

    /// The record kind's name; nil while the creating change has not arrived.
    public var kind: String? { text(SystemField.kind) }

    /// The creating assignment (who, when, on which replica).
    public var creation: LiveValue? { keys[FieldKey(SystemField.kind)]?.live.last }

    public var isDeleted: Bool {
        if case .deletion? = keys[FieldKey(SystemField.deleted)]?.winner?.value { return true }
        return false
    }

    /// Elements currently in a set field, sorted bytewise (elements are exact bytes: two
    /// spellings of one word that Unicode calls equivalent are two elements).
    public func elements(_ field: String) -> [String] {
        keys.compactMap { k, v in k.field.hasSameBytes(as: field) && !k.element.isEmpty && !v.live.isEmpty ? k.element : nil }
            .sorted { $0.precedesBytewise($1) }
    }

    public var tags: [String] { elements(SystemField.tags) }

    /// Fields with a value (register winners that are not null, long texts that are not
    /// empty), excluding system fields, sorted by name (bytewise).
    public var fields: [(name: String, value: FieldValue)] {
        var out = keys.compactMap { k, v -> (String, FieldValue)? in
            guard k.element.isEmpty, k.field != SystemField.kind, k.field != SystemField.deleted,
                !Schema.textFields.contains(k.field), let w = v.winner?.value, w != .null
            else { return nil }
            return (k.field, w)
        }
        for (name, tf) in texts {
            let t = tf.text
            if !t.isEmpty { out.append((name, .text(t))) }
        }
        return out.sorted { $0.0.precedesBytewise($1.0) }
    }

    /// Register keys that hold more than one value, sorted. (Long-text fields merge, so they
    /// never conflict.)
    public var conflictedKeys: [FieldKey] {
        keys.compactMap { k, v in
            k.element.isEmpty && v.isConflicted && !Schema.textFields.contains(k.field) ? k : nil
        }.sorted()
    }

    /// Edits the winning delete did not see, when the record is deleted.
    public var deleteConflict: DeleteConflict? {
        guard let del = keys[FieldKey(SystemField.deleted)]?.winner, case .deletion(let seen) = del.value else {
            return nil
        }
        var unseen: [(key: FieldKey, value: LiveValue)] = []
        for (k, ks) in keys where k.field != SystemField.deleted && k.field != SystemField.kind {
            for lv in ks.live where !seen.contains(lv.change) {
                unseen.append((k, lv))
            }
        }
        for (field, tf) in texts {
            for mark in tf.lastEdits.values where !seen.contains(mark.change) {
                let lv = LiveValue(change: mark.change, timestamp: mark.timestamp, author: mark.author, value: .text(tf.text))
                unseen.append((FieldKey(field), lv))
            }
        }
        guard !unseen.isEmpty else { return nil }
        unseen.sort { ($0.key, $0.value.change) < ($1.key, $1.value.change) }
        return DeleteConflict(deletion: del, unseenEdits: unseen)
    }

    /// True when a person has something to resolve on this record.
    public var hasConflict: Bool { !conflictedKeys.isEmpty || deleteConflict != nil || !conflictedAttachments.isEmpty }

    /// The latest timestamp of any live value: "last modified".
    public var lastModified: HybridTimestamp? {
        let registers = keys.values.lazy.flatMap(\.live).map(\.timestamp).max()
        let texts = texts.values.lazy.flatMap(\.lastEdits.values).map(\.timestamp).max()
        switch (registers, texts) {
        case (let a?, let b?): return max(a, b)
        case (let a, nil): return a
        case (nil, let b): return b
        }
    }
}
