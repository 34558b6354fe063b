import StrataCodec
import StrataCore
import StrataStore

/// How the blob phase of a sync reaches a server (SPEC §11): what it holds of some blobs, and
/// the bytes each way, streamed in pieces between the wire and the store's blob files.
/// `HTTPTransport` is the real one; the test-support target's in-process transport another.
public protocol BlobTransport: Sendable {
    /// What the server holds of each blob, in the order asked (at most
    /// `BlobProtocol.maxStatusHashes` per call).
    func blobStatus(_ hashes: [BlobHash]) async throws -> [BlobStatus]
    /// Sends bytes `offset..<size` of a blob this replica holds whole; returns what the
    /// server holds once they are in. `progress` gets the bytes sent so far.
    func uploadBlob(
        _ hash: BlobHash, size: UInt64, from offset: UInt64, reading blobs: BlobStore,
        progress: @escaping @Sendable (UInt64) -> Void
    ) async throws -> BlobUploadResult
    /// Receives the blob from `offset` (what this replica holds of it) into `blobs`, which
    /// verifies and places it once whole. A cut keeps what arrived. `progress` gets the bytes
    /// received so far.
    func downloadBlob(
        _ hash: BlobHash, size: UInt64, from offset: UInt64, into blobs: BlobStore,
        progress: @escaping @Sendable (UInt64) -> Void
    ) async throws -> BlobPresence
}
