import Foundation
import StrataCodec
import StrataCore
import StrataStore

/// A download the service allowed: the blob is referenced by the project and held whole.
public struct BlobDownload: Sendable {
    public let storage: any ProjectBlobStorage
    public let hash: BlobHash
    public let size: UInt64
}

/// An upload the service allowed, from `offset` (what the server holds) to `size`.
public struct BlobUpload: Sendable {
    public let storage: any ProjectBlobStorage
    public let hash: BlobHash
    public let size: UInt64
    public let offset: UInt64
    /// The server holds the blob whole already: the body is not needed.
    public let alreadyPresent: Bool
}

/// The attachment-bytes side of the protocol (SPEC §11), without HTTP: which blobs a project
/// references and holds, and the checks before bytes move either way. A blob is served or
/// accepted only for a token of a project whose records reference it.
extension SyncService {
    /// `POST …/blobs/status` (read role).
    public func blobStatus(token: String?, project: String, body: [UInt8]) async throws(SyncFailure) -> BlobStatusResponse {
        let (_, storage) = try await authorize(token: token, project: project, needs: .read)
        let blobs = try blobStorage(storage)
        let request: BlobStatusRequest
        do { request = try JSONDecoder().decode(BlobStatusRequest.self, from: Data(body)) } catch {
            throw SyncFailure(.badBlobRequest(problem: "the status request must be JSON {\"hashes\":[\"<64 hex digits>\",…]}"))
        }
        guard request.hashes.count <= BlobProtocol.maxStatusHashes else {
            throw SyncFailure(
                .badBlobRequest(
                    problem: "the status request names \(request.hashes.count) hashes; at most \(BlobProtocol.maxStatusHashes) per request"))
        }
        var out: [BlobStatus] = []
        out.reserveCapacity(request.hashes.count)
        for text in request.hashes {
            let hash = try Self.parseHash(text)
            let referenced: UInt64?
            do { referenced = try await blobs.referencedSize(of: hash) } catch {
                throw SyncFailure(.storage(what: "read the project", logged: true))
            }
            guard let size = referenced else {
                out.append(BlobStatus(hash: hash.hex, state: .unreferenced, bytes: 0))
                continue
            }
            switch try await presence(blobs, hash) {
            case .present: out.append(BlobStatus(hash: hash.hex, state: .present, bytes: size))
            case .partial(let n): out.append(BlobStatus(hash: hash.hex, state: .partial, bytes: n))
            case .missing: out.append(BlobStatus(hash: hash.hex, state: .missing, bytes: 0))
            }
        }
        return BlobStatusResponse(blobs: out)
    }

    /// `GET …/blobs/{hash}` (read role): the blob when a record references it and it is held whole.
    public func blobForDownload(token: String?, project: String, hash text: String) async throws(SyncFailure) -> BlobDownload {
        let (_, storage) = try await authorize(token: token, project: project, needs: .read)
        let blobs = try blobStorage(storage)
        let hash = try Self.parseHash(text)
        let referenced: UInt64?
        do { referenced = try await blobs.referencedSize(of: hash) } catch {
            throw SyncFailure(.storage(what: "read the project", logged: true))
        }
        guard let size = referenced, try await presence(blobs, hash) == .present else {
            throw SyncFailure(.blobNotFound(hash: hash.hex))
        }
        return BlobDownload(storage: blobs, hash: hash, size: size)
    }

    /// `PUT …/blobs/{hash}` (write role): checks an upload from `offset` of `length` bytes.
    public func blobForUpload(token: String?, project: String, hash text: String, offset: UInt64?, length: UInt64?)
        async throws(SyncFailure) -> BlobUpload
    {
        let (_, storage) = try await authorize(token: token, project: project, needs: .write)
        let blobs = try blobStorage(storage)
        let hash = try Self.parseHash(text)
        guard let offset, let length else {
            throw SyncFailure(
                .badBlobRequest(
                    problem: "an upload needs the headers \(BlobProtocol.uploadOffsetHeader) and \(BlobProtocol.uploadLengthHeader) (decimal byte counts)"))
        }
        let referenced: UInt64?
        do { referenced = try await blobs.referencedSize(of: hash) } catch {
            throw SyncFailure(.storage(what: "read the project", logged: true))
        }
        guard let size = referenced else { throw SyncFailure(.blobNotFound(hash: hash.hex)) }
        guard length == size else { throw SyncFailure(.sizeMismatch(referenced: size, declared: length)) }
        guard size <= limits.maxBlobBytes else { throw SyncFailure(.blobTooLarge(size: size, limit: limits.maxBlobBytes)) }
        let held: UInt64
        switch try await presence(blobs, hash) {
        case .present: return BlobUpload(storage: blobs, hash: hash, size: size, offset: size, alreadyPresent: true)
        case .partial(let n): held = n
        case .missing: held = 0
        }
        guard offset == held else { throw SyncFailure(.offsetMismatch(held: held, offered: offset)) }
        let total: UInt64
        do { total = try await blobs.blobBytesHeld() } catch { throw SyncFailure(.storage(what: "read the project", logged: true)) }
        if total + (size - held) > limits.maxProjectBlobBytes {
            throw SyncFailure(.projectFull(held: total, adding: size - held, limit: limits.maxProjectBlobBytes))
        }
        return BlobUpload(storage: blobs, hash: hash, size: size, offset: held, alreadyPresent: false)
    }

    /// Appends the next piece of an allowed upload at `offset`; returns what is held after it.
    public func receive(_ upload: BlobUpload, at offset: UInt64, bytes: [UInt8]) async throws(SyncFailure) -> BlobPresence {
        if offset + UInt64(bytes.count) > upload.size {
            throw SyncFailure(.badBlobRequest(problem: "the body runs past the attachment's \(upload.size) bytes"))
        }
        do {
            return try await upload.storage.receiveBlob(upload.hash, size: upload.size, offset: offset, bytes: bytes)
        } catch let e as StoreError {
            switch e.kind {
            case .blobOffsetMismatch(_, let held, let offered): throw SyncFailure(.offsetMismatch(held: held, offered: offered))
            case .blobHashMismatch: throw SyncFailure(.hashMismatch(hash: upload.hash.hex))
            default: throw SyncFailure(.storage(what: "write the attachment", logged: true))
            }
        } catch {
            throw SyncFailure(.storage(what: "write the attachment", logged: true))
        }
    }

    func presence(_ blobs: any ProjectBlobStorage, _ hash: BlobHash) async throws(SyncFailure) -> BlobPresence {
        do { return try await blobs.blobPresence(of: hash) } catch { throw SyncFailure(.storage(what: "read the project", logged: true)) }
    }

    func blobStorage(_ storage: any ProjectStorage) throws(SyncFailure) -> any ProjectBlobStorage {
        guard let blobs = storage.blobs else { throw SyncFailure(.noAttachments) }
        return blobs
    }

    static func parseHash(_ text: String) throws(SyncFailure) -> BlobHash {
        guard text.utf8.count == 64, let hash = BlobHash(hex: text) else {
            throw SyncFailure(.badBlobRequest(problem: "'\(text.prefix(80))' is not a blob hash (64 hex digits of SHA-256)"))
        }
        return hash
    }
}
