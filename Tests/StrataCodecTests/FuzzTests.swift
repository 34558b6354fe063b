import Foundation
import StrataCore
import Testing

@testable import StrataCodec

/// Seeded mutation fuzzing of every decoder: flip, truncate, insert and overwrite bytes of the
/// valid vectors. A decoder must return or throw ``CodecError``; never crash or run away.
/// STRATA_FUZZ_ITERATIONS raises the iteration count (default 3000 per decoder).
@Suite("Fuzz")
struct FuzzTests {
    static let iterations = Int(ProcessInfo.processInfo.environment["STRATA_FUZZ_ITERATIONS"] ?? "") ?? 3000

    static func mutate(_ input: [UInt8], _ rng: inout SeededRNG) -> [UInt8] {
        var b = input
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            if b.isEmpty { b.append(UInt8.random(in: 0...255, using: &rng)) }
            let i = Int.random(in: 0..<b.count, using: &rng)
            switch Int.random(in: 0..<6, using: &rng) {
            case 0: b[i] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
            case 1: b[i] = UInt8.random(in: 0...255, using: &rng)
            case 2: b.removeSubrange(i...)
            case 3: b.insert(UInt8.random(in: 0...255, using: &rng), at: i)
            case 4: b.remove(at: i)
            default: b[i] = [0x00, 0x7F, 0x80, 0xFF][Int.random(in: 0..<4, using: &rng)]
            }
        }
        return b
    }

    static let knownCodes: Set<String> = [
        "truncated", "malformed", "bad-magic", "unsupported-version", "unsupported-flags", "unsupported-value", "too-large",
        "corrupt-compression", "length-mismatch", "trailing-bytes", "checksum-mismatch", "invalid-utf8", "index-out-of-range",
        "overlong-varint", "invalid-change",
    ]

    /// Mutates both the compressed change sets and their inflated payloads (re-wrapped with a
    /// correct zlib stream), so the fuzz reaches the payload parser.
    @Test func changeSetDecoderSurvivesMutations() throws {
        let seeds = try ["cs-01-empty", "cs-02-single", "cs-03-every-value", "cs-04-stored"].map {
            try Fixtures.read("valid/\($0).bin")
        }
        let payloads = [ChangeSetCodec.payload(Fixtures.single), ChangeSetCodec.payload(Fixtures.everyValue)]
        var rng = SeededRNG(seed: 0xF022)
        let limits = CodecLimits(maxInflatedBytes: 1 << 20)
        var codes: [String: Int] = [:]
        for i in 0..<Self.iterations {
            let input: [UInt8]
            if i % 2 == 0 {
                input = Self.mutate(seeds[i % seeds.count], &rng)
            } else {
                let p = Self.mutate(payloads[(i / 2) % payloads.count], &rng)
                input = Vectors.craftedChangeSet(payload: p)
            }
            let c = errorCode { () throws(CodecError) in try ChangeSetCodec.decode(input, limits: limits) }
            #expect(c == "ok" || Self.knownCodes.contains(c))
            codes[c, default: 0] += 1
        }
        #expect(codes.count > 6, "\(codes)")
    }

    @Test func changeCodecSurvivesMutations() {
        var rng = SeededRNG(seed: 0xC0DE)
        let seeds = Fixtures.everyValue.map(ChangeCodec.encode)
        for i in 0..<Self.iterations {
            let input = Self.mutate(seeds[i % seeds.count], &rng)
            let c = errorCode { () throws(CodecError) in try ChangeCodec.decode(input) }
            #expect(c == "ok" || Self.knownCodes.contains(c))
        }
    }

    @Test func bundleDecoderSurvivesMutations() throws {
        let seed = try Fixtures.read("valid/bd-01-three-frames.bin")
        var rng = SeededRNG(seed: 0xB0B)
        for _ in 0..<Self.iterations {
            let input = Self.mutate(seed, &rng)
            let c = errorCode { () throws(CodecError) in try BundleCodec.decode(input) }
            #expect(c == "ok" || Self.knownCodes.contains(c))
        }
    }

    @Test func recordStateDecoderSurvivesMutations() {
        var s = RecordState(id: Fixtures.note)
        for c in Fixtures.everyValue {
            for op in c.operations where op.record == Fixtures.note { s.apply(op, of: c, isApplied: { _ in true }) }
        }
        let seed = RecordStateCodec.encode(s)
        var rng = SeededRNG(seed: 0x5747E)
        for _ in 0..<Self.iterations {
            let input = Self.mutate(seed, &rng)
            let c = errorCode { () throws(CodecError) in try RecordStateCodec.decode(input, id: Fixtures.note) }
            #expect(c == "ok" || Self.knownCodes.contains(c))
        }
    }
}
