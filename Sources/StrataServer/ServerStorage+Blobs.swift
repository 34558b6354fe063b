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
}
