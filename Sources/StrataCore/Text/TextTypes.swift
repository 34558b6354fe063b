/// Value types of the text CRDT: identifiers, operations, versions and errors.
///
/// Every character ever inserted into a `TextDocument` has a `TextID`: the replica that typed it
/// and a per-replica, per-document counter (like a Yjs clock). Every operation consumes counters
/// of its replica: an insert of n Unicode scalars consumes n (its characters are
/// `counter..<counter+n`), a delete of n characters consumes n as well (as in Loro), so a
/// `TextVersion` (per replica, the number of counters seen) names a set of operations exactly.

/// One character's identity: the `counter`-th counter of `replica` in this document.
public struct TextID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var replica: ReplicaID
    public var counter: UInt64

    public init(replica: ReplicaID, counter: UInt64) {
        self.replica = replica
        self.counter = counter
    }

    public static func < (a: TextID, b: TextID) -> Bool { (a.replica, a.counter) < (b.replica, b.counter) }
    public var description: String { "\(replica.short)@\(counter)" }
}

/// The characters `start..<start+count` of one replica.
public struct TextIDRange: Hashable, Sendable, CustomStringConvertible {
    public var replica: ReplicaID
    public var start: UInt64
    public var count: UInt64

    public init(replica: ReplicaID, start: UInt64, count: UInt64) {
        self.replica = replica
        self.start = start
        self.count = count
    }

    public var description: String { "\(replica.short)@\(start)+\(count)" }
}

/// An operation on one text, as it travels between replicas.
///
/// - `insert`: the scalars of `text` get ids `id.counter ..< id.counter + n` (n = scalar count).
///   `originLeft` / `originRight` are the characters (tombstones included) that were immediately
///   left and right of the insertion point when it was made (`nil` = start / end of the text).
///   Character k > 0 of the run has origin-left the character k-1 and the same origin-right.
/// - `delete`: hides the characters of `ranges`; it consumes one counter per character named
///   (`id.counter ..< id.counter + Σ ranges.count`), the k-th counter standing for the k-th
///   character named, in order.
public enum TextOperation: Hashable, Sendable, CustomStringConvertible {
    case insert(id: TextID, originLeft: TextID?, originRight: TextID?, text: String)
    case delete(id: TextID, ranges: [TextIDRange])

    /// The first counter the operation consumes.
    public var id: TextID {
        switch self {
        case .insert(let id, _, _, _), .delete(let id, _): return id
        }
    }

    /// How many counters the operation consumes.
    public var length: UInt64 {
        switch self {
        case .insert(_, _, _, let text): return UInt64(text.unicodeScalars.count)
        case .delete(_, let ranges): return ranges.reduce(0) { $0 &+ $1.count }
        }
    }

    public var description: String {
        switch self {
        case .insert(let id, let l, let r, let text):
            return "insert \(id) after \(l.map(\.description) ?? "start") before \(r.map(\.description) ?? "end") \(text.debugDescription)"
        case .delete(let id, let ranges):
            return "delete \(id) \(ranges)"
        }
    }
}

/// Per replica, how many of its counters have been applied (a state vector). Counters are
/// applied without gaps, so `counters[r] == n` means operations `0..<n` of `r` are in.
public struct TextVersion: Hashable, Sendable, CustomStringConvertible {
    public private(set) var counters: [ReplicaID: UInt64]

    public init() { counters = [:] }

    public init(_ counters: [ReplicaID: UInt64]) {
        self.counters = counters.filter { $0.value > 0 }
    }

    public subscript(replica: ReplicaID) -> UInt64 {
        get { counters[replica] ?? 0 }
        set { counters[replica] = newValue == 0 ? nil : newValue }
    }

    /// Whether the character or operation counter `id` is covered.
    public func contains(_ id: TextID) -> Bool { id.counter < self[id.replica] }

    /// The pointwise maximum.
    public func union(_ other: TextVersion) -> TextVersion {
        var v = self
        for (r, c) in other.counters where c > v[r] { v[r] = c }
        return v
    }

    /// True when every counter of `self` is in `other`.
    public func isIncluded(in other: TextVersion) -> Bool {
        counters.allSatisfy { other[$0.key] >= $0.value }
    }

    public var description: String {
        "[" + counters.sorted { $0.key < $1.key }.map { "\($0.key.short):\($0.value)" }.joined(separator: ", ") + "]"
    }
}

/// Why a text operation was refused.
public enum TextError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A structurally invalid operation (empty text or ranges, counter overflow, an origin or
    /// a deleted id that names a delete's counter instead of a character).
    case invalidOperation(String)

    public var description: String {
        switch self {
        case .invalidOperation(let s): return "invalid text operation: \(s)"
        }
    }
}

/// Caps on what a text may hold: `default` is the editing cap (``EditPlanner`` refuses local
/// edits past it); a decoder enforces the caps it is given, by default `decoding`, none. A
/// decoder's memory does not depend on them: it is bounded by its input's size whatever the
/// counts say (see `TextDocument(validating:)` and `TextDocumentCodec` in StrataCodec).
public struct TextLimits: Sendable, Hashable {
    /// Total counters (characters inserted + characters deleted, over all replicas).
    public var maxCounters: Int
    /// Distinct replicas named.
    public var maxReplicas: Int

    public init(maxCounters: Int = 1 << 24, maxReplicas: Int = 1 << 16) {
        self.maxCounters = maxCounters
        self.maxReplicas = maxReplicas
    }

    public static let `default` = TextLimits()

    /// What a document decoder and `TextDocument(validating:)` take by default: no cap but the bytes. Merging other
    /// replicas' operations is not capped (a cap that depended on which operations arrived
    /// first would make replicas disagree), so a stored document may exceed `default`, and it
    /// must stay readable; the decoder's memory is bounded by its input's size instead.
    public static let decoding = TextLimits(maxCounters: .max, maxReplicas: .max)
}
