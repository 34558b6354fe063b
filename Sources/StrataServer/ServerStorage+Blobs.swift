import NIOCore
import NIOPosix
import StrataCore
import StrataStore

/// What the attachment-bytes endpoints (SPEC §11) need of one project's storage: which blobs
/// its records reference, and the blob bytes themselves (`BlobStore` semantics: a blob is
/// held whole and verified, in part while a transfer is under way, or not at all).
///
/// The methods are `async`, as `ServerStorage`'s are: PostgreSQL awaits its answers, and the
/// blob files of a `Store` are read and written on NIO's pool for blocking work.
///
/// > Invariant: a blob is served or accepted only when a record of the project references it
/// > (`referencedSize`), so knowing a hash is not enough to read or fill another project's blob.
public protocol ProjectBlobStorage: Sendable {
    /// The size records of this project give the blob, or nil when none references it.
    func referencedSize(of hash: BlobHash) async throws -> UInt64?
    /// How much of the blob is held.
    func blobPresence(of hash: BlobHash) async throws -> BlobPresence
    /// Appends the next piece of a blob at `offset` (what is held); verifies and places it
    /// when `size` bytes are held. Throws `StoreError` (offset mismatch, hash mismatch, write
    /// failure) and leaves nothing under the hash that is not whole and verified.
    func receiveBlob(_ hash: BlobHash, size: UInt64, offset: UInt64, bytes: [UInt8]) async throws -> BlobPresence
    /// At most `maxBytes` of a blob held whole, from `offset`.
    func readBlob(_ hash: BlobHash, from offset: UInt64, maxBytes: Int) async throws -> [UInt8]
    /// Bytes of blobs held (whole or in part): what the per-project limit bounds.
    func blobBytesHeld() async throws -> UInt64
    /// Hands a blob held whole to `write` from `offset` to its end, in order, in pieces of at
    /// most `piece` bytes, verified as ``readBlob(_:from:maxBytes:)`` is (the piece that reaches
    /// the end comes only once the whole blob hashed to its name). What a download streams.
    func streamBlob(_ hash: BlobHash, from offset: UInt64, piece: Int, to write: (ByteBuffer) async throws -> Void) async throws
}

extension ProjectBlobStorage {
    /// Piece by piece through ``readBlob(_:from:maxBytes:)``: one read per piece.
    public func streamBlob(_ hash: BlobHash, from offset: UInt64, piece: Int, to write: (ByteBuffer) async throws -> Void)
        async throws
    {
        var at = offset
        // At most one iteration per piece of the largest blob a server takes, and the end.
        for _ in 0...(Int(UInt32.max) / max(1, piece) + 1) {
            let bytes = try await readBlob(hash, from: at, maxBytes: piece)
            if bytes.isEmpty { return }
            try await write(ByteBuffer(bytes: bytes))
            at += UInt64(bytes.count)
        }
    }
}

extension ProjectStorage {
    /// The project's blobs, or nil when this storage keeps no attachment bytes (the endpoints
    /// then answer 404 `no-attachments`).
    public var blobs: (any ProjectBlobStorage)? { self as? any ProjectBlobStorage }
}

/// A `Store`'s blobs (beside its file) as a project's blob storage: the SQLite team storage
/// and `strata serve --peer`.
extension StoreProjectStorage: ProjectBlobStorage {
    public func referencedSize(of hash: BlobHash) throws -> UInt64? { try store.references(hash)?.size }
    public func blobPresence(of hash: BlobHash) -> BlobPresence { store.blobs.presence(of: hash) }
    public func receiveBlob(_ hash: BlobHash, size: UInt64, offset: UInt64, bytes: [UInt8]) async throws -> BlobPresence {
        let blobs = store.blobs
        return try await NIOThreadPool.singleton.runIfActive { try blobs.receive(hash, size: size, offset: offset, bytes: bytes) }
    }
    public func readBlob(_ hash: BlobHash, from offset: UInt64, maxBytes: Int) async throws -> [UInt8] {
        let blobs = store.blobs
        return try await NIOThreadPool.singleton.runIfActive { try blobs.read(hash, from: offset, maxBytes: maxBytes) }
    }
    public func blobBytesHeld() throws -> UInt64 { store.blobs.bytesHeld() }

    /// From one open file, read (and hashed) on NIO's blocking pool straight into the buffers
    /// the response writes, the next piece read while the last one is written.
    public func streamBlob(_ hash: BlobHash, from offset: UInt64, piece: Int, to write: (ByteBuffer) async throws -> Void)
        async throws
    {
        let blobs = store.blobs
        let pool = NIOThreadPool.singleton
        let reader = try await pool.runIfActive { try blobs.openReader(hash, from: offset) }
        defer { reader.close() }
        let size = max(1, piece)
        @Sendable func next() async throws -> ByteBuffer {
            try await pool.runIfActive {
                var buffer = ByteBufferAllocator().buffer(capacity: size)
                _ = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) {
                    try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<size]))
                }
                return buffer
            }
        }
        var current = try await next()
        // One iteration per piece; `remaining` is read only while no read is under way.
        while current.readableBytes > 0 {
            if reader.remaining == 0 {
                try await write(current)
                return
            }
            async let ahead = next()
            try await write(current)
            current = try await ahead
        }
    }
}
