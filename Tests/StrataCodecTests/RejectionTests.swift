import StrataCore
import Testing

@testable import StrataCodec

/// One test per decoder requirement of Protocol/SPEC.md not already covered by a vector, and
/// the wording of the errors.
@Suite("Rejections")
struct RejectionTests {
    func code(_ bytes: [UInt8], limits: CodecLimits = .standard) -> String {
        errorCode { () throws(CodecError) in try ChangeSetCodec.decode(bytes, limits: limits) }
    }

    func payloadCode(_ payload: [UInt8]) -> String { code(Vectors.craftedChangeSet(payload: payload)) }

    func error(_ bytes: [UInt8], limits: CodecLimits = .standard) -> CodecError? {
        do {
            _ = try ChangeSetCodec.decode(bytes, limits: limits)
            return nil
        } catch { return error }
    }

    @Test func craftedPayloadBaselineDecodes() throws {
        let changes = try ChangeSetCodec.decode(Vectors.craftedChangeSet(payload: Vectors.craftedPayload()))
        #expect(changes.count == 1)
        #expect(changes[0].operations[0].action == .assign(.text("x")))
    }

    @Test func csRej02_newerVersionSaysUpgrade() throws {
        let bytes = Vectors.withByte(ChangeSetCodec.encode(Fixtures.single), at: 4, xor: 1 ^ 4)
        let e = try #require(error(bytes))
        #expect(e.code == "unsupported-version")
        #expect(e.description.contains("newer Strata (format version 4; this one reads 3): upgrade strata"))
    }

    @Test func csRej04_declaredSizeOverALoweredLimitIsRefusedBeforeInflating() throws {
        var rng = SeededRNG(seed: 3)
        let bytes = ChangeSetCodec.encode(Fixtures.randomChanges(&rng, count: 50))
        let limits = CodecLimits(maxInflatedBytes: 100)
        let e = try #require(error(bytes, limits: limits))
        #expect(e.code == "too-large")
        #expect(e.description.contains("exceeds the 100 limit"))
        let bomb = try Fixtures.read("invalid/cs-rej-04-zip-bomb-declared.bin")
        #expect(try #require(error(bomb)).description.contains("64 MiB exceeds the 32 MiB limit"))
    }

    @Test func csRej05_compressedSizeOverTheLimitIsRefused() {
        let bytes = ChangeSetCodec.encode(Fixtures.everyValue)
        #expect(code(bytes, limits: CodecLimits(maxCompressedBytes: 10)) == "too-large")
    }

    @Test func csRej06_zipBombStopsAtTheDeclaredSize() throws {
        let bomb = try Fixtures.read("invalid/cs-rej-06-zip-bomb-undeclared.bin")
        let e = try #require(error(bomb))
        #expect(e.code == "length-mismatch")
        #expect(e.description.contains("longer than the 100 bytes"))
    }

    @Test func csRej07_truncationIsReportedWithItsPosition() throws {
        let bytes = ChangeSetCodec.encode(Fixtures.everyValue)
        for cut in [0, 1, 4, 5, 6, 7, bytes.count / 3, bytes.count - 1] {
            let e = try #require(error(Array(bytes.prefix(cut))))
            #expect(e.code == "truncated", "cut at \(cut)")
            #expect(e.description.contains("the file is incomplete; copy it again"))
        }
    }

    @Test func csRej09_corruptDeflateDataIsReported() {
        var bytes = ChangeSetCodec.encode(Fixtures.everyValue)
        bytes[8] = 0xFF  // first byte after the zlib header: invalid block type 3
        bytes[9] = 0xFF
        #expect(["corrupt-compression"].contains(code(bytes)))
    }

    @Test func csRej10_overlongVarintsAreRejectedEverywhere() {
        // Change seq 1 written as 81 00.
        #expect(payloadCode(Vectors.craftedPayload(seq: [0x81, 0x00])) == "overlong-varint")
        // Author index 0 written as 80 00.
        #expect(payloadCode(Vectors.craftedPayload(authorIndex: [0x80, 0x00])) == "overlong-varint")
        // The largest 10-byte varint is fine as a seq.
        #expect(payloadCode(Vectors.craftedPayload(seq: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])) == "ok")
        // 11 bytes.
        #expect(payloadCode(Vectors.craftedPayload(seq: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x81, 0x00])) == "overlong-varint")
    }

    @Test func csRej11_everyIndexIsRangeChecked() {
        #expect(payloadCode(Vectors.craftedPayload(ops: [[1, 0, 0, 0, 0, 0]])) == "index-out-of-range")  // record
        #expect(payloadCode(Vectors.craftedPayload(ops: [[0, 1, 0, 0, 0, 0]])) == "index-out-of-range")  // field
        #expect(payloadCode(Vectors.craftedPayload(ops: [[0, 0, 0, 0, 1, 1, 1, 0]])) == "index-out-of-range")  // pred replica
        #expect(payloadCode(Vectors.craftedPayload(ops: [[0, 0, 0, 0, 0, 7, 1, 3, 1]])) == "index-out-of-range")  // deletion
    }

    @Test func csRej12_lengthsPastTheEndAreTruncatedInStoredChangesAndMalformedInPayloads() throws {
        let stored = ChangeCodec.encode(Fixtures.everyValue[0])
        for cut in [0, 1, 17, stored.count / 2, stored.count - 1] {
            let c = errorCode { () throws(CodecError) in try ChangeCodec.decode(stored.prefix(cut)) }
            #expect(c == "truncated", "cut at \(cut)")
        }
        #expect(payloadCode(Vectors.craftedPayload(authors: [[0x61]], ops: [[0, 0, 9, 0x61]])) == "malformed")
    }

    @Test func csRej13_countsBeyondTheLimitsAreTooLarge() {
        let many = [[UInt8]](repeating: [0, 0, 0, 0, 0, 0], count: 3)
        let payload = Vectors.craftedPayload(ops: many)
        #expect(code(Vectors.craftedChangeSet(payload: payload), limits: CodecLimits(maxOperationsPerChange: 2)) == "too-large")
        let longAuthor = Vectors.craftedPayload(authors: [Array(repeating: 0x61, count: 40)])
        #expect(code(Vectors.craftedChangeSet(payload: longAuthor), limits: CodecLimits(maxStringBytes: 39)) == "too-large")
        #expect(payloadCode(Vectors.craftedPayload(ops: [[0, 0, 0, 0, 0x80, 0x80, 0x04]])) == "too-large")  // 65536 preds
    }

    @Test func csRej14_invalidUTF8IsRejectedInEveryString() {
        let bad: [UInt8] = [0xC3]  // lone lead byte
        #expect(payloadCode(Vectors.craftedPayload(fieldNames: [bad])) == "invalid-utf8")
        #expect(payloadCode(Vectors.craftedPayload(ops: [[0, 0, 1, 0xC3, 0, 0, 0]])) == "invalid-utf8")  // element
        #expect(payloadCode(Vectors.craftedPayload(ops: [[0, 0, 0, 0, 0, 1, 2, 0xED, 0xA0]])) == "invalid-utf8")  // text
        #expect(payloadCode(Vectors.craftedPayload(ops: [[0, 0, 0, 0, 0, 1, 3, 0xED, 0xA0, 0x80]])) == "invalid-utf8")  // surrogate
    }

    @Test func csRej15_tablesMustBeStrictlyAscending() {
        #expect(payloadCode(Vectors.craftedPayload(authors: [Array("b".utf8), Array("a".utf8)])) == "malformed")
        #expect(payloadCode(Vectors.craftedPayload(authors: [Array("a".utf8), Array("a".utf8)])) == "malformed")
        #expect(payloadCode(Vectors.craftedPayload(records: [Fixtures.site.bytes, Fixtures.note.bytes])) == "malformed")
        #expect(payloadCode(Vectors.craftedPayload(fieldNames: [Array("title".utf8), Array("title".utf8)])) == "malformed")
    }

    @Test func csRej16_unknownValueTagSaysNewerStrata() throws {
        let e = try #require(error(Vectors.craftedChangeSet(payload: Vectors.craftedPayload(ops: [[0, 0, 0, 0, 0, 200]]))))
        #expect(e.code == "unsupported-value")
        #expect(e.description.contains("newer Strata; upgrade strata"))
    }

    @Test func csRej17_unknownActionOrPresenceByteIsMalformed() {
        var loc: [UInt8] = [0, 0, 0, 0, 0, 6]
        loc += [UInt8](repeating: 0, count: 16) + [2]
        #expect(payloadCode(Vectors.craftedPayload(ops: [loc])) == "malformed")
        #expect(payloadCode(Vectors.craftedPayload(ops: [[0, 0, 0, 9, 0]])) == "malformed")
    }

    @Test func csRej18_zeroSeqsAndUnsortedVectorsAreRejected() {
        #expect(payloadCode(Vectors.craftedPayload(ops: [[0, 0, 0, 0, 1, 0, 0, 0]])) == "malformed")  // pred seq 0
        #expect(payloadCode(Vectors.craftedPayload(ops: [[0, 0, 0, 0, 0, 7, 1, 0, 0]])) == "malformed")  // vv seq 0
        let two = [Fixtures.alice.bytes, Fixtures.bob.bytes]
        #expect(payloadCode(Vectors.craftedPayload(replicas: two, ops: [[0, 0, 0, 0, 0, 7, 2, 1, 1, 0, 1]])) == "malformed")
        #expect(payloadCode(Vectors.craftedPayload(replicas: two, ops: [[0, 0, 0, 0, 0, 7, 2, 0, 1, 1, 1]])) == "ok")
    }

    @Test func csRej19_changesBreakingTheChangeRulesAreInvalid() {
        #expect(payloadCode(Vectors.craftedPayload(ops: [])) == "invalid-change")  // no operations
        #expect(payloadCode(Vectors.craftedPayload(ops: [[0, 0, 0, 0, 1, 0, 1, 0]])) == "invalid-change")  // self pred
        #expect(payloadCode(Vectors.craftedPayload(ops: [[0, 0, 0, 1, 0]])) == "invalid-change")  // retract register
        #expect(payloadCode(Vectors.craftedPayload(ops: [[0, 0, 1, 0x61, 1, 0]])) == "ok")  // retract element
    }

    @Test func messagesNeverQuoteUserContent() {
        let secret = "SECRET-NOTE-TEXT"
        let s = Array(secret.utf8)
        let variants: [[UInt8]] = [
            Vectors.craftedPayload(authors: [s], authorIndex: [3]),
            Vectors.craftedPayload(fieldNames: [s], ops: [[0, 0, UInt8(s.count)] + s + [0, 0, 0]] + [[0, 0, UInt8(s.count)] + s + [0, 0, 0]]),
            Vectors.craftedPayload(ops: [[0, 0, 0, 0, 0, 1, 100] + s]),
            Vectors.craftedPayload(ops: [[0, 0, 0, 0, 0, 1, UInt8(s.count)] + s + [0xFF]]),
        ]
        for v in variants {
            let e = error(Vectors.craftedChangeSet(payload: v))
            #expect(e != nil)
            #expect(!(e?.description.contains("SECRET") ?? true), "\(e?.description ?? "")")
        }
    }

    @Test func storedChangeMustHoldExactlyOneChange() {
        var w = ByteWriter()
        w.u8(1)
        w.raw(ChangeSetCodec.payload(Fixtures.everyValue))
        #expect(errorCode { () throws(CodecError) in try ChangeCodec.decode(w.bytes) } == "malformed")
        #expect(errorCode { () throws(CodecError) in try ChangeCodec.decode([4] + ChangeCodec.encode(Fixtures.single[0]).dropFirst()) } == "unsupported-version")
        #expect(errorCode { () throws(CodecError) in try ChangeCodec.decode(ChangeCodec.encode(Fixtures.single[0]) + [0]) } == "trailing-bytes")
    }

    @Test func recordStateRejectsTruncationAndNewerVersions() {
        var s = RecordState(id: Fixtures.note)
        s.keys[FieldKey("title")] = KeyState(live: [
            LiveValue(change: ChangeID(replica: Fixtures.bob, seq: 2), timestamp: Fixtures.ts(5), author: "Bob", value: .text("b"))
        ])
        let bytes = RecordStateCodec.encode(s)
        for cut in 0..<bytes.count {
            #expect(errorCode { () throws(CodecError) in try RecordStateCodec.decode(bytes.prefix(cut), id: Fixtures.note) } == "truncated")
        }
        #expect(errorCode { () throws(CodecError) in try RecordStateCodec.decode([9] + bytes.dropFirst(), id: Fixtures.note) } == "unsupported-version")
        #expect(errorCode { () throws(CodecError) in try RecordStateCodec.decode(bytes + [1], id: Fixtures.note) } == "trailing-bytes")
    }

    // MARK: bundles

    func bundleCode(_ bytes: [UInt8], limits: CodecLimits = .standard) -> String {
        errorCode { () throws(CodecError) in try BundleCodec.decode(bytes, limits: limits) }
    }

    @Test func bdRej03_unknownBundleFlagsAreRejected() {
        let bytes = Vectors.withByte(try! Fixtures.read("valid/bd-01-three-frames.bin"), at: 5, xor: 1)
        #expect(bundleCode(bytes) == "unsupported-flags")
    }

    @Test func bdRej04_everyTruncationSaysCopyAgain() throws {
        let bytes = try Fixtures.read("valid/bd-01-three-frames.bin")
        for cut in stride(from: 0, to: bytes.count, by: 7) {
            var e: CodecError? = nil
            do { _ = try BundleCodec.decode(Array(bytes.prefix(cut))) } catch { e = error }
            #expect(e?.code == "truncated", "cut at \(cut)")
            #expect(e?.description.contains("the file is incomplete; copy it again") == true)
        }
    }

    @Test func bdRej06_anyFlippedBitIsDetected() throws {
        let bytes = try Fixtures.read("valid/bd-01-three-frames.bin")
        for i in stride(from: 14, to: bytes.count, by: 3) {
            let c = bundleCode(Vectors.withByte(bytes, at: i, xor: 0x01))
            #expect(c == "checksum-mismatch", "byte \(i)")
        }
    }

    @Test func bdRej08_aBadChangeSetInsideIsNamedByItsFrame() throws {
        // Re-frame a bundle around an invalid change set, with a correct checksum.
        let bad = try Fixtures.read("invalid/cs-rej-16-unknown-value-tag.bin")
        var w = ByteWriter()
        w.raw(BundleCodec.magic)
        w.u8(1)
        w.u8(0)
        let total = BundleCodec.prefixSize + 16 + 1 + 1 + 1 + 1 + 1 + bad.count + 4
        w.u64le(UInt64(total))
        w.id16(high: 1, low: 2)
        w.string("")
        w.varint(0)
        w.varint(0)
        w.varint(1)
        w.varint(bad.count)
        w.raw(bad)
        w.u32le(w.bytes.withUnsafeBufferPointer { Zlib.crc32($0) })
        #expect(w.bytes.count == total)
        do {
            _ = try BundleCodec.decode(w.bytes)
            Issue.record("decoded")
        } catch {
            #expect(error.code == "unsupported-value")
            #expect(error.description.hasPrefix("bundle change set 1 of 1 (at byte "))
        }
    }

    @Test func bdRej09_bundleTotalsAreLimited() throws {
        let bytes = try Fixtures.read("valid/bd-01-three-frames.bin")
        #expect(bundleCode(bytes, limits: CodecLimits(maxChanges: 2)) == "too-large")
        #expect(bundleCode(bytes, limits: CodecLimits(maxChangeSetsPerBundle: 2)) == "too-large")
        #expect(bundleCode(bytes, limits: CodecLimits(maxBundleInflatedBytes: 100)) == "too-large")
    }

    /// Builds a bundle by hand with a correct length and checksum around `body`.
    func framedBundle(_ body: [UInt8]) -> [UInt8] {
        var w = ByteWriter()
        w.raw(BundleCodec.magic)
        w.u8(1)
        w.u8(0)
        w.u64le(UInt64(BundleCodec.prefixSize + body.count + 4))
        w.raw(body)
        w.u32le(w.bytes.withUnsafeBufferPointer { Zlib.crc32($0) })
        return w.bytes
    }

    @Test func bdRej07_bodyMustExactlyFillTheSpaceBeforeTheChecksum() {
        var ok = ByteWriter()
        ok.id16(high: 1, low: 2)
        ok.string("a")
        ok.varint(0)  // sender version
        ok.varint(0)  // created at
        ok.varint(0)  // no change sets
        #expect(bundleCode(framedBundle(ok.bytes)) == "ok")
        #expect(bundleCode(framedBundle(ok.bytes + [0])) == "trailing-bytes")
        #expect(bundleCode(framedBundle(Array(ok.bytes.dropLast()))) == "malformed")
        // Sender version replicas out of order.
        var vv = ByteWriter()
        vv.id16(high: 1, low: 2)
        vv.string("a")
        vv.varint(2)
        vv.raw(Fixtures.bob.bytes)
        vv.varint(1)
        vv.raw(Fixtures.alice.bytes)
        vv.varint(1)
        vv.varint(0)
        vv.varint(0)
        #expect(bundleCode(framedBundle(vv.bytes)) == "malformed")
    }
}
