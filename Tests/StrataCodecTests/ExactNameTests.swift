import StrataCore
import Testing

@testable import StrataCodec

/// Names (authors, field names, set elements) are exact UTF-8 bytes (Protocol/SPEC.md,
/// "Notation"). Swift's `String` compares and hashes by Unicode canonical equivalence, so
/// "café" with U+00E9 and "café" with "e" + U+0301 are one `String` to a `Set` or a
/// `Dictionary`; the codecs and the merge must still keep them apart, byte for byte.
@Suite struct ExactNameTests {
    static let composed = "caf\u{E9}"  // 63 61 66 C3 A9
    static let decomposed = "cafe\u{301}"  // 63 61 66 65 CC 81
    static let joseComposed = "Jos\u{E9}"
    static let joseDecomposed = "Jose\u{301}"

    static func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// One change writing two fields, two tags and two values whose names are canonically
    /// equivalent but differ in bytes.
    static let twoCafes = Change(
        id: ChangeID(replica: Fixtures.alice, seq: 1), timestamp: Fixtures.ts, author: joseComposed,
        operations: [
            FieldOperation(record: Fixtures.note, key: FieldKey(composed), action: .assign(.text(composed)), preds: []),
            FieldOperation(record: Fixtures.note, key: FieldKey(decomposed), action: .assign(.text(decomposed)), preds: []),
            FieldOperation(record: Fixtures.note, key: FieldKey("tags", element: composed), action: .assign(.bool(true)), preds: []),
            FieldOperation(record: Fixtures.note, key: FieldKey("tags", element: decomposed), action: .assign(.bool(true)), preds: []),
        ])

    /// Two changes whose authors are canonically equivalent but differ in bytes.
    static let twoJoses = [
        twoCafes,
        Change(
            id: ChangeID(replica: Fixtures.bob, seq: 1), timestamp: Fixtures.ts(1000), author: joseDecomposed,
            operations: [FieldOperation(record: Fixtures.site, key: FieldKey("title"), action: .assign(.text("Agora")), preds: [])]),
    ]

    /// Every string of a change, as bytes, in order.
    static func strings(_ c: Change) -> [[UInt8]] {
        var out = [bytes(c.author)]
        for op in c.operations {
            out.append(bytes(op.key.field))
            out.append(bytes(op.key.element))
            if case .assign(.text(let s)) = op.action { out.append(bytes(s)) }
        }
        return out
    }

    @Test func theTwoSpellingsAreOneStringButTwoNames() throws {
        #expect(Self.composed == Self.decomposed)  // what Swift says
        #expect(Self.bytes(Self.composed) != Self.bytes(Self.decomposed))
        #expect(FieldKey(Self.composed) != FieldKey(Self.decomposed))
        #expect(FieldKey("tags", element: Self.composed) != FieldKey("tags", element: Self.decomposed))
        #expect(Set([FieldKey(Self.composed), FieldKey(Self.decomposed)]).count == 2)
        // A change writing both is valid: they are two keys.
        try Self.twoCafes.validate()
    }

    @Test func aChangeWithBothSpellingsRoundTripsByteForByte() throws {
        let set = ChangeSetCodec.encode([Self.twoCafes])
        let decoded = try ChangeSetCodec.decode(set)
        #expect(decoded.count == 1)
        #expect(decoded.map(Self.strings) == [Self.strings(Self.twoCafes)])
        #expect(ChangeSetCodec.encode(decoded) == set)

        let stored = ChangeCodec.encode(Self.twoCafes)
        let one = try ChangeCodec.decode(stored)
        #expect(Self.strings(one) == Self.strings(Self.twoCafes))
        #expect(ChangeCodec.encode(one) == stored)
    }

    @Test func authorsWithBothSpellingsRoundTripByteForByte() throws {
        let set = ChangeSetCodec.encode(Self.twoJoses)
        let decoded = try ChangeSetCodec.decode(set)
        #expect(decoded.map { Self.bytes($0.author) } == Self.twoJoses.map { Self.bytes($0.author) })
        #expect(decoded.map(Self.strings) == Self.twoJoses.map(Self.strings))
        #expect(ChangeSetCodec.encode(decoded) == set)
    }

    /// The materialised record: both fields, both tags, both authors, kept apart and byte-exact.
    @Test func aRecordStateWithBothSpellingsRoundTripsByteForByte() throws {
        var state = RecordState(id: Fixtures.note)
        let other = Change(
            id: ChangeID(replica: Fixtures.bob, seq: 1), timestamp: Fixtures.ts(1000), author: Self.joseDecomposed,
            operations: [FieldOperation(record: Fixtures.note, key: FieldKey("title"), action: .assign(.text("Agora")), preds: [])])
        for change in [Self.twoCafes, other] {
            for op in change.operations { state.apply(op, of: change, isApplied: { _ in false }) }
        }
        #expect(state.keys.count == 5)
        #expect(state.tags.map(Self.bytes) == [Self.bytes(Self.decomposed), Self.bytes(Self.composed)])

        let blob = RecordStateCodec.encode(state)
        let back = try RecordStateCodec.decode(blob, id: Fixtures.note)
        func describe(_ s: RecordState) -> [[[UInt8]]] {
            s.keys.keys.sorted().map { k in
                [Self.bytes(k.field), Self.bytes(k.element)] + s.keys[k]!.live.flatMap { lv -> [[UInt8]] in
                    var out = [Self.bytes(lv.author)]
                    if case .text(let t) = lv.value { out.append(Self.bytes(t)) }
                    return out
                }
            }
        }
        #expect(describe(back) == describe(state))
        #expect(RecordStateCodec.encode(back) == blob)
    }
}
