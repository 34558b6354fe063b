import Crypto
import Foundation
import Logging
import NIOCore
import PostgresNIO
import StrataCodec
import StrataCore
import StrataServer
import StrataStore

/// A project's attachment bytes in PostgreSQL (ARCHITECTURE.md, "Attachment bytes on
/// PostgreSQL"): the blobs its log references (`strata_blob_refs`, recorded on push), one row
/// per blob held whole or in part (`strata_blobs`), and its bytes as chunks of at most
/// `maxChunk` bytes keyed by their offset (`strata_blob_chunks`).
///
/// > Invariant: `strata_blobs.whole` is true only once every byte is stored and the bytes
/// > hashed to the name. Pieces are appended under the blob row's lock at exactly the held
/// > offset, so uploads through several servers at once neither interleave nor leave a gap;
/// > bytes that do not hash to the name are deleted in the transaction that finds it.
extension PostgresProjectStorage: ProjectBlobStorage {
    /// The largest chunk row: a piece is split into chunks of at most this size (and a read
    /// looks for the chunk holding an offset no further back than this).
    static let maxChunk = 1 << 20
    /// Chunks read per statement when the hash state of a held prefix is rebuilt.
    static let rebuildBatch = 16

    public func referencedSize(of hash: BlobHash) async throws -> UInt64? {
        let logger = storage.logger
        let (name, h) = (self.name, ByteBuffer(bytes: hash.bytes))
        return try await storage.query("read the project") { c in
            for try await size in try await c.query(
                "SELECT size FROM strata_blob_refs WHERE project = \(name) AND hash = \(h)", logger: logger
            ).decode(Int64.self) {
                return UInt64(size)
            }
            return nil
        }
    }

    public func blobPresence(of hash: BlobHash) async throws -> BlobPresence {
        let logger = storage.logger
        let (name, h) = (self.name, ByteBuffer(bytes: hash.bytes))
        return try await storage.query("read the project") { c in
            for try await (held, whole) in try await c.query(
                "SELECT held, whole FROM strata_blobs WHERE project = \(name) AND hash = \(h)", logger: logger
            ).decode((Int64, Bool).self) {
                if whole { return .present }
                return held > 0 ? .partial(bytes: UInt64(held)) : .missing
            }
            return .missing
        }
    }

    public func blobBytesHeld() async throws -> UInt64 {
        let logger = storage.logger
        let name = self.name
        return try await storage.query("read the project") { c in
            for try await n in try await c.query(
                "SELECT coalesce(sum(held), 0)::int8 FROM strata_blobs WHERE project = \(name)", logger: logger
            ).decode(Int64.self) {
                return UInt64(n)
            }
            return 0
        }
    }

    /// What a piece did, decided inside its transaction.
    enum Received: Sendable {
        case held(BlobPresence, generation: Int64, hasher: HashState?)
        case hashMismatch(actual: BlobHash)
    }

    /// Appends a piece under the blob row's lock. The hash state comes from this process's
    /// `HashStates` when it last wrote the held offset of this upload (the usual case: one
    /// PUT's pieces); otherwise (a resume through another server, a restart) it is rebuilt by
    /// reading the held chunks once, in order.
    public func receiveBlob(_ hash: BlobHash, size: UInt64, offset: UInt64, bytes: [UInt8]) async throws -> BlobPresence {
        let logger = storage.logger
        let name = self.name
        let h = ByteBuffer(bytes: hash.bytes)
        let states = storage.hashStates
        let key = HashStates.Key(project: name, hash: hash)
        let result: Received = try await storage.inTransaction("write the attachment") { c in
            if offset == 0 {
                try await c.query(
                    """
                    INSERT INTO strata_blobs(project, hash, size) VALUES (\(name), \(h), \(Int64(size)))
                    ON CONFLICT DO NOTHING
                    """, logger: logger)
            }
            var row: (size: Int64, held: Int64, whole: Bool, generation: Int64)? = nil
            for try await r in try await c.query(
                "SELECT size, held, whole, generation FROM strata_blobs WHERE project = \(name) AND hash = \(h) FOR UPDATE",
                logger: logger
            ).decode((Int64, Int64, Bool, Int64).self) {
                row = (r.0, r.1, r.2, r.3)
            }
            guard let row else { throw StoreError(.blobOffsetMismatch(hash: hash.hex, held: 0, offered: offset)) }
            if row.whole { return .held(.present, generation: row.generation, hasher: nil) }
            guard UInt64(row.held) == offset else {
                throw StoreError(.blobOffsetMismatch(hash: hash.hex, held: UInt64(row.held), offered: offset))
            }
            let total = UInt64(row.size)
            let end = offset + UInt64(bytes.count)
            guard end <= total else { throw StoreError(.blobPastEnd(hash: hash.hex, size: total, end: end)) }
            if end < total {
                // A piece before the last is not waited for on disk: a crash may lose the last
                // pieces' commits (never a part of one), so a resume starts at what survived.
                // The last piece's commit is durable and flushes the log before it.
                try await c.query("SET LOCAL synchronous_commit = off", logger: logger)
            }
            var hasher: SHA256
            if let known = states.take(key, generation: row.generation, offset: offset) {
                hasher = known
            } else {
                hasher = try await Self.rebuildHash(c, project: name, hash: h, upTo: offset, logger: logger)
            }
            var at = 0
            // Bounded: each round stores at least one byte of the piece.
            while at < bytes.count {
                let n = min(Self.maxChunk, bytes.count - at)
                let chunk = ByteBuffer(bytes: bytes[at..<(at + n)])
                try await c.query(
                    """
                    INSERT INTO strata_blob_chunks(project, hash, start, bytes)
                    VALUES (\(name), \(h), \(Int64(offset) + Int64(at)), \(chunk))
                    """, logger: logger)
                at += n
            }
            hasher.update(data: bytes)
            guard end == total else {
                try await c.query(
                    "UPDATE strata_blobs SET held = \(Int64(end)) WHERE project = \(name) AND hash = \(h)", logger: logger)
                return .held(end == 0 ? .missing : .partial(bytes: end), generation: row.generation, hasher: HashState(hasher))
            }
            let actual = BlobHash(bytes: Array(hasher.finalize()))!
            guard actual == hash else {
                // Nothing that does not hash to the name stays: the upload starts again at 0.
                try await c.query("DELETE FROM strata_blobs WHERE project = \(name) AND hash = \(h)", logger: logger)
                return .hashMismatch(actual: actual)
            }
            try await c.query(
                "UPDATE strata_blobs SET held = \(Int64(end)), whole = true WHERE project = \(name) AND hash = \(h)", logger: logger)
            return .held(.present, generation: row.generation, hasher: nil)
        }
        switch result {
        case .hashMismatch(let actual):
            states.forget(key)
            throw StoreError(.blobHashMismatch(hash: hash.hex, actual: actual.hex))
        case .held(let presence, let generation, let hasher):
            if case .partial(let n) = presence, let hasher {
                states.keep(key, generation: generation, offset: n, hasher: hasher.hasher)
            } else {
                states.forget(key)
            }
            return presence
        }
    }

    /// The SHA-256 state after the first `offset` bytes held of a blob, read chunk by chunk in
    /// order (the caller holds the blob row's lock, so they cannot change meanwhile).
    static func rebuildHash(_ c: PostgresConnection, project: String, hash h: ByteBuffer, upTo offset: UInt64, logger: Logger)
        async throws -> SHA256
    {
        var hasher = SHA256()
        var next: Int64 = 0
        let end = Int64(offset)
        // Bounded: each round reads at least one chunk of a prefix of `offset` bytes.
        while next < end {
            var got = false
            for try await (start, bytes) in try await c.query(
                """
                SELECT start, bytes FROM strata_blob_chunks WHERE project = \(project) AND hash = \(h) AND start >= \(next)
                ORDER BY start LIMIT \(rebuildBatch)
                """, logger: logger
            ).decode((Int64, ByteBuffer).self) {
                guard start == next, start + Int64(bytes.readableBytes) <= end else {
                    throw PostgresStorageError(.verificationFailed("the held chunks of attachment \(h.hexPrefix) are not contiguous"))
                }
                hasher.update(data: bytes.readableBytesView)
                next += Int64(bytes.readableBytes)
                got = true
            }
            guard got else {
                throw PostgresStorageError(.verificationFailed("attachment \(h.hexPrefix) holds fewer bytes than its row says"))
            }
        }
        return hasher
    }

    /// Reads `offset ..< offset + maxBytes` of a blob held whole, in one query: the blob's row
    /// joined to the chunks that overlap the range, each cut in SQL (`substring` of an
    /// uncompressed out-of-line value reads only the pages it needs). The row comes back even when
    /// no chunk overlaps (an empty range, or an offset past the end), so its size tells which.
    public func readBlob(_ hash: BlobHash, from offset: UInt64, maxBytes: Int) async throws -> [UInt8] {
        let logger = storage.logger
        let name = self.name
        let h = ByteBuffer(bytes: hash.bytes)
        let from = Int64(offset)
        let want = Int64(maxBytes)
        let reach = Int64(Self.maxChunk)
        return try await storage.query("read the attachment") { c in
            var size: Int64? = nil
            var out: [UInt8] = []
            var gap = false
            for try await (s, start, piece) in try await c.query(
                """
                SELECT b.size, k.start,
                       substring(k.bytes FROM (greatest(\(from) - k.start, 0) + 1)::int4
                                         FOR (least(b.size, \(from) + \(want)) - greatest(k.start, \(from)))::int4)
                FROM strata_blobs b
                LEFT JOIN strata_blob_chunks k
                  ON k.project = b.project AND k.hash = b.hash
                 AND \(from) <= b.size AND k.start > \(from) - \(reach) AND k.start < least(b.size, \(from) + \(want))
                WHERE b.project = \(name) AND b.hash = \(h) AND b.whole
                ORDER BY k.start
                """, logger: logger
            ).decode((Int64, Int64?, ByteBuffer?).self) {
                if size == nil {
                    size = s
                    out.reserveCapacity(Int(max(0, min(s, from + want) - from)))
                }
                guard let start, let piece, !gap else { continue }
                guard max(start, from) == from + Int64(out.count) else {
                    gap = true
                    continue
                }
                out.append(contentsOf: piece.readableBytesView)
            }
            guard let size else { throw StoreError(.blobNotHere(hash: hash.hex)) }
            guard from <= size else { throw StoreError(.blobPastEnd(hash: hash.hex, size: UInt64(size), end: offset)) }
            let to = min(size, from + want)
            guard out.count == Int(to - from) else {
                throw PostgresStorageError(.verificationFailed("attachment \(hash.short) has a gap in its chunks at \(from + Int64(out.count))"))
            }
            return out
        }
    }
}

/// A SHA-256 state crossing a task boundary: `SHA256` is a value (its context is copied on
/// write) that is used by one task at a time.
struct HashState: @unchecked Sendable {
    var hasher: SHA256
    init(_ hasher: SHA256) { self.hasher = hasher }
}

/// The SHA-256 state of uploads this process is receiving, by the offset it reached: the next
/// piece of the same upload continues it instead of reading the held bytes back. Bounded in
/// count; a state that is evicted or belongs to another server is rebuilt from the chunks.
final class HashStates: @unchecked Sendable {
    struct Key: Hashable {
        var project: String
        var hash: BlobHash
    }
    struct Entry {
        var generation: Int64
        var offset: UInt64
        var hasher: SHA256
    }

    static let capacity = 256
    private let lock = NSLock()
    private var entries: [Key: Entry] = [:]

    /// The state after `offset` bytes of that generation of the blob (the row, recreated after
    /// a mismatch, gets a new one), removed from the table: the caller keeps it again after
    /// its piece commits.
    func take(_ key: Key, generation: Int64, offset: UInt64) -> SHA256? {
        lock.withLock {
            guard let e = entries[key], e.generation == generation, e.offset == offset else { return nil }
            entries[key] = nil
            return e.hasher
        }
    }

    func keep(_ key: Key, generation: Int64, offset: UInt64, hasher: SHA256) {
        lock.withLock {
            if entries[key] == nil, entries.count >= Self.capacity, let any = entries.keys.first { entries[any] = nil }
            entries[key] = Entry(generation: generation, offset: offset, hasher: hasher)
        }
    }

    func forget(_ key: Key) {
        _ = lock.withLock { entries.removeValue(forKey: key) }
    }
}

extension ByteBuffer {
    /// The first 12 hex digits, for messages.
    var hexPrefix: String { readableBytesView.prefix(6).map { String(format: "%02x", $0) }.joined() }
}

extension Change {
    /// The attachments this change assigns (what a push records as the project's references).
    var attachmentRefs: [AttachmentRef] {
        operations.compactMap { op in
            if case .assign(.attachment(let ref)) = op.action { return ref }
            return nil
        }
    }
}
