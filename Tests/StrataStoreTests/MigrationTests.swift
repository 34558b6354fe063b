import Foundation
import GRDB
import StrataCodec
import StrataTestSupport
import Testing

@testable import StrataCore
@testable import StrataStore

/// Stores written by Strata 0.1 (schema v1, note bodies as registers), kept in Fixtures/:
/// `v1-conflict.strata` is Khaled's replica holding a body conflict with Maria;
/// `v1-resolved.strata` is Maria's, who resolved it (keeping Khaled's text), and
/// `v1-resolved.bundle` is everything she had. Made with the 0.1 binary by the commands in
/// Fixtures/README.md.
@Suite struct MigrationTests {
    static let fixtures: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let noteID = RecordID(text: "gxrt63bv8d45t0d22hdm3cvvv0")!
    static let khaled = "The cella was blown up in August 2015.\n\nOnly the gateway stands; satellite images of 31 August confirm it."
    static let maria = "The cella was destroyed by explosives in August 2015.\n\nOnly the gateway stands."

    static func copy(_ name: String, into dir: TemporaryDirectory) throws -> String {
        let path = dir.file(name)
        try FileManager.default.copyItem(atPath: fixtures.appendingPathComponent(name).path, toPath: path)
        return path
    }

    @Test func aConflictedBodyKeepsBothTextsAfterMigration() throws {
        let dir = try TemporaryDirectory()
        let path = try Self.copy("v1-conflict.strata", into: dir)
        let changesBefore = try Self.changeLog(path)
        let store = try Store.open(at: path)
        #expect(try store.check() == [])
        let note = try #require(try store.record(Self.noteID))
        let body = try #require(note.text("body"))
        #expect(body.contains(Self.khaled) && body.contains(Self.maria), "both versions are kept: \(body)")
        #expect(body.unicodeScalars.count == Self.khaled.unicodeScalars.count + Self.maria.unicodeScalars.count)
        #expect(!note.hasConflict)
        #expect(try store.conflicts().isEmpty)
        #expect(try store.search("explosives").map(\.id) == [Self.noteID])
        #expect(try store.search("satellite").map(\.id) == [Self.noteID])
        #expect(try Self.changeLog(path) == changesBefore, "the change log is not rewritten")
        // The artefact's description migrated too.
        let artefact = try #require(try store.list(RecordFilter(kind: .artefact)).first)
        #expect(artefact.text("description") == "Limestone bust, moved to Damascus.")
    }

    @Test func theResolutionArrivingAfterMigrationLeavesOnlyTheResolvedText() throws {
        let dir = try TemporaryDirectory()
        let store = try Store.open(at: try Self.copy("v1-conflict.strata", into: dir))
        let bundle = try BundleCodec.decode([UInt8](try Data(contentsOf: Self.fixtures.appendingPathComponent("v1-resolved.bundle"))))
        try store.apply(bundle.changes)
        #expect(try store.record(Self.noteID)?.text("body") == Self.khaled)
        #expect(try store.check() == [])
        // Maria's store, migrated on its own, reaches the same record.
        let maria = try Store.open(at: try Self.copy("v1-resolved.strata", into: dir))
        #expect(try maria.record(Self.noteID) == store.record(Self.noteID))
    }

    @Test func aMigratedBodyCanBeEditedCharacterByCharacter() throws {
        let dir = try TemporaryDirectory()
        let store = try Store.open(at: try Self.copy("v1-resolved.strata", into: dir))
        let edited = Self.khaled.replacingOccurrences(of: "31 August", with: "31 August 2015")
        let change = try #require(try store.commit([.set(Self.noteID, field: "body", .text(edited))]))
        guard case .editText(let ops) = change.operations[0].action else {
            Issue.record("a body edit is a text edit after migration")
            return
        }
        #expect(ops.count == 1)
        #expect(try store.record(Self.noteID)?.text("body") == edited)
        #expect(try store.check() == [])
        let reopened = try Store.open(at: store.path)
        #expect(try reopened.record(Self.noteID)?.text("body") == edited)
    }

    @Test func aV5StoreMigratesToTheContentlessIndexAndFindsTheSameRecords() throws {
        let dir = try TemporaryDirectory()
        let path = try Self.copy("v5-search.strata", into: dir)
        let changesBefore = try Self.changeLog(path)
        let note = RecordID(text: "ggmez4k9sknt80d27b8qabbphg")!
        let bust = RecordID(text: "h6018s154fesw0d27b8qhy3pmg")!
        let link = RecordID(text: "jx7w2gbkfkdag0d27b8rff3wsg")!
        let store = try Store.open(at: path)
        #expect(try store.check() == [])
        #expect(try store.search("cella").map(\.id) == [note])
        #expect(try Set(store.search("satellite").map(\.id)) == [note, link])
        #expect(try store.search("damascus").map(\.id) == [bust])
        #expect(try store.search("camera").map(\.id) == [bust], "an attachment's metadata is searchable")
        #expect(try store.search("before move").map(\.id) == [bust], "and its caption")
        #expect(try Self.changeLog(path) == changesBefore, "the change log is not rewritten")
        // Editing after the migration replaces the migrated entries.
        try store.commit([.set(note, field: "body", .text("Only the gateway stands."))])
        #expect(try store.search("cella").isEmpty)
        #expect(try store.search("gateway").map(\.id) == [note])
        #expect(try store.check() == [])
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        let copied = try queue.read { try $0.tableExists("records_fts_content") }
        #expect(!copied, "the index keeps no copy of the text")
    }

    static func changeLog(_ path: String) throws -> [Data] {
        // Read without migrating: plain SQLite, read-only.
        var config = Configuration()
        config.readonly = true
        let db = try DatabaseQueue(path: path, configuration: config)
        return try db.read { try Data.fetchAll($0, sql: "SELECT payload FROM changes ORDER BY replica, seq") }
    }
}
