import StrataTestSupport
import Testing

@testable import StrataCore

@Suite struct VersionVectorTests {
    /// `advanced(by:)` against a naive oracle: the set of sequence numbers held per replica,
    /// counted from 1 while there is no gap.
    @Test func advancedMatchesCountingTheHeldSetFromOne() {
        var rng = SeededRandom(seed: 7)
        let replicas = (0..<3).map { _ in ReplicaID.random(using: &rng) }
        for _ in 0..<500 {
            var start = VersionVector()
            var held: [ReplicaID: Set<UInt64>] = [:]
            for r in replicas {
                let n = UInt64.random(in: 0...5, using: &rng)
                start[r] = n
                held[r] = Set((0..<n).map { $0 + 1 })
            }
            var ids: [ChangeID] = []
            for _ in 0..<Int.random(in: 0...12, using: &rng) {
                let r = replicas.randomElement(using: &rng)!
                let seq = UInt64.random(in: 1...12, using: &rng)
                ids.append(ChangeID(replica: r, seq: seq))
                held[r, default: []].insert(seq)
            }
            var expected = VersionVector()
            for (r, seqs) in held {
                var n: UInt64 = 0
                while seqs.contains(n + 1) { n += 1 }
                expected[r] = n
            }
            #expect(start.advanced(by: ids.shuffled(using: &rng)) == expected, "\(start) + \(ids)")
        }
    }
}
