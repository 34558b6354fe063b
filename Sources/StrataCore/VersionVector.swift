/// For each replica, the highest sequence number such that every change `1...n` of that
/// replica is present. Changes received beyond a gap are present but not counted, so a peer
/// asking "what do I lack since this vector" may receive them again (applying is idempotent).
public struct VersionVector: Hashable, Sendable, CustomStringConvertible {
    public private(set) var entries: [ReplicaID: UInt64]

    public init(_ entries: [ReplicaID: UInt64] = [:]) {
        self.entries = entries.filter { $0.value > 0 }
    }

    public subscript(replica: ReplicaID) -> UInt64 {
        get { entries[replica] ?? 0 }
        set { entries[replica] = newValue == 0 ? nil : newValue }
    }

    /// True when the change is counted by this vector.
    public func contains(_ id: ChangeID) -> Bool { self[id.replica] >= id.seq }

    /// Pointwise maximum.
    public func merged(with other: VersionVector) -> VersionVector {
        var out = self
        for (r, n) in other.entries where n > out[r] { out[r] = n }
        return out
    }

    /// This vector after the changes `ids` arrive: each replica's entry advances over the
    /// sequence numbers that continue it without a gap (ids already counted are ignored).
    public func advanced(by ids: some Sequence<ChangeID>) -> VersionVector {
        var seqs: [ReplicaID: [UInt64]] = [:]
        for id in ids where id.seq > self[id.replica] { seqs[id.replica, default: []].append(id.seq) }
        var out = self
        for (r, list) in seqs {
            var n = out[r]
            for s in list.sorted() where s <= n + 1 { n = max(n, s) }
            out[r] = n
        }
        return out
    }

    /// True when every entry of `self` is at most the same entry of `other`.
    public func isDominated(by other: VersionVector) -> Bool {
        entries.allSatisfy { other[$0.key] >= $0.value }
    }

    /// Entries sorted by replica, for stable output and encoding.
    public var sorted: [(replica: ReplicaID, seq: UInt64)] {
        entries.sorted { $0.key < $1.key }.map { (replica: $0.key, seq: $0.value) }
    }

    /// `replica-hex:seq,replica-hex:seq`, the text form the CLI prints and reads.
    public var description: String {
        sorted.map { "\($0.replica.hex):\($0.seq)" }.joined(separator: ",")
    }

    /// Parses the text form; an empty string is the empty vector.
    public init?(text: String) {
        var entries: [ReplicaID: UInt64] = [:]
        for part in text.split(separator: ",", omittingEmptySubsequences: true) {
            let pieces = part.trimmingSpaces().split(separator: ":")
            guard pieces.count == 2, let r = ReplicaID(hex: String(pieces[0])),
                let n = UInt64(pieces[1]), entries[r] == nil
            else { return nil }
            entries[r] = n
        }
        self.init(entries)
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var s = self
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return s
    }
}
