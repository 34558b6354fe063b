import Foundation
import StrataCodec
import StrataCore
import StrataServer
import StrataStore
import StrataSync

/// The blob phase in process: the service's checks and storage behind function calls, the
/// bytes moved in the pieces the HTTP edge uses, failures as the HTTP transport reports them.
extension InProcessTransport: BlobTransport {
    static let piece = 1 << 20

    public func blobStatus(_ hashes: [BlobHash]) async throws -> [BlobStatus] {
        let body = Array(try JSONEncoder().encode(BlobStatusRequest(hashes)))
        let answer = try await call { () async throws(SyncFailure) in try await service.blobStatus(token: token, project: project, body: body) }
        return try JSONDecoder().decode(BlobStatusResponse.self, from: JSONEncoder().encode(answer)).blobs
    }

    public func uploadBlob(
        _ hash: BlobHash, size: UInt64, from offset: UInt64, reading blobs: BlobStore,
        progress: @escaping @Sendable (UInt64) -> Void
    ) async throws -> BlobUploadResult {
        let up = try await call { () async throws(SyncFailure) in
            try await service.blobForUpload(token: token, project: project, hash: hash.hex, offset: offset, length: size)
        }
        if up.alreadyPresent { return BlobUploadResult(hash: hash.hex, state: .present, bytes: size) }
        var at = offset
        var held = BlobPresence.partial(bytes: at)
        for _ in 0...(size / UInt64(Self.piece) + 1) where at < size {
            let bytes = try blobs.read(hash, from: at, maxBytes: Self.piece)
            let from = at
            held = try await call { () async throws(SyncFailure) in try await service.receive(up, at: from, bytes: bytes) }
            at += UInt64(bytes.count)
            progress(at - offset)
        }
        if held == .present { return BlobUploadResult(hash: hash.hex, state: .present, bytes: size) }
        return BlobUploadResult(hash: hash.hex, state: .partial, bytes: at)
    }

    public func downloadBlob(
        _ hash: BlobHash, size: UInt64, from offset: UInt64, into blobs: BlobStore,
        progress: @escaping @Sendable (UInt64) -> Void
    ) async throws -> BlobPresence {
        let d = try await call { () async throws(SyncFailure) in try await service.blobForDownload(token: token, project: project, hash: hash.hex) }
        guard offset < d.size else {
            throw call(failure: SyncFailure(.rangeNotSatisfiable(offset: offset, size: d.size)))
        }
        var at = offset
        var held = BlobPresence.partial(bytes: at)
        for _ in 0...(size / UInt64(Self.piece) + 1) where at < d.size {
            let bytes: [UInt8]
            do { bytes = try await d.storage.readBlob(hash, from: at, maxBytes: Self.piece) } catch {
                throw call(failure: SyncFailure(.storage(what: "read the attachment", logged: false)))
            }
            held = try blobs.receive(hash, size: size, offset: at, bytes: bytes)
            at += UInt64(bytes.count)
            progress(at - offset)
        }
        return held
    }

    func call(failure: SyncFailure) -> SyncClientError {
        SyncClientError(
            status: SyncHTTPServer.status(of: failure), code: failure.code, retryAfter: failure.retryAfter,
            "the server refused: \(failure.message)")
    }
}
