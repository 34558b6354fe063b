import Foundation
import GRDB
import StrataCore

extension StoreSchema {
    /// Moves the local replica to a new id: the row at index 1 (the local replica, where
    /// `create` and this function put it) moves to a fresh index with every change, version and
    /// history row that refers to it; the new id takes index 1 with an empty sequence. Nothing
    /// depends on the local replica being at index 1 (`status` looks its index up): were another
    /// replica there, it would move instead, consistently in every table. A restore runs it on
    /// its verified copy of the backup (see Store+Backup.swift); it also drops the backup marks.
    static func rekey(_ db: Database, to newID: ReplicaID, previous: ReplicaID, now: UInt64) throws {
        if try Int.fetchOne(db, sql: "SELECT 1 FROM replicas WHERE id = ?", arguments: [Data(newID.bytes)]) != nil {
            throw StoreError(.replicaIDTaken(hex: newID.hex))
        }
        try db.execute(sql: "PRAGMA defer_foreign_keys = ON")
        let moved = (try Int64.fetchOne(db, sql: "SELECT max(idx) FROM replicas") ?? 1) + 1
        for table in ["changes", "change_records", "versions"] {
            try db.execute(sql: "UPDATE \(table) SET replica = ? WHERE replica = 1", arguments: [moved])
        }
        try db.execute(sql: "UPDATE replicas SET idx = ? WHERE idx = 1", arguments: [moved])
        try db.execute(sql: "INSERT INTO replicas(idx, id) VALUES (1, ?)", arguments: [Data(newID.bytes)])
        try db.execute(sql: "UPDATE meta SET value = ? WHERE key = 'replica'", arguments: [newID.hex])
        try db.execute(sql: "UPDATE meta SET value = '1' WHERE key = 'next_seq'")
        try db.execute(sql: "DELETE FROM meta WHERE key IN (?, ?)", arguments: [Store.backupOfKey, Store.backupAtKey])
        try db.execute(
            sql: "INSERT OR REPLACE INTO meta(key, value) VALUES ('x.restore.previous_replica', ?), ('x.restore.at', ?)",
            arguments: [previous.hex, String(now)])
    }
}
