import StrataCore

/// Which records `list` returns.
public struct RecordFilter: Sendable {
    public var kind: RecordKind?
    /// Records carrying this tag.
    public var tag: String?
    /// Full-text query (FTS5 syntax; plain words match all of them).
    public var text: String?
    /// Records related to this record (e.g. notes about a site), or the record itself.
    public var relatedTo: RecordID?
    /// Artefact state.
    public var state: String?
    /// Include deleted records.
    public var includeDeleted = false
    /// Only deleted records.
    public var onlyDeleted = false
    /// Only records with a conflict.
    public var onlyConflicts = false
    public var limit: Int?

    public init(
        kind: RecordKind? = nil, tag: String? = nil, text: String? = nil, relatedTo: RecordID? = nil,
        state: String? = nil, includeDeleted: Bool = false, onlyDeleted: Bool = false, onlyConflicts: Bool = false,
        limit: Int? = nil
    ) {
        self.kind = kind
        self.tag = tag
        self.text = text
        self.relatedTo = relatedTo
        self.state = state
        self.includeDeleted = includeDeleted
        self.onlyDeleted = onlyDeleted
        self.onlyConflicts = onlyConflicts
        self.limit = limit
    }
}

/// One operation of one change, as `history` shows it.
public struct HistoryEntry: Sendable, Hashable {
    public var change: ChangeID
    public var timestamp: HybridTimestamp
    public var author: String
    public var key: FieldKey
    public var action: Action
    /// The operations this one replaced (empty for a first write; several when it resolved a conflict).
    public var preds: [ChangeID]
}

/// What applying a batch of changes did.
public struct ApplyResult: Sendable, Equatable {
    /// Changes that were new to this replica.
    public var applied: Int
    /// Changes this replica already had (ignored).
    public var duplicates: Int
    /// Records touched by the new changes.
    public var records: Int
}

/// A short overview of a replica.
public struct StoreStatus: Sendable {
    public var replica: ReplicaID
    public var author: String
    public var path: String
    public var records: Int
    public var deleted: Int
    public var conflicts: Int
    public var changes: Int
    public var localChanges: Int
    public var versionVector: VersionVector
}

/// The element text of a relation: `type:target-id`.
public enum RelationElement {
    public static func make(_ type: String, _ target: RecordID) -> String { "\(type):\(target.text)" }

    public static func parse(_ element: String) -> (type: String, target: RecordID)? {
        guard let colon = element.lastIndex(of: ":"),
            let id = RecordID(text: String(element[element.index(after: colon)...]))
        else { return nil }
        return (String(element[..<colon]), id)
    }
}
