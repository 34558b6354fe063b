import Foundation
import GRDB
import PropertyBased
import StrataCodec
import StrataTestSupport
import Testing

@testable import StrataCore
@testable import StrataStore

func makeStore(_ dir: TemporaryDirectory, _ name: String = "a", author: String = "Khaled", seed: UInt64 = 1) throws
    -> Store
{
    var rng = SeededRandom(seed: seed)
    return try Store.create(at: dir.file("\(name).strata"), author: author, replicaID: ReplicaID.random(using: &rng))
}

@Suite struct StoreTests {
    @Test func recordsAreCreatedReadAndListed() throws {
        let dir = try TemporaryDirectory()
        let store = try makeStore(dir)
        let id = store.newRecordID()
        let change = try #require(
            try store.commit([
                .create(id, kind: .artefact), .set(id, field: "title", .text("Funerary bust of Aqmat")),
                .set(id, field: "state", .text("moved-for-safekeeping")),
                .add(id, field: SystemField.tags, element: "damascus"),
            ]))
        #expect(change.id.seq == 1)
        #expect(change.author == "Khaled")
        let s = try #require(try store.record(id))
        #expect(s.kind == "artefact")
        #expect(s.text("title") == "Funerary bust of Aqmat")
        #expect(s.tags == ["damascus"])
        #expect(try store.list(RecordFilter(kind: .artefact)).map(\.id) == [id])
        #expect(try store.list(RecordFilter(kind: .note)).isEmpty)
        #expect(try store.list(RecordFilter(tag: "damascus")).map(\.id) == [id])
        #expect(try store.list(RecordFilter(state: "moved-for-safekeeping")).map(\.id) == [id])
        #expect(try store.search("aqmat").map(\.id) == [id])
        #expect(try store.search("bust funerary").map(\.id) == [id])
        #expect(try store.search("temple").isEmpty)
        #expect(try store.versionVector() == VersionVector([store.replicaID: 1]))
    }

    /// A local change that its readers would refuse (here: more field writes than a change
    /// holds) is not recorded: the store says why and stays as it was, readable and in sync.
    @Test func aChangeNoReaderAcceptsIsNotRecorded() throws {
        let dir = try TemporaryDirectory()
        let store = try makeStore(dir)
        let id = store.newRecordID()
        try store.commit([.create(id, kind: .site), .set(id, field: "title", .text("Palmyra"))])
        let limit = CodecLimits().maxOperationsPerChange
        let tags = (0...limit).map { Edit.add(id, field: SystemField.tags, element: "t\($0)") }
        #expect(throws: StoreError.self) { try store.commit(tags) }
        do { try store.commit(tags) } catch {
            #expect("\(error)".contains("\(limit + 1) field writes; a change holds at most \(limit)"))
            #expect("\(error)".contains("nothing was recorded"))
        }
        #expect(try store.status().changes == 1)
        #expect(try store.record(id)?.tags == [])
        // Tags in changes that fit are recorded, and every change reads back.
        try store.commit(each: [Array(tags[0..<1000]), Array(tags[1000..<2000])])
        #expect(try store.record(id)?.tags.count == 2000)
        #expect(try store.changes(missingFrom: VersionVector()).count == 3)
    }

    /// A recording plans each group against what the groups before it left, past the merge's
    /// flushes; a prefix names only records stored before it; a body that throws leaves nothing.
    @Test func aRecordingSeesItsOwnGroupsAndIsAllOrNothing() throws {
        let dir = try TemporaryDirectory()
        let store = try makeStore(dir)
        let site = store.newRecordID()
        try store.commit([.create(site, kind: .site), .set(site, field: "title", .text("Palmyra"))])
        let count = 3_000  // past MergeTransaction's flush of 1,024 records
        let ids = (0..<count).map { _ in store.newRecordID() }
        let made: Int = try store.recording { r in
            #expect(try r.resolve(prefix: String(site.text.prefix(8))) == site)
            var made = 0
            for (i, id) in ids.enumerated() {
                #expect(try r.record(id) == nil)
                if try r.commit([.create(id, kind: .note), .set(id, field: "title", .text("Note \(i)"))]) != nil { made += 1 }
                // What an earlier group wrote reads back, flushed or not.
                if i > 0, i % 997 == 0 { #expect(try r.record(ids[i - 500])?.text("title") == "Note \(i - 500)") }
            }
            // Created here: not a prefix's candidate, even once flushed.
            #expect(throws: StoreError.self) { try r.resolve(prefix: String(ids[0].text.prefix(20))) }
            #expect(try r.commit([.set(ids[0], field: "title", .text("Note 0"))]) == nil)
            _ = try r.commit([.delete(ids[1])])
            return made
        }
        #expect(made == count)
        #expect(try store.status().changes == 1 + count + 1)
        #expect(try store.record(ids[1])?.isDeleted == true)
        #expect(try store.record(ids[count - 1])?.text("title") == "Note \(count - 1)")
        #expect(try store.versionVector() == VersionVector([store.replicaID: UInt64(count + 2)]))

        struct Stop: Error {}
        let before = try store.changes(missingFrom: VersionVector()).count
        #expect(throws: Stop.self) {
            try store.recording { r in
                for _ in 0..<2_000 {
                    let id = store.newRecordID()
                    _ = try r.commit([.create(id, kind: .note), .set(id, field: "title", .text("lost"))])
                }
                throw Stop()
            }
        }
        #expect(try store.changes(missingFrom: VersionVector()).count == before)
        #expect(try store.search("lost").isEmpty)
        // The next change continues the sequence as if the failed recording never ran.
        let after = try #require(try store.commit([.set(site, field: "title", .text("Tadmor"))]))
        #expect(after.id.seq == UInt64(count + 3))
    }

    @Test func storesReopenWithTheirReplicaIdAndData() throws {
        let dir = try TemporaryDirectory()
        let id: RecordID
        let replica: ReplicaID
        do {
            let store = try makeStore(dir)
            replica = store.replicaID
            id = store.newRecordID()
            try store.commit([.create(id, kind: .note), .set(id, field: "title", .text("Theatre"))])
        }
        let again = try Store.open(at: dir.file("a.strata"))
        #expect(again.replicaID == replica)
        #expect(try again.record(id)?.text("title") == "Theatre")
        let second = try #require(try again.commit([.set(id, field: "title", .text("Roman theatre"))]))
        #expect(second.id.seq == 2)
    }

    @Test func aNewStoreIsReadableByItsOwnerOnly() throws {
        let dir = try TemporaryDirectory()
        let store = try makeStore(dir)
        let id = store.newRecordID()
        try store.commit([.create(id, kind: .note)])
        for suffix in ["", "-wal"] {
            let attrs = try FileManager.default.attributesOfItem(atPath: store.path + suffix)
            #expect((attrs[.posixPermissions] as? Int).map { $0 & 0o077 } == 0, "\(suffix)")
        }
    }

    @Test func openingAMissingOrForeignFileSaysWhatToDo() throws {
        let dir = try TemporaryDirectory()
        do {
            _ = try Store.open(at: dir.file("none.strata"))
            Issue.record("expected an error")
        } catch let e as StoreError {
            // The CLI adds what to do (`strata init`; see AdviceTests); the store says what happened.
            #expect(e.kind == .noStore(path: dir.file("none.strata")))
            #expect(e.description.contains("no Strata store at"))
        }
        try Data("not a database at all, just text".utf8).write(to: URL(fileURLWithPath: dir.file("junk")))
        #expect(throws: StoreError.self) { try Store.open(at: dir.file("junk")) }
        _ = try makeStore(dir)
        #expect(throws: StoreError.self) { try makeStore(dir) }
    }

    @Test func idPrefixesResolveLikeGit() throws {
        let dir = try TemporaryDirectory()
        let store = try makeStore(dir)
        let ids = (0..<50).map { _ in store.newRecordID() }
        try store.commit(ids.map { .create($0, kind: .note) })
        let n = try store.abbreviationLength()
        #expect(n >= 7)
        for id in ids {
            #expect(try store.resolve(prefix: String(id.text.prefix(n))) == id)
            #expect(try store.resolve(prefix: id.text.uppercased()) == id)
        }
        #expect(throws: StoreError.self) { try store.resolve(prefix: "zz") }
        #expect(throws: StoreError.self) { try store.resolve(prefix: "u!") }
    }

    /// `uniquePrefix(of:)` looks at two neighbours only; the oracle compares with every id.
    @Test func oneRecordsUniquePrefixMatchesAComparisonWithEveryId() throws {
        let dir = try TemporaryDirectory()
        let store = try makeStore(dir)
        var rng = SeededRandom(seed: 14)
        var ids: [RecordID] = []
        // Clusters in the same millisecond and neighbouring ones share long prefixes.
        for batch in 0..<12 {
            let millis = 1_700_000_000_000 + UInt64(batch / 3) * UInt64(1 + batch % 3)
            let made = (0..<Int.random(in: 1...20, using: &rng)).map { _ in RecordID.v7(unixMillis: millis, using: &rng) }
            try store.commit(made.map { .create($0, kind: .note) })
            ids += made
        }
        let texts = ids.map(\.text)
        for (i, t) in texts.enumerated() {
            let p = try store.uniquePrefix(of: ids[i])
            #expect(t.hasPrefix(p) && p.count >= 7)
            #expect(!texts.enumerated().contains { $0.offset != i && $0.element.hasPrefix(p) }, "\(p) is shared")
            if p.count > 7 {
                let shorter = String(p.dropLast())
                #expect(texts.enumerated().contains { $0.offset != i && $0.element.hasPrefix(shorter) }, "\(shorter) was enough")
            }
            #expect(try store.resolve(prefix: p) == ids[i])
            #expect(p.count <= (try store.abbreviationLength()))
        }
    }

    @Test func historyKeepsWhoWhenAndWhere() throws {
        let dir = try TemporaryDirectory()
        let a = try makeStore(dir, "a", author: "Khaled", seed: 1)
        let b = try makeStore(dir, "b", author: "Maria", seed: 2)
        let id = a.newRecordID()
        try a.commit([.create(id, kind: .site), .set(id, field: "name", .text("Temple of Bel"))], now: 1_000)
        try b.apply(try a.changes(missingFrom: try b.versionVector()), now: 2_000)
        try b.commit([.set(id, field: "condition", .text("destroyed"))], now: 3_000)
        try a.apply(try b.changes(missingFrom: try a.versionVector()), now: 4_000)
        let h = try a.history(of: id)
        #expect(h.map(\.key.field) == ["kind", "name", "condition"])
        #expect(h.map(\.author) == ["Khaled", "Khaled", "Maria"])
        #expect(h.map(\.change.replica) == [a.replicaID, a.replicaID, b.replicaID])
    }

    @Test func applyingIsIdempotentAndCountsDuplicates() throws {
        let dir = try TemporaryDirectory()
        let a = try makeStore(dir, "a", seed: 1)
        let b = try makeStore(dir, "b", seed: 2)
        let id = a.newRecordID()
        try a.commit([.create(id, kind: .note), .set(id, field: "body", .text("Arch of Triumph destroyed"))])
        let all = try a.changes(missingFrom: VersionVector())
        let first = try b.apply(all)
        #expect(first.applied == 1 && first.duplicates == 0)
        let again = try b.apply(all + all)
        #expect(again.applied == 0 && again.duplicates == 2)
        #expect(try b.record(id) == (try a.record(id)))
    }

    @Test func aRefusedBatchLeavesTheStoreUnchanged() throws {
        let dir = try TemporaryDirectory()
        let a = try makeStore(dir, "a", seed: 1)
        let b = try makeStore(dir, "b", seed: 2)
        let id = a.newRecordID()
        try a.commit([.create(id, kind: .note)], now: 1_000)
        let future = try #require(try a.commit([.set(id, field: "title", .text("x"))], now: 10 * 86_400_000))
        let before = try Data(contentsOf: URL(fileURLWithPath: b.path))
        let ok = try a.changes(missingFrom: VersionVector()).filter { $0.id != future.id }
        #expect(throws: ClockSkewError.self) { try b.apply(ok + [future], now: 2_000) }
        #expect(try b.list(RecordFilter(includeDeleted: true)).isEmpty)
        #expect(try b.versionVector() == VersionVector())
        _ = before
    }

    @Test func checkFindsNothingWrongInAHealthyStore() throws {
        let dir = try TemporaryDirectory()
        var replicas = [try makeStore(dir, "a", seed: 1), try makeStore(dir, "b", seed: 2)]
        var sim = Simulation(seed: 11, replicas: 2)
        try sim.run(&replicas, steps: 60)
        #expect(try replicas[0].check() == [])
        #expect(try replicas[1].check() == [])
    }

    /// `status` counts the changes of the store's own replica id, wherever that id sits in the
    /// `replicas` table. Index 1 is only a convention of `create` and `restore`; here the
    /// local replica is moved to index 2 and a colleague's to index 1, as raw SQL (or any
    /// future path that renumbers the table) could leave a store.
    @Test func statusCountsLocalChangesWhereverTheLocalReplicaIsIndexed() throws {
        let dir = try TemporaryDirectory()
        let khaled = try makeStore(dir, "a", seed: 1)
        let maria = try makeStore(dir, "b", author: "Maria", seed: 2)
        let note = khaled.newRecordID()
        try khaled.commit([.create(note, kind: .note), .set(note, field: "title", .text("Temple of Bel"))])
        try khaled.commit([.set(note, field: "title", .text("Temple of Bel, cella"))])
        let site = maria.newRecordID()
        for i in 0..<3 {
            try maria.commit(i == 0 ? [.create(site, kind: .site)] : [.set(site, field: "title", .text("Site \(i)"))])
        }
        try khaled.apply(try maria.changes(missingFrom: VersionVector()))
        #expect(try khaled.status().localChanges == 2)

        try khaled.db.write { db in
            try db.execute(sql: "PRAGMA defer_foreign_keys = ON")
            for (from, to) in [(1, -1), (2, 1), (-1, 2)] as [(Int64, Int64)] {
                for table in ["changes", "change_records", "versions"] {
                    try db.execute(sql: "UPDATE \(table) SET replica = ? WHERE replica = ?", arguments: [to, from])
                }
                try db.execute(sql: "UPDATE replicas SET idx = ? WHERE idx = ?", arguments: [to, from])
            }
        }
        let localIndex = try khaled.db.read { db in
            try Int64.fetchOne(db, sql: "SELECT idx FROM replicas WHERE id = ?", arguments: [Data(khaled.replicaID.bytes)])
        }
        #expect(localIndex == 2)
        let st = try khaled.status()
        #expect(st.changes == 5)
        #expect(st.localChanges == 2)
        #expect(try khaled.check() == [])
    }
}

/// The SQLite store against the in-memory model: the same random schedule on both must give
/// the same changes and the same states, and the stores must converge.
@Suite struct StoreOracleTests {
    static func run(seed: UInt64, steps: Int = 50) throws {
        let dir = try TemporaryDirectory()
        let ids = Simulation.makeReplicaIDs(seed: seed, count: 3)
        var stores = try ids.enumerated().map { i, id in
            try Store.create(at: dir.file("r\(i).strata"), author: "r\(i)", replicaID: id)
        }
        var models = ids.enumerated().map { i, id in ReplicaModel(id: id, author: "r\(i)") }
        var simStores = Simulation(seed: seed, replicas: 3)
        var simModels = Simulation(seed: seed, replicas: 3)
        if seed % 3 == 0 {
            simStores.legacyWriters = [1]
            simModels.legacyWriters = [1]
        }
        try simStores.run(&stores, steps: steps)
        try simModels.run(&models, steps: steps)
        #expect(simStores.trace == simModels.trace, "seed \(seed): schedules diverged")
        for (s, m) in zip(stores, models) {
            #expect(try s.snapshot() == m.records, "seed \(seed): store differs from model")
            #expect(try s.versionVector() == m.versionVector, "seed \(seed)")
        }
        try simStores.exchangeAll(&stores)
        let reference = try stores[0].snapshot()
        for s in stores.dropFirst() { #expect(try s.snapshot() == reference, "seed \(seed): stores did not converge") }
        for s in stores { #expect(try s.check() == [], "seed \(seed)") }
    }

    @Test func storesMatchTheModelAndConverge() async {
        let runs = ProcessEnvironment.int("STRATA_STORE_PROPERTY_RUNS", default: 30)
        await propertyCheck(count: runs, input: Gen<UInt64>.value(in: 0...UInt64.max)) { seed in
            try Self.run(seed: seed)
        }
    }

    @Test(arguments: [7, 2024] as [UInt64])
    func regressionSeeds(seed: UInt64) throws { try Self.run(seed: seed, steps: 100) }
}

/// Batches longer than `MergeTransaction.flushThreshold` write their rows in several flushes: the result
/// must be the same as small batches (states, tags, full-text index, check).
@Suite struct LongBatchTests {
    @Test func aLongImportAndALongApplyMatchSmallBatches() throws {
        let dir = try TemporaryDirectory()
        let a = try makeStore(dir, "a", seed: 1)
        let n = MergeTransaction.flushThreshold * 2 + 100
        var groups: [[Edit]] = []
        var ids: [RecordID] = []
        for i in 0..<n {
            let id = a.newRecordID()
            ids.append(id)
            groups.append([
                .create(id, kind: .note), .set(id, field: "title", .text("Survey \(i)")),
                .set(id, field: "body", .text("Shelling damage on wall \(i).")), .add(id, field: SystemField.tags, element: "t\(i % 7)"),
            ])
        }
        // Touch some records twice in the same batch, across a flush.
        for i in stride(from: 0, to: n, by: 97) {
            groups.append([.appendText(ids[i], field: "body", text: " Revisited."), .add(ids[i], field: SystemField.tags, element: "revisited")])
        }
        let changes = try a.commit(each: groups).compactMap { $0 }
        #expect(changes.count == groups.count)
        #expect(try a.check() == [])
        #expect(try a.list(RecordFilter(tag: "revisited")).count == (n + 96) / 97)
        #expect(try a.search("revisited").count == (n + 96) / 97)
        #expect(try a.record(ids[97])?.text("body") == "Shelling damage on wall 97. Revisited.")

        // One long apply into a fresh replica, versus small batches into another.
        let b = try makeStore(dir, "b", seed: 2)
        let result = try b.apply(changes.shuffled())
        #expect(result.applied == changes.count)
        #expect(result.records == n)
        let c = try makeStore(dir, "c", seed: 3)
        for chunk in stride(from: 0, to: changes.count, by: 50) { try c.apply(Array(changes[chunk..<min(changes.count, chunk + 50)])) }
        #expect(try b.allRecordStates() == a.allRecordStates())
        #expect(try c.allRecordStates() == a.allRecordStates())
        #expect(try b.check() == [])
        #expect(try b.search("revisited").count == (n + 96) / 97)
    }
}
