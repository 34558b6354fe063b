/// A whole replica in memory: the reference model of what the SQLite store must do, used as
/// the oracle in tests and by anything that wants merge without a database.
public struct ReplicaModel: Sendable {
    public let id: ReplicaID
    public var author: String
    public private(set) var clock = HybridClock()
    public private(set) var records: [RecordID: RecordState] = [:]
    public private(set) var log: [ChangeID: Change] = [:]
    public private(set) var versionVector = VersionVector()
    public private(set) var nextSeq: UInt64 = 1
    public var policy: ClockPolicy

    public init(id: ReplicaID, author: String, policy: ClockPolicy = .standard) {
        self.id = id
        self.author = author
        self.policy = policy
    }

    /// Makes a local change from edits at wall time `now`; nil when the edits change nothing.
    @discardableResult
    public mutating func commit(_ edits: [Edit], now: UInt64) throws(EditError) -> Change? {
        let ops = try EditPlanner.operations(for: edits, replica: id, state: { records[$0] }, seen: versionVector)
        guard !ops.isEmpty else { return nil }
        let change = Change(
            id: ChangeID(replica: id, seq: nextSeq), timestamp: clock.tick(now: now), author: author,
            operations: ops)
        integrate(change)
        return change
    }

    /// Applies changes from elsewhere, all or nothing. Returns how many were new.
    @discardableResult
    public mutating func apply(_ changes: [Change], now: UInt64) throws -> Int {
        for c in changes {
            try c.validate()
            try policy.check(c.timestamp, from: c.id, now: now)
        }
        var n = 0
        for c in changes where log[c.id] == nil {
            if c.id.replica == id && c.id.seq >= nextSeq { nextSeq = c.id.seq + 1 }
            integrate(c)
            n += 1
        }
        return n
    }

    private mutating func integrate(_ change: Change) {
        clock.observe(change.timestamp)
        for op in change.operations {
            var rs = records[op.record] ?? RecordState(id: op.record)
            let log = self.log
            rs.apply(op, of: change, isApplied: { log[$0] != nil })
            records[op.record] = rs
        }
        log[change.id] = change
        if change.id.replica == id { nextSeq = max(nextSeq, change.id.seq + 1) }
        var n = versionVector[change.id.replica]
        while log[ChangeID(replica: change.id.replica, seq: n + 1)] != nil { n += 1 }
        versionVector[change.id.replica] = n
    }

    /// Every change in the log that `vv` does not count, in (replica, seq) order.
    public func changes(missingFrom vv: VersionVector) -> [Change] {
        log.values.filter { !vv.contains($0.id) }.sorted { $0.id < $1.id }
    }

    /// Records that exist (their creation has arrived), by id.
    public var visibleRecords: [RecordState] {
        records.values.filter { $0.kind != nil }.sorted { $0.id < $1.id }
    }
}
