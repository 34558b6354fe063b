// strata-bench: the data every scenario writes (field notes of real prose) and the baselines'
// own writers (plain SQLite, the schema floor, JSON).
import CStrataZlib
import Foundation
import GRDB
import Logging
import StrataCodec
import StrataCore
import StrataServer
import StrataStore
import StrataSync

/// A field note as researchers write them: ~800 characters of body, a title, three tags.
struct Note {
    var id: RecordID
    var title: String
    var body: String
    var tags: [String]
}

/// Real English prose for note bodies (so compression ratios are realistic): the final text of
/// the automerge-paper editing trace (CC BY 4.0, Tests/StrataTextTests/Traces/README.md).
let corpus: [Unicode.Scalar] = {
    let path = ProcessInfo.processInfo.environment["STRATA_BENCH_CORPUS"]
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../../../Tests/StrataTextTests/Traces/automerge-paper.json.gz").standardized.path
    guard let gz = gzopen(path, "rb") else { fail("cannot read the text corpus \(path); set STRATA_BENCH_CORPUS to a trace .json.gz") }
    defer { gzclose(gz) }
    var data = Data()
    var buf = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = gzread(gz, &buf, UInt32(buf.count))
        guard n > 0 else { break }
        data.append(contentsOf: buf[0..<Int(n)])
    }
    // Only the final text is needed: parse the "endContent" string alone, not the whole trace.
    guard let key = data.range(of: Data("\"endContent\"".utf8)),
        let open = data[key.upperBound...].firstIndex(of: UInt8(ascii: "\""))
    else { fail("\(path) is not an editing trace with an endContent") }
    var end = open + 1
    while end < data.endIndex && data[end] != UInt8(ascii: "\"") { end += data[end] == UInt8(ascii: "\\") ? 2 : 1 }
    guard end < data.endIndex, let text = try? JSONDecoder().decode(String.self, from: data[open...end]),
        text.unicodeScalars.count > 2000
    else { fail("\(path) is not an editing trace with an endContent") }
    return Array(text.unicodeScalars)
}()

func makeNotes(_ n: Int, start: Int = 0) -> [Note] {
    var rng = SystemRandomNumberGenerator()
    return (0..<n).map { k in
        let i = start + k
        let offset = (i &* 7919) % (corpus.count - 800)
        var body = String.UnicodeScalarView()
        body.append(contentsOf: corpus[offset..<offset + 800])
        return Note(
            id: RecordID.v7(unixMillis: 1_764_000_000_000 + UInt64(i), using: &rng), title: "Survey note \(i)", body: String(body),
            tags: ["palmyra", ["theatre", "citadel", "temple"][i % 3], "2017"])
    }
}

func edits(_ n: Note) -> [Edit] {
    [.create(n.id, kind: .note), .set(n.id, field: "title", .text(n.title)), .set(n.id, field: "body", .text(n.body))]
        + n.tags.map { .add(n.id, field: SystemField.tags, element: $0) }
}

/// Plain SQLite: the same rows, one prepared statement, WAL (the store's own settings).
func plainInsert(_ notes: [Note], path: String, transactionPerRow: Bool = false) throws -> Double {
    var c = Configuration()
    c.journalMode = .wal
    c.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
    let q = try DatabaseQueue(path: path, configuration: c)
    try q.write { db in try db.execute(sql: "CREATE TABLE notes(id BLOB PRIMARY KEY, title TEXT, body TEXT, tags TEXT)") }
    return try seconds {
        if transactionPerRow {
            for n in notes {
                try q.write { db in
                    try db.cachedStatement(sql: "INSERT INTO notes VALUES (?, ?, ?, ?)").execute(arguments: [
                        Data(n.id.bytes), n.title, n.body, n.tags.joined(separator: " "),
                    ])
                }
            }
        } else {
            try q.write { db in
                let st = try db.cachedStatement(sql: "INSERT INTO notes VALUES (?, ?, ?, ?)")
                for n in notes { try st.execute(arguments: [Data(n.id.bytes), n.title, n.body, n.tags.joined(separator: " ")]) }
            }
        }
    }
}

/// Issue 14's same-feature baseline: what an application without sync would write for the same
/// notes and the same queries. A notes table, a tags table (tag, note) and an FTS5 index over
/// title and body with the notes table as its external content (no second copy of the text),
/// the tokenizer Strata uses, prepared statements, one transaction, WAL and
/// `synchronous = FULL` as the store uses. Returns the seconds and the file's bytes (database
/// and WAL, after the connection is closed).
func sameFeatureInsert(_ notes: [Note], path: String) throws -> (seconds: Double, bytes: Int) {
    var c = Configuration()
    c.journalMode = .wal
    c.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
    let q = try DatabaseQueue(path: path, configuration: c)
    try q.write { db in
        try db.execute(
            sql: """
                CREATE TABLE notes(rowid INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE, title TEXT, body TEXT);
                CREATE TABLE tags(tag TEXT NOT NULL, note INTEGER NOT NULL, PRIMARY KEY(tag, note)) WITHOUT ROWID;
                CREATE VIRTUAL TABLE notes_fts USING fts5(
                    title, body, content = 'notes', content_rowid = 'rowid', tokenize = 'unicode61 remove_diacritics 2');
                """)
    }
    let t = try seconds {
        try q.write { db in
            let note = try db.makeStatement(sql: "INSERT INTO notes(id, title, body) VALUES (?, ?, ?)")
            let tag = try db.makeStatement(sql: "INSERT INTO tags(tag, note) VALUES (?, ?)")
            let fts = try db.makeStatement(sql: "INSERT INTO notes_fts(rowid, title, body) VALUES (?, ?, ?)")
            for n in notes {
                try note.execute(arguments: [Data(n.id.bytes), n.title, n.body])
                let rowid = db.lastInsertedRowID
                for t in n.tags { try tag.execute(arguments: [t, rowid]) }
                try fts.execute(arguments: [rowid, n.title, n.body])
            }
        }
    }
    try q.close()
    return (t, storeBytes(path))
}

/// Bytes of an SQLite file with its WAL, if any.
func storeBytes(_ path: String) -> Int {
    ["", "-wal"].reduce(0) { sum, suffix in
        sum + ((try? FileManager.default.attributesOfItem(atPath: path + suffix)[.size] as? Int) ?? 0)
    }
}

/// The SQLite work of Strata's own schema without the engine: the rows a Strata store holds
/// after recording notes (change log with its encoded payloads, materialised records with
/// their encoded states, change-to-record links, tags, the FTS5 index) copied by prepared
/// statements into an empty store of the same schema, in one transaction. Strata's time over
/// this is the engine's own cost; this over a plain insert is what the schema costs.
func schemaFloor(copying source: String, notes: [Note]) throws -> Double {
    let dest = freshPath("floor.strata")
    _ = try Store.create(at: dest, author: "Floor")  // the schema; closed when dropped
    var c = Configuration()
    c.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
    let tables: [(select: String, insert: String)] = [
        ("SELECT replica, seq, hlc, author, payload, received_at FROM changes", "INSERT INTO changes VALUES (?, ?, ?, ?, ?, ?)"),
        (
            "SELECT rowid, id, text_id, kind, title, state, deleted, conflict, created, modified, doc FROM records",
            "INSERT INTO records(rowid, id, text_id, kind, title, state, deleted, conflict, created, modified, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ),
        ("SELECT record, replica, seq FROM change_records", "INSERT INTO change_records VALUES (?, ?, ?)"),
        ("SELECT tag, record FROM record_tags", "INSERT INTO record_tags VALUES (?, ?)"),
    ]
    var rows: [[StatementArguments]] = try DatabaseQueue(path: source).read { db in
        try tables.map { try Row.fetchAll(db, sql: $0.select).map { StatementArguments($0.databaseValues) } }
    }
    // The search index keeps no copy of the text (schema v6): its rows are the notes' own.
    let byID = Dictionary(uniqueKeysWithValues: notes.map { (Data($0.id.bytes), $0) })
    let indexed = try DatabaseQueue(path: source).read { db in try Row.fetchAll(db, sql: "SELECT rowid, id FROM records") }
    rows.append(indexed.compactMap { r in byID[r[1] as Data].map { [r[0] as Int64, $0.title, $0.body] } })
    let allTables = tables + [(select: "", insert: "INSERT INTO records_fts(rowid, title, body) VALUES (?, ?, ?)")]
    let q = try DatabaseQueue(path: dest, configuration: c)
    return try seconds {
        try q.write { db in
            for (table, content) in zip(allTables, rows) {
                let st = try db.makeStatement(sql: table.insert)
                for arguments in content { try st.execute(arguments: arguments) }
            }
        }
    }
}

/// `changes` applied to `store` as a sync delivers them: in applies of `chunk` changes.
func apply(_ changes: [Change], to store: Store, inChunksOf chunk: Int) throws {
    for start in stride(from: 0, to: changes.count, by: chunk) {
        try store.apply(Array(changes[start..<min(changes.count, start + chunk)]))
    }
}

/// A store holding `notes`, recorded in one transaction.
func storeWith(_ notes: [Note], path: String, author: String = "Khaled") throws -> Store {
    let s = try Store.create(at: path, author: author)
    for chunk in stride(from: 0, to: notes.count, by: 5000) {
        try s.commit(each: notes[chunk..<min(notes.count, chunk + 5000)].map(edits))
    }
    return s
}

func zlibSize(_ bytes: [UInt8], level: Int32 = 6) -> Int {
    var outLen = compressBound(uLong(bytes.count))
    var out = [UInt8](repeating: 0, count: Int(outLen))
    let rc = compress2(&out, &outLen, bytes, uLong(bytes.count), level)
    precondition(rc == Z_OK, "zlib compress2 failed: \(rc)")
    return Int(outLen)
}

/// JSON lines of the records, as an export would write them.
func jsonExport(_ notes: [Note]) -> [UInt8] {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys]
    struct Row: Encodable { var id, kind, title, body: String; var tags: [String] }
    var out: [UInt8] = []
    for n in notes {
        out += try! e.encode(Row(id: n.id.text, kind: "note", title: n.title, body: n.body, tags: n.tags))
        out.append(0x0A)
    }
    return out
}
