import Foundation
import GRDB
import StrataCodec
import StrataCore

extension Store {
    /// Applies changes from another replica in one transaction: all or nothing, idempotent,
    /// in any order. Refuses the whole batch if a change is malformed or stamped too far in
    /// the future (``ClockSkewError``). `recording` (what the changes' source now holds) is
    /// written in the same transaction.
    @discardableResult
    public func apply(
        _ changes: [Change], now: UInt64 = Store.wallClockMillis(), recording update: SyncStateUpdate? = nil
    ) throws -> ApplyResult {
        try apply(batches: { each in try each(changes) }, now: now, recording: update)
    }

    /// Applies changes from another replica that arrive a batch at a time (a push read from its
    /// change set as it is decoded), all in one transaction: `read` calls its argument with each
    /// batch in order. Each batch is validated (structure, clock skew) before any of it is
    /// merged and each change is passed to `admit` with whether this replica held it already;
    /// a throw from `read`, from validation or from `admit`, at any batch, rolls every batch
    /// back. Only one batch need be in memory at a time.
    @discardableResult
    public func apply(
        batches read: (_ each: ([Change]) throws -> Void) throws -> Void, now: UInt64 = Store.wallClockMillis(),
        recording update: SyncStateUpdate? = nil, admit: @escaping (Change, _ present: Bool) throws -> Void = { _, _ in }
    ) throws -> ApplyResult {
        try db.write { db in
            var merge = MergeTransaction(db: db, replica: replicaID)
            var result = ApplyResult(applied: 0, duplicates: 0, records: 0)
            var maxTS = HybridTimestamp.zero
            var ownMax: UInt64 = 0
            try read { changes in
                for c in changes {
                    try c.validate()
                    try policy.check(c.timestamp, from: c.id, now: now)
                }
                for c in changes {
                    let present = try merge.has(c.id)
                    try admit(c, present)
                    if present {
                        result.duplicates += 1
                        continue
                    }
                    try merge.integrate(c, receivedAt: now)
                    result.applied += 1
                    maxTS = max(maxTS, c.timestamp)
                    if c.id.replica == replicaID { ownMax = max(ownMax, c.id.seq) }
                    try merge.flushIfFull()
                }
            }
            result.records = merge.recordCount
            try merge.finish()
            let last = HybridTimestamp(rawValue: try Self.meta(db, "hlc").flatMap(UInt64.init) ?? 0)
            if maxTS > last {
                try Self.setMeta(db, "hlc", String(maxTS.rawValue))
            }
            // Our own changes coming back (e.g. from a backup) must not be reused.
            let next = try Self.meta(db, "next_seq").flatMap(UInt64.init) ?? 1
            if ownMax >= next {
                try Self.setMeta(db, "next_seq", String(ownMax + 1))
            }
            if let update { try Self.write(update, in: db, replica: replicaID, now: now) }
            return result
        }
    }
}
