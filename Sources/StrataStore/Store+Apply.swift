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
            var batch = Batch(db: db, replica: replicaID)
            // Only a delete records the version vector it saw.
            let deletes = groups.contains { $0.contains { if case .delete = $0 { true } else { false } } }
            var seen = deletes ? try Self.versionVector(db) : VersionVector()
            var clock = HybridClock(last: HybridTimestamp(rawValue: try Self.meta(db, "hlc").flatMap(UInt64.init) ?? 0))
            var seq = try Self.meta(db, "next_seq").flatMap(UInt64.init) ?? 1
            let author = try Self.meta(db, "author") ?? ""
            var out: [Change?] = []
            out.reserveCapacity(groups.count)
            for edits in groups {
                for e in edits { _ = try batch.load(e.record) }
                let ops = try EditPlanner.operations(
                    for: edits, replica: replicaID, state: { batch.states[$0] }, seen: seen)
                guard !ops.isEmpty else {
                    out.append(nil)
                    continue
                }
                let change = Change(
                    id: ChangeID(replica: replicaID, seq: seq), timestamp: clock.tick(now: now), author: author,
                    operations: ops)
                if let problem = Self.changeLimits.violation(in: change) {
                    throw StoreError(.invalid, "\(problem); nothing was recorded")
                }
                try batch.integrate(change, receivedAt: now)
                if deletes { seen[replicaID] = seq }
                seq += 1
                out.append(change)
                try batch.flushIfFull()
            }
            guard out.contains(where: { $0 != nil }) else { return out }
            try batch.finish()
            try Self.setMeta(db, "hlc", String(clock.last.rawValue))
            try Self.setMeta(db, "next_seq", String(seq))
            return out
        }
    }

    /// Applies changes from another replica in one transaction: all or nothing, idempotent,
    /// in any order. Refuses the whole batch if a change is malformed or stamped too far in
    /// the future (``ClockSkewError``). `recording` (what the changes' source now holds) is
    /// written in the same transaction.
    @discardableResult
    public func apply(
        _ changes: [Change], now: UInt64 = Store.wallClockMillis(), recording update: SyncStateUpdate? = nil
    ) throws -> ApplyResult {
        for c in changes {
            try c.validate()
            try policy.check(c.timestamp, from: c.id, now: now)
        }
        return try db.write { db in
            var batch = Batch(db: db, replica: replicaID)
            var result = ApplyResult(applied: 0, duplicates: 0, records: 0)
            var maxTS = HybridTimestamp.zero
            var ownMax: UInt64 = 0
            for c in changes {
                if try batch.has(c.id) {
                    result.duplicates += 1
                    continue
                }
                try batch.integrate(c, receivedAt: now)
                result.applied += 1
                maxTS = max(maxTS, c.timestamp)
                if c.id.replica == replicaID { ownMax = max(ownMax, c.id.seq) }
                try batch.flushIfFull()
            }
            result.records = batch.recordCount
            try batch.finish()
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

    /// What every reader of a change accepts: a local change must fit, or it is not recorded.
    static let changeLimits = CodecLimits()

    static func meta(_ db: Database, _ key: String) throws -> String? {
        try String.fetchOne(db.cachedStatement(sql: "SELECT value FROM meta WHERE key = ?"), arguments: [key])
    }

    static func setMeta(_ db: Database, _ key: String, _ value: String) throws {
        try db.cachedStatement(sql: "UPDATE meta SET value = ? WHERE key = ?").execute(arguments: [value, key])
    }

    static func versionVector(_ db: Database) throws -> VersionVector {
        var vv = VersionVector()
        let rows = try Row.fetchAll(
            db.cachedStatement(sql: "SELECT r.id, v.contiguous FROM versions v JOIN replicas r ON r.idx = v.replica"))
        for row in rows {
            let bytes: Data = row[0]
            if let id = ReplicaID(bytes: bytes) { vv[id] = UInt64(row[1] as Int64) }
        }
        return vv
    }
}

/// One write transaction's worth of merging: caches record states and replica indices,
/// writes the materialised rows once at the end.
struct Batch {
    let db: Database
    let replica: ReplicaID
    var replicaIndex: [ReplicaID: Int64] = [:]
    var states: [RecordID: RecordState] = [:]
    var touched: Set<RecordID> = []
    var appliedInBatch: Set<ChangeID> = []
    var replicasTouched: Set<Int64> = []
    /// Rowids of materialised rows looked up or created in this batch.
    var rowIDs: [RecordID: Int64] = [:]
    /// Records whose row this batch created: nothing to delete from their side tables.
    var created: Set<RecordID> = []
    /// Records looked up and found to have no row yet (until `finish` writes it).
    var absent: Set<RecordID> = []
    /// (record, replica index, seq) links of the changes integrated since the last `finish`,
    /// written once the records' rows exist.
    var links: [(record: RecordID, replica: Int64, seq: Int64)] = []
    /// Records written by earlier flushes of this batch.
    var flushed: Set<RecordID> = []

    init(db: Database, replica: ReplicaID) {
        self.db = db
        self.replica = replica
    }

    mutating func index(of r: ReplicaID, create: Bool) throws -> Int64? {
        if let i = replicaIndex[r] { return i }
        let blob = Data(r.bytes)
        if let i = try Int64.fetchOne(db.cachedStatement(sql: "SELECT idx FROM replicas WHERE id = ?"), arguments: [blob]) {
            replicaIndex[r] = i
            return i
        }
        guard create else { return nil }
        try db.cachedStatement(sql: "INSERT INTO replicas(id) VALUES (?)").execute(arguments: [blob])
        let i = db.lastInsertedRowID
        replicaIndex[r] = i
        return i
    }

    mutating func has(_ id: ChangeID) throws -> Bool {
        if appliedInBatch.contains(id) { return true }
        guard let r = try index(of: id.replica, create: false) else { return false }
        return try Bool.fetchOne(
            db.cachedStatement(sql: "SELECT 1 FROM changes WHERE replica = ? AND seq = ?"),
            arguments: [r, Int64(bitPattern: id.seq)]) ?? false
    }

    mutating func load(_ id: RecordID) throws -> RecordState? {
        if let s = states[id] { return s }
        if absent.contains(id) { return nil }
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT rowid, doc FROM records WHERE id = ?"), arguments: [Data(id.bytes)])
        else {
            absent.insert(id)
            return nil
        }
        rowIDs[id] = row[0]
        let blob: Data = row[1]
        do {
            let s = try RecordStateCodec.decode(blob, id: id)
            states[id] = s
            return s
        } catch {
            throw StoreError(.corrupt, "record \(id.text) cannot be read (\(error)); run `strata check`")
        }
    }

    mutating func integrate(_ change: Change, receivedAt: UInt64) throws {
        let r = try index(of: change.id.replica, create: true)!
        try db.cachedStatement(
            sql: "INSERT INTO changes(replica, seq, hlc, author, payload, received_at) VALUES (?, ?, ?, ?, ?, ?)"
        ).execute(arguments: [
            r, Int64(bitPattern: change.id.seq), Int64(bitPattern: change.timestamp.rawValue), change.author,
            Data(ChangeCodec.encode(change)), Int64(bitPattern: receivedAt),
        ])
        var recordsOfChange = Set<RecordID>()
        var appliedPreds = Set<ChangeID>()
        for op in change.operations {
            for p in op.preds { if try has(p) { appliedPreds.insert(p) } }
        }
        for op in change.operations {
            var s = try load(op.record) ?? RecordState(id: op.record)
            // The batch's copy is dropped first, so `apply` mutates the only copy in place
            // instead of copying the whole state (its text documents included) for each write.
            states[op.record] = nil
            s.apply(op, of: change, isApplied: { appliedPreds.contains($0) })
            states[op.record] = s
            touched.insert(op.record)
            recordsOfChange.insert(op.record)
        }
        appliedInBatch.insert(change.id)
        replicasTouched.insert(r)
        for rec in recordsOfChange { links.append((rec, r, Int64(bitPattern: change.id.seq))) }
    }

    /// The rowid of a record's materialised row; nil when it has none yet.
    mutating func existingRowID(for id: RecordID) throws -> Int64? {
        if let i = rowIDs[id] { return i }
        if absent.contains(id) { return nil }
        guard
            let i = try Int64.fetchOne(
                db.cachedStatement(sql: "SELECT rowid FROM records WHERE id = ?"), arguments: [Data(id.bytes)])
        else {
            absent.insert(id)
            return nil
        }
        rowIDs[id] = i
        return i
    }

    /// Records held in memory before `flushIfFull` writes them out, in long batches.
    static let flushThreshold = 1024

    /// Distinct records this batch has touched, flushed ones included.
    var recordCount: Int { flushed.union(touched).count }

    /// Once `flushThreshold` records are held, writes their rows (`finish`) and drops the cached
    /// states, so a batch of any length holds a bounded number of records in memory. Rowids
    /// stay cached.
    mutating func flushIfFull() throws {
        guard touched.count >= Self.flushThreshold else { return }
        try finish()
        flushed.formUnion(touched)
        states.removeAll(keepingCapacity: true)
        touched.removeAll(keepingCapacity: true)
        created.removeAll(keepingCapacity: true)
        replicasTouched.removeAll(keepingCapacity: true)
    }

    /// Writes the materialised rows of touched records and advances the version vector.
    mutating func finish() throws {
        for id in touched {
            guard let s = states[id] else { continue }
            let kind = s.kind.flatMap(RecordKind.init(rawValue:))
            let title = kind.flatMap { s.text($0.titleField) }
            let columns: StatementArguments = [
                s.kind, title, s.text("state"), s.isDeleted, s.hasConflict,
                s.creation.map { Int64(bitPattern: $0.timestamp.rawValue) },
                s.lastModified.map { Int64(bitPattern: $0.rawValue) },
                Data(RecordStateCodec.encode(s)),
            ]
            let rowid: Int64
            if let existing = try existingRowID(for: id) {
                rowid = existing
                try db.cachedStatement(
                    sql: """
                        UPDATE records SET kind = ?, title = ?, state = ?, deleted = ?, conflict = ?, created = ?,
                        modified = ?, doc = ? WHERE rowid = ?
                        """
                ).execute(arguments: columns + [rowid])
            } else {
                // A record new to this replica: its row is written once, complete.
                try db.cachedStatement(
                    sql: """
                        INSERT INTO records(kind, title, state, deleted, conflict, created, modified, doc, id, text_id)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """
                ).execute(arguments: columns + [Data(id.bytes), id.text])
                rowid = db.lastInsertedRowID
                rowIDs[id] = rowid
                absent.remove(id)
                created.insert(id)
            }
            let fresh = created.contains(id)
            if !fresh {
                try db.cachedStatement(sql: "DELETE FROM record_tags WHERE record = ?").execute(arguments: [rowid])
            }
            for t in s.tags {
                try db.cachedStatement(sql: "INSERT INTO record_tags(tag, record) VALUES (?, ?)").execute(arguments: [t, rowid])
            }
            if !fresh {
                try db.cachedStatement(sql: "DELETE FROM relations WHERE source = ?").execute(arguments: [rowid])
            }
            for rel in s.elements(SystemField.relations) {
                guard let (type, target) = RelationElement.parse(rel) else { continue }
                try db.cachedStatement(sql: "INSERT OR IGNORE INTO relations(target, rel, source) VALUES (?, ?, ?)")
                    .execute(arguments: [Data(target.bytes), type, rowid])
            }
            if !fresh {
                try db.cachedStatement(sql: "DELETE FROM records_fts WHERE rowid = ?").execute(arguments: [rowid])
            }
            if kind != nil {
                let body = s.fields.compactMap { f -> String? in
                    guard f.name != kind?.titleField, case .text(let t) = f.value else { return nil }
                    return t
                }.joined(separator: "\n")
                try db.cachedStatement(sql: "INSERT INTO records_fts(rowid, title, body) VALUES (?, ?, ?)")
                    .execute(arguments: [rowid, title ?? "", body])
            }
        }
        for link in links {
            guard let rowid = rowIDs[link.record] else {
                // Every record a change touches is written above; nothing was committed.
                throw StoreError(.corrupt, "record \(link.record.text) of a change has no row; nothing was written")
            }
            try db.cachedStatement(sql: "INSERT OR IGNORE INTO change_records(record, replica, seq) VALUES (?, ?, ?)")
                .execute(arguments: [rowid, link.replica, link.seq])
        }
        links.removeAll(keepingCapacity: true)
        for r in replicasTouched {
            var n = try Int64.fetchOne(
                db.cachedStatement(sql: "SELECT contiguous FROM versions WHERE replica = ?"), arguments: [r]) ?? 0
            let seqs = try Int64.fetchCursor(
                db.cachedStatement(sql: "SELECT seq FROM changes WHERE replica = ? AND seq > ? ORDER BY seq"),
                arguments: [r, n])
            while let s = try seqs.next(), s == n + 1 { n = s }
            try db.cachedStatement(
                sql: "INSERT INTO versions(replica, contiguous) VALUES (?, ?) ON CONFLICT(replica) DO UPDATE SET contiguous = excluded.contiguous"
            ).execute(arguments: [r, n])
        }
    }
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
