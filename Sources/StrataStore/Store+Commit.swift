import Foundation
import GRDB
import StrataCodec
import StrataCore

extension Store {
    /// Records local edits as one change, atomically. Returns nil when nothing changed.
    @discardableResult
    public func commit(_ edits: [Edit], now: UInt64 = Store.wallClockMillis()) throws -> Change? {
        try commit(each: [edits], now: now)[0]
    }

    /// Records several groups of edits as one change each (in order), all in one transaction:
    /// an import, or a script recording many notes, pays for one durable write instead of one
    /// per change. Returns a change or nil (nothing changed) per group.
    @discardableResult
    public func commit(each groups: [[Edit]], now: UInt64 = Store.wallClockMillis()) throws -> [Change?] {
        try recording(now: now) { recorder in
            var out: [Change?] = []
            out.reserveCapacity(groups.count)
            for edits in groups { out.append(try recorder.commit(edits)) }
            return out
        }
    }

    /// Records changes one group of edits at a time, all in one transaction, each group
    /// planned against the state the groups before it left. What `body` reads and writes goes
    /// through the ``Recorder``; the transaction holds the group in hand and the merge's
    /// bounded cache (it flushes like a pull), so an import of any length does not hold the
    /// whole file's changes. Nothing is written if `body` throws.
    public func recording<T>(now: UInt64 = Store.wallClockMillis(), _ body: (inout Recorder) throws -> T) throws -> T {
        try db.write { db in
            var recorder = try Recorder(db: db, replica: replicaID, now: now)
            let result = try body(&recorder)
            try recorder.close()
            return result
        }
    }

    /// What a ``Store/recording(now:_:)`` body reads and writes with: records as this
    /// transaction has left them, and one change per `commit`.
    public struct Recorder {
        let db: Database
        let replica: ReplicaID
        let now: UInt64
        var merge: MergeTransaction
        var clock: HybridClock
        var seq: UInt64
        let firstSeq: UInt64
        let author: String
        /// What a delete records as seen; read at the first delete (only a delete records it).
        var seen: VersionVector?
        /// Records a group of this transaction created.
        var created = Set<RecordID>()

        init(db: Database, replica: ReplicaID, now: UInt64) throws {
            self.db = db
            self.replica = replica
            self.now = now
            merge = MergeTransaction(db: db, replica: replica)
            clock = HybridClock(last: HybridTimestamp(rawValue: try Store.meta(db, "hlc").flatMap(UInt64.init) ?? 0))
            seq = try Store.meta(db, "next_seq").flatMap(UInt64.init) ?? 1
            firstSeq = seq
            author = try Store.meta(db, "author") ?? ""
        }

        /// The record with this id as the groups recorded so far left it, or nil.
        public mutating func record(_ id: RecordID) throws -> RecordState? {
            try merge.load(id)
        }

        /// Finds a record by a prefix of its text id among the records stored before this
        /// transaction began (what a group of it created is not a candidate), as
        /// ``Store/resolve(prefix:)`` does.
        public mutating func resolve(prefix input: String) throws -> RecordID {
            if let id = try Store.resolve(prefix: input, in: db, excluding: created) { return id }
            // A full id: a record stored before, or one this transaction changed.
            let id = RecordID(text: Base32.normalise(input.trimmed)!)!
            if !created.contains(id), try merge.load(id)?.kind != nil { return id }
            throw StoreError(.noRecord(id: id.text))
        }

        /// Records `edits` as one change; nil when they change nothing.
        public mutating func commit(_ edits: [Edit]) throws -> Change? {
            for e in edits { _ = try merge.load(e.record) }
            if seen == nil, edits.contains(where: { if case .delete = $0 { true } else { false } }) {
                var vector = try Store.versionVector(db)
                // This transaction's own changes, flushed or not, are seen.
                if seq > firstSeq { vector[replica] = max(vector[replica], seq - 1) }
                seen = vector
            }
            let ops = try EditPlanner.operations(
                for: edits, replica: replica, state: { merge.states[$0] }, seen: seen ?? VersionVector())
            guard !ops.isEmpty else { return nil }
            let change = Change(
                id: ChangeID(replica: replica, seq: seq), timestamp: clock.tick(now: now), author: author,
                operations: ops)
            if let problem = Store.changeLimits.violation(in: change) {
                throw StoreError(.changeTooLarge(problem: problem))
            }
            for case .create(let id, _) in edits where merge.states[id]?.kind == nil { created.insert(id) }
            try merge.integrate(change, receivedAt: now)
            if seen != nil { seen![replica] = seq }
            seq += 1
            try merge.flushIfFull()
            return change
        }

        /// Writes what is left and the clock, if anything was recorded.
        mutating func close() throws {
            guard seq > firstSeq else { return }
            try merge.finish()
            try Store.setMeta(db, "hlc", String(clock.last.rawValue))
            try Store.setMeta(db, "next_seq", String(seq))
        }
    }

    /// What every reader of a change accepts: a local change must fit, or it is not recorded.
    static let changeLimits = CodecLimits()
}
