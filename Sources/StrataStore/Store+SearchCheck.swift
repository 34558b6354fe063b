import Foundation
import GRDB
import StrataCodec
import StrataCore

/// `check`'s oracle for the search index. `records_fts` is contentless (v6): it holds no copy
/// of the text, and an entry is replaced by deleting it with the values it was indexed with.
/// Had those values ever differed from what was indexed, the index would keep stale words.
/// So `check` indexes every record's current ``SearchText`` again into a fresh FTS5 table
/// with content, in a scratch database of its own, and compares the two indexes word by word
/// (every term, record, column and position, through `fts5vocab`).
extension Store {
    func searchIndexProblems() throws -> [String] {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("strata-check-\(UUID().uuidString).db").path
        defer { FileSystem.removeDatabaseFiles(scratch) }
        let oracle = try DatabaseQueue(path: scratch, configuration: Self.plainConfiguration())
        defer { try? oracle.close() }
        return try oracle.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA journal_mode = OFF")
            try db.execute(sql: "ATTACH DATABASE ? AS store", arguments: [path])
            defer { try? db.execute(sql: "DETACH DATABASE store") }
            var problems: [String] = []
            try db.inTransaction(.deferred) {
                try db.execute(
                    sql: """
                        CREATE VIRTUAL TABLE oracle USING fts5(title, body, tokenize = 'unicode61 remove_diacritics 2');
                        CREATE VIRTUAL TABLE temp.stored_terms USING fts5vocab(store, records_fts, instance);
                        CREATE VIRTUAL TABLE temp.oracle_terms USING fts5vocab(main, oracle, instance);
                        """)
                // An unreadable state is reported by `check` itself.
                try SearchText.index(records: "store.records", into: "oracle", db) { _, _ in }
                // Rows in one index and not the other, a few of each side named.
                func except(_ a: String, _ b: String) throws -> [Row] {
                    try Row.fetchAll(db, sql: "SELECT term, doc, col, offset FROM \(a) EXCEPT SELECT term, doc, col, offset FROM \(b) LIMIT 5")
                }
                let stale = try except("temp.stored_terms", "temp.oracle_terms")
                let missing = try except("temp.oracle_terms", "temp.stored_terms")
                for r in stale {
                    problems.append("search index: word '\(r[0] as String)' indexed for record row \(r[1] as Int64) that its state no longer has")
                }
                for r in missing {
                    problems.append("search index: word '\(r[0] as String)' of record row \(r[1] as Int64) is not indexed")
                }
                return .rollback
            }
            return problems
        }
    }
}
