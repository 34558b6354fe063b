import StrataTestSupport
import Testing

@testable import StrataCore

@Suite struct IdentifierTests {
    @Test func recordIDTextRoundTripsAndStartsWithRandomBits() {
        var rng = SeededRandom(seed: 1)
        var prefixes = Set<String>()
        for _ in 0..<1000 {
            let id = RecordID.v7(unixMillis: 1_764_000_000_000, using: &rng)
            #expect(id.text.count == 26)
            #expect(RecordID(text: id.text) == id)
            #expect(RecordID(text: id.text.uppercased()) == id)
            #expect(id.unixMillis == 1_764_000_000_000)
            prefixes.insert(String(id.text.prefix(7)))
        }
        // Same millisecond, yet 7-character prefixes tell 1000 ids apart.
        #expect(prefixes.count == 1000)
    }

    @Test func recordIDTextRejectsBadInput() {
        #expect(RecordID(text: "") == nil)
        #expect(RecordID(text: String(repeating: "0", count: 25)) == nil)
        #expect(RecordID(text: String(repeating: "u", count: 26)) == nil)  // u is not Crockford
        // The last digit carries 3 bits and 2 zero pad bits: "1" sets a pad bit.
        #expect(RecordID(text: String(repeating: "0", count: 25) + "1") == nil)
        #expect(RecordID(text: String(repeating: "0", count: 25) + "4") != nil)
    }

    @Test func crockfordReadsLookAlikes() {
        #expect(Base32.normalise("OIL") == "011")
        #expect(Base32.normalise("ab-") == nil)
    }

    @Test func uuidV7HasVersionAndVariant() {
        var rng = SeededRandom(seed: 2)
        let id = RecordID.v7(unixMillis: 5, using: &rng)
        #expect((id.high >> 12) & 0xF == 7)
        #expect(id.low >> 62 == 0b10)
        let r = ReplicaID.random(using: &rng)
        #expect((r.high >> 12) & 0xF == 4)
        #expect(ReplicaID(hex: r.hex) == r)
        #expect(ReplicaID(bytes: r.bytes) == r)
        #expect(ReplicaID(hex: "xyz") == nil)
    }

    @Test func versionVectorTextRoundTrips() {
        var rng = SeededRandom(seed: 3)
        let a = ReplicaID.random(using: &rng)
        let b = ReplicaID.random(using: &rng)
        let vv = VersionVector([a: 3, b: 10])
        #expect(VersionVector(text: vv.description) == vv)
        #expect(VersionVector(text: "") == VersionVector())
        #expect(VersionVector(text: "nonsense") == nil)
        #expect(VersionVector(text: "\(a.hex):1,\(a.hex):2") == nil)
        #expect(vv.contains(ChangeID(replica: a, seq: 3)))
        #expect(!vv.contains(ChangeID(replica: a, seq: 4)))
        #expect(VersionVector([a: 1]).isDominated(by: vv))
        #expect(!vv.isDominated(by: VersionVector([a: 5])))
        #expect(vv.merged(with: VersionVector([a: 5]))[a] == 5)
    }
}

@Suite struct ClockTests {
    @Test func tickIsStrictlyIncreasingWhateverTheWallClockDoes() {
        var clock = HybridClock()
        var last = HybridTimestamp.zero
        var rng = SeededRandom(seed: 4)
        var wall: UInt64 = 1_000_000
        for _ in 0..<10_000 {
            wall = UInt64(Int64(wall) + Int64.random(in: -50...60, using: &rng))
            let t = clock.tick(now: wall)
            #expect(t > last)
            last = t
        }
    }

    @Test func tickFollowsTheWallClockWhenItIsAhead() {
        var clock = HybridClock()
        #expect(clock.tick(now: 1000) == HybridTimestamp(wallMillis: 1000, counter: 0))
        #expect(clock.tick(now: 1000) == HybridTimestamp(wallMillis: 1000, counter: 1))
        #expect(clock.tick(now: 999) == HybridTimestamp(wallMillis: 1000, counter: 2))
        #expect(clock.tick(now: 2000) == HybridTimestamp(wallMillis: 2000, counter: 0))
    }

    @Test func counterOverflowMovesToTheNextMillisecond() {
        var clock = HybridClock(last: HybridTimestamp(wallMillis: 10, counter: .max))
        #expect(clock.tick(now: 5) == HybridTimestamp(wallMillis: 11, counter: 0))
    }

    @Test func observingARemoteTimestampOrdersLaterLocalWritesAfterIt() {
        var clock = HybridClock()
        clock.observe(HybridTimestamp(wallMillis: 5000, counter: 7))
        #expect(clock.tick(now: 100) == HybridTimestamp(wallMillis: 5000, counter: 8))
    }

    @Test func policyRefusesTimestampsTooFarAhead() throws {
        let policy = ClockPolicy(maxForwardSkewMillis: 1000)
        var rng = SeededRandom(seed: 5)
        let id = ChangeID(replica: ReplicaID.random(using: &rng), seq: 1)
        try policy.check(HybridTimestamp(wallMillis: 10_999, counter: 0), from: id, now: 10_000)
        try policy.check(HybridTimestamp(wallMillis: 0, counter: 0), from: id, now: 10_000)
        #expect(throws: ClockSkewError.self) {
            try policy.check(HybridTimestamp(wallMillis: 11_001, counter: 0), from: id, now: 10_000)
        }
    }
}
