import StrataCore
import StrataTestSupport
import Testing

@_spi(Stats) @testable import StrataCodec

/// Protocol/SPEC.md §4.3 (`STXT`) and §4.4 (`STXO`): one test per requirement ID, on documents
/// written byte by byte from the spec's tables (not by the encoder), so the tests check the
/// spec's text as much as the code.
@Suite("Text codec")
struct TextCodecTests {
    static let a = ReplicaID(high: 0xABAB_ABAB_ABAB_ABAB, low: 0xABAB_ABAB_ABAB_ABAB)
    static let b = ReplicaID(high: 0xCDCD_CDCD_CDCD_CDCD, low: 0xCDCD_CDCD_CDCD_CDCD)

    static func varint(_ v: UInt64) -> [UInt8] { HandWrittenBytes.varint(v) }
    static func column(_ b: [UInt8]) -> [UInt8] { HandWrittenBytes.column(b) }

    /// The spec's example document (replica `ab…ab` typed "x"), to change field by field.
    static func document() -> HandWrittenText { HandWrittenText(replica: a) }

    func code(_ bytes: [UInt8], limits: TextLimits = .decoding) -> String? {
        do {
            _ = try TextDocumentCodec.decode(bytes, limits: limits)
            return nil
        } catch {
            return error.code
        }
    }

    /// The same, read as inside a record state (its length given: §4.3, "Embedding").
    func embeddedCode(_ bytes: [UInt8]) -> String? {
        bytes.withUnsafeBufferPointer { buf -> String? in
            var reserved = 0
            do {
                _ = try TextDocumentCodec.decode(buffer: buf, limits: .decoding, endIsTruncation: false, context: nil, reserved: &reserved)
                return nil
            } catch {
                return (error as? CodecError)?.code
            }
        }
    }

    @Test func theSpecExampleIsTheEncodingOfOneCharacter() throws {
        var doc = TextDocument()
        doc.insert("x", at: 0, replica: Self.a)
        let spec: [UInt8] =
            [0x53, 0x54, 0x58, 0x54, 0x01, 0x01] + [UInt8](repeating: 0xAB, count: 16)
            + [0x01, 0x01, 0x01, 0x54, 0x01, 0x00, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x78, 0x00, 0x00, 0x00, 0x00, 0x00]
        #expect(TextDocumentCodec.encode(doc) == spec)
        #expect(Self.document().bytes == spec)
        #expect(try TextDocumentCodec.decode(spec).string == "x")
    }

    @Test func theSpecsSecondExampleIsTwoReplicasAndADelete() throws {
        let a = ReplicaID(high: 0xAAAA_AAAA_AAAA_AAAA, low: 0xAAAA_AAAA_AAAA_AAAA)
        let b = ReplicaID(high: 0xBBBB_BBBB_BBBB_BBBB, low: 0xBBBB_BBBB_BBBB_BBBB)
        var d = TextDocument()
        d.insert("ab", at: 0, replica: a)
        var e = TextDocument()
        try e.apply(d.operations())
        e.insert("X", at: 1, replica: b)
        e.delete(range: 0..<1, replica: b)
        let spec: [UInt8] =
            [0x53, 0x54, 0x58, 0x54, 0x01, 0x02] + a.bytes + b.bytes
            + [0x02, 0x02, 0x03, 0x03, 0x55, 0x4A, 0x50, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00]
            + [0x03, 0x61, 0x58, 0x62, 0x00, 0x01, 0x01, 0x00, 0x01, 0x00, 0x01, 0x01, 0x00]
        #expect(TextDocumentCodec.encode(e) == spec)
        #expect(try TextDocumentCodec.decode(spec) == e)
        #expect(e.string == "Xb")
    }

    /// TXT-ENC-01: decoding then encoding gives the same bytes; equal documents, equal bytes.
    @Test func txtEnc01_decodingThenEncodingGivesTheSameBytes() throws {
        var d = TextDocument()
        d.insert("Palmyra تدمر", at: 0, replica: Self.a)
        var e = TextDocument()
        try e.apply(d.operations())
        e.insert("¡", at: 0, replica: Self.b)
        e.delete(range: 3..<6, replica: Self.b)
        try d.apply(e.operations(since: d.version))
        try d.apply(.insert(id: TextID(replica: Self.b, counter: 90), originLeft: nil, originRight: nil, text: "late"))
        let bytes = TextDocumentCodec.encode(d)
        let back = try TextDocumentCodec.decode(bytes)
        #expect(TextDocumentCodec.encode(back) == bytes)
        #expect(back == d)
        var f = TextDocument()
        try f.apply(d.operations().reversed())
        #expect(f == d)
        #expect(TextDocumentCodec.encode(f) == bytes)
        #expect(try TextDocumentCodec.snapshot(decoding: bytes) == d.snapshot())
    }

    @Test func txtRej01_shortInputIsTruncatedAndOtherMagicIsRefused() {
        #expect(code(Array("STXT".utf8)) == "truncated")
        var d = Self.document()
        d.magic = Array("STXO".utf8)
        #expect(code(d.bytes) == "bad-magic")
    }

    @Test func txtRej02_anotherVersionSaysUpgrade() throws {
        var d = Self.document()
        d.version = 2
        #expect(code(d.bytes) == "unsupported-version")
        #expect(throws: CodecError.self) { try TextDocumentCodec.decode(d.bytes) }
        do { _ = try TextDocumentCodec.decode(d.bytes) } catch { #expect(error.description.contains("upgrade")) }
    }

    @Test func txtRej03_aNonMinimalVarintIsRefused() {
        var b = Self.document().bytes
        b.replaceSubrange(22...22, with: [0x81, 0x00])  // next[0] = 1 in two bytes
        #expect(code(b) == "overlong-varint")
    }

    @Test func txtRej04_everyPrefixIsTruncatedButMalformedWhenEmbedded() {
        let bytes = Self.document().bytes
        for n in 0..<bytes.count {
            #expect(code(Array(bytes[..<n])) == "truncated", "prefix of \(n) bytes")
            #expect(embeddedCode(Array(bytes[..<n])) == "malformed", "embedded prefix of \(n) bytes")
        }
        var d = Self.document()
        d.runCount = Self.varint(200)  // more runs than bytes left
        #expect(code(d.bytes) == "truncated")
    }

    @Test func txtRej05_aValuePastItsColumnIsMalformedAndLeftoversAreTrailing() {
        var d = Self.document()
        d.lengthColumn = [0x81]
        #expect(code(d.bytes) == "malformed")
        d.lengthColumn = [1, 1]
        #expect(code(d.bytes) == "trailing-bytes")
        d = Self.document()
        d.targets = [0]
        #expect(code(d.bytes) == "trailing-bytes")
    }

    @Test func txtRej06_aReplicaIndexBeyondTheTableIsRefused() {
        var d = Self.document()
        d.replicaColumn = [1]
        #expect(code(d.bytes) == "index-out-of-range")
        d = Self.document()
        d.flags = [0x50]  // explicit origin-left
        d.leftColumn = [0, 3, 0]
        #expect(code(d.bytes) == "index-out-of-range")
    }

    @Test func txtRej07_contentThatIsNotUTF8IsRefused() {
        var d = Self.document()
        d.content = [0xFF]
        #expect(code(d.bytes) == "invalid-utf8")
    }

    @Test func txtRej08_countsAboveTheLimitsAreTooLarge() {
        #expect(code(Self.document().bytes, limits: TextLimits(maxCounters: 10, maxReplicas: 0)) == "too-large")
        var d = Self.document()
        d.versions = [[5]]
        #expect(code(d.bytes, limits: TextLimits(maxCounters: 4, maxReplicas: 10)) == "too-large")
    }

    @Test func txtRej09_bytesAfterThePendingColumnAreTrailing() {
        var d = Self.document()
        d.trailing = [0]
        #expect(code(d.bytes) == "trailing-bytes")
    }

    @Test func txtRej10_badFlagsAndDistancesAreMalformed() {
        for flags: [UInt8] in [[0xD4], [0x56], [0x5C], [0x74], [0x52], [0x4C], [0x54, 0x54]] {
            var d = Self.document()
            d.flags = flags
            #expect(code(d.bytes) == "malformed", "flags \(flags)")
        }
        var d = Self.document()
        d.flags = [0x50]
        d.leftColumn = [1]  // the run 2 before run 0
        #expect(code(d.bytes) == "malformed")
        d.flags = [0x44]
        d.leftColumn = []
        d.rightColumn = [1]
        #expect(code(d.bytes) == "malformed")
    }

    @Test func txtRej20_replicasNotAscendingAreMalformed() {
        var d = Self.document()
        d.replicas = [Self.b, Self.a]
        d.versions = [[1], [1]]
        d.runCount = [2]
        d.flags = [0x54, 0x50]
        d.replicaColumn = [0, 1]
        d.lengthColumn = [1, 1]
        d.leftColumn = [1]  // run 1's origin-left: run 0's last character
        d.content = Array("xy".utf8)
        d.deleteCounts = [0, 0]
        #expect(code(d.bytes) == "malformed")
        d.replicas = [Self.a, Self.b]
        #expect(code(d.bytes) == "malformed")  // the distance 1 from run 1 names no run
        d.flags = [0x54, 0x56 - 0x04]  // left-is-previous
        d.leftColumn = []
        #expect(code(d.bytes) == nil)
        d.replicas = [Self.b, Self.a]
        #expect(code(d.bytes) == "malformed")
    }

    @Test func txtRej21To28_structuralFaultsAreMalformed() {
        var d = Self.document()
        d.versions = [[0]]
        #expect(code(d.bytes) == "malformed")  // 21
        d = Self.document()
        d.lengthColumn = [2]
        d.content = Array("xy".utf8)
        #expect(code(d.bytes) == "malformed")  // 22: counters past the version
        d = Self.document()
        d.flags = [0x50]
        d.leftColumn = [0, 0, 2]  // explicit: replica 0, counter = the run's counter + 1 = 1, not below next = 1
        #expect(code(d.bytes) == "malformed")  // 23
        d = Self.document()
        d.content = Array("xy".utf8)
        #expect(code(d.bytes) == "malformed")  // 26
        d = Self.document()
        d.versions = [[2]]
        #expect(code(d.bytes) == "malformed")  // 27: counter 1 is neither a character nor a delete
        d.deleteCounts = [1]
        d.targets = [0]
        d.starts = [0]
        d.deleteLengths = [1]
        #expect(code(d.bytes) == "malformed")  // 28: a deleted character not flagged deleted
        d.flags = [0x55]
        #expect(code(d.bytes) == nil)
        #expect(try! TextDocumentCodec.decode(d.bytes).string == "")
        d.versions = [[1]]
        d.deleteCounts = [0]
        d.targets = []
        d.starts = []
        d.deleteLengths = []
        #expect(code(d.bytes) == "malformed")  // 28: flagged deleted, named by no entry
    }

    @Test func txtRej29_aBadPendingListIsMalformed() {
        var d = Self.document()
        d.pending = [1, 2, 3]
        #expect(code(d.bytes) == "malformed")
        d.pending = TextOperationCodec.encode([.insert(id: TextID(replica: Self.b, counter: 5), originLeft: nil, originRight: nil, text: "z")])
        #expect(code(d.bytes) == nil)
        #expect(try! TextDocumentCodec.decode(d.bytes).pendingOperations.count == 1)
    }

    @Test func txtMemory_aHeaderClaimingManyCountersReservesNothingForThem() {
        var d = Self.document()
        d.versions = [Self.varint((1 << 24) - 1)]
        let bytes = d.bytes
        var reserved = 0
        #expect(throws: CodecError.self) { try TextDocumentCodec.decode(bytes, limits: .decoding, reserved: &reserved) }
        #expect(reserved <= bytes.count)
    }

    /// An operation list by hand: one replica, the operations' bytes as given.
    static func list(_ ops: [UInt8], count: UInt64, magic: [UInt8] = Array("STXO".utf8), version: UInt8 = 1) -> [UInt8] {
        magic + [version] + varint(1) + a.bytes + varint(count) + ops
    }

    @Test func txo_anOperationListRoundTripsAndFollowsTheSpec() throws {
        let ops: [TextOperation] = [
            .insert(id: TextID(replica: Self.a, counter: 0), originLeft: nil, originRight: nil, text: "ab"),
            .insert(
                id: TextID(replica: Self.b, counter: 0), originLeft: TextID(replica: Self.a, counter: 0),
                originRight: TextID(replica: Self.a, counter: 1), text: "é"),
            .delete(id: TextID(replica: Self.b, counter: 1), ranges: [TextIDRange(replica: Self.a, start: 0, count: 2)]),
        ]
        let bytes = TextOperationCodec.encode(ops)
        #expect(try TextOperationCodec.decode(bytes) == ops)
        let spec =
            Array("STXO".utf8) + [1, 2] + Self.a.bytes + Self.b.bytes + [3]
            + [0x00, 0, 0, 2, 0x61, 0x62]
            + [0x03, 1, 0, 0, 0, 0, 1, 2, 0xC3, 0xA9]
            + [0x10, 1, 1, 1, 0, 0, 2]
        #expect(bytes == spec)
    }

    @Test func txoRej_eachViolationHasItsCode() {
        func code(_ b: [UInt8]) -> String? {
            do {
                _ = try TextOperationCodec.decode(b)
                return nil
            } catch { return error.code }
        }
        let insert: [UInt8] = [0x00, 0, 0, 1, 0x78]
        #expect(code(Self.list(insert, count: 1)) == nil)
        #expect(code([0x53, 0x54]) == "truncated")  // TXO-REJ-01
        #expect(code(Self.list(insert, count: 1, magic: Array("STXT".utf8))) == "bad-magic")
        #expect(code(Self.list(insert, count: 1, version: 2)) == "unsupported-version")  // 02
        #expect(code(Self.list([0x00, 0, 0x80, 0x00, 1, 0x78], count: 1)) == "overlong-varint")  // 03
        #expect(code(Self.list(insert, count: 2)) == "truncated")
        #expect(code(Self.list(Array(insert.dropLast()), count: 1)) == "truncated")
        #expect(code(Self.list([0x00, 1, 0, 1, 0x78], count: 1)) == "index-out-of-range")  // 04
        #expect(code(Self.list([0x04, 0, 0, 1, 0x78], count: 1)) == "malformed")
        #expect(code(Self.list([0x00, 0, 0, 1, 0xFF], count: 1)) == "invalid-utf8")
        #expect(code(Self.list([0x00, 0, 0, 0], count: 1)) == "malformed")  // 05: empty insert
        #expect(code(Self.list([0x10, 0, 0, 0], count: 1)) == "malformed")  // 05: no range
        #expect(code(Self.list(insert + [0], count: 1)) == "trailing-bytes")  // 06
    }
}

@Suite struct TextCodecMessageTests {
    /// A bad pending column is reported once, with its cause, and the advice said once.
    @Test func aBadPendingColumnSaysWhatIsWrongOnce() throws {
        let bytes = try Fixtures.read("invalid/tx-rej-29-pending-not-a-list.bin")
        do {
            _ = try TextDocumentCodec.decode(bytes)
            Issue.record("the vector decoded")
        } catch {
            #expect(error.code == "malformed")
            let text = "\(error)"
            #expect(text.contains("pending operations: "), "\(text)")
            #expect(text.components(separatedBy: "not written by Strata").count == 2, "\(text)")
        }
    }
}
