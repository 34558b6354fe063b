import Foundation
import GRDB
import StrataCodec
import StrataCore

/// The materialiser: one write transaction's worth of merging changes into record states.
/// Caches record states and replica indices, writes the materialised rows (`records`,
/// `record_tags`, `relations`, `records_fts`, `change_records`) and the version vector once
/// at the end. A local commit, a remote apply and a migration's rebuild each run one.
///
/// Not to be confused with ``ChangeBatch``, the bounded slice of the log that sync sends.
struct MergeTransaction {
    let db: Database
    let replica: ReplicaID
    var replicaIndex: [ReplicaID: Int64] = [:]
    var states: [RecordID: RecordState] = [:]
    var touched: Set<RecordID> = []
    var appliedHere: Set<ChangeID> = []
    var replicasTouched: Set<Int64> = []
    /// Rowids of materialised rows looked up or created since the last flush.
    var rowIDs: [RecordID: Int64] = [:]
    /// Records whose row this transaction created: nothing to delete from their side tables.
    var created: Set<RecordID> = []
    /// Records looked up and found to have no row yet (until `finish` writes it).
    var absent: Set<RecordID> = []
    /// (record, replica index, seq) links of the changes integrated since the last `finish`,
    /// written once the records' rows exist.
    var links: [(record: RecordID, replica: Int64, seq: Int64)] = []
    /// Records written by earlier flushes of this transaction.
    var flushed: Set<RecordID> = []
    /// Records this transaction made from one change whose operations on them name no
    /// predecessor, and that no other change has touched: their state is a function of that
    /// change (`RecordState(id:madeBy:)`), so their row keeps an empty `doc` and a read derives
    /// the state from the log (`state(_:rowid:id:doc:)`) instead of the store keeping the text
    /// twice. A second change to the record writes its full state.
    var derivable: Set<RecordID> = []
    /// False only in migrations that run before `record_attachments` exists (v2-text): no
    /// store of that age holds an attachment.
    var materialisesAttachments = true
    /// The (title, body) each loaded record's `records_fts` entry was written with, derived from
    /// its stored state by the same function that wrote it (``SearchText``); nil for a record
    /// without a kind, which has no entry. `records_fts` is contentless (v6 on): it keeps no
    /// copy of the text, so an entry is deleted by giving these very values. A transaction that
    /// sets `states` without loading them (a rebuild) empties the index first.
    var indexed: [RecordID: SearchText] = [:]

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
        if appliedHere.contains(id) { return true }
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
        let s = try Self.state(db, rowid: row[0], id: id, doc: row[1])
        states[id] = s
        indexed[id] = SearchText(s)
        return s
    }

    /// A record's state from its row: the stored `doc`, or, when `doc` is empty, the state
    /// derived from the one change that made the record (see `derivable`).
    static func state(_ db: Database, rowid: Int64, id: RecordID, doc: Data) throws -> RecordState {
        do {
            if !doc.isEmpty { return try RecordStateCodec.decode(doc, id: id) }
            let payloads = try Data.fetchAll(
                db.cachedStatement(
                    sql: "SELECT c.payload FROM change_records l JOIN changes c ON c.replica = l.replica AND c.seq = l.seq WHERE l.record = ? LIMIT 2"),
                arguments: [rowid])
            guard payloads.count == 1 else {
                let logged = payloads.isEmpty ? "no change" : "more than one change"
                throw StoreError(.corruptRecord(id: id.text, detail: "its state is not stored and \(logged) is logged for it"))
            }
            return RecordState(id: id, madeBy: try ChangeCodec.decode(payloads[0]))
        } catch let e as StoreError {
            throw e
        } catch {
            throw StoreError(.corruptRecord(id: id.text, detail: "\(error)"))
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
        for op in change.operations where !recordsOfChange.contains(op.record) {
            recordsOfChange.insert(op.record)
            // New to this replica, and made by this change alone?
            if try load(op.record) == nil && RecordState.namesNoPredecessor(change, on: op.record) {
                derivable.insert(op.record)
            } else {
                derivable.remove(op.record)
            }
        }
        for op in change.operations {
            var s = try load(op.record) ?? RecordState(id: op.record)
            // The transaction's copy is dropped first, so `apply` mutates the only copy in place
            // instead of copying the whole state (its text documents included) for each write.
            states[op.record] = nil
            s.apply(op, of: change, isApplied: { appliedPreds.contains($0) })
            states[op.record] = s
            touched.insert(op.record)
        }
        appliedHere.insert(change.id)
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

    /// Records held in memory before `flushIfFull` writes them out, in long transactions.
    static let flushThreshold = 1024
    /// Changes integrated since the last flush (their ids and record links) before
    /// `flushIfFull` writes them out as well, for transactions of many changes to few records.
    static let flushChanges = 16384

    /// Distinct records this transaction has touched, flushed ones included.
    var recordCount: Int { flushed.union(touched).count }

    /// Once `flushThreshold` records or `flushChanges` changes are held, writes their rows
    /// (`finish`) and drops the cached states, and the caches of ids the database answers as
    /// well (changes applied, rowids, records without a row), so a transaction of any length —
    /// a push of a million changes — holds memory for a bounded number of records and changes.
    mutating func flushIfFull() throws {
        guard touched.count >= Self.flushThreshold || appliedHere.count >= Self.flushChanges else { return }
        try finish()
        flushed.formUnion(touched)
        states.removeAll(keepingCapacity: true)
        touched.removeAll(keepingCapacity: true)
        created.removeAll(keepingCapacity: true)
        replicasTouched.removeAll(keepingCapacity: true)
        appliedHere.removeAll(keepingCapacity: true)
        rowIDs.removeAll(keepingCapacity: true)
        absent.removeAll(keepingCapacity: true)
        indexed.removeAll(keepingCapacity: true)
        derivable.removeAll(keepingCapacity: true)
    }

    /// Writes the materialised rows of touched records and advances the version vector.
    mutating func finish() throws {
        // Stored records in rowid order, then new ones (whose rowids are handed out in the
        // order they are written): FTS5 flushes its pending terms to a new segment whenever
        // an entry's rowid is below the previous one's, so the hash order of `touched` made
        // every replaced entry a segment of its own, half of a merge into a populated replica.
        var order: [(rowid: Int64, id: RecordID)] = []
        order.reserveCapacity(touched.count)
        for id in touched where states[id] != nil { order.append((try existingRowID(for: id) ?? .max, id)) }
        order.sort { $0.rowid < $1.rowid }
        for (_, id) in order {
            guard let s = states[id] else { continue }
            let kind = s.kind.flatMap(RecordKind.init(rawValue:))
            let title = kind.flatMap { s.text($0.titleField) }
            let columns: StatementArguments = [
                s.kind, title, s.text("state"), s.isDeleted, s.hasConflict,
                s.creation.map { Int64(bitPattern: $0.timestamp.rawValue) },
                s.lastModified.map { Int64(bitPattern: $0.rawValue) },
                derivable.contains(id) ? Data() : Data(RecordStateCodec.encode(s)),
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
            if !fresh && materialisesAttachments {
                try db.cachedStatement(sql: "DELETE FROM record_attachments WHERE record = ?").execute(arguments: [rowid])
            }
            let attachments = s.attachments
            for a in attachments where materialisesAttachments {
                try db.cachedStatement(sql: "INSERT OR IGNORE INTO record_attachments(hash, record, size) VALUES (?, ?, ?)")
                    .execute(arguments: [Data(a.ref.hash.bytes), rowid, Int64(a.ref.size)])
            }
            // The entry is rewritten only when what it indexes changed.
            let text = SearchText(s)
            if indexed[id] != text {
                if let old = indexed[id] { try SearchText.delete(old, rowid: rowid, db) }
                if let text {
                    try db.cachedStatement(sql: "INSERT INTO records_fts(rowid, title, body) VALUES (?, ?, ?)")
                        .execute(arguments: [rowid, text.title, text.body])
                }
                indexed[id] = text
            }
        }
        for link in links {
            guard let rowid = rowIDs[link.record] else {
                // Every record a change touches is written above; nothing was committed.
                throw StoreError(.recordWithoutRow(id: link.record.text))
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

/// What `records_fts` indexes of a record: its title, and its other text fields and its
/// attachments' names, captions and metadata as the body. `records_fts` is contentless, so
/// this is derived again from the stored state to delete an entry: it must stay a function
/// of the state alone (a change to it needs a migration that rebuilds the index, like v6).
struct SearchText: Equatable {
    var title: String
    var body: String

    /// Nil for a record without a kind (a placeholder whose creation has not arrived).
    init?(_ s: RecordState) {
        guard let kind = s.kind.flatMap(RecordKind.init(rawValue:)) else { return nil }
        title = s.text(kind.titleField) ?? ""
        body = (s.fields.compactMap { f -> String? in
            guard f.name != kind.titleField, case .text(let t) = f.value else { return nil }
            return t
        } + s.attachments.map(\.searchableText)).joined(separator: "\n")
    }

    /// Writes the search text of every record of the table `records` into the FTS5 table
    /// `index` (an empty one), under the records' rowids. `unreadable` gets each record whose
    /// id or state cannot be read (its id when that much is readable); it may throw to stop.
    static func index(
        records: String, into index: String, _ db: Database, unreadable: (RecordID?, any Error) throws -> Void
    ) throws {
        let rows = try Row.fetchCursor(db, sql: "SELECT rowid, id, doc FROM \(records)")
        while let row = try rows.next() {
            guard let id = RecordID(bytes: row[1] as Data) else {
                try unreadable(nil, StoreError(.corruptRecord(id: "?", detail: "a record id of the wrong length")))
                continue
            }
            let state: RecordState
            do { state = try MergeTransaction.state(db, rowid: row[0], id: id, doc: row[2]) } catch {
                try unreadable(id, error)
                continue
            }
            guard let text = SearchText(state) else { continue }
            try db.cachedStatement(sql: "INSERT INTO \(index)(rowid, title, body) VALUES (?, ?, ?)")
                .execute(arguments: [row[0] as Int64, text.title, text.body])
        }
    }

    /// Removes the entry `rowid` was indexed with from the contentless table.
    static func delete(_ old: SearchText, rowid: Int64, _ db: Database) throws {
        try db.cachedStatement(sql: "INSERT INTO records_fts(records_fts, rowid, title, body) VALUES ('delete', ?, ?, ?)")
            .execute(arguments: [rowid, old.title, old.body])
    }
}
