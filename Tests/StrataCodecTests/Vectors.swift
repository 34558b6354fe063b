import Foundation
import StrataCore

@testable import StrataCodec

/// The test vectors of Protocol/vectors: how they are generated (only when
/// STRATA_WRITE_VECTORS=1) and a deterministic description of decoded content.
enum Vectors {
    struct Valid {
        var name: String
        var kind: String  // "change-set", "bundle", "pull-request", "pull-response", "text-document", "text-operations"
        var bytes: [UInt8]
        var reencode: Bool = true
        var note: String
    }

    struct Invalid {
        var name: String
        var kind: String
        var bytes: [UInt8]
        var code: String
        var requirement: String
        var note: String
    }

    static let sampleBundle = StrataCodec.Bundle(
        sender: Fixtures.bob, senderAuthor: "Bob", senderVersion: VersionVector([Fixtures.alice: 1, Fixtures.bob: 7]),
        createdAtMillis: 1_732_550_460_000, changes: Fixtures.everyValue)

    static let attachmentsBundle = StrataCodec.Bundle(
        sender: Fixtures.alice, senderAuthor: "Khaled al-Asaad", senderVersion: VersionVector([Fixtures.alice: 1, Fixtures.bob: 1]),
        createdAtMillis: 1_732_550_520_000, changes: Fixtures.attachments)
    static let attachmentBlobs: [(BlobHash, [UInt8])] = [(Fixtures.bustHash, Fixtures.bustBytes), (Fixtures.listHash, Fixtures.listBytes)]

    static var valid: [Valid] {
        [
            Valid(name: "cs-01-empty", kind: "change-set", bytes: ChangeSetCodec.encode([]), note: "no changes: four empty tables and a zero count"),
            Valid(name: "cs-02-single", kind: "change-set", bytes: ChangeSetCodec.encode(Fixtures.single), note: "one change assigning one text register"),
            Valid(
                name: "cs-03-every-value", kind: "change-set", bytes: ChangeSetCodec.encode(Fixtures.everyValue),
                note: "every value tag incl. non-ASCII text, -0.0, +inf, NaN, locations with and without accuracy, a deletion vector; set add and retract; predecessors; a negative timestamp delta"),
            Valid(
                name: "cs-04-stored", kind: "change-set", bytes: craftedChangeSet(payload: ChangeSetCodec.payload(Fixtures.single), flags: 0),
                reencode: false, note: "flags 0: the payload stored without compression (decoders accept it; Strata 1 writers always compress)"),
            Valid(
                name: "bd-01-three-frames", kind: "bundle", bytes: BundleCodec.encode(sampleBundle, maxChangeSetBytes: 200),
                note: "a bundle whose changes are split into three change sets (maxChangeSetBytes 200)"),
            Valid(
                name: "cs-05-text-edits", kind: "change-set", bytes: ChangeSetCodec.encode(Fixtures.textEdits),
                note: "format version 2: two replicas' text edits of one note body (inserts with and without origins, non-ASCII, deletes of another replica's characters)"),
            Valid(
                name: "cs-06-equivalent-names", kind: "change-set", bytes: ChangeSetCodec.encode(Fixtures.equivalentNames),
                note: "authors, field names and tags spelled with U+00E9 and with e + U+0301 (canonically equivalent, different bytes): two names each, kept byte for byte (an encoder keying its tables on Swift strings merged them)"),
            Valid(name: "sy-01-pull-request", kind: "pull-request", bytes: SyncCodec.encode(samplePullRequest), note: "a client with two replicas' changes asks for batches of at most 1 MiB"),
            Valid(name: "sy-02-pull-response", kind: "pull-response", bytes: SyncCodec.encode(samplePullResponse), note: "one change, four more to pull"),
            Valid(
                name: "sy-03-pull-response-many-remaining", kind: "pull-response",
                bytes: SyncCodec.encode(PullResponse(replica: samplePullResponse.replica, version: samplePullResponse.version, changes: Fixtures.single, remaining: 100_000)),
                note: "one change, 100000 more to pull: more than the bytes that follow (found by fuzz-pullresponse: decoders refused it as truncated)"),
            Valid(name: "tx-01-empty", kind: "text-document", bytes: TextDocumentCodec.encode(TextDocument()), note: "an empty document: no replicas, no runs, no deletes, nothing pending"),
            Valid(
                name: "tx-02-single-writer", kind: "text-document", bytes: TextDocumentCodec.encode(Fixtures.singleWriterText),
                note: "one writer's text in three inserts (Arabic, e + U+0301, an emoji with a variation selector) and a delete of one of her characters"),
            Valid(
                name: "tx-03-two-replicas", kind: "text-document", bytes: TextDocumentCodec.encode(Fixtures.twoReplicasText),
                note: "two replicas' concurrent inserts and deletes, merged: origins by flag and by distance, tombstones, a delete log of both replicas (one entry of Bob's for a range of Alice's)"),
            Valid(
                name: "tx-04-pending", kind: "text-document", bytes: TextDocumentCodec.encode(Fixtures.pendingText),
                note: "three buffered operations (an origin not yet arrived, counters missing below an insert, a delete of characters not yet arrived) in the pending column"),
            Valid(
                name: "tx-05-explicit-origin", kind: "text-document", bytes: TextDocumentCodec.encode(Fixtures.explicitOriginText),
                note: "two concurrent inserts after one character: the later run's origin-left ends no run, so it is written explicitly (d = 0)"),
            Valid(
                name: "cs-07-attachments", kind: "change-set", bytes: ChangeSetCodec.encode(Fixtures.attachments),
                note: "format version 3: a photo attached with every metadata part (time taken, position with accuracy, orientation, camera) and a PDF with none; a second replica captions the photo again and detaches the PDF (a retract)"),
            Valid(
                name: "bd-02-attachments", kind: "bundle",
                bytes: BundleCodec.encode(attachmentsBundle, blobs: attachmentBlobs, maxChangeSetBytes: 200),
                note: "format version 2: cs-07's changes and the bytes of the two blobs they name, in hash order"),
            Valid(
                name: "to-01-operations", kind: "text-operations", bytes: TextOperationCodec.encode(Fixtures.twoReplicasText.operations()),
                note: "tx-03's history as an operation list: inserts with and without origins, deletes with several ranges, replicas in order of first use"),
        ] + validEXIF
    }

    static let samplePullRequest = PullRequest(
        replica: Fixtures.alice, version: VersionVector([Fixtures.alice: 3, Fixtures.bob: 7]), maxBatchBytes: 1 << 20)
    static let samplePullResponse = PullResponse(
        replica: Fixtures.bob, version: VersionVector([Fixtures.alice: 1, Fixtures.bob: 7]), changes: Fixtures.single,
        remaining: 4)

    // MARK: hand-crafted bytes

    /// A pull response with no version entries, nothing remaining, and `changeSet` as its body.
    static func pullResponseAround(_ changeSet: [UInt8]) -> [UInt8] {
        var w = ByteWriter()
        w.raw(SyncCodec.pullResponseMagic)
        w.u8(1)
        w.u8(0)
        w.id16(high: Fixtures.bob.high, low: Fixtures.bob.low)
        w.varint(0)
        w.varint(0)
        w.varint(changeSet.count)
        w.raw(changeSet)
        return w.bytes
    }

    static func craftedChangeSet(payload: [UInt8], version: UInt8 = 1, flags: UInt8 = 1, declared: Int? = nil, level: Int32 = 6)
        -> [UInt8]
    {
        var w = ByteWriter()
        w.raw(ChangeSetCodec.magic)
        w.u8(version)
        w.u8(flags)
        w.varint(declared ?? payload.count)
        w.raw(flags & 1 == 1 ? Zlib.deflate(payload, level: level) : payload)
        return w.bytes
    }

    /// A one-change payload whose parts can be replaced by raw bytes.
    static func craftedPayload(
        replicas: [[UInt8]] = [Fixtures.alice.bytes], authors: [[UInt8]] = [Array("alice".utf8)],
        records: [[UInt8]] = [Fixtures.note.bytes], fieldNames: [[UInt8]] = [Array("title".utf8)],
        changeCount: [UInt8] = [1], seq: [UInt8] = [1], authorIndex: [UInt8] = [0],
        ops: [[UInt8]] = [[0, 0, 0, 0, 0, 1, 1, 0x78]], trailing: [UInt8] = []
    ) -> [UInt8] {
        var w = ByteWriter()
        w.varint(replicas.count)
        for r in replicas { w.raw(r) }
        w.varint(authors.count)
        for a in authors {
            w.varint(a.count)
            w.raw(a)
        }
        w.varint(records.count)
        for r in records { w.raw(r) }
        w.varint(fieldNames.count)
        for f in fieldNames {
            w.varint(f.count)
            w.raw(f)
        }
        w.raw(changeCount)
        w.u8(0)  // replica index
        w.raw(seq)
        w.zigzag(Int64(Fixtures.ts.rawValue))
        w.raw(authorIndex)
        w.varint(ops.count)
        for op in ops { w.raw(op) }
        w.raw(trailing)
        return w.bytes
    }

    /// One assign op of a crafted payload (record 0, field 0) to element `element`: value tag 8
    /// and an attachment reference whose parts are given as raw bytes after the parts byte.
    static func attachmentOp(
        element: String = Fixtures.bustHash.hex, tag: UInt8 = ValueTag.attachment, hash: BlobHash = Fixtures.bustHash,
        name: String = "bust.jpg", parts: UInt8 = 0, rest: [UInt8] = []
    ) -> [UInt8] {
        var w = ByteWriter()
        w.varint(0)
        w.varint(0)
        w.string(element)
        w.u8(ActionTag.assign)
        w.varint(0)
        w.u8(tag)
        w.raw(hash.bytes)
        w.varint(1234)
        w.string("image/jpeg")
        w.string(name)
        w.string("")
        w.u8(parts)
        w.raw(rest)
        return w.bytes
    }

    /// An assign op of a text to `att[<bust hash>]` (record 0, field 0).
    static var textInAttachmentsOp: [UInt8] {
        var w = ByteWriter()
        w.varint(0)
        w.varint(0)
        w.string(Fixtures.bustHash.hex)
        w.u8(ActionTag.assign)
        w.varint(0)
        w.u8(ValueTag.text)
        w.string("x")
        return w.bytes
    }

    /// A version-2 bundle of `attachmentsBundle` with blob frames written as given (in this
    /// order, with these declared sizes), then `trailing`, and a correct checksum.
    static func craftedBlobBundle(_ blobs: [(hash: BlobHash, declared: UInt64, bytes: [UInt8])], trailing: [UInt8] = []) -> [UInt8] {
        let v1 = BundleCodec.encode(attachmentsBundle, maxChangeSetBytes: 200)
        let head = Array(v1[BundleCodec.prefixSize..<(v1.count - BundleCodec.crcSize)])
        var tail = ByteWriter()
        tail.varint(blobs.count)
        for b in blobs {
            tail.raw(b.hash.bytes)
            tail.varint(b.declared)
            tail.raw(b.bytes)
        }
        tail.raw(trailing)
        var w = ByteWriter()
        w.raw(BundleCodec.magic)
        w.u8(2)
        w.u8(0)
        w.u64le(UInt64(BundleCodec.blobsPrefixSize + head.count + tail.bytes.count + BundleCodec.crcSize))
        w.u64le(UInt64(head.count))
        w.raw(head)
        w.raw(tail.bytes)
        let crc = w.bytes.withUnsafeBufferPointer { Zlib.crc32($0) }
        w.u32le(crc)
        return w.bytes
    }

    static func withByte(_ bytes: [UInt8], at i: Int, xor mask: UInt8) -> [UInt8] {
        var b = bytes
        b[i] ^= mask
        return b
    }

    static var invalid: [Invalid] {
        let single = ChangeSetCodec.encode(Fixtures.single)
        let every = ChangeSetCodec.encode(Fixtures.everyValue)
        let bundle = BundleCodec.encode(sampleBundle, maxChangeSetBytes: 200)
        let zeros = [UInt8](repeating: 0, count: 64 << 20)
        let bomb = Zlib.deflate(zeros, level: 9)
        func cs(_ header: [UInt8], _ body: [UInt8]) -> [UInt8] { ChangeSetCodec.magic + header + body }
        var declared64MiB = ByteWriter()
        declared64MiB.varint(64 << 20)
        let okOp: [UInt8] = [0, 0, 0, 0, 0, 1, 1, 0x78]
        let body = Array("body".utf8)
        let maxVarint: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]  // 2^64 - 1
        return [
            Invalid(name: "cs-rej-01-bad-magic", kind: "change-set", bytes: Array("SCHX".utf8) + single.dropFirst(4), code: "bad-magic", requirement: "CS-REJ-01", note: "magic is SCHX"),
            Invalid(name: "cs-rej-02-newer-version", kind: "change-set", bytes: withByte(single, at: 4, xor: 1 ^ 4), code: "unsupported-version", requirement: "CS-REJ-02", note: "format version 4"),
            Invalid(name: "cs-rej-03-unknown-flag", kind: "change-set", bytes: withByte(single, at: 5, xor: 0x02), code: "unsupported-flags", requirement: "CS-REJ-03", note: "flags 0x03"),
            Invalid(name: "cs-rej-04-zip-bomb-declared", kind: "change-set", bytes: cs([1, 1] + declared64MiB.bytes, bomb), code: "too-large", requirement: "CS-REJ-04", note: "declares and inflates to 64 MiB of zeros (64 KiB compressed)"),
            Invalid(name: "cs-rej-06-zip-bomb-undeclared", kind: "change-set", bytes: cs([1, 1, 100], bomb), code: "length-mismatch", requirement: "CS-REJ-06", note: "declares 100 bytes, inflates to 64 MiB of zeros"),
            Invalid(name: "cs-rej-06-shorter-than-declared", kind: "change-set", bytes: craftedChangeSet(payload: craftedPayload(), declared: 200), code: "length-mismatch", requirement: "CS-REJ-06", note: "declares 200 bytes, inflates to fewer"),
            Invalid(name: "cs-rej-07-truncated", kind: "change-set", bytes: Array(every.prefix(every.count / 2)), code: "truncated", requirement: "CS-REJ-07", note: "cs-03 cut in half"),
            Invalid(name: "cs-rej-07-truncated-header", kind: "change-set", bytes: Array(single.prefix(3)), code: "truncated", requirement: "CS-REJ-07", note: "three bytes of magic"),
            Invalid(name: "cs-rej-08-trailing-bytes", kind: "change-set", bytes: single + [0], code: "trailing-bytes", requirement: "CS-REJ-08", note: "cs-02 plus one zero byte"),
            Invalid(name: "cs-rej-09-bad-adler", kind: "change-set", bytes: withByte(single, at: single.count - 1, xor: 0xFF), code: "corrupt-compression", requirement: "CS-REJ-09", note: "last Adler-32 byte flipped"),
            Invalid(name: "cs-rej-10-overlong-varint", kind: "change-set", bytes: cs([1, 1, 0x85, 0x00], Zlib.deflate([], level: 6)), code: "overlong-varint", requirement: "CS-REJ-10", note: "payload length 5 written as 85 00"),
            Invalid(name: "cs-rej-10-varint-overflow", kind: "change-set", bytes: craftedChangeSet(payload: craftedPayload(seq: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02])), code: "overlong-varint", requirement: "CS-REJ-10", note: "a seq of 65 bits"),
            Invalid(name: "cs-rej-11-index-out-of-range", kind: "change-set", bytes: craftedChangeSet(payload: craftedPayload(authorIndex: [5])), code: "index-out-of-range", requirement: "CS-REJ-11", note: "author index 5 in a table of 1"),
            Invalid(name: "cs-rej-12-length-past-end", kind: "change-set", bytes: craftedChangeSet(payload: craftedPayload(ops: [[0, 0, 0, 0, 0, 1, 0x7F, 0x78]])), code: "malformed", requirement: "CS-REJ-12", note: "a text value declares 127 bytes, 1 remains"),
            Invalid(name: "cs-rej-13-count-beyond-limit", kind: "change-set", bytes: craftedChangeSet(payload: craftedPayload(changeCount: [0x80, 0x80, 0x80, 0x80, 0x01])), code: "too-large", requirement: "CS-REJ-13", note: "change count 2^28"),
            Invalid(name: "cs-rej-14-invalid-utf8", kind: "change-set", bytes: craftedChangeSet(payload: craftedPayload(authors: [[0x61, 0xFF, 0xFE]])), code: "invalid-utf8", requirement: "CS-REJ-14", note: "author bytes 61 ff fe"),
            Invalid(name: "cs-rej-15-duplicate-replica", kind: "change-set", bytes: craftedChangeSet(payload: craftedPayload(replicas: [Fixtures.alice.bytes, Fixtures.alice.bytes])), code: "malformed", requirement: "CS-REJ-15", note: "the replica table lists one id twice"),
            Invalid(name: "cs-rej-16-unknown-value-tag", kind: "change-set", bytes: craftedChangeSet(payload: craftedPayload(ops: [[0, 0, 0, 0, 0, 8, 0]])), code: "unsupported-value", requirement: "CS-REJ-16", note: "value tag 8 (an attachment, version 3 on) in a version-1 change set"),
            Invalid(name: "cs-rej-17-unknown-action", kind: "change-set", bytes: craftedChangeSet(payload: craftedPayload(ops: [[0, 0, 0, 2, 0]])), code: "malformed", requirement: "CS-REJ-17", note: "action tag 2 (a text edit) in a version-1 change set"),
            Invalid(name: "cs-rej-17-unknown-action-v2", kind: "change-set", bytes: craftedChangeSet(payload: craftedPayload(fieldNames: [body], ops: [[0, 0, 0, 3, 0]]), version: 2), code: "malformed", requirement: "CS-REJ-17", note: "action tag 3 in version 2"),
            Invalid(name: "cs-rej-17-unknown-text-op", kind: "change-set", bytes: craftedChangeSet(payload: craftedPayload(fieldNames: [body], ops: [[0, 0, 0, 2, 0, 1, 2, 0]]), version: 2), code: "malformed", requirement: "CS-REJ-17", note: "text operation kind 2"),
            Invalid(name: "cs-rej-17-text-origin-index", kind: "change-set", bytes: craftedChangeSet(payload: craftedPayload(fieldNames: [body], ops: [[0, 0, 0, 2, 0, 1, 0, 0, 2, 0, 0, 1, 0x78]]), version: 2), code: "malformed", requirement: "CS-REJ-17", note: "an origin names replica 1 of a table of 1"),
            Invalid(name: "cs-rej-21-text-on-register", kind: "change-set", bytes: craftedChangeSet(payload: craftedPayload(ops: [[0, 0, 0, 2, 0, 1, 0, 0, 0, 0, 1, 0x78]]), version: 2), code: "invalid-change", requirement: "CS-REJ-21", note: "a text edit of title, a register"),
            Invalid(name: "cs-rej-21-text-empty-insert", kind: "change-set", bytes: craftedChangeSet(payload: craftedPayload(fieldNames: [body], ops: [[0, 0, 0, 2, 0, 1, 0, 0, 0, 0, 0]]), version: 2), code: "invalid-change", requirement: "CS-REJ-21", note: "an insert of no text"),
            Invalid(name: "cs-rej-21-text-with-preds", kind: "change-set", bytes: craftedChangeSet(payload: craftedPayload(fieldNames: [body], ops: [[0, 0, 0, 2, 1, 0, 2, 1, 0, 0, 0, 0, 1, 0x78]]), version: 2), code: "invalid-change", requirement: "CS-REJ-21", note: "a text edit naming a predecessor"),
            Invalid(name: "cs-rej-21-text-self-origin", kind: "change-set", bytes: craftedChangeSet(payload: craftedPayload(fieldNames: [body], ops: [[0, 0, 0, 2, 0, 1, 0, 0, 1, 0, 0, 1, 0x78]]), version: 2), code: "invalid-change", requirement: "CS-REJ-21", note: "an insert at counter 0 whose origin-left is its own counter 0"),
            Invalid(name: "cs-rej-21-text-empty-edit", kind: "change-set", bytes: craftedChangeSet(payload: craftedPayload(fieldNames: [body], ops: [[0, 0, 0, 2, 0, 0]]), version: 2), code: "invalid-change", requirement: "CS-REJ-21", note: "a text edit with no operations"),
            Invalid(name: "cs-rej-21-text-counter-overflow", kind: "change-set", bytes: craftedChangeSet(payload: craftedPayload(fieldNames: [body], ops: [[0, 0, 0, 2, 0, 1, 0] + maxVarint + [0, 0, 1, 0x78]]), version: 2), code: "invalid-change", requirement: "CS-REJ-21", note: "an insert at counter 2^64 - 1 (found writing the fuzz targets: the counter check overflowed and killed the decoding process, a server on push)"),
            Invalid(name: "cs-rej-21-text-delete-counter-overflow", kind: "change-set", bytes: craftedChangeSet(payload: craftedPayload(fieldNames: [body], ops: [[0, 0, 0, 2, 0, 1, 1] + maxVarint + [1, 0, 0, 1]]), version: 2), code: "invalid-change", requirement: "CS-REJ-21", note: "a delete at counter 2^64 - 1 (the same overflow, in the delete check)"),
            Invalid(name: "cs-rej-21-text-on-odd-field-name", kind: "change-set", bytes: craftedChangeSet(payload: craftedPayload(fieldNames: [Array("b\0\ny".utf8)], ops: [[0, 0, 0, 2, 0, 1, 0, 0, 0, 0, 1, 0x78]]), version: 2), code: "invalid-change", requirement: "CS-REJ-21", note: "a text edit of a field named b NUL LF y (found by fuzz-change: the error quoted the name, line break included; messages never quote names)"),
            Invalid(name: "cs-rej-18-zero-seq", kind: "change-set", bytes: craftedChangeSet(payload: craftedPayload(seq: [0])), code: "invalid-change", requirement: "CS-REJ-18", note: "change seq 0"),
            Invalid(name: "cs-rej-19-duplicate-key", kind: "change-set", bytes: craftedChangeSet(payload: craftedPayload(ops: [okOp, okOp])), code: "invalid-change", requirement: "CS-REJ-19", note: "one change writes note.title twice"),
            Invalid(name: "cs-rej-20-payload-trailing", kind: "change-set", bytes: craftedChangeSet(payload: craftedPayload(trailing: [0])), code: "trailing-bytes", requirement: "CS-REJ-20", note: "one byte after the last change, inside the payload"),
            Invalid(name: "bd-rej-01-bad-magic", kind: "bundle", bytes: withByte(bundle, at: 0, xor: 0x20), code: "bad-magic", requirement: "BD-REJ-01", note: "magic sBDL"),
            Invalid(name: "bd-rej-02-newer-version", kind: "bundle", bytes: withByte(bundle, at: 4, xor: 1 ^ 3), code: "unsupported-version", requirement: "BD-REJ-02", note: "format version 3"),
            Invalid(name: "bd-rej-04-truncated", kind: "bundle", bytes: Array(bundle.prefix(bundle.count - 10)), code: "truncated", requirement: "BD-REJ-04", note: "bd-01 without its last 10 bytes"),
            Invalid(name: "bd-rej-05-trailing-bytes", kind: "bundle", bytes: bundle + [0x0A], code: "trailing-bytes", requirement: "BD-REJ-05", note: "bd-01 plus a newline"),
            Invalid(name: "bd-rej-08-zip-bomb", kind: "bundle", bytes: BundleCodec.assemble(sampleBundle, frames: [cs([1, 1] + declared64MiB.bytes, bomb)]), code: "too-large", requirement: "BD-REJ-08", note: "a valid envelope around a change set that declares and inflates to 64 MiB"),
            Invalid(name: "sy-rej-01-pull-request-newer-version", kind: "pull-request", bytes: withByte(SyncCodec.encode(samplePullRequest), at: 4, xor: 1 ^ 2), code: "unsupported-version", requirement: "SY-REJ-01", note: "protocol version 2"),
            Invalid(name: "sy-rej-02-pull-request-trailing", kind: "pull-request", bytes: SyncCodec.encode(samplePullRequest) + [0], code: "trailing-bytes", requirement: "SY-REJ-02", note: "one byte after the batch bound"),
            Invalid(name: "sy-rej-03-pull-response-more-mismatch", kind: "pull-response", bytes: withByte(SyncCodec.encode(samplePullResponse), at: 5, xor: 1), code: "malformed", requirement: "SY-REJ-03", note: "the more flag is clear but 4 changes remain"),
            Invalid(name: "sy-rej-04-pull-request-unsorted", kind: "pull-request", bytes: Array(SyncCodec.encode(PullRequest(replica: Fixtures.alice, version: VersionVector(), maxBatchBytes: 5))[0..<22]) + [2] + Fixtures.bob.bytes + [7] + Fixtures.alice.bytes + [3, 5], code: "malformed", requirement: "SY-REJ-04", note: "version entries not in ascending replica order"),
            Invalid(name: "sy-rej-05-pull-response-zip-bomb", kind: "pull-response", bytes: pullResponseAround(cs([1, 1] + declared64MiB.bytes, bomb)), code: "too-large", requirement: "SY-REJ-05", note: "a pull response whose change set declares and inflates to 64 MiB"),
            Invalid(name: "bd-rej-06-corrupt", kind: "bundle", bytes: withByte(bundle, at: bundle.count / 2, xor: 0x10), code: "checksum-mismatch", requirement: "BD-REJ-06", note: "one bit flipped in the middle"),
        ] + invalidAttachments + invalidBlobBundles + invalidText + invalidEXIF
    }

    /// Bundle format version 2: the blob frames (SPEC §3, BD-REJ-10..13).
    static var invalidBlobBundles: [Invalid] {
        let bust = (hash: Fixtures.bustHash, declared: UInt64(Fixtures.bustBytes.count), bytes: Fixtures.bustBytes)
        let list = (hash: Fixtures.listHash, declared: UInt64(Fixtures.listBytes.count), bytes: Fixtures.listBytes)
        var damaged = bust
        damaged.bytes[0] ^= 0x01
        var long = bust
        long.declared = 1000
        return [
            Invalid(name: "bd-rej-10-blobs-unsorted", kind: "bundle", bytes: craftedBlobBundle([bust, list]), code: "malformed", requirement: "BD-REJ-10", note: "two blobs in descending hash order"),
            Invalid(name: "bd-rej-10-blob-twice", kind: "bundle", bytes: craftedBlobBundle([list, list]), code: "malformed", requirement: "BD-REJ-10", note: "one blob carried twice"),
            Invalid(name: "bd-rej-11-blob-past-checksum", kind: "bundle", bytes: craftedBlobBundle([long]), code: "malformed", requirement: "BD-REJ-11", note: "a blob declaring 1000 bytes where 21 remain before the checksum"),
            Invalid(name: "bd-rej-12-blob-trailing", kind: "bundle", bytes: craftedBlobBundle([list, bust], trailing: [0]), code: "trailing-bytes", requirement: "BD-REJ-12", note: "one byte between the last blob and the checksum"),
            Invalid(name: "bd-rej-13-blob-mismatch", kind: "bundle", bytes: craftedBlobBundle([list, damaged]), code: "blob-mismatch", requirement: "BD-REJ-13", note: "a blob whose first byte was changed (the checksum recomputed): its bytes do not hash to its name"),
        ]
    }

    /// Change-set format 3: the attachment value (tag 8) and the rules of its key (SPEC §2.2).
    static var invalidAttachments: [Invalid] {
        let att = [Array(SystemField.attachments.utf8)]
        func v3(_ op: [UInt8], fields: [[UInt8]] = att, version: UInt8 = 3) -> [UInt8] {
            craftedChangeSet(payload: craftedPayload(fieldNames: fields, ops: [op]), version: version)
        }
        return [
            Invalid(name: "cs-rej-16-attachment-in-v2", kind: "change-set", bytes: v3(attachmentOp(), version: 2), code: "unsupported-value", requirement: "CS-REJ-16", note: "a well-formed attachment (value tag 8) in a version-2 change set"),
            Invalid(name: "cs-rej-22-attachment-reserved-parts", kind: "change-set", bytes: v3(attachmentOp(parts: 0x10)), code: "malformed", requirement: "CS-REJ-22", note: "metadata parts byte 0x10 (bits 4-7 are reserved)"),
            Invalid(name: "cs-rej-22-attachment-name-slash", kind: "change-set", bytes: v3(attachmentOp(name: "photos/bust.jpg")), code: "malformed", requirement: "CS-REJ-22", note: "a name with a path separator (photos/bust.jpg)"),
            Invalid(name: "cs-rej-22-attachment-name-bidi", kind: "change-set", bytes: v3(attachmentOp(name: "bust\u{202E}gpj.exe")), code: "malformed", requirement: "CS-REJ-22", note: "a name with U+202E RIGHT-TO-LEFT OVERRIDE (bust<RLO>gpj.exe displays as bustexe.jpg)"),
            Invalid(name: "cs-rej-22-attachment-orientation-9", kind: "change-set", bytes: v3(attachmentOp(parts: 0x04, rest: [9])), code: "malformed", requirement: "CS-REJ-22", note: "EXIF orientation 9 (1 to 8)"),
            Invalid(name: "cs-rej-23-attachment-element-not-hash", kind: "change-set", bytes: v3(attachmentOp(element: Fixtures.listHash.hex)), code: "invalid-change", requirement: "CS-REJ-23", note: "an attachment assigned to att[<another blob's hash>]"),
            Invalid(name: "cs-rej-23-attachment-outside-att", kind: "change-set", bytes: v3(attachmentOp(element: ""), fields: [Array("title".utf8)]), code: "invalid-change", requirement: "CS-REJ-23", note: "an attachment assigned to the title register"),
            Invalid(name: "cs-rej-23-text-in-att", kind: "change-set", bytes: v3(textInAttachmentsOp), code: "invalid-change", requirement: "CS-REJ-23", note: "a text assigned to att[<hash>] (only attachments may be)"),
        ]
    }

    // MARK: text documents and operation lists, by hand (§4.3, §4.4)

    /// An operation list of one replica, Alice, with the operations' bytes as given.
    static func craftedOperations(
        _ ops: [UInt8], count: [UInt8] = [1], replicas: [UInt8] = [1] + Fixtures.alice.bytes, magic: [UInt8] = TextOperationCodec.magic,
        version: UInt8 = 1
    ) -> [UInt8] {
        magic + [version] + replicas + count + ops
    }

    /// Alice's deleted "x" (counter 0) and the delete counter 1 that hides it: the base of
    /// the documents that name a delete counter.
    static var deletedX: HandWrittenText {
        var d = HandWrittenText(replica: Fixtures.alice)
        d.versions = [[2]]
        d.flags = [0x55]
        d.deleteCounts = [1]
        d.targets = [0]
        d.starts = [0]
        d.deleteLengths = [1]
        return d
    }

    static var invalidText: [Invalid] {
        let x = HandWrittenText(replica: Fixtures.alice)
        func tx(_ name: String, _ code: String, _ requirement: String, _ note: String, _ change: (inout HandWrittenText) -> Void) -> Invalid {
            var d = x
            change(&d)
            return Invalid(name: name, kind: "text-document", bytes: d.bytes, code: code, requirement: requirement, note: note)
        }
        func to(_ name: String, _ bytes: [UInt8], _ code: String, _ requirement: String, _ note: String) -> Invalid {
            Invalid(name: name, kind: "text-operations", bytes: bytes, code: code, requirement: requirement, note: note)
        }
        var namesDeleteCounter = deletedX
        namesDeleteCounter.replicas = [Fixtures.alice, Fixtures.bob]
        namesDeleteCounter.versions = [[2], [1]]
        namesDeleteCounter.runCount = [2]
        namesDeleteCounter.flags = [0x55, 0x50]
        namesDeleteCounter.replicaColumn = [0, 1]
        namesDeleteCounter.lengthColumn = [1, 1]
        namesDeleteCounter.leftColumn = [0, 0, 1]  // explicit: replica 0 (not the run's), counter 1
        namesDeleteCounter.content = Array("xy".utf8)
        namesDeleteCounter.deleteCounts = [1, 0]
        var pendingNamesDeleteCounter = deletedX
        pendingNamesDeleteCounter.pending = TextOperationCodec.encode([
            .insert(id: TextID(replica: Fixtures.bob, counter: 0), originLeft: TextID(replica: Fixtures.alice, counter: 1), originRight: nil, text: "z")
        ])
        let insert: [UInt8] = [0x00, 0, 0, 1, 0x78]  // Alice's "x" at counter 0, no origins
        var manyReplicas = ByteWriter()
        manyReplicas.varint((1 << 16) + 1)
        return [
            Invalid(name: "tx-rej-01-short", kind: "text-document", bytes: TextDocumentCodec.magic, code: "truncated", requirement: "TXT-REJ-01", note: "the magic alone, 4 bytes"),
            tx("tx-rej-01-bad-magic", "bad-magic", "TXT-REJ-01", "magic STXO (an operation list's)") { $0.magic = TextOperationCodec.magic },
            tx("tx-rej-02-newer-version", "unsupported-version", "TXT-REJ-02", "version 2") { $0.version = 2 },
            tx("tx-rej-03-overlong-varint", "overlong-varint", "TXT-REJ-03", "next[0] = 1 written as 81 00") { $0.versions = [[0x81, 0x00]] },
            Invalid(name: "tx-rej-04-truncated", kind: "text-document", bytes: Array(x.bytes.dropLast()), code: "truncated", requirement: "TXT-REJ-04", note: "the one-run document without its last byte (the pending column's length)"),
            tx("tx-rej-04-runs-past-end", "truncated", "TXT-REJ-04", "200 runs declared, fewer bytes remain") { $0.runCount = [0xC8, 0x01] },
            tx("tx-rej-05-value-past-column", "malformed", "TXT-REJ-05", "a length varint 81 that its column ends inside") { $0.lengthColumn = [0x81] },
            tx("tx-rej-05-column-leftover", "trailing-bytes", "TXT-REJ-05", "two lengths for one run") { $0.lengthColumn = [1, 1] },
            tx("tx-rej-06-replica-index", "index-out-of-range", "TXT-REJ-06", "run replica index 1 in a table of 1") { $0.replicaColumn = [1] },
            tx("tx-rej-06-origin-index", "index-out-of-range", "TXT-REJ-06", "an explicit origin-left naming replica 3 in a table of 1") {
                $0.flags = [0x50]
                $0.leftColumn = [0, 3, 0]
            },
            tx("tx-rej-07-invalid-utf8", "invalid-utf8", "TXT-REJ-07", "content byte ff") { $0.content = [0xFF] },
            tx("tx-rej-09-trailing-bytes", "trailing-bytes", "TXT-REJ-09", "one zero byte after the pending column") { $0.trailing = [0] },
            tx("tx-rej-10-reserved-flag", "malformed", "TXT-REJ-10", "run flags d4: the reserved bit 0x80") { $0.flags = [0xD4] },
            tx("tx-rej-10-contradictory-flags", "malformed", "TXT-REJ-10", "run flags 56: left-is-previous and left-none") { $0.flags = [0x56] },
            tx("tx-rej-10-left-previous-on-run-0", "malformed", "TXT-REJ-10", "run flags 52: left-is-previous on run 0") { $0.flags = [0x52] },
            tx("tx-rej-10-flags-length", "malformed", "TXT-REJ-10", "two flag bytes for one run") { $0.flags = [0x54, 0x54] },
            tx("tx-rej-10-distance-names-no-run", "malformed", "TXT-REJ-10", "origin-left distance 1 from run 0") {
                $0.flags = [0x50]
                $0.leftColumn = [1]
            },
            tx("tx-rej-20-replicas-not-ascending", "malformed", "TXT-REJ-20", "replica ids Bob, Alice (descending)") {
                $0.replicas = [Fixtures.bob, Fixtures.alice]
                $0.versions = [[1], [1]]
                $0.runCount = [2]
                $0.flags = [0x54, 0x52]
                $0.replicaColumn = [0, 1]
                $0.lengthColumn = [1, 1]
                $0.content = Array("xy".utf8)
                $0.deleteCounts = [0, 0]
            },
            tx("tx-rej-21-version-zero", "malformed", "TXT-REJ-21", "next[0] = 0") { $0.versions = [[0]] },
            tx("tx-rej-21-version-too-high", "malformed", "TXT-REJ-21", "next[0] = 2^31 - 1") { $0.versions = [[0xFF, 0xFF, 0xFF, 0xFF, 0x07]] },
            tx("tx-rej-22-run-past-version", "malformed", "TXT-REJ-22", "a run of 2 characters of a replica at version 1") {
                $0.lengthColumn = [2]
                $0.content = Array("xy".utf8)
            },
            tx("tx-rej-22-empty-run", "malformed", "TXT-REJ-22", "a run of length 0") {
                $0.lengthColumn = [0]
                $0.content = []
            },
            tx("tx-rej-23-origin-past-version", "malformed", "TXT-REJ-23", "an explicit origin-left at the run's counter + 1 = 1, not below the version 1") {
                $0.flags = [0x50]
                $0.leftColumn = [0, 0, 2]
            },
            tx("tx-rej-24-overlapping-runs", "malformed", "TXT-REJ-24", "two runs both holding Alice's counter 0") {
                $0.runCount = [2]
                $0.flags = [0x54, 0x34]  // run 1: same replica, counter lastEnd 1 + zigzag 1 (-1) = 0
                $0.counterColumn = [1]
                $0.lengthColumn = [1, 1]
                $0.content = Array("xy".utf8)
            },
            Invalid(name: "tx-rej-25-origin-is-delete-counter", kind: "text-document", bytes: namesDeleteCounter.bytes, code: "malformed", requirement: "TXT-REJ-25", note: "Bob's run has as origin-left Alice's counter 1, her delete"),
            tx("tx-rej-26-content-too-long", "malformed", "TXT-REJ-26", "content xy for one character") { $0.content = Array("xy".utf8) },
            tx("tx-rej-27-counter-unheld", "malformed", "TXT-REJ-27", "version 2, one character, no delete: counter 1 is neither") { $0.versions = [[2]] },
            Invalid(name: "tx-rej-27-delete-too-long", kind: "text-document", bytes: { var d = deletedX; d.deleteLengths = [2]; return d.bytes }(), code: "malformed", requirement: "TXT-REJ-27", note: "Alice at version 2 with one character: a delete entry of length 2 (its own counters pass her version; its target 0 ..< 2 holds her delete counter 1)"),
            tx("tx-rej-28-deleted-not-flagged", "malformed", "TXT-REJ-28", "a delete entry names counter 0, its run is not flagged deleted") {
                $0.versions = [[2]]
                $0.deleteCounts = [1]
                $0.targets = [0]
                $0.starts = [0]
                $0.deleteLengths = [1]
            },
            tx("tx-rej-28-flagged-not-deleted", "malformed", "TXT-REJ-28", "a run flagged deleted that no entry names") { $0.flags = [0x55] },
            tx("tx-rej-29-pending-not-a-list", "malformed", "TXT-REJ-29", "a pending column of 3 bytes 01 02 03") { $0.pending = [1, 2, 3] },
            Invalid(name: "tx-rej-29-pending-names-delete-counter", kind: "text-document", bytes: pendingNamesDeleteCounter.bytes, code: "malformed", requirement: "TXT-REJ-29", note: "a buffered insert whose origin-left is Alice's delete counter 1"),
            to("to-rej-01-short", [0x53, 0x54], "truncated", "TXO-REJ-01", "two bytes"),
            to("to-rej-01-bad-magic", craftedOperations(insert, magic: TextDocumentCodec.magic), "bad-magic", "TXO-REJ-01", "magic STXT (a document's)"),
            to("to-rej-02-newer-version", craftedOperations(insert, version: 2), "unsupported-version", "TXO-REJ-02", "version 2"),
            to("to-rej-03-overlong-varint", craftedOperations([0x00, 0, 0x80, 0x00, 1, 0x78]), "overlong-varint", "TXO-REJ-03", "a counter 0 written as 80 00"),
            to("to-rej-03-truncated-count", craftedOperations(insert, count: [2]), "truncated", "TXO-REJ-03", "two operations declared, one present"),
            to("to-rej-03-truncated-text", craftedOperations(Array(insert.dropLast())), "truncated", "TXO-REJ-03", "the inserted text cut off"),
            to("to-rej-03-too-many-replicas", craftedOperations(insert, replicas: manyReplicas.bytes), "too-large", "TXO-REJ-03", "65537 replicas, over maxReplicas 65536"),
            to("to-rej-04-replica-index", craftedOperations([0x00, 1, 0, 1, 0x78]), "index-out-of-range", "TXO-REJ-04", "replica index 1 in a table of 1"),
            to("to-rej-04-unknown-tag", craftedOperations([0x04, 0, 0, 1, 0x78]), "malformed", "TXO-REJ-04", "operation tag 4"),
            to("to-rej-04-invalid-utf8", craftedOperations([0x00, 0, 0, 1, 0xFF]), "invalid-utf8", "TXO-REJ-04", "inserted text byte ff"),
            to("to-rej-05-empty-insert", craftedOperations([0x00, 0, 0, 0]), "malformed", "TXO-REJ-05", "an insert of no text"),
            to("to-rej-05-delete-no-range", craftedOperations([0x10, 0, 0, 0]), "malformed", "TXO-REJ-05", "a delete with no range"),
            to("to-rej-05-empty-range", craftedOperations([0x10, 0, 1, 1, 0, 0, 0]), "malformed", "TXO-REJ-05", "a delete at counter 1 of the range 0 + 0"),
            to("to-rej-05-own-origin", craftedOperations([0x01, 0, 0, 0, 0, 1, 0x78]), "malformed", "TXO-REJ-05", "an insert at counter 0 whose origin-left is its own counter 0"),
            to("to-rej-05-counter-bound", craftedOperations([0x00, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 1, 0x78]), "malformed", "TXO-REJ-05", "an insert at counter 2^31 - 1"),
            to("to-rej-06-trailing-bytes", craftedOperations(insert + [0]), "trailing-bytes", "TXO-REJ-06", "one zero byte after the last operation"),
        ]
    }

    // MARK: description

    static func describe(_ m: PullRequest) -> String {
        "pull-request replica=\(m.replica.hex) version=\(describe(m.version)) max_batch_bytes=\(m.maxBatchBytes)"
    }

    static func describe(_ m: PullResponse) -> String {
        "pull-response replica=\(m.replica.hex) version=\(describe(m.version)) remaining=\(m.remaining)\n"
            + describe(m.changes)
    }

    /// Decodes a vector of any kind and describes it.
    static func decodeAndDescribe(kind: String, _ bytes: [UInt8]) throws -> (description: String, reencoded: [UInt8]) {
        switch kind {
        case "bundle":
            let c = try BundleCodec.decodeContents(bytes)
            let blobs = c.blobs.map { b in (b.hash, Array(bytes[Int(b.offset)..<Int(b.offset + b.size)])) }
            return (describe(c, blobs: blobs), BundleCodec.encode(c.bundle, blobs: blobs, maxChangeSetBytes: 200))
        case "pull-request":
            let m = try SyncCodec.decodePullRequest(bytes)
            return (describe(m), SyncCodec.encode(m))
        case "pull-response":
            let m = try SyncCodec.decodePullResponse(bytes)
            return (describe(m), SyncCodec.encode(m))
        case "text-document":
            let d = try TextDocumentCodec.decode(bytes)
            return (describe(d), TextDocumentCodec.encode(d))
        case "text-operations":
            let ops = try TextOperationCodec.decode(bytes)
            return (describe(ops), TextOperationCodec.encode(ops))
        case "exif":
            return (describe(try EXIF.metadata(of: bytes).get()), bytes)
        default:
            let c = try ChangeSetCodec.decode(bytes)
            return (describe(c), ChangeSetCodec.encode(c))
        }
    }

    static func describe(_ changes: [Change]) -> String {
        "[\n" + changes.map { "  " + describe($0) }.joined(separator: ",\n") + "\n]"
    }

    static func describe(_ bundle: StrataCodec.Bundle) -> String { describe(BundleContents(bundle: bundle, blobs: [], version: 1), blobs: []) }

    /// A bundle's content (§9); a version-2 bundle's blobs too, with their bytes in hex.
    static func describe(_ contents: BundleContents, blobs: [(BlobHash, [UInt8])]) -> String {
        let bundle = contents.bundle
        var blobList = ""
        if contents.version >= 2 {
            let items = blobs.map { "  {\"hash\": \(quote($0.0.hex)), \"size\": \($0.1.count), \"bytes\": \(quote(hex($0.1)))}" }
            blobList = ",\n\"blobs\": [\n" + items.joined(separator: ",\n") + "\n]"
        }
        return """
            {
            "sender": \(quote(bundle.sender.hex)),
            "senderAuthor": \(quote(bundle.senderAuthor)),
            "senderVersion": \(describe(bundle.senderVersion)),
            "createdAtMillis": \(bundle.createdAtMillis),
            "changes": \(describe(bundle.changes))\(blobList)
            }
            """
    }

    static func describe(_ c: Change) -> String {
        let ops = c.operations.map { op -> String in
            var s = "{\"record\": \(quote(op.record.text)), \"field\": \(quote(op.key.field)), \"element\": \(quote(op.key.element)), "
            switch op.action {
            case .retract: s += "\"action\": \"retract\""
            case .assign(let v): s += "\"action\": \"assign\", \"value\": \(describe(v))"
            case .editText(let edits): s += "\"action\": \"edit-text\", \"edits\": [" + edits.map(describe).joined(separator: ", ") + "]"
            }
            s += ", \"preds\": [" + op.preds.map { quote("\($0.replica.hex)/\($0.seq)") }.joined(separator: ", ") + "]}"
            return s
        }
        return "{\"replica\": \(quote(c.id.replica.hex)), \"seq\": \(c.id.seq), \"timestamp\": \(c.timestamp.rawValue), "
            + "\"wallMillis\": \(c.timestamp.wallMillis), \"counter\": \(c.timestamp.counter), \"author\": \(quote(c.author)), "
            + "\"operations\": [\n    " + ops.joined(separator: ",\n    ") + "]}"
    }

    static func describe(_ e: TextOperation) -> String {
        func id(_ t: TextID?) -> String { t.map { quote("\($0.replica.hex)@\($0.counter)") } ?? "null" }
        switch e {
        case .insert(let i, let l, let r, let text):
            return "{\"insert\": \(id(i)), \"after\": \(id(l)), \"before\": \(id(r)), \"text\": \(quote(text))}"
        case .delete(let i, let ranges):
            return "{\"delete\": \(id(i)), \"ranges\": [" + ranges.map { quote("\($0.replica.hex)@\($0.start)+\($0.count)") }.joined(separator: ", ") + "]}"
        }
    }

    /// An operation list's content: its operations, in order.
    static func describe(_ ops: [TextOperation]) -> String {
        ops.isEmpty ? "[]" : "[\n  " + ops.map(describe).joined(separator: ",\n  ") + "\n]"
    }

    /// A text document's content (§9): its visible text, versions, runs in document order,
    /// delete entries (each with its first own counter) and buffered operations.
    static func describe(_ document: TextDocument) -> String {
        let s = document.snapshot()
        func hex(_ r: Int) -> String { s.replicas[r].hex }
        func id(_ o: TextDocument.Snapshot.Origin?) -> String { o.map { quote("\(hex($0.replica))@\($0.counter)") } ?? "null" }
        let scalars = Array(s.text.unicodeScalars)
        var at = 0
        let runs = s.runs.map { run -> String in
            var text = String.UnicodeScalarView()
            text.append(contentsOf: scalars[at..<at + Int(run.length)])
            at += Int(run.length)
            return "{\"id\": \(quote("\(hex(run.replica))@\(run.counter)")), \"length\": \(run.length), \"after\": \(id(run.left)), "
                + "\"before\": \(id(run.right)), \"deleted\": \(run.deleted), \"text\": \(quote(String(text)))}"
        }
        var deletes: [String] = []
        for (r, entries) in s.deletes.enumerated() {
            // Own counters: the replica's counters that no run holds, taken in order.
            let held = s.runs.filter { $0.replica == r }.map { ($0.counter, $0.counter + $0.length) }.sorted { $0.0 < $1.0 }
            var next: UInt32 = 0
            var i = 0
            for e in entries {
                while i < held.count && held[i].0 <= next {
                    next = max(next, held[i].1)
                    i += 1
                }
                deletes.append("{\"delete\": \(quote("\(hex(r))@\(next)")), \"range\": \(quote("\(hex(e.target))@\(e.start)+\(e.length)"))}")
                next += e.length
            }
        }
        func list(_ items: [String]) -> String { items.isEmpty ? "[]" : "[\n  " + items.joined(separator: ",\n  ") + "\n]" }
        let versions = "{" + zip(s.replicas, s.versions).map { "\(quote($0.hex)): \($1)" }.joined(separator: ", ") + "}"
        return """
            {
            "text": \(quote(document.string)),
            "versions": \(versions),
            "runs": \(list(runs)),
            "deletes": \(list(deletes)),
            "pending": \(list(s.pending.map(describe)))
            }
            """
    }

    static func describe(_ vv: VersionVector) -> String {
        "{" + vv.sorted.map { "\(quote($0.replica.hex)): \($0.seq)" }.joined(separator: ", ") + "}"
    }

    static func describe(_ v: FieldValue) -> String {
        switch v {
        case .null: return "{\"null\": null}"
        case .text(let s): return "{\"text\": \(quote(s))}"
        case .integer(let i): return "{\"integer\": \(i)}"
        case .real(let d): return "{\"real\": \(quote(hex64(d.bitPattern))), \"approx\": \(quote("\(d)"))}"
        case .bool(let b): return "{\"bool\": \(b)}"
        case .location(let l):
            var s = "{\"latitude\": \(quote(hex64(l.latitude.bitPattern))), \"longitude\": \(quote(hex64(l.longitude.bitPattern)))"
            if let a = l.accuracyMetres { s += ", \"accuracyMetres\": \(quote(hex64(a.bitPattern)))" }
            return s + ", \"approx\": \(quote("\(l.latitude),\(l.longitude)"))}"
        case .deletion(let seen): return "{\"deletion\": \(describe(seen))}"
        case .attachment(let a):
            var s = "{\"attachment\": {\"hash\": \(quote(a.hash.hex)), \"size\": \(a.size), \"mediaType\": \(quote(a.mediaType)), "
                + "\"name\": \(quote(a.name)), \"caption\": \(quote(a.caption))"
            if let t = a.photo.takenAt { s += ", \"takenAt\": \(quote(t))" }
            if let l = a.photo.location { s += ", \"location\": \(describe(.location(l)))" }
            if let o = a.photo.orientation { s += ", \"orientation\": \(o)" }
            if let c = a.photo.camera { s += ", \"camera\": \(quote(c))" }
            return s + "}}"
        }
    }

    static func hex64(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: 16 - s.count) + s
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default:
                // Control characters, and combining marks so that a reader sees "e\u0301".
                if u.value < 0x20 || (0x300...0x36F).contains(u.value) {
                    let h = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    static func describeValid(_ v: Valid) throws -> String {
        try decodeAndDescribe(kind: v.kind, v.bytes).description
    }

    /// Writes every vector and the manifest. Run with STRATA_WRITE_VECTORS=1.
    static func writeAll() throws {
        let fm = FileManager.default
        let validDir = Fixtures.vectorsDir.appendingPathComponent("valid")
        let invalidDir = Fixtures.vectorsDir.appendingPathComponent("invalid")
        try fm.createDirectory(at: validDir, withIntermediateDirectories: true)
        try fm.createDirectory(at: invalidDir, withIntermediateDirectories: true)
        var manifest = "# Protocol/vectors manifest: kind file expected [requirement]\n"
        manifest += "# valid:   <kind> valid/<name>.bin valid/<name>.json <reencode: exact|no>\n"
        manifest += "# invalid: <kind> invalid/<name>.bin <error code> <requirement id>\n"
        for v in valid {
            try Data(v.bytes).write(to: validDir.appendingPathComponent("\(v.name).bin"))
            try (describeValid(v) + "\n").write(to: validDir.appendingPathComponent("\(v.name).json"), atomically: true, encoding: .utf8)
            manifest += "valid \(v.kind) valid/\(v.name).bin valid/\(v.name).json \(v.reencode ? "exact" : "no")  # \(v.note)\n"
        }
        for v in invalid {
            try Data(v.bytes).write(to: invalidDir.appendingPathComponent("\(v.name).bin"))
            manifest += "invalid \(v.kind) invalid/\(v.name).bin \(v.code) \(v.requirement)  # \(v.note)\n"
        }
        try manifest.write(to: Fixtures.vectorsDir.appendingPathComponent("MANIFEST.txt"), atomically: true, encoding: .utf8)
    }

    struct Entry {
        var valid: Bool
        var kind: String
        var file: String
        var expected: String  // json path or error code
        var extra: String  // "exact"/"no" or requirement id
    }

    static func manifest() throws -> [Entry] {
        let text = String(decoding: try Fixtures.read("MANIFEST.txt"), as: UTF8.self)
        return text.split(separator: "\n").compactMap { line in
            if line.hasPrefix("#") { return nil }
            let main = line.split(separator: "#", maxSplits: 1)[0]
            let f = main.split(separator: " ").map(String.init)
            guard f.count == 5 else { return nil }
            return Entry(valid: f[0] == "valid", kind: f[1], file: f[2], expected: f[3], extra: f[4])
        }
    }
}
