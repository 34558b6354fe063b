import Foundation
import StrataCore
import Testing

@testable import StrataCodec

/// The streaming reader against the whole-buffer decoder: on every change-set vector, on random
/// change sets of every size around its window, and on their mutations, it returns the same
/// changes or throws the same error (kind, offset, total, context), whatever its batch sizes.
@Suite("Change set reader")
struct ChangeSetReaderTests {
    /// Batch bounds tried on each input: one change at a time, a few, a byte at a time, the defaults.
    static let batchSizes: [(changes: Int, bytes: Int)] = [(1, 1 << 30), (3, 1 << 30), (1000, 1), (1000, 256 << 10)]

    static func whole(_ bytes: [UInt8], _ limits: CodecLimits) -> Result<[Change], CodecError> {
        do throws(CodecError) { return .success(try ChangeSetCodec.decode(bytes, limits: limits)) } catch { return .failure(error) }
    }

    static func streamed(_ bytes: [UInt8], _ limits: CodecLimits, changes: Int, bytes maxBytes: Int) -> Result<[Change], CodecError> {
        do throws(CodecError) {
            let reader = try ChangeSetReader(bytes, limits: limits)
            var all: [Change] = []
            for _ in 0...(bytes.count + 1) {
                guard let batch = try reader.next(maxChanges: changes, maxBytes: maxBytes) else { return .success(all) }
                precondition(!batch.isEmpty && batch.count <= changes, "a batch of \(batch.count) for a bound of \(changes)")
                all += batch
            }
            preconditionFailure("ChangeSetReader returned more batches than the set has bytes")
        } catch { return .failure(error) }
    }

    /// The same outcome: changes compared by id and by their encoding (NaN reals are equal there).
    static func same(_ a: Result<[Change], CodecError>, _ b: Result<[Change], CodecError>) -> Bool {
        switch (a, b) {
        case (.success(let x), .success(let y)):
            return x.map(\.id) == y.map(\.id) && ChangeSetCodec.encode(x) == ChangeSetCodec.encode(y)
        case (.failure(let x), .failure(let y)): return x == y
        default: return false
        }
    }

    static func expectSame(_ bytes: [UInt8], limits: CodecLimits = .standard, _ what: @autoclosure () -> String) {
        let expected = whole(bytes, limits)
        for (changes, maxBytes) in batchSizes {
            let got = streamed(bytes, limits, changes: changes, bytes: maxBytes)
            #expect(same(expected, got), "\(what()), batches of \(changes) changes / \(maxBytes) bytes: \(expected) vs \(got)")
        }
    }

    @Test func everyChangeSetVectorReadsAsTheWholeBufferDecoderReadsIt() throws {
        var valid = 0
        var invalid = 0
        for e in try Vectors.manifest() where e.kind == "change-set" {
            Self.expectSame(try Fixtures.read(e.file), e.file)
            if e.valid { valid += 1 } else { invalid += 1 }
        }
        #expect(valid >= 5 && invalid >= 20, "\(valid) valid and \(invalid) invalid change-set vectors")
    }

    @Test func randomChangeSetsAcrossWindowBoundariesReadTheSame() throws {
        var rng = SeededRNG(seed: 0x5EAD)
        // Up to a few thousand changes: payloads shorter and several times longer than one window step.
        for count in [0, 1, 2, 17, 400, 3000, 9000] {
            let changes = Fixtures.randomChanges(&rng, count: count, maxOps: 8)
            let bytes = ChangeSetCodec.encode(changes)
            Self.expectSame(bytes, "\(count) random changes")
            let stored = Vectors.craftedChangeSet(payload: ChangeSetCodec.payload(changes), version: bytes[4], flags: 0)
            Self.expectSame(stored, "\(count) random changes, stored")
            guard case .success(let all) = Self.streamed(bytes, .standard, changes: 1000, bytes: 256 << 10) else {
                Issue.record("\(count) random changes did not stream")
                continue
            }
            #expect(all.map(\.id) == changes.map(\.id))
        }
    }

    /// A change longer than several window steps: the window grows until it holds it.
    @Test func aChangeLongerThanTheWindowIsReadWhole() throws {
        var rng = SeededRNG(seed: 0x10A6)
        var changes = Fixtures.randomChanges(&rng, count: 20)
        let long = String(repeating: "Palmyra temple of Bel, north wall, ", count: 40_000)  // 1.4 MB
        let op = FieldOperation(record: changes[0].operations[0].record, key: FieldKey("body"), action: .assign(.text(long)), preds: [])
        let c = changes[10]
        changes[10] = Change(id: c.id, timestamp: c.timestamp, author: c.author, operations: [op])
        let bytes = ChangeSetCodec.encode(changes)
        Self.expectSame(bytes, "a 1.4 MB change among small ones")
        let reader = try ChangeSetReader(bytes)
        var sizes: [Int] = []
        while let batch = try reader.next(maxChanges: 4, maxBytes: 8 << 20) { sizes.append(batch.count) }
        #expect(sizes == [4, 4, 4, 4, 4])
        #expect(reader.inflatedBytesRead == reader.inflatedBytes)
    }

    /// Mutations of compressed sets and of payloads re-wrapped with a valid zlib stream: every
    /// refusal is the same refusal, at the same byte.
    @Test func mutatedChangeSetsAreRefusedAlike() throws {
        var rng = SeededRNG(seed: 0x7E57)
        let seeds = [
            ChangeSetCodec.encode(Fixtures.randomChanges(&rng, count: 1500, maxOps: 4)),
            ChangeSetCodec.encode(Fixtures.everyValue), ChangeSetCodec.encode(Fixtures.single),
        ]
        let payloads = [ChangeSetCodec.payload(Fixtures.randomChanges(&rng, count: 2000)), ChangeSetCodec.payload(Fixtures.everyValue)]
        let limits = CodecLimits(maxInflatedBytes: 4 << 20)
        var codes: [String: Int] = [:]
        for i in 0..<400 {
            let input =
                i % 2 == 0
                ? FuzzTests.mutate(seeds[i % seeds.count], &rng)
                : Vectors.craftedChangeSet(payload: FuzzTests.mutate(payloads[(i / 2) % payloads.count], &rng))
            let expected = Self.whole(input, limits)
            let got = Self.streamed(input, limits, changes: Int.random(in: 1...50, using: &rng), bytes: Int.random(in: 1...(64 << 10), using: &rng))
            #expect(Self.same(expected, got), "mutation \(i): \(expected) vs \(got)")
            switch expected {
            case .success: codes["ok", default: 0] += 1
            case .failure(let e): codes[e.code, default: 0] += 1
            }
        }
        #expect(codes.count >= 5, "\(codes)")
    }

    /// A payload refused early whose compressed stream is also damaged further on: the damage
    /// is the error, as the whole-buffer decoder (which inflates first) reports it.
    @Test func damageLaterInTheStreamIsReportedBeforeAnEarlierPayloadError() throws {
        var rng = SeededRNG(seed: 0xDA3A)
        var payload = ChangeSetCodec.payload(Fixtures.randomChanges(&rng, count: 4000))
        let early = payload.count / 10
        payload[early] = 0xFF  // an index or tag out of range, or an overlong varint
        var bytes = Vectors.craftedChangeSet(payload: payload)
        bytes[bytes.count - 3] ^= 0x55  // the Adler-32 checksum at the end of the zlib stream
        let expected = Self.whole(bytes, .standard)
        guard case .failure(let e) = expected else {
            Issue.record("a damaged set decoded")
            return
        }
        #expect(e.code == "corrupt-compression")
        Self.expectSame(bytes, "payload damaged early, checksum late")
    }

    @Test func aReaderThatFailedKeepsFailingAndOneThatEndedStaysEnded() throws {
        var rng = SeededRNG(seed: 0xE4D)
        let bytes = ChangeSetCodec.encode(Fixtures.randomChanges(&rng, count: 50))
        let ok = try ChangeSetReader(bytes)
        while try ok.next(maxChanges: 7) != nil {}
        #expect(try ok.next() == nil)
        let cut = try ChangeSetReader(Array(bytes.dropLast(9)))
        var first: CodecError?
        for _ in 0..<20 {
            do throws(CodecError) { _ = try cut.next(maxChanges: 7) } catch {
                if let first { #expect(error == first) } else { first = error }
            }
        }
        #expect(first?.code == "truncated")
    }
}
