import Foundation
import GRDB
import PropertyBased
import StrataCodec
import StrataTestSupport
import Testing

@testable import StrataCore
@testable import StrataStore

/// Delivery does not show: the same random histories (concurrent field edits, deletes and
/// restores, tags, relations, text edits, attachments and their captions) delivered to replica
/// A one change per apply, and to replica B in random batches, orders and duplicates (batches
/// long enough to flush mid-way), must leave everything observable equal: every materialised
/// table, search, conflicts, history, the version vector, what a later sync sends and what a
/// later edit writes.
@Suite struct BatchedApplyTests {
    static let words = ["Temple", "Arch", "theatre", "citadel", "Damascus", "museum", "scan", "بعل"]

    /// A random history on three in-memory replicas (`ReplicaModel`), with attachments.
    static func history(seed: UInt64, steps: Int) throws -> (ids: [ReplicaID], changes: [Change]) {
        let ids = Simulation.makeReplicaIDs(seed: seed, count: 3)
        var models = ids.enumerated().map { i, id in ReplicaModel(id: id, author: "r\(i)") }
        var sim = Simulation(seed: seed, replicas: 3)
        if seed % 3 == 0 { sim.legacyWriters = [1] }
        var rng = SeededRandom(seed: seed ^ 0xA77A)
        for _ in 0..<4 {
            try sim.run(&models, steps: steps / 4)
            // Attachments: attach, re-caption (concurrently, on two replicas) and detach.
            for _ in 0..<3 {
                let i = Int.random(in: models.indices, using: &rng)
                guard let id = models[i].visibleRecords.map(\.id).sorted().randomElement(using: &rng) else { continue }
                let hash = BlobHash(bytes: (0..<32).map { _ in UInt8(Int.random(in: 0..<4, using: &rng)) })!
                let ref = AttachmentRef(
                    hash: hash, size: UInt64.random(in: 1...5_000_000, using: &rng), mediaType: "image/jpeg",
                    name: "photo-\(Int.random(in: 0..<4, using: &rng)).jpg",
                    caption: rng.chance(0.5) ? words.randomElement(using: &rng)! : "")
                let edit: Edit = rng.chance(0.25) ? .detach(id, hash) : .attach(id, ref)
                _ = try? models[i].commit([edit], now: sim.wall(i))
            }
        }
        var all: [ChangeID: Change] = [:]
        for m in models { for c in m.changes(missingFrom: VersionVector()) { all[c.id] = c } }
        return (ids, all.values.sorted { $0.id < $1.id })
    }

    static func run(seed: UInt64, steps: Int = 80) throws {
        let (ids, changes) = try history(seed: seed, steps: steps)
        var rng = SeededRandom(seed: seed ^ 0xB01C)
        let dir = try TemporaryDirectory()
        // The receivers share a replica id: half the time one of the writers', whose own
        // changes then come back to it (as after a restore).
        let own = seed % 2 == 0 ? ids[0] : ReplicaID.random(using: &rng)
        let a = try Store.create(at: dir.file("a.strata"), author: "a", replicaID: own)
        let b = try Store.create(at: dir.file("b.strata"), author: "a", replicaID: own)
        let now: UInt64 = 1_764_000_000_000 + 86_400_000

        for c in changes.shuffled(using: &rng) { try a.apply([c], now: now) }

        var delivery = changes.shuffled(using: &rng)
        for _ in 0..<Int.random(in: 0...5, using: &rng) where !changes.isEmpty {
            delivery.insert(changes.randomElement(using: &rng)!, at: Int.random(in: 0...delivery.count, using: &rng))
        }
        var rest = delivery[...]
        var batches = 0
        while !rest.isEmpty {
            let n = Int.random(in: 1...max(1, rest.count), using: &rng)
            let r = try b.apply(Array(rest.prefix(n)), now: now)
            #expect(r.applied + r.duplicates == min(n, rest.count), "seed \(seed)")
            rest = rest.dropFirst(n)
            batches += 1
        }
        // Everything again, in one batch: nothing new.
        let again = try b.apply(changes, now: now)
        #expect(again.applied == 0 && again.duplicates == changes.count, "seed \(seed)")

        try expectEquivalent(a, b, "seed \(seed), \(changes.count) changes in \(batches) batches")
        #expect(try b.check() == [], "seed \(seed)")

        // A later local edit of every record writes the same change on both.
        for (i, (id, s)) in try a.allRecordStates().sorted(by: { $0.key < $1.key }).enumerated() {
            guard let kind = s.kind.flatMap(RecordKind.init(rawValue:)) else { continue }
            let edit = Edit.set(id, field: kind.titleField, .text("checked \(i)"))
            let ea = try? a.commit([edit], now: now + 1_000)
            let eb = try? b.commit([edit], now: now + 1_000)
            #expect(ea == eb, "seed \(seed): a later edit of \(id) differs")
        }
        try expectEquivalent(a, b, "seed \(seed), after later edits")
    }

    /// Every materialised table by record id (rowids are internal and may differ), the log,
    /// the version vector, meta, and the query API's answers.
    static func expectEquivalent(_ a: Store, _ b: Store, _ context: String) throws {
        #expect(try dump(a) == dump(b), "\(context): tables differ")
        #expect(try a.allRecordStates() == b.allRecordStates(), "\(context): states differ")
        #expect(try a.versionVector() == b.versionVector(), "\(context)")
        #expect(try a.conflicts().map(\.id) == b.conflicts().map(\.id), "\(context)")
        #expect(try a.changes(missingFrom: VersionVector()) == b.changes(missingFrom: VersionVector()), "\(context)")
        #expect(try a.pushCandidates(missingFrom: VersionVector()) == b.pushCandidates(missingFrom: VersionVector()), "\(context)")
        for w in words {
            #expect(
                try Set(a.search(w, includeDeleted: true, limit: 1000).map(\.id))
                    == Set(b.search(w, includeDeleted: true, limit: 1000).map(\.id)), "\(context): search \(w)")
        }
        for id in try a.allRecordStates().keys {
            #expect(try a.history(of: id) == b.history(of: id), "\(context): history of \(id)")
        }
        #expect(try a.list(RecordFilter(includeDeleted: true)).map(\.id) == b.list(RecordFilter(includeDeleted: true)).map(\.id))
    }

    static func dump(_ s: Store) throws -> [String: [[DatabaseValue]]] {
        let queries = [
            "records": "SELECT id, text_id, kind, title, state, deleted, conflict, created, modified, doc FROM records ORDER BY id",
            "tags": "SELECT r.id, t.tag FROM record_tags t JOIN records r ON r.rowid = t.record ORDER BY 1, 2",
            "tag rows": "SELECT count(*) FROM record_tags",
            "relations": "SELECT r.id, x.rel, x.target FROM relations x JOIN records r ON r.rowid = x.source ORDER BY 1, 2, 3",
            "relation rows": "SELECT count(*) FROM relations",
            "attachments":
                "SELECT r.id, x.hash, x.size FROM record_attachments x JOIN records r ON r.rowid = x.record ORDER BY 1, 2",
            "attachment rows": "SELECT count(*) FROM record_attachments",
            "fts": "SELECT r.id, f.title, f.body FROM records_fts f JOIN records r ON r.rowid = f.rowid ORDER BY 1",
            "fts rows": "SELECT count(*) FROM records_fts",
            "links": """
                SELECT r.id, p.id, l.seq FROM change_records l JOIN records r ON r.rowid = l.record
                JOIN replicas p ON p.idx = l.replica ORDER BY 1, 2, 3
                """,
            "link rows": "SELECT count(*) FROM change_records",
            "changes": """
                SELECT p.id, c.seq, c.hlc, c.author, c.payload, c.received_at FROM changes c
                JOIN replicas p ON p.idx = c.replica ORDER BY 1, 2
                """,
            "versions": "SELECT p.id, v.contiguous FROM versions v JOIN replicas p ON p.idx = v.replica ORDER BY 1",
            "meta": "SELECT key, value FROM meta WHERE key IN ('hlc', 'next_seq') ORDER BY key",
        ]
        return try s.db.read { db in
            try queries.mapValues { sql in try Row.fetchAll(db, sql: sql).map { Array($0.databaseValues) } }
        }
    }

    @Test func randomBatchesOrdersAndDuplicatesLeaveWhatOneByOneLeaves() async {
        let runs = ProcessEnvironment.int("STRATA_STORE_PROPERTY_RUNS", default: 20)
        await propertyCheck(count: runs, input: Gen<UInt64>.value(in: 0...UInt64.max)) { seed in
            try Self.run(seed: seed)
        }
    }

    /// 11786627: two changes with one timestamp from two replicas, whose history was listed in
    /// the order each store had first heard of their replicas (now by replica id).
    @Test(arguments: [1, 3, 2026, 11786627] as [UInt64])
    func regressionSeeds(seed: UInt64) throws { try Self.run(seed: seed, steps: 160) }

    /// Batches longer than the flush threshold, with records touched again after a flush and
    /// records already stored (a populated replica): one batch against one change an apply.
    @Test func aLongBatchIntoAPopulatedReplicaMatchesOneByOne() throws {
        let dir = try TemporaryDirectory()
        let w = try makeStore(dir, "w", seed: 1)
        let n = MergeTransaction.flushThreshold * 2 + 100
        var groups: [[Edit]] = []
        var ids: [RecordID] = []
        for i in 0..<n {
            let id = w.newRecordID()
            ids.append(id)
            groups.append([
                .create(id, kind: .note), .set(id, field: "title", .text("Survey \(i)")),
                .set(id, field: "body", .text("Shelling damage on wall \(i).")),
                .add(id, field: SystemField.tags, element: "t\(i % 7)"),
            ])
        }
        let first = try w.commit(each: groups).compactMap { $0 }
        var later: [[Edit]] = []
        for i in stride(from: 0, to: n, by: 13) {
            later.append([.appendText(ids[i], field: "body", text: " Revisited."), .add(ids[i], field: SystemField.tags, element: "revisited")])
            later.append([.set(ids[i], field: "title", .text("Survey \(i), checked"))])
            if i % 3 == 0 { later.append([.delete(ids[i])]) }
        }
        let second = try w.commit(each: later).compactMap { $0 }
        let a = try makeStore(dir, "a", seed: 2)
        let b = try makeStore(dir, "b", seed: 2)
        let now = Store.wallClockMillis()
        // Populate both with half of the notes, then deliver the rest with the later edits.
        let half = first.count / 2
        try a.apply(Array(first[..<half]), now: now)
        try b.apply(Array(first[..<half]), now: now)
        var rng = SeededRandom(seed: 5)
        let rest = (Array(first[half...]) + second).shuffled(using: &rng)
        for c in rest { try a.apply([c], now: now) }
        let r = try b.apply(rest, now: now)
        #expect(r.applied == rest.count)
        try Self.expectEquivalent(a, b, "long batch")
        #expect(try b.check() == [])
        let revisited = Array(stride(from: 0, to: n, by: 13))
        #expect(try b.search("revisited", limit: n).count == revisited.filter { $0 % 3 != 0 }.count)
        #expect(try b.search("revisited", includeDeleted: true, limit: n).count == revisited.count)
    }
}
