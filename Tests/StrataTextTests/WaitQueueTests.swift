import StrataTestSupport
import Testing

@testable import StrataCore

/// The heap that buffers operations waiting for a replica's counters, against a naive oracle
/// (an array sorted by need, ties by arrival, scanned on every step).
@Suite struct WaitQueueTests {
    @Test(arguments: 0..<20)
    func heapAgreesWithASortedArray(seed: UInt64) {
        var rng = SeededRandom(seed: seed)
        var queue = WaitQueue()
        var oracle: [(need: UInt32, arrival: Int, op: TextOperation)] = []
        var arrivals = 0
        for _ in 0..<600 {
            if oracle.isEmpty || rng.chance(0.55) {
                // Small needs, so ties are common.
                let need = UInt32.random(in: 0..<40, using: &rng)
                let op = TextOperation.insert(id: TextID(replica: ReplicaID(high: 1, low: 1), counter: UInt64(arrivals)), originLeft: nil, originRight: nil, text: "x")
                queue.insert(op, need: need)
                oracle.append((need, arrivals, op))
                arrivals += 1
            } else {
                // Wake everything up to a random version, as `apply` does when a replica advances.
                let have = UInt32.random(in: 0..<40, using: &rng)
                var woken: [TextOperation] = []
                while !queue.isEmpty && queue.smallestNeed <= have { woken.append(queue.removeSmallest()) }
                let ready = oracle.filter { $0.need <= have }.sorted { ($0.need, $0.arrival) < ($1.need, $1.arrival) }
                oracle.removeAll { $0.need <= have }
                #expect(woken == ready.map(\.op), "seed \(seed): woken operations differ from the oracle's")
            }
            #expect(queue.count == oracle.count)
            #expect(queue.smallestNeed == (oracle.map(\.need).min() ?? .max))
        }
    }
}
