import Crypto
import Foundation
import StrataCore
import Testing

@testable import StrataCodec

/// The checked-in files under Protocol/vectors are the reference; these tests read them.
@Suite("Protocol vectors")
struct VectorTests {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["STRATA_WRITE_VECTORS"] == "1"))
    func writeVectors() throws {
        try Vectors.writeAll()
    }

    @Test func manifestListsEveryVector() throws {
        let entries = try Vectors.manifest()
        #expect(entries.filter(\.valid).count == Vectors.valid.count)
        #expect(entries.filter { !$0.valid }.count == Vectors.invalid.count)
    }

    /// Valid vectors decode to the described content and re-encode byte for byte.
    @Test func validVectorsDecodeAndReencodeByteForByte() throws {
        for e in try Vectors.manifest() where e.valid {
            let bytes = try Fixtures.read(e.file)
            let expected = String(decoding: try Fixtures.read(e.expected), as: UTF8.self)
            let (description, reencoded) = try Vectors.decodeAndDescribe(kind: e.kind, bytes)
            #expect(description + "\n" == expected, "\(e.file)")
            if e.extra == "exact" { #expect(reencoded == bytes, "\(e.file)") }
        }
    }

    /// The valid vectors decode to the fixtures they were made from (NaN compared by bits).
    @Test func validVectorsMatchTheirFixtures() throws {
        let single = try ChangeSetCodec.decode(try Fixtures.read("valid/cs-02-single.bin"))
        #expect(single == Fixtures.single)
        let stored = try ChangeSetCodec.decode(try Fixtures.read("valid/cs-04-stored.bin"))
        #expect(stored == Fixtures.single)
        let every = try ChangeSetCodec.decode(try Fixtures.read("valid/cs-03-every-value.bin"))
        #expect(every.count == Fixtures.everyValue.count)
        #expect(ChangeSetCodec.encode(every) == ChangeSetCodec.encode(Fixtures.everyValue))
        let attachments = try Fixtures.read("valid/cs-07-attachments.bin")
        #expect(try ChangeSetCodec.decode(attachments) == Fixtures.attachments)
        #expect(attachments[4] == 3, "an attachment needs format version 3")
        let empty = try ChangeSetCodec.decode(try Fixtures.read("valid/cs-01-empty.bin"))
        #expect(empty.isEmpty)
        #expect(try TextDocumentCodec.decode(try Fixtures.read("valid/tx-01-empty.bin")) == TextDocument())
        #expect(try TextDocumentCodec.decode(try Fixtures.read("valid/tx-02-single-writer.bin")) == Fixtures.singleWriterText)
        #expect(try TextDocumentCodec.decode(try Fixtures.read("valid/tx-03-two-replicas.bin")) == Fixtures.twoReplicasText)
        #expect(try TextDocumentCodec.decode(try Fixtures.read("valid/tx-05-explicit-origin.bin")) == Fixtures.explicitOriginText)
        let pending = try TextDocumentCodec.decode(try Fixtures.read("valid/tx-04-pending.bin"))
        #expect(pending == Fixtures.pendingText)
        #expect(pending.pendingOperations == Fixtures.pendingText.pendingOperations)
        #expect(try TextOperationCodec.decode(try Fixtures.read("valid/to-01-operations.bin")) == Fixtures.twoReplicasText.operations())
    }

    /// Each invalid vector fails with the error code the manifest names (CS-REJ-*, BD-REJ-*,
    /// SY-REJ-*, TXT-REJ-*, TXO-REJ-*).
    @Test func invalidVectorsFailWithTheirCode() throws {
        var seen = Set<String>()
        for e in try Vectors.manifest() where !e.valid {
            let bytes = try Fixtures.read(e.file)
            var code = e.kind == "exif" ? Self.exifCode(bytes) : errorCode { () throws(CodecError) in try Self.decode(kind: e.kind, bytes) }
            if code == "ok", e.kind == "bundle", Self.carriesMismatchedBlob(bytes) { code = "blob-mismatch" }
            #expect(code == e.expected, "\(e.file) (\(e.extra))")
            seen.insert(e.extra)
        }
        #expect(seen.count >= 20)
    }

    /// An `exif` vector's outcome: its error code, or "ok" (SPEC, "EXIF metadata (read only)").
    static func exifCode(_ bytes: [UInt8]) -> String {
        switch EXIF.metadata(of: bytes) {
        case .success: "ok"
        case .failure(let e): e.code
        }
    }

    /// BD-REJ-13, the receiver's check (the codec frames blobs, the store hashes them): whether
    /// a blob's bytes do not hash to its name.
    static func carriesMismatchedBlob(_ bytes: [UInt8]) -> Bool {
        guard let c = try? BundleCodec.decodeContents(bytes) else { return false }
        return c.blobs.contains { b in
            Array(SHA256.hash(data: bytes[Int(b.offset)..<Int(b.offset + b.size)])) != b.hash.bytes
        }
    }

    static func decode(kind: String, _ bytes: [UInt8]) throws(CodecError) {
        switch kind {
        case "bundle": _ = try BundleCodec.decode(bytes)
        case "pull-request": _ = try SyncCodec.decodePullRequest(bytes)
        case "pull-response": _ = try SyncCodec.decodePullResponse(bytes)
        case "text-document": _ = try TextDocumentCodec.decode(bytes)
        case "text-operations": _ = try TextOperationCodec.decode(bytes)
        default: _ = try ChangeSetCodec.decode(bytes)
        }
    }

    /// The generator still produces the checked-in vectors (the encoder has not drifted).
    @Test func generatorMatchesCheckedInVectors() throws {
        for v in Vectors.valid {
            #expect(try Fixtures.read("valid/\(v.name).bin") == v.bytes, "\(v.name)")
        }
        for v in Vectors.invalid {
            #expect(try Fixtures.read("invalid/\(v.name).bin") == v.bytes, "\(v.name)")
        }
    }

    /// Every error message is one line; printed so a reviewer can read them all.
    @Test func invalidVectorMessagesAreOneLine() throws {
        for e in try Vectors.manifest() where !e.valid {
            let bytes = try Fixtures.read(e.file)
            if e.kind == "exif" {
                guard case .failure(let error) = EXIF.metadata(of: bytes) else { continue }
                #expect(!error.description.contains("\n"), "\(e.file)")
                print("\(e.extra) \(e.file): \(error.description)")
                continue
            }
            do {
                try Self.decode(kind: e.kind, bytes)
            } catch {
                #expect(!error.description.contains("\n"), "\(e.file)")
                print("\(e.extra) \(e.file): \(error.description)")
            }
        }
    }
}
