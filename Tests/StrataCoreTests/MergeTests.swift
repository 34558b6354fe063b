import StrataTestSupport
import Testing

@testable import StrataCore

/// Two or three replicas in memory, exchanging by hand.
struct Team {
    var a: ReplicaModel
    var b: ReplicaModel
    var c: ReplicaModel
    let artefact: RecordID
    var now: UInt64 = 1_764_000_000_000

    init() throws {
        let ids = Simulation.makeReplicaIDs(seed: 99, count: 3)
        a = ReplicaModel(id: ids[0], author: "Khaled")
        b = ReplicaModel(id: ids[1], author: "Maria")
        c = ReplicaModel(id: ids[2], author: "Omar")
        var rng = SeededRandom(seed: 7)
        artefact = RecordID.v7(unixMillis: now, using: &rng)
        try a.commit(
            [.create(artefact, kind: .artefact), .set(artefact, field: "title", .text("Bust of a woman"))], now: now)
        try sync(from: \.a, to: \.b)
        try sync(from: \.a, to: \.c)
    }

    mutating func tick() -> UInt64 {
        now += 1000
        return now
    }

    mutating func sync(from: WritableKeyPath<Team, ReplicaModel>, to: WritableKeyPath<Team, ReplicaModel>) throws {
        let missing = self[keyPath: from].changes(missingFrom: self[keyPath: to].versionVector)
        try self[keyPath: to].apply(missing, now: now)
    }
}

@Suite struct MergeTests {
    @Test func concurrentWritesToOneFieldKeepBothValues() throws {
        var t = try Team()
        try t.a.commit([.set(t.artefact, field: "state", .text("moved-for-safekeeping"))], now: t.tick())
        try t.b.commit([.set(t.artefact, field: "state", .text("missing"))], now: t.tick())
        try t.sync(from: \.a, to: \.b)
        try t.sync(from: \.b, to: \.a)
        let sa = t.a.records[t.artefact]!
        let sb = t.b.records[t.artefact]!
        #expect(sa == sb)
        #expect(sa["state"]!.live.map(\.value) == [.text("missing"), .text("moved-for-safekeeping")])
        #expect(sa["state"]!.live.map(\.author) == ["Maria", "Khaled"])
        #expect(sa.conflictedKeys == [FieldKey("state")])
        #expect(sa.value("state") == .text("missing"))  // the later write is displayed
    }

    @Test func resolvingOnOneReplicaClearsTheConflictEverywhere() throws {
        var t = try Team()
        try t.a.commit([.set(t.artefact, field: "state", .text("moved-for-safekeeping"))], now: t.tick())
        try t.b.commit([.set(t.artefact, field: "state", .text("missing"))], now: t.tick())
        try t.sync(from: \.a, to: \.b)
        try t.sync(from: \.b, to: \.a)
        let resolved = try #require(
            try t.a.commit([.set(t.artefact, field: "state", .text("moved-for-safekeeping"))], now: t.tick()))
        #expect(resolved.operations[0].preds.count == 2)
        try t.sync(from: \.a, to: \.b)
        #expect(t.b.records[t.artefact]!.conflictedKeys.isEmpty)
        #expect(t.b.records[t.artefact]!.value("state") == .text("moved-for-safekeeping"))
        #expect(t.a.records[t.artefact] == t.b.records[t.artefact])
    }

    @Test func aSupersedingWriteThatArrivesFirstStillWins() throws {
        var t = try Team()
        let first = try #require(try t.a.commit([.set(t.artefact, field: "title", .text("Bust"))], now: t.tick()))
        let second = try #require(try t.a.commit([.set(t.artefact, field: "title", .text("Funerary bust"))], now: t.tick()))
        // c receives the second before the first.
        try t.c.apply([second], now: t.now)
        #expect(t.c.records[t.artefact]!["title"]!.pending == [first.id])
        try t.c.apply([first], now: t.now)
        #expect(t.c.records[t.artefact]! == t.a.records[t.artefact]!)
        #expect(t.c.records[t.artefact]!["title"]!.pending.isEmpty)
        #expect(t.c.records[t.artefact]!.value("title") == .text("Funerary bust"))
    }

    @Test func concurrentAddWinsOverRemove() throws {
        var t = try Team()
        try t.a.commit([.add(t.artefact, field: SystemField.tags, element: "unesco")], now: t.tick())
        try t.sync(from: \.a, to: \.b)
        try t.a.commit([.remove(t.artefact, field: SystemField.tags, element: "unesco")], now: t.tick())
        // b re-adds concurrently: the tag was already there, so nothing changes on b...
        #expect(try t.b.commit([.add(t.artefact, field: SystemField.tags, element: "unesco")], now: t.tick()) == nil)
        // ...but c, which never saw it, adds it concurrently with a's remove.
        try t.c.commit([.add(t.artefact, field: SystemField.tags, element: "unesco")], now: t.tick())
        try t.sync(from: \.a, to: \.c)
        try t.sync(from: \.c, to: \.a)
        #expect(t.a.records[t.artefact]!.tags == ["unesco"])
        #expect(t.a.records[t.artefact] == t.c.records[t.artefact])
        // b sees the remove of the only add it knew: gone on b until c's add arrives.
        try t.sync(from: \.a, to: \.b)
        #expect(t.b.records[t.artefact]!.tags == ["unesco"])
    }

    @Test func aDeleteConcurrentWithAnEditIsSurfacedAndReversible() throws {
        var t = try Team()
        try t.a.commit([.delete(t.artefact)], now: t.tick())
        try t.b.commit([.set(t.artefact, field: "keeper", .text("National Museum, Damascus"))], now: t.tick())
        try t.sync(from: \.a, to: \.b)
        try t.sync(from: \.b, to: \.a)
        let s = t.a.records[t.artefact]!
        #expect(s.isDeleted)
        #expect(s.value("keeper") == .text("National Museum, Damascus"))  // the edit is kept
        let dc = try #require(s.deleteConflict)
        #expect(dc.unseenEdits.map(\.key) == [FieldKey("keeper")])
        #expect(dc.deletion.author == "Khaled")
        #expect(s.hasConflict)
        // Deleting again, having seen the edit, clears the conflict.
        try t.a.commit([.delete(t.artefact)], now: t.tick())
        #expect(t.a.records[t.artefact]!.deleteConflict == nil)
        #expect(t.a.records[t.artefact]!.isDeleted)
        // Restoring brings the record back with the edit.
        try t.b.commit([.restore(t.artefact)], now: t.tick())
        try t.sync(from: \.a, to: \.b)
        try t.sync(from: \.b, to: \.a)
        // b restored before seeing a's second delete: concurrent delete and restore conflict.
        #expect(t.a.records[t.artefact]!.conflictedKeys == [FieldKey(SystemField.deleted)])
        #expect(t.a.records[t.artefact] == t.b.records[t.artefact])
    }

    @Test func aBatchWithAMalformedChangeIsRefusedWhole() throws {
        var t = try Team()
        let good = try #require(try t.a.commit([.set(t.artefact, field: "title", .text("x"))], now: t.tick()))
        var bad = good
        bad.id = ChangeID(replica: good.id.replica, seq: 0)
        let before = t.c
        #expect(throws: ChangeValidationError.self) { try t.c.apply([good, bad], now: t.now) }
        #expect(t.c.records == before.records)
        #expect(t.c.versionVector == before.versionVector)
    }

    @Test func aChangeFromTheFarFutureIsRefusedAndNothingIsApplied() throws {
        var t = try Team()
        let skewed = try #require(
            try t.a.commit([.set(t.artefact, field: "title", .text("from 2031"))], now: t.now + 5 * 365 * 86_400_000))
        let before = t.b.records
        #expect(throws: ClockSkewError.self) { try t.b.apply([skewed], now: t.now) }
        #expect(t.b.records == before)
    }

    @Test func editsThatChangeNothingMakeNoChange() throws {
        var t = try Team()
        #expect(try t.a.commit([.set(t.artefact, field: "title", .text("Bust of a woman"))], now: t.tick()) == nil)
        #expect(try t.a.commit([.restore(t.artefact)], now: t.tick()) == nil)
        #expect(throws: EditError.self) { try t.a.commit([.set(RecordID(high: 1, low: 1), field: "title", .null)], now: 1) }
    }
}

@Suite struct AgreementTests {
    @Test func concurrentWritesOfTheSameValueAreNotAConflict() throws {
        var t = try Team()
        try t.a.commit([.set(t.artefact, field: "state", .text("destroyed"))], now: t.tick())
        try t.b.commit([.set(t.artefact, field: "state", .text("destroyed"))], now: t.tick())
        try t.sync(from: \.a, to: \.b)
        try t.sync(from: \.b, to: \.a)
        let s = t.a.records[t.artefact]!
        #expect(s["state"]!.live.count == 2)  // both writes are kept in history and state
        #expect(s.conflictedKeys.isEmpty)
        #expect(!s.hasConflict)
        // A later write supersedes both.
        let next = try #require(try t.a.commit([.set(t.artefact, field: "state", .text("recovered"))], now: t.tick()))
        #expect(next.operations[0].preds.count == 2)
    }
}
