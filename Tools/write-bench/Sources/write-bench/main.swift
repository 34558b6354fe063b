// The write path against the physical limit: recording notes through the Strata store API
// against plain SQLite inserts of the same rows. Run (release):
//   cd Tools/write-bench && swift build -c release && .build/release/write-bench 5000
// Prints ratios measured in the same run; absolute times vary on shared machines.
import Foundation
import GRDB
import StrataCore
import StrataStore

let n = Int(CommandLine.arguments.dropFirst().first ?? "20000") ?? 20000
let dir = NSTemporaryDirectory() + "wbench-\(getpid())"
try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
var rng = SystemRandomNumberGenerator()
let body = String(repeating: "The scaenae frons shows new damage since the last visit. ", count: 14)  // ~800 chars
func now() -> Double { Date().timeIntervalSince1970 }

// Baseline: plain SQLite insert, prepared statement, one transaction, WAL.
var c = Configuration(); c.journalMode = .wal
let q = try DatabaseQueue(path: dir + "/plain.db", configuration: c)
try q.write { db in try db.execute(sql: "CREATE TABLE notes(id BLOB PRIMARY KEY, title TEXT, body TEXT, tags TEXT)") }
let ids = (0..<n).map { i in RecordID.v7(unixMillis: 1_764_000_000_000 + UInt64(i), using: &rng) }
var t0 = now()
try q.write { db in
    let st = try db.cachedStatement(sql: "INSERT INTO notes VALUES (?, ?, ?, ?)")
    for (i, id) in ids.enumerated() { try st.execute(arguments: [Data(id.bytes), "Note \(i)", body, "a b c"]) }
}
let plain = now() - t0

// Strata: the same notes through the store API, one commit (one transaction) per note, as the
// CLI records them; the fair baseline is the plain insert with one transaction per row at the
// same durability (WAL, synchronous=FULL).
let store = try Store.create(at: dir + "/strata.strata", author: "bench")
t0 = now()
for (i, id) in ids.enumerated() {
    try store.commit([.create(id, kind: .note), .set(id, field: "title", .text("Note \(i)")), .set(id, field: "body", .text(body)),
        .add(id, field: "tags", element: "a"), .add(id, field: "tags", element: "b"), .add(id, field: "tags", element: "c")])
}
let strata = now() - t0

var c2 = c; c2.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
let q2 = try DatabaseQueue(path: dir + "/plain2.db", configuration: c2)
try q2.write { db in try db.execute(sql: "CREATE TABLE notes(id BLOB PRIMARY KEY, title TEXT, body TEXT, tags TEXT)") }
t0 = now()
for (i, id) in ids.enumerated() {
    try q2.write { db in try db.cachedStatement(sql: "INSERT INTO notes VALUES (?, ?, ?, ?)").execute(arguments: [Data(id.bytes), "Note \(i)", body, "a b c"]) }
}
let plainTx = now() - t0
print(String(format: "n=%d  plain one-tx: %.3fs (%.0f rows/s)  plain tx-per-row: %.3fs  strata commit-per-note: %.3fs  ratio vs tx-per-row: %.2fx", n, plain, Double(n)/plain, plainTx, strata, strata/plainTx))
try? FileManager.default.removeItem(atPath: dir)
