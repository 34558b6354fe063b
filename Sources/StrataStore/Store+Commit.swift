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
        try db.write { db in
            var merge = MergeTransaction(db: db, replica: replicaID)
            // Only a delete records the version vector it saw.
            let deletes = groups.contains { $0.contains { if case .delete = $0 { true } else { false } } }
            var seen = deletes ? try Self.versionVector(db) : VersionVector()
            var clock = HybridClock(last: HybridTimestamp(rawValue: try Self.meta(db, "hlc").flatMap(UInt64.init) ?? 0))
            var seq = try Self.meta(db, "next_seq").flatMap(UInt64.init) ?? 1
            let author = try Self.meta(db, "author") ?? ""
            var out: [Change?] = []
            out.reserveCapacity(groups.count)
            for edits in groups {
                for e in edits { _ = try merge.load(e.record) }
                let ops = try EditPlanner.operations(
                    for: edits, replica: replicaID, state: { merge.states[$0] }, seen: seen)
                guard !ops.isEmpty else {
                    out.append(nil)
                    continue
                }
                let change = Change(
                    id: ChangeID(replica: replicaID, seq: seq), timestamp: clock.tick(now: now), author: author,
                    operations: ops)
                if let problem = Self.changeLimits.violation(in: change) {
                    throw StoreError(.changeTooLarge(problem: problem))
                }
                try merge.integrate(change, receivedAt: now)
                if deletes { seen[replicaID] = seq }
                seq += 1
                out.append(change)
                try merge.flushIfFull()
            }
            guard out.contains(where: { $0 != nil }) else { return out }
            try merge.finish()
            try Self.setMeta(db, "hlc", String(clock.last.rawValue))
            try Self.setMeta(db, "next_seq", String(seq))
            return out
        }
    }

    /// What every reader of a change accepts: a local change must fit, or it is not recorded.
    static let changeLimits = CodecLimits()
}
