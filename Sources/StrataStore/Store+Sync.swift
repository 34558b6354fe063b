import Foundation
import GRDB
import StrataCodec
import StrataCore

/// A bounded slice of what a peer lacks.
public struct ChangeBatch: Sendable {
    /// Changes in (replica, seq) order.
    public var changes: [Change]
    /// True when more changes are missing beyond this batch.
    public var more: Bool
    /// How many changes the peer still lacks after this batch (counted, not estimated).
    public var remaining: Int
    /// Uncompressed size of the changes in the log's encoding, the measure of the bound.
    public var bytes: Int
}

extension Store {
    /// At most about `maxBytes` (at least one change) of what a replica with `vv` lacks, in
    /// (replica id, seq) order, so that the receiver's version vector advances contiguously
    /// and a cut transfer resumes where it stopped. Reads only the primary-key ranges past
    /// `vv`: the cost follows the size of the answer, not of the log.
    public func changes(missingFrom vv: VersionVector, maxBytes: Int) throws -> ChangeBatch {
        try db.read { db in
            var batch = ChangeBatch(changes: [], more: false, remaining: 0, bytes: 0)
            var full = false
            for (idx, _, from) in try Self.logRanges(db, past: vv) {
                if full {
                    batch.remaining += try Int.fetchOne(
                        db.cachedStatement(sql: "SELECT count(*) FROM changes WHERE replica = ? AND seq > ?"),
                        arguments: [idx, from]) ?? 0
                    continue
                }
                let rows = try Row.fetchCursor(
                    db.cachedStatement(sql: "SELECT seq, payload FROM changes WHERE replica = ? AND seq > ? ORDER BY seq"),
                    arguments: [idx, from])
                var last = from
                while let row = try rows.next() {
                    let payload: Data = row[1]
                    if !batch.changes.isEmpty && batch.bytes + payload.count > maxBytes {
                        full = true
                        break
                    }
                    batch.changes.append(try ChangeCodec.decode(payload))
                    batch.bytes += payload.count
                    last = row[0]
                }
                if full {
                    batch.remaining += try Int.fetchOne(
                        db.cachedStatement(sql: "SELECT count(*) FROM changes WHERE replica = ? AND seq > ?"),
                        arguments: [idx, last]) ?? 0
                }
            }
            batch.more = batch.remaining > 0
            return batch
        }
    }
}

extension Store {
    /// The subset of `ids` this replica already holds.
    public func present(_ ids: [ChangeID]) throws -> Set<ChangeID> {
        try db.read { db in
            var b = MergeTransaction(db: db, replica: replicaID)
            var out = Set<ChangeID>()
            for id in ids where try b.has(id) { out.insert(id) }
            return out
        }
    }
}

extension Store {
    /// Per replica of this log, in id order, where the part a replica at `vv` lacks starts:
    /// (replica index, replica id, last seq `vv` holds). Readers of what is missing query the
    /// primary key from there, so their cost follows the answer, not the log.
    static func logRanges(_ db: Database, past vv: VersionVector) throws -> [(index: Int64, replica: ReplicaID, from: Int64)] {
        try Row.fetchAll(db, sql: "SELECT idx, id FROM replicas ORDER BY id").compactMap { r in
            guard let rid = ReplicaID(bytes: r[1] as Data) else { return nil }
            return (r[0], rid, Int64(bitPattern: vv[rid]))
        }
    }

    /// What a replica at `vv` lacks of this log, in (replica id, seq) order, as ids, authors
    /// and stored sizes: enough to decide what to push and to cut it into batches, without
    /// decoding a change.
    public func pushCandidates(missingFrom vv: VersionVector) throws -> [PushCandidate] {
        try db.read { db in
            var out: [PushCandidate] = []
            for (idx, rid, from) in try Self.logRanges(db, past: vv) {
                let rows = try Row.fetchCursor(
                    db.cachedStatement(
                        sql: "SELECT seq, author, length(payload) FROM changes WHERE replica = ? AND seq > ? ORDER BY seq"),
                    arguments: [idx, from])
                while let row = try rows.next() {
                    out.append(PushCandidate(id: ChangeID(replica: rid, seq: UInt64(row[0] as Int64)), author: row[1], bytes: row[2]))
                }
            }
            return out
        }
    }

    /// The logged changes with these ids, in the order given, each decoded once. Throws when
    /// one is not in the log.
    public func changes(_ ids: [ChangeID]) throws -> [Change] {
        try db.read { db in
            var index: [ReplicaID: Int64] = [:]
            for r in try Row.fetchAll(db, sql: "SELECT idx, id FROM replicas") {
                if let rid = ReplicaID(bytes: r[1] as Data) { index[rid] = r[0] }
            }
            let statement = try db.cachedStatement(sql: "SELECT payload FROM changes WHERE replica = ? AND seq = ?")
            return try ids.map { id in
                guard let idx = index[id.replica],
                    let payload = try Data.fetchOne(statement, arguments: [idx, Int64(bitPattern: id.seq)])
                else { throw StoreError(.changeNotInLog(id: "\(id)")) }
                return try ChangeCodec.decode(payload)
            }
        }
    }
}

extension Store {
    /// The replicas with at least one change in this log, in id order.
    public func logReplicas() throws -> [ReplicaID] {
        try db.read { db in
            try Self.logRanges(db, past: VersionVector()).map(\.replica).filter { rid in
                try Bool.fetchOne(
                    db, sql: "SELECT 1 FROM changes WHERE replica = (SELECT idx FROM replicas WHERE id = ?) LIMIT 1",
                    arguments: [Data(rid.bytes)]) ?? false
            }
        }
    }

    /// At most `limit` of one replica's logged changes after `seq`, in seq order, as their stored
    /// bytes (the `ChangeCodec` encoding): for copying a log byte for byte.
    public func storedChanges(of replica: ReplicaID, after seq: UInt64, limit: Int) throws -> [(seq: UInt64, payload: [UInt8])] {
        try db.read { db in
            try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT seq, payload FROM changes
                        WHERE replica = (SELECT idx FROM replicas WHERE id = ?) AND seq > ? ORDER BY seq LIMIT ?
                        """),
                arguments: [Data(replica.bytes), Int64(bitPattern: seq), limit]
            ).map { row in (seq: UInt64(bitPattern: row[0] as Int64), payload: [UInt8](row[1] as Data)) }
        }
    }
}
