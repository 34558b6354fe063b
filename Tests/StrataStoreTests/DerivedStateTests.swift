import Foundation
import GRDB
import StrataCodec
import StrataTestSupport
import Testing

@testable import StrataCore
@testable import StrataStore

/// A record made by one change that names no predecessor keeps no stored state (schema v7): its
/// row's `doc` is empty and a read derives the state from that change. These tests hold the
/// derived state to the one the merge computed, and show which records keep a full state.
@Suite struct DerivedStateTests {
    static func docLength(_ store: Store, _ id: RecordID) throws -> Int {
        let q = try DatabaseQueue(path: store.path)
        return try q.read { db in
            try Int.fetchOne(db, sql: "SELECT length(doc) FROM records WHERE id = ?", arguments: [Data(id.bytes)])!
        }
    }

    @Test func aNewNoteKeepsNoStateUntilASecondChangeTouchesIt() throws {
        let dir = try TemporaryDirectory()
        let store = try Store.create(at: dir.file("k.strata"), author: "Khaled")
        let id = store.newRecordID()
        try store.commit([
            .create(id, kind: .note), .set(id, field: "title", .text("Temple of Bel")),
            .set(id, field: "body", .text("The cella stands; the peristyle was blown up in 2015.")),
            .add(id, field: SystemField.tags, element: "temple"),
        ])
        #expect(try Self.docLength(store, id) == 0)
        let derived = try #require(try store.record(id))
        #expect(derived.text("title") == "Temple of Bel")
        #expect(derived.tags == ["temple"])
        #expect(try store.search("peristyle").map(\.id) == [id])
        #expect(try store.list(RecordFilter()).map(\.id) == [id])
        #expect(try store.check().isEmpty)

        // A second change: the state is written in full, and reads give the merged state.
        try store.commit([.set(id, field: "title", .text("Temple of Bel (cella)"))])
        #expect(try Self.docLength(store, id) > 0)
        #expect(try store.record(id)?.text("title") == "Temple of Bel (cella)")
        #expect(try store.check().isEmpty)
    }

    /// The same changes reach a second replica in one apply and one at a time: every record
    /// reads the same there as at the source, whether it was derived or stored.
    @Test func remoteRecordsDeriveTheStateTheMergeComputed() throws {
        let dir = try TemporaryDirectory()
        let khaled = try Store.create(at: dir.file("k.strata"), author: "Khaled")
        try addNotes(khaled, 12)
        let ids = try khaled.allRecordStates().keys.sorted()
        try khaled.commit([.set(ids[0], field: "title", .text("retitled")), .add(ids[1], field: SystemField.tags, element: "theatre")])
        let changes = try khaled.changes(missingFrom: VersionVector())
        let whole = try Store.create(at: dir.file("whole.strata"), author: "Maria")
        try whole.apply(changes)
        let single = try Store.create(at: dir.file("single.strata"), author: "Omar")
        for c in changes.reversed() { try single.apply([c]) }
        let source = try khaled.allRecordStates()
        for store in [whole, single] {
            #expect(try store.allRecordStates() == source)
            #expect(try store.check().isEmpty)
            #expect(try Self.docLength(store, ids[0]) > 0 && Self.docLength(store, ids[1]) > 0)
            #expect(try Self.docLength(store, ids[5]) == 0)
        }
    }

    /// An edit that names a predecessor and arrives before the record's creation makes a
    /// placeholder whose state depends on what else this replica holds: it is stored in full.
    @Test func aRecordFirstSeenThroughAnEditWithPredecessorsIsStored() throws {
        let dir = try TemporaryDirectory()
        let khaled = try Store.create(at: dir.file("k.strata"), author: "Khaled")
        let id = khaled.newRecordID()
        let made = try #require(try khaled.commit([.create(id, kind: .note), .set(id, field: "title", .text("Theatre"))]))
        let edit = try #require(try khaled.commit([.set(id, field: "title", .text("Roman theatre"))]))
        #expect(edit.operations.contains { !$0.preds.isEmpty })
        let maria = try Store.create(at: dir.file("m.strata"), author: "Maria")
        try maria.apply([edit])
        #expect(try Self.docLength(maria, id) > 0)
        try maria.apply([made])
        #expect(try maria.record(id) == khaled.record(id))
        #expect(try maria.check().isEmpty)
    }

    /// A derived record whose change went missing from the log is reported, not misread.
    @Test func aDerivedRecordWithoutItsChangeIsReportedDamaged() throws {
        let dir = try TemporaryDirectory()
        let store = try Store.create(at: dir.file("k.strata"), author: "Khaled")
        let id = store.newRecordID()
        try store.commit([.create(id, kind: .note), .set(id, field: "title", .text("Citadel"))])
        let q = try DatabaseQueue(path: store.path)
        try q.write { db in try db.execute(sql: "DELETE FROM change_records") }
        let e = #expect(throws: StoreError.self) { try store.record(id) }
        #expect(e?.description.contains("is not stored and no change is logged for it") == true, "\(e?.description ?? "")")
        #expect(try store.check().contains { $0.contains("record \(id.text): materialised state unreadable") })
    }
}
