import Foundation
import GRDB
import StrataCodec
import StrataCore

/// The SQLite schema, as migrations from the first version on.
///
/// > Invariant: `changes` is the source of truth (full history); `records`, `record_tags`,
/// > `relations`, `record_attachments` and `records_fts` are materialised from it and could be
/// > rebuilt.
enum StoreSchema {
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
                    -- Replica ids are stored once and referred to by a small integer.
                    CREATE TABLE replicas(idx INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE);
                    -- The change log: every change ever applied, local or remote.
                    CREATE TABLE changes(
                        replica INTEGER NOT NULL REFERENCES replicas(idx),
                        seq INTEGER NOT NULL,
                        hlc INTEGER NOT NULL,
                        author TEXT NOT NULL,
                        payload BLOB NOT NULL,
                        received_at INTEGER NOT NULL,
                        PRIMARY KEY(replica, seq)) WITHOUT ROWID;
                    -- Which changes touched which record, for history.
                    CREATE TABLE change_records(
                        record INTEGER NOT NULL, replica INTEGER NOT NULL, seq INTEGER NOT NULL,
                        PRIMARY KEY(record, replica, seq)) WITHOUT ROWID;
                    -- The version vector: per replica, every seq up to `contiguous` is present.
                    CREATE TABLE versions(replica INTEGER PRIMARY KEY, contiguous INTEGER NOT NULL);
                    -- Materialised current state. `doc` is the encoded RecordState (all live
                    -- values and conflicts; empty from v7 on when the record's one change
                    -- gives it); the other columns serve queries.
                    CREATE TABLE records(
                        rowid INTEGER PRIMARY KEY,
                        id BLOB NOT NULL UNIQUE,
                        text_id TEXT NOT NULL UNIQUE,
                        kind TEXT,
                        title TEXT,
                        state TEXT,
                        deleted INTEGER NOT NULL DEFAULT 0,
                        conflict INTEGER NOT NULL DEFAULT 0,
                        created INTEGER,
                        modified INTEGER,
                        doc BLOB NOT NULL);
                    CREATE INDEX records_by_kind ON records(kind, deleted);
                    CREATE INDEX records_with_conflicts ON records(conflict) WHERE conflict = 1;
                    CREATE TABLE record_tags(tag TEXT NOT NULL, record INTEGER NOT NULL, PRIMARY KEY(tag, record)) WITHOUT ROWID;
                    CREATE INDEX record_tags_by_record ON record_tags(record);
                    CREATE TABLE relations(
                        target BLOB NOT NULL, rel TEXT NOT NULL, source INTEGER NOT NULL,
                        PRIMARY KEY(target, rel, source)) WITHOUT ROWID;
                    CREATE INDEX relations_by_source ON relations(source);
                    CREATE VIRTUAL TABLE records_fts USING fts5(title, body, tokenize = 'unicode61 remove_diacritics 2');
                    """)
        }
        // Long-text fields became text CRDTs (record state format 2): re-derive every
        // materialised record from the change log, which now reads register writes to those
        // fields as text (see `LegacyText`). The log itself is unchanged, so nothing is lost,
        // and every replica reaches the same text whether it migrates or receives the changes.
        m.registerMigration("v2-text") { db in
            try rebuildMaterialised(db, attachments: false, contentlessSearch: false)
        }
        // Remotes, bundle peers and what each sync did became tables (they were `x.`-prefixed
        // meta keys, each written in a transaction of its own); see Store+SyncState.swift.
        m.registerMigration("v3-sync-state") { db in
            try SyncStateSchema.create(db)
            try SyncStateSchema.moveSettings(db)
        }
        // Attachments: which record references which blob (materialised from the `att` set,
        // like tags), for sync, access checks and `check`. The blobs themselves are files
        // beside the store (BlobStore). No earlier store holds an attachment: nothing to fill.
        m.registerMigration("v4-attachments") { db in
            try db.execute(
                sql: """
                    CREATE TABLE record_attachments(
                        hash BLOB NOT NULL, record INTEGER NOT NULL, size INTEGER NOT NULL,
                        PRIMARY KEY(hash, record)) WITHOUT ROWID;
                    CREATE INDEX record_attachments_by_record ON record_attachments(record);
                    """)
        }
        // Which attachments a sync with each remote downloads on its own (AttachmentPolicy):
        // every remote added before downloads every attachment, as `all` says.
        m.registerMigration("v5-remote-attachments") { db in
            try db.execute(sql: "ALTER TABLE remotes ADD COLUMN attachments TEXT NOT NULL DEFAULT 'all'")
        }
        // Search keeps no second copy of every title and body (issue 14): `records_fts` becomes
        // contentless, its entries filled again from each record's stored state. Queries read
        // only rowids and bm25 ranks from it; an entry is replaced by deleting it with the
        // values it was indexed with (`SearchText`), derived again from the stored state.
        m.registerMigration("v6-contentless-search") { db in
            try db.execute(
                sql: """
                    DROP TABLE records_fts;
                    CREATE VIRTUAL TABLE records_fts USING fts5(
                        title, body, content = '', tokenize = 'unicode61 remove_diacritics 2');
                    """)
            try SearchText.index(records: "records", into: "records_fts", db) { id, error in
                if let e = error as? StoreError { throw e }
                throw StoreError(.corruptRecord(id: id?.text ?? "?", detail: "\(error)"))
            }
        }
        // The text of a just-written record is kept once (issue 14): a record made by one change
        // whose operations name no predecessor keeps an empty `doc`, its state derived from that
        // change when read (`MergeTransaction.state`) until a second change writes it in full.
        // Nothing is converted; the step marks the store, so a Strata from before (which would
        // take an empty `doc` for a damaged one) refuses it as newer.
        m.registerMigration("v7-derived-states") { _ in }
        return m
    }

    /// Re-derives `records`, `record_tags`, `relations` and `records_fts` from `changes`.
    /// `attachments`: whether `record_attachments` exists yet (it does from v4 on);
    /// `contentlessSearch`: whether `records_fts` is contentless yet (it is from v6 on).
    static func rebuildMaterialised(_ db: Database, attachments: Bool, contentlessSearch: Bool) throws {
        let model = try replayLog(db, replica: ReplicaID(high: 0, low: 0)) { error in
            throw StoreError(.unreadableLog(detail: "\(error)"))
        }
        var batch = MergeTransaction(db: db, replica: model.id)
        batch.materialisesAttachments = attachments
        // The stored states are not loaded, so the entries they were indexed with are not
        // known: the index is emptied and every entry written again.
        try db.execute(
            sql: contentlessSearch ? "INSERT INTO records_fts(records_fts) VALUES ('delete-all')" : "DELETE FROM records_fts")
        batch.states = model.records
        batch.touched = Set(model.records.keys)
        try batch.finish()
    }

    /// The whole change log applied to an empty model, in timestamp order and without the
    /// clock-skew bound (every change in the log was accepted once). `undecodable` gets the
    /// error of each payload that cannot be read; it may throw to stop.
    static func replayLog(
        _ db: Database, replica: ReplicaID, undecodable: (CodecError) throws -> Void
    ) throws -> ReplicaModel {
        var model = ReplicaModel(id: replica, author: "")
        model.policy = ClockPolicy(maxForwardSkewMillis: .max / 2)
        var changes: [Change] = []
        for payload in try Data.fetchAll(db, sql: "SELECT payload FROM changes ORDER BY hlc") {
            do { changes.append(try ChangeCodec.decode(payload)) } catch { try undecodable(error) }
        }
        try model.apply(changes, now: 0)
        return model
    }
}
