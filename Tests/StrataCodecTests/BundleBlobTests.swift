import Crypto
import Foundation
import StrataCore
import Testing

@testable import StrataCodec

/// Bundle format version 2 (SPEC §3.1): blobs written and read a piece at a time.
@Suite("Bundles with blobs")
struct BundleBlobTests {
    /// A source that remembers the largest piece asked of it.
    final class CountingSource: ByteSource, @unchecked Sendable {
        let inner: ByteArraySource
        var largestRead = 0
        var bytesRead = 0
        init(_ bytes: [UInt8]) { inner = ByteArraySource(bytes) }
        var size: UInt64 { inner.size }
        func read(at offset: UInt64, count: Int) throws -> [UInt8] {
            largestRead = max(largestRead, count)
            let out = try inner.read(at: offset, count: count)
            bytesRead += out.count
            return out
        }
    }

    static func blob(_ n: Int, seed: UInt64) -> (BlobHash, [UInt8]) {
        var rng = SeededRNG(seed: seed)
        let bytes = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        return (BlobHash(bytes: Array(SHA256.hash(data: bytes)))!, bytes)
    }

    @Test func aBundleWithoutBlobsIsVersion1ByteForByte() throws {
        var written: [UInt8] = []
        try BundleCodec.write(Vectors.attachmentsBundle, blobs: [], to: { written += $0 }, blobBytes: { _, _ in })
        #expect(written == BundleCodec.encode(Vectors.attachmentsBundle))
        #expect(written[4] == 1)
        let c = try BundleCodec.decodeContents(written)
        #expect(c.version == 1 && c.blobs.isEmpty && c.bundle == Vectors.attachmentsBundle)
    }

    @Test func blobsRoundTripInHashOrderAndAreReadAPieceAtATime() throws {
        let big = Self.blob(5 << 20, seed: 1)
        let small = Self.blob(1000, seed: 2)
        var pieces: [Int] = []
        var written: [UInt8] = []
        try BundleCodec.write(
            Vectors.attachmentsBundle, blobs: [BundleBlob(hash: big.0, size: 5 << 20), BundleBlob(hash: small.0, size: 1000), BundleBlob(hash: small.0, size: 1000)],
            to: {
                pieces.append($0.count)
                written += $0
            },
            blobBytes: { b, piece in
                let bytes = b.hash == big.0 ? big.1 : small.1
                var at = 0
                while at < bytes.count {
                    try piece(bytes[at..<min(bytes.count, at + (1 << 20))])
                    at += 1 << 20
                }
            })
        #expect(pieces.max()! <= 1 << 20, "the writer never holds a whole blob")
        let source = CountingSource(written)
        let c = try BundleCodec.read(source)
        #expect(c.version == 2 && c.bundle == Vectors.attachmentsBundle)
        #expect(c.blobs.map(\.hash) == [big.0, small.0].sorted(), "each blob once, in hash order")
        #expect(source.largestRead <= 1 << 20, "reading the framing takes pieces, not the file: \(source.largestRead)")
        #expect(source.bytesRead < written.count + 4096, "one pass for the checksum, then only the headers")
        for b in c.blobs {
            var got: [UInt8] = []
            try BundleCodec.blobBytes(b, from: source) { got += $0 }
            #expect(got == (b.hash == big.0 ? big.1 : small.1))
        }
    }

    @Test func aProviderThatGivesOtherBytesThanTheSizeStopsTheWrite() throws {
        let b = Self.blob(100, seed: 3)
        #expect(throws: BundleWriteError.self) {
            try BundleCodec.write(
                Vectors.attachmentsBundle, blobs: [BundleBlob(hash: b.0, size: 100)], to: { _ in },
                blobBytes: { _, piece in try piece(b.1[0..<99]) })
        }
    }

    @Test func everyCutOfABlobBundleIsTruncated() throws {
        let bytes = BundleCodec.encode(Vectors.attachmentsBundle, blobs: Vectors.attachmentBlobs, maxChangeSetBytes: 200)
        for n in stride(from: 0, to: bytes.count, by: 7) {
            let code = errorCode { () throws(CodecError) in try BundleCodec.decodeContents(Array(bytes.prefix(n))) }
            #expect(code == "truncated", "cut at \(n)")
        }
    }
}
