import StrataCodec
import StrataCore
import StrataTestSupport
import Testing

/// Hostile `STXT` documents that once trapped the document decoder (now `TextDocumentCodec`): counters and lengths
/// near 2^64 overflowed its range checks (found in review while writing the Tools/fuzz targets,
/// which now run over this decoder). Each must be refused as malformed.
@Suite struct DecodeRegressionTests {
    static func varint(_ v: UInt64) -> [UInt8] { HandWrittenBytes.varint(v) }
    static func column(_ b: [UInt8]) -> [UInt8] { HandWrittenBytes.column(b) }

    /// One replica, one run of `x`: counter column `counter`, length column `length`, then
    /// the delete columns as given.
    static func document(
        version: UInt64 = 1, counter: [UInt8], length: [UInt8], content: [UInt8] = Array("x".utf8), deletes: UInt64 = 0,
        targets: ([UInt8], [UInt8], [UInt8]) = ([], [], [])
    ) -> [UInt8] {
        var d: [UInt8] = Array("STXT".utf8) + [1]
        d += varint(1) + [UInt8](repeating: 0xAB, count: 16)
        d += varint(version)
        d += varint(1)  // one run
        d += column([0x14])  // origin-left none, origin-right none
        d += column([0])  // replica 0
        d += column(counter)
        d += column(length)
        d += column([]) + column([])  // no explicit origins
        d += column(content)
        d += varint(deletes)
        d += column(targets.0) + column(targets.1) + column(targets.2)
        d += column([])  // no pending operations
        return d
    }

    static func isMalformed(_ bytes: [UInt8]) -> Bool {
        do {
            _ = try TextDocumentCodec.decode(bytes)
            return false
        } catch {
            return error.code == "malformed"
        }
    }

    @Test func theWellFormedBaseDecodes() throws {
        let d = try TextDocumentCodec.decode(Self.document(counter: [0], length: [1]))
        #expect(d.string == "x")
    }

    @Test func aRunLengthOf2To64Minus1IsMalformed() {
        #expect(Self.isMalformed(Self.document(counter: [0], length: Self.varint(.max))))
    }

    @Test func aRunCounterNearInt64MaxIsMalformed() {
        // zigzag(Int64.max): the counter lands at Int64.max, and counter + length overflowed.
        #expect(Self.isMalformed(Self.document(counter: Self.varint(UInt64(Int64.max) << 1), length: [1])))
        // zigzag(Int64.min): far below zero.
        #expect(Self.isMalformed(Self.document(counter: Self.varint(.max), length: [1])))
    }

    @Test func aDeleteTargetNearInt64MaxIsMalformed() {
        // Two counters: the character and one delete naming a target at Int64.max.
        let doc = Self.document(
            version: 2, counter: [0], length: [1], deletes: 1,
            targets: ([0], Self.varint(UInt64(Int64.max) << 1), [1]))
        #expect(Self.isMalformed(doc))
        let long = Self.document(version: 2, counter: [0], length: [1], deletes: 1, targets: ([0], [0], Self.varint(.max)))
        #expect(Self.isMalformed(long))
    }
}
