import Foundation
import GRDB
import StrataCodec
import StrataCore

extension Store {
    /// The record with this id, or nil.
    public func record(_ id: RecordID) throws -> RecordState? {
        try db.read { db in
            var b = MergeTransaction(db: db, replica: replicaID)
            return try b.load(id)
        }
    }

    /// Finds a record by a prefix of its text id, as git does with commits.
    public func resolve(prefix input: String) throws -> RecordID {
        try db.read { db in
            if let id = try Self.resolve(prefix: input, in: db) { return id }
            let id = RecordID(text: Base32.normalise(input.trimmed)!)!
            var b = MergeTransaction(db: db, replica: replicaID)
            if try b.load(id)?.kind != nil { return id }
            throw StoreError(.noRecord(id: id.text))
        }
    }

    /// The record a prefix names, leaving out the ids in `excluding`; nil when `input` is a
    /// full id (whose record the caller looks up in its own view). Throws when the prefix is
    /// not an id's, too short, matches nothing or matches more than one record.
    static func resolve(prefix input: String, in db: Database, excluding: Set<RecordID> = []) throws -> RecordID? {
        let raw = input.trimmed
        guard let p = Base32.normalise(raw), !p.isEmpty else {
            throw StoreError(.notARecordID(text: raw))
        }
        if p.count == 26, RecordID(text: p) != nil { return nil }
        guard p.count >= 4 else {
            throw StoreError(.prefixTooShort(prefix: raw))
        }
        // Enough rows that 11 are left once the excluded are taken out.
        let rows = try Row.fetchAll(
            db, sql: "SELECT id, kind, title FROM records WHERE text_id >= ? AND text_id < ? AND kind IS NOT NULL LIMIT ?",
            arguments: [p, p + "~", 11 + excluding.count]
        ).filter { !excluding.contains(RecordID(bytes: $0[0] as Data)!) }.prefix(11)
        if rows.isEmpty { throw StoreError(.noMatch(prefix: raw)) }
        if rows.count > 1 {
            let shown = rows.prefix(10).map { row -> String in
                let id = RecordID(bytes: row[0] as Data)!
                return "\(id.text.prefix(p.count + 3)) \(row[1] as String? ?? "?") \(row[2] as String? ?? "")"
            }
            throw StoreError(.ambiguous(prefix: raw, candidates: shown, more: rows.count > 10))
        }
        return RecordID(bytes: rows.first![0] as Data)!
    }

    /// The shortest prefix of `id` (at least 7 characters) that no other record of this replica
    /// shares, found from its two neighbours in id order: two index lookups whatever the
    /// replica's size, where ``abbreviationLength()`` reads every id. What a command that names
    /// one record prints (`add`, `append`).
    public func uniquePrefix(of id: RecordID) throws -> String {
        let t = id.text
        return try db.read { db in
            let before = try String.fetchOne(
                db, sql: "SELECT text_id FROM records WHERE text_id < ? ORDER BY text_id DESC LIMIT 1", arguments: [t])
            let after = try String.fetchOne(
                db, sql: "SELECT text_id FROM records WHERE text_id > ? ORDER BY text_id LIMIT 1", arguments: [t])
            let shared = max(Self.commonPrefixLength(t, before), Self.commonPrefixLength(t, after))
            return String(t.prefix(min(26, max(7, shared + 1))))
        }
    }

    static func commonPrefixLength(_ a: String, _ b: String?) -> Int {
        guard let b else { return 0 }
        var n = 0
        for (x, y) in zip(a.utf8, b.utf8) {
            guard x == y else { break }
            n += 1
        }
        return n
    }

    /// The shortest id length (at least 7) that tells every record of this replica apart.
    public func abbreviationLength() throws -> Int {
        try db.read { db in
            var longest = 0
            var previous: [UInt8] = []
            let cursor = try String.fetchCursor(db, sql: "SELECT text_id FROM records ORDER BY text_id")
            while let t = try cursor.next() {
                let cur = Array(t.utf8)
                var i = 0
                while i < cur.count && i < previous.count && cur[i] == previous[i] { i += 1 }
                longest = max(longest, i)
                previous = cur
            }
            return min(26, max(7, longest + 1))
        }
    }

    /// Records matching a filter, most recently created first.
    public func list(_ filter: RecordFilter = RecordFilter()) throws -> [RecordState] {
        var conditions = ["r.kind IS NOT NULL"]
        var args: [any DatabaseValueConvertible] = []
        if let k = filter.kind {
            conditions.append("r.kind = ?")
            args.append(k.rawValue)
        }
        if filter.onlyDeleted {
            conditions.append("r.deleted = 1")
        } else if !filter.includeDeleted {
            conditions.append("r.deleted = 0")
        }
        if filter.onlyConflicts { conditions.append("r.conflict = 1") }
        if let s = filter.state {
            conditions.append("r.state = ?")
            args.append(s)
        }
        if let t = filter.tag {
            conditions.append("r.rowid IN (SELECT record FROM record_tags WHERE tag = ?)")
            args.append(t.lowercased())
        }
        if let rel = filter.relatedTo {
            conditions.append("(r.id = ? OR r.rowid IN (SELECT source FROM relations WHERE target = ?))")
            args.append(Data(rel.bytes))
            args.append(Data(rel.bytes))
        }
        if let q = filter.text {
            conditions.append("r.rowid IN (SELECT rowid FROM records_fts WHERE records_fts MATCH ?)")
            args.append(Self.ftsQuery(q))
        }
        var sql = "SELECT r.id, r.doc, r.rowid FROM records r WHERE " + conditions.joined(separator: " AND ")
            + " ORDER BY r.created DESC, r.id DESC"
        if let l = filter.limit { sql += " LIMIT \(max(0, l))" }
        return try db.read { db in
            do {
                return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(args)).map { row in
                    try MergeTransaction.state(db, rowid: row[2], id: RecordID(bytes: row[0] as Data)!, doc: row[1])
                }
            } catch let e as DatabaseError where e.message?.contains("fts5") == true {
                throw StoreError(.invalidSearch(query: filter.text ?? "", reason: e.message ?? "syntax error"))
            }
        }
    }

    /// Full-text search over titles, bodies and every other text field, best match first.
    public func search(_ query: String, includeDeleted: Bool = false, limit: Int = 50) throws -> [RecordState] {
        let q = Self.ftsQuery(query)
        return try db.read { db in
            do {
                let rows = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT r.id, r.doc, r.rowid FROM records_fts f JOIN records r ON r.rowid = f.rowid
                        WHERE records_fts MATCH ? \(includeDeleted ? "" : "AND r.deleted = 0")
                        ORDER BY bm25(records_fts, 5.0, 1.0) LIMIT ?
                        """, arguments: [q, limit])
                return try rows.map { row in
                    try MergeTransaction.state(db, rowid: row[2], id: RecordID(bytes: row[0] as Data)!, doc: row[1])
                }
            } catch let e as DatabaseError {
                throw StoreError(.invalidSearch(query: query, reason: e.message ?? "syntax error"))
            }
        }
    }

    /// Plain words become a prefix-free AND query with each word quoted, so punctuation in
    /// user input is never FTS5 syntax; input with quotes or operators is passed through.
    static func ftsQuery(_ q: String) -> String {
        let hasSyntax = q.contains("\"") || q.contains(" OR ") || q.contains(" NOT ") || q.contains("*")
        if hasSyntax { return q }
        return q.split(whereSeparator: { $0.isWhitespace }).map { "\"\($0)\"" }.joined(separator: " ")
    }

    /// Records with a conflict to resolve (deleted ones included: a delete may have missed edits).
    public func conflicts() throws -> [RecordState] {
        try list(RecordFilter(includeDeleted: true, onlyConflicts: true))
    }

    /// Every operation that touched a record, oldest first (changes with equal timestamps in
    /// replica id order, not in the order this store first heard of their replicas, so every
    /// replica lists one history the same way).
    public func history(of id: RecordID) throws -> [HistoryEntry] {
        try db.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT c.payload FROM records r
                    JOIN change_records cr ON cr.record = r.rowid
                    JOIN changes c ON c.replica = cr.replica AND c.seq = cr.seq
                    JOIN replicas p ON p.idx = cr.replica
                    WHERE r.id = ? ORDER BY c.hlc, p.id, cr.seq
                    """, arguments: [Data(id.bytes)])
            var out: [HistoryEntry] = []
            for row in rows {
                let change = try ChangeCodec.decode(row[0] as Data)
                for op in change.operations where op.record == id {
                    out.append(
                        HistoryEntry(
                            change: change.id, timestamp: change.timestamp, author: change.author, key: op.key,
                            action: op.action, preds: op.preds))
                }
            }
            return out
        }
    }

    /// This replica's version vector.
    public func versionVector() throws -> VersionVector {
        try db.read { db in try Self.versionVector(db) }
    }

    /// Every change that a replica with version vector `vv` lacks, in (replica, seq) order.
    /// Uses the primary key: the cost follows the size of the answer, not of the log.
    public func changes(missingFrom vv: VersionVector) throws -> [Change] {
        try db.read { db in
            var out: [Change] = []
            for (idx, _, from) in try Self.logRanges(db, past: vv) {
                let payloads = try Data.fetchCursor(
                    db.cachedStatement(sql: "SELECT payload FROM changes WHERE replica = ? AND seq > ? ORDER BY seq"),
                    arguments: [idx, from])
                while let p = try payloads.next() { out.append(try ChangeCodec.decode(p)) }
            }
            return out
        }
    }

    /// Counts for `strata status`. Local changes are those of this store's replica id, looked
    /// up in `replicas` (index 1 is where `create` and `restore` put it, not something to rely on).
    public func status() throws -> StoreStatus {
        try db.read { db in
            let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT (SELECT count(*) FROM records WHERE kind IS NOT NULL AND deleted = 0),
                           (SELECT count(*) FROM records WHERE kind IS NOT NULL AND deleted = 1),
                           (SELECT count(*) FROM records WHERE conflict = 1),
                           (SELECT count(*) FROM changes),
                           (SELECT count(*) FROM changes WHERE replica = (SELECT idx FROM replicas WHERE id = ?))
                    """, arguments: [Data(replicaID.bytes)])!
            return StoreStatus(
                replica: replicaID, author: try Self.meta(db, "author") ?? "", path: path, records: row[0], deleted: row[1],
                conflicts: row[2], changes: row[3], localChanges: row[4], versionVector: try Self.versionVector(db))
        }
    }

    /// Runs SQLite's integrity check, re-derives every record from the change log and compares
    /// it with the materialised state, and compares the search index with one built afresh
    /// from the records (``searchIndexProblems()``). Returns a list of problems (empty when
    /// healthy).
    public func check() throws -> [String] {
        try materialisedProblems() + searchIndexProblems()
    }

    private func materialisedProblems() throws -> [String] {
        try db.read { db in
            var problems: [String] = []
            let ic = try String.fetchAll(db, sql: "PRAGMA integrity_check")
            if ic != ["ok"] { problems.append(contentsOf: ic.map { "sqlite: \($0)" }) }
            let model = try StoreSchema.replayLog(db, replica: replicaID) { problems.append("change log: \($0)") }
            let rows = try Row.fetchAll(db, sql: "SELECT id, doc, rowid FROM records")
            var seen = 0
            for row in rows {
                let id = RecordID(bytes: row[0] as Data)!
                guard let stored = try? MergeTransaction.state(db, rowid: row[2], id: id, doc: row[1]) else {
                    problems.append("record \(id.text): materialised state unreadable")
                    continue
                }
                seen += 1
                if model.records[id] != stored { problems.append("record \(id.text): materialised state differs from the change log") }
            }
            if seen != model.records.count {
                problems.append("\(model.records.count) records in the change log, \(seen) materialised")
            }
            return problems
        }
    }
}

extension Store {
    /// Every record's state, placeholders for records whose creation has not arrived included.
    public func allRecordStates() throws -> [RecordID: RecordState] {
        try db.read { db in
            var out: [RecordID: RecordState] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT id, doc, rowid FROM records") {
                let id = RecordID(bytes: row[0] as Data)!
                out[id] = try MergeTransaction.state(db, rowid: row[2], id: id, doc: row[1])
            }
            return out
        }
    }
}
