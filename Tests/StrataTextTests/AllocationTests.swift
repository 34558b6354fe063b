import Testing

@_spi(Stats) import StrataCodec
@testable import StrataCore

/// Memory of `STXT` decoding and of merging is bounded by the bytes present, not by the counts
/// they claim (issue 6). Counters consumed by deletes take no storage: a document whose deletes
/// name the same characters many times (any replica can send such deletes) stays about the size
/// of its text, and decoding never reserves storage for a claimed count before the bytes that
/// back it have been read.
@Suite struct AllocationTests {
    static let a = ReplicaID(high: 0xA, low: 1)
    static let b = ReplicaID(high: 0xB, low: 2)

    /// Every element the decoder reserves for `bytes`, refused or not.
    /// (`TextDocumentCodec` reading the bytes, then `TextDocument(validating:)` the snapshot.)
    static func reserved(_ bytes: [UInt8], limits: TextLimits = .decoding) -> (Int, Result<TextDocument, CodecError>) {
        var reserved = 0
        let result = Result { () throws(CodecError) in try TextDocumentCodec.decode(bytes, limits: limits, reserved: &reserved) }
        return (reserved, result)
    }

    /// Scalars kept by the document's storage, all replicas.
    static func storedScalars(_ d: TextDocument) -> Int { d.arena.reduce(0) { $0 + $1.count } }

    /// 40 bytes whose header claims 2^24 − 1 counters for one replica holding one character:
    /// the decoder used to reserve a mark per counter and a scalar per counter (about 80 MB)
    /// before finding that the document holds one character and no delete.
    @Test func aTinyHeaderClaimingManyCountersReservesNothingForThem() {
        let doc = DecodeRegressionTests.document(version: (1 << 24) - 1, counter: [0], length: [1])
        #expect(doc.count < 64)
        let (reserved, result) = Self.reserved(doc, limits: .default)
        #expect(throws: CodecError.self) { try result.get() }
        #expect(reserved <= doc.count, "reserved \(reserved) elements for \(doc.count) bytes")
    }

    /// A text of 1,000 characters deleted 2,000 times over (2 million delete counters): the
    /// merged document and the decoded one keep 1,000 scalars, and decoding its 9 KB reserves
    /// no more elements than it has bytes.
    @Test func deletesNamingTheSameTextManyTimesTakeNoStorage() throws {
        var doc = TextDocument()
        try doc.apply(.insert(id: TextID(replica: Self.a, counter: 0), originLeft: nil, originRight: nil, text: String(repeating: "x", count: 1000)))
        for k in 0..<2000 {
            try doc.apply(.delete(id: TextID(replica: Self.b, counter: UInt64(k) * 1000), ranges: [TextIDRange(replica: Self.a, start: 0, count: 1000)]))
        }
        #expect(doc.version[Self.b] == 2_000_000)
        #expect(doc.string.isEmpty)
        #expect(Self.storedScalars(doc) == 1000)

        let bytes = TextDocumentCodec.encode(doc)
        #expect(bytes.count < 12_000)
        let (reserved, result) = Self.reserved(bytes)
        let back = try result.get()
        #expect(reserved <= bytes.count, "reserved \(reserved) elements for \(bytes.count) bytes")
        #expect(Self.storedScalars(back) == 1000)
        #expect(back == doc)
        #expect(back.version == doc.version)
    }

    /// Merging is not capped (a cap that depended on which operations arrived first would make
    /// replicas disagree), so a document merged from other replicas' operations can pass the
    /// editing cap of `TextLimits.default` (2^24 counters): 16,778 deletes of a 1,000-character
    /// text. Its record must stay readable: decoding takes no cap but the bytes.
    @Test func aDocumentMergedBeyondTheEditingCapStillDecodes() throws {
        var doc = TextDocument()
        try doc.apply(.insert(id: TextID(replica: Self.a, counter: 0), originLeft: nil, originRight: nil, text: String(repeating: "y", count: 1000)))
        let deletes = TextLimits.default.maxCounters / 1000 + 1
        for k in 0..<deletes {
            try doc.apply(.delete(id: TextID(replica: Self.b, counter: UInt64(k) * 1000), ranges: [TextIDRange(replica: Self.a, start: 0, count: 1000)]))
        }
        #expect(doc.version.counters.values.reduce(0, +) > UInt64(TextLimits.default.maxCounters))
        let bytes = TextDocumentCodec.encode(doc)
        let back = try TextDocumentCodec.decode(bytes)
        #expect(back == doc)
    }
}
