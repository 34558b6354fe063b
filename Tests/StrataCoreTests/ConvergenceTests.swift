import PropertyBased
import StrataTestSupport
import Testing

@testable import StrataCore

/// Runs one seeded schedule on in-memory replicas and checks they converge.
func checkConvergence(seed: UInt64, replicas n: Int = 3, steps: Int = 60) throws {
    var sim = Simulation(seed: seed, replicas: n)
    // One schedule in three has a replica that still writes long texts as registers.
    if seed % 3 == 0 { sim.legacyWriters = [0] }
    let ids = Simulation.makeReplicaIDs(seed: seed, count: n)
    var replicas = ids.enumerated().map { ReplicaModel(id: $1, author: ["Khaled", "Maria", "Omar", "Lina"][$0 % 4]) }
    try sim.run(&replicas, steps: steps)
    try sim.exchangeAll(&replicas)
    let reference = replicas[0]
    for r in replicas.dropFirst() {
        #expect(r.versionVector == reference.versionVector, "seed \(seed): version vectors differ")
        #expect(r.records == reference.records, "seed \(seed): states differ\n\(sim.trace.joined(separator: "\n"))")
        #expect(
            r.visibleRecords.map(\.conflictedKeys) == reference.visibleRecords.map(\.conflictedKeys),
            "seed \(seed): conflict sets differ")
    }
    for s in reference.records.values {
        #expect(s.keys.values.allSatisfy { $0.pending.isEmpty }, "seed \(seed)")
        #expect(s.texts.values.allSatisfy { $0.document.pendingOperations.isEmpty }, "seed \(seed): text operations still buffered")
    }
    // A fresh replica fed the whole log shuffled, in random batches, with duplicates, agrees.
    var rng = SeededRandom(seed: seed ^ 0xF00D)
    var fresh = ReplicaModel(id: ReplicaID(high: 0, low: 1), author: "late")
    var all = Array(reference.log.values)
    all.append(contentsOf: all[..<min(5, all.count)])
    all.shuffle(using: &rng)
    while !all.isEmpty {
        let k = Int.random(in: 1...all.count, using: &rng)
        try fresh.apply(Array(all.prefix(k)), now: .max / 2)
        all.removeFirst(k)
    }
    #expect(fresh.records == reference.records, "seed \(seed): shuffled replay differs")
}

@Suite struct ConvergenceTests {
    /// Several hundred random schedules by default; `STRATA_PROPERTY_RUNS=5000` for more.
    @Test func replicasConvergeOverRandomSchedules() async {
        let runs = ProcessEnvironment.int("STRATA_PROPERTY_RUNS", default: 300)
        await propertyCheck(count: runs, input: Gen<UInt64>.value(in: 0...UInt64.max)) { seed in
            try checkConvergence(seed: seed, replicas: 3 + Int(seed % 2))
        }
    }

    /// Seeds that once failed (or that exercise a rare path), kept as regressions.
    @Test(arguments: [0, 1, 42, 0xDEAD_BEEF] as [UInt64])
    func regressionSeeds(seed: UInt64) throws {
        try checkConvergence(seed: seed, replicas: 4, steps: 120)
    }

    /// Merge is commutative, associative and idempotent: the state after applying batches X,
    /// Y, Z depends only on their union.
    @Test func mergeLawsHoldForRandomBatches() throws {
        for seed in UInt64(0)..<40 {
            var sim = Simulation(seed: seed, replicas: 3)
            var replicas = Simulation.makeReplicaIDs(seed: seed, count: 3).map { ReplicaModel(id: $0, author: "r") }
            try sim.run(&replicas, steps: 40)
            // X, Y, Z: each replica's own changes, as produced (not causally closed).
            let batches = replicas.map { r in r.log.values.filter { $0.id.replica == r.id } }
            func state(_ order: [[Change]]) throws -> [RecordID: RecordState] {
                var m = ReplicaModel(id: ReplicaID(high: 9, low: 9), author: "x")
                for b in order { try m.apply(b, now: .max / 2) }
                return m.records
            }
            let (x, y, z) = (batches[0], batches[1], batches[2])
            let reference = try state([x, y, z])
            for order in [[x, z, y], [y, x, z], [y, z, x], [z, x, y], [z, y, x], [x + y, z], [x, y + z]] {
                #expect(try state(order) == reference, "seed \(seed)")
            }
            #expect(try state([x, y, z, x, y, z]) == reference, "idempotence, seed \(seed)")
        }
    }
}
