import Foundation
import GRDB
import StrataTestSupport
import Testing

@testable import StrataCore
@testable import StrataStore

/// The contentless search index (schema v6): an entry is replaced by deleting it with the
/// values it was indexed with, derived again from the stored state. These tests edit records
/// in every way search sees, in short and long transactions and by sync, and hold the index to
/// `check`'s oracle (a fresh index of the current states, compared word by word) and to
/// what searches find.
@Suite struct SearchIndexTests {
    @Test func editsDeletesAndRestoresLeaveOnlyTheCurrentWordsIndexed() throws {
        let dir = try TemporaryDirectory()
        let a = try makeStore(dir, "a", seed: 11)
        let id = a.newRecordID()
        try a.commit([.create(id, kind: .note), .set(id, field: "title", .text("Temple of Bel")), .set(id, field: "body", .text("The cella stands."))])
        try a.commit([.set(id, field: "body", .text("The cella was blown up in August 2015."))])
        try a.commit([.set(id, field: "title", .text("Temple of Baalshamin"))])
        try a.commit([.add(id, field: SystemField.tags, element: "damage")])  // search text unchanged
        #expect(try a.check() == [])
        #expect(try a.search("stands").isEmpty)
        #expect(try a.search("bel").isEmpty)
        #expect(try a.search("baalshamin blown").map(\.id) == [id])
        try a.commit([.delete(id)])
        #expect(try a.search("baalshamin").isEmpty)
        #expect(try a.search("baalshamin", includeDeleted: true).map(\.id) == [id])
        try a.commit([.restore(id)])
        #expect(try a.search("baalshamin").map(\.id) == [id])
        #expect(try a.check() == [])

        // The same history reaches a second replica as one apply, and its index is the same.
        let b = try makeStore(dir, "b", seed: 12)
        try b.apply(try a.changes(missingFrom: VersionVector()))
        #expect(try b.check() == [])
        #expect(try b.search("baalshamin blown").map(\.id) == [id])
        #expect(try b.search("stands").isEmpty)
    }

    @Test func aLongTransactionEditingRecordsAgainAcrossFlushesKeepsTheIndexExact() throws {
        let dir = try TemporaryDirectory()
        let a = try makeStore(dir, "a", seed: 21)
        let n = MergeTransaction.flushThreshold + 300
        let ids = (0..<n).map { _ in a.newRecordID() }
        var groups: [[Edit]] = ids.enumerated().map { i, id in
            [.create(id, kind: .note), .set(id, field: "title", .text("Survey \(i)")), .set(id, field: "body", .text("wall\(i) intact"))]
        }
        // Each record edited twice more in the same transaction, the second time after a flush.
        for (i, id) in ids.enumerated() { groups.append([.set(id, field: "body", .text("wall\(i) cracked"))]) }
        for (i, id) in ids.enumerated() where i % 3 == 0 { groups.append([.set(id, field: "body", .text("wall\(i) collapsed"))]) }
        try a.commit(each: groups)
        #expect(try a.check() == [])
        #expect(try a.search("intact", limit: n).isEmpty)
        #expect(try a.search("cracked", limit: n).count == ids.indices.filter { $0 % 3 != 0 }.count)
        #expect(try a.search("collapsed", limit: n).count == ids.indices.filter { $0 % 3 == 0 }.count)
        let b = try makeStore(dir, "b", seed: 22)
        try b.apply(try a.changes(missingFrom: VersionVector()).shuffled())
        #expect(try b.check() == [])
        #expect(try b.search("collapsed", limit: n).count == ids.indices.filter { $0 % 3 == 0 }.count)
    }

    @Test func checkFindsAnIndexThatDiffersFromTheRecords() throws {
        let dir = try TemporaryDirectory()
        let a = try makeStore(dir, "a", seed: 31)
        let id = a.newRecordID()
        try a.commit([.create(id, kind: .note), .set(id, field: "title", .text("Funerary bust")), .set(id, field: "body", .text("Moved to Damascus."))])
        #expect(try a.check() == [])
        // An entry deleted with values it was not indexed with, as a bug would: words stay
        // behind or go missing, and `check` names them.
        let queue = try DatabaseQueue(path: a.path)
        try queue.write { db in
            let rowid = try #require(try Int64.fetchOne(db, sql: "SELECT rowid FROM records WHERE id = ?", arguments: [Data(id.bytes)]))
            try db.execute(
                sql: "INSERT INTO records_fts(records_fts, rowid, title, body) VALUES ('delete', ?, ?, ?)",
                arguments: [rowid, "Funerary bust", "Moved to Palmyra."])
        }
        try queue.close()
        let problems = try a.check()
        #expect(problems.contains { $0.contains("search index") && $0.contains("'moved'") }, "\(problems)")
    }

    @Test func theIndexKeepsNoCopyOfTheText() throws {
        let dir = try TemporaryDirectory()
        let a = try makeStore(dir, "a", seed: 41)
        let id = a.newRecordID()
        try a.commit([.create(id, kind: .note), .set(id, field: "title", .text("Theatre")), .set(id, field: "body", .text("Stage damaged."))])
        let queue = try DatabaseQueue(path: a.path)
        defer { try? queue.close() }
        let (copied, found) = try queue.read { db in
            (try db.tableExists("records_fts_content"), try Int.fetchOne(db, sql: "SELECT count(*) FROM records_fts WHERE records_fts MATCH 'stage'"))
        }
        #expect(!copied)
        #expect(found == 1)
    }
}
