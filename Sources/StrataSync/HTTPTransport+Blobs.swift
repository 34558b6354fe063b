import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import StrataCodec
import StrataCore
import StrataStore

/// The blob phase over HTTP: JSON status, `PUT` streamed from the blob file, `GET` with
/// `Range` streamed into the store's partial file. Neither holds a blob whole in memory.
extension HTTPTransport: BlobTransport {
    /// Bytes per piece read from a file for an upload, and gathered per write of a download.
    static let blobPiece = 256 << 10

    /// A blob transfer may take long over a poor link: its deadline allows the usual timeout
    /// plus a floor rate of 1 KB/s (8 kbit/s), so a 3 MB photo at 64 kbit/s (6 minutes) fits.
    func transferDeadline(bytes: UInt64) -> NIODeadline {
        .now() + timeout + .seconds(Int64(min(bytes / 1000, 1 << 30)))
    }

    public func blobStatus(_ hashes: [BlobHash]) async throws -> [BlobStatus] {
        let body = try JSONEncoder().encode(BlobStatusRequest(hashes))
        let data = try await send("/blobs/status", method: .POST, mediaType: "application/json", body: Array(body))
        guard let answer = try? JSONDecoder().decode(BlobStatusResponse.self, from: Data(data)),
            answer.blobs.map(\.hash) == hashes.map(\.hex)
        else {
            throw SyncClientError("the server's attachment status answer is not what Strata expects")
        }
        return answer.blobs
    }

    public func uploadBlob(
        _ hash: BlobHash, size: UInt64, from offset: UInt64, reading blobs: BlobStore,
        progress: @escaping @Sendable (UInt64) -> Void
    ) async throws -> BlobUploadResult {
        var request = HTTPClientRequest(url: projectURL + "/blobs/" + hash.hex)
        request.method = .PUT
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "User-Agent", value: StrataRelease.userAgent)
        request.headers.add(name: "Content-Type", value: BlobProtocol.bytesMediaType)
        request.headers.add(name: BlobProtocol.uploadOffsetHeader, value: String(offset))
        request.headers.add(name: BlobProtocol.uploadLengthHeader, value: String(size))
        let pieces = BlobFilePieces(blobs: blobs, hash: hash, start: offset, end: size, progress: progress)
        request.body = .stream(pieces, length: .known(Int64(size - offset)))
        let response: HTTPClientResponse
        do {
            response = try await transfers.execute(request, deadline: transferDeadline(bytes: size - offset))
        } catch let e as StoreError {
            throw e
        } catch {
            throw SyncClientError(
                "the upload to \(baseURL) stopped (\(Self.describe(error))); the next sync resumes it")
        }
        let data = try await collectSmall(response)
        guard response.status.code == 200 else { throw refusal(response, data) }
        guard let result = try? JSONDecoder().decode(BlobUploadResult.self, from: Data(data)) else {
            throw SyncClientError("the server's upload answer is not what Strata expects")
        }
        return result
    }

    public func downloadBlob(
        _ hash: BlobHash, size: UInt64, from offset: UInt64, into blobs: BlobStore,
        progress: @escaping @Sendable (UInt64) -> Void
    ) async throws -> BlobPresence {
        var request = HTTPClientRequest(url: projectURL + "/blobs/" + hash.hex)
        request.method = .GET
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "User-Agent", value: StrataRelease.userAgent)
        if offset > 0 { request.headers.add(name: "Range", value: "bytes=\(offset)-") }
        let response: HTTPClientResponse
        do {
            response = try await transfers.execute(request, deadline: transferDeadline(bytes: size - offset))
        } catch {
            throw SyncClientError("cannot reach \(baseURL) (\(Self.describe(error))); the next sync downloads the attachment")
        }
        var at = offset
        switch response.status.code {
        case 206: break
        case 200:
            // The whole blob (a server or proxy that ignored the range): start again from 0.
            if offset > 0 { blobs.discardPartial(hash) }
            at = 0
        default:
            throw refusal(response, try await collectSmall(response))
        }
        let start = at
        // The partial file stays open for the whole body, and each piece NIO hands over is
        // written and hashed straight from its buffer (no copy, no open per piece). A download
        // is a copy of bytes the remote holds: it is not flushed before it is placed (the
        // store sets a torn copy aside on its next read, and it is fetched again).
        if case .present = blobs.presence(of: hash) { return .present }
        let receiver = try blobs.receiving(hash, size: size, offset: at, durable: false)
        defer { receiver.close() }
        var held = BlobPresence.partial(bytes: at)
        var reported = at
        do {
            for try await piece in response.body {
                if receiver.held + UInt64(piece.readableBytes) > size {
                    throw SyncClientError("the server sent more bytes than the attachment's \(size); the next sync starts it again")
                }
                held = try piece.withUnsafeReadableBytes { try receiver.append($0) }
                if receiver.held - reported >= UInt64(Self.blobPiece) || held == .present {
                    reported = receiver.held
                    progress(reported - start)
                }
            }
        } catch let e as StoreError {
            throw e
        } catch let e as SyncClientError {
            throw e
        } catch {
            throw SyncClientError(
                "the download from \(baseURL) stopped at byte \(receiver.held) of \(size) (\(Self.describe(error))); the next sync resumes it")
        }
        guard held == .present else {
            throw SyncClientError("the download from \(baseURL) ended at byte \(receiver.held) of \(size); the next sync resumes it")
        }
        return held
    }

    /// A short answer body (JSON, or an error), bounded.
    func collectSmall(_ response: HTTPClientResponse) async throws -> [UInt8] {
        do { return Array(try await response.body.collect(upTo: 1 << 20).readableBytesView) } catch {
            throw SyncClientError("the connection to \(baseURL) broke during the transfer (\(Self.describe(error))); sync again to resume")
        }
    }

    /// The server's refusal as the person at the terminal reads it.
    func refusal(_ response: HTTPClientResponse, _ data: [UInt8]) -> SyncClientError {
        let retryAfter = response.headers.first(name: "Retry-After").flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        if let obj = try? JSONSerialization.jsonObject(with: Data(data)) as? [String: Any],
            let err = obj["error"] as? [String: Any], let message = err["message"] as? String
        {
            return SyncClientError(
                status: Int(response.status.code), code: (err["code"] as? String).map(SyncErrorCode.init(rawValue:)),
                retryAfter: retryAfter, "the server refused: \(message)")
        }
        return SyncClientError(
            status: Int(response.status.code), retryAfter: retryAfter,
            "the server answered \(response.status.code) \(response.status.reasonPhrase); is \(baseURL) a Strata server?")
    }
}

/// The bytes `start..<end` of a blob held whole, read from its file a piece at a time as the
/// upload asks for them.
struct BlobFilePieces: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let blobs: BlobStore
    let hash: BlobHash
    let start: UInt64
    let end: UInt64
    let progress: @Sendable (UInt64) -> Void

    struct AsyncIterator: AsyncIteratorProtocol {
        let source: BlobFilePieces
        var at: UInt64

        mutating func next() async throws -> ByteBuffer? {
            guard at < source.end else { return nil }
            let piece = try source.blobs.read(
                source.hash, from: at, maxBytes: Int(Swift.min(UInt64(HTTPTransport.blobPiece), source.end - at)))
            guard !piece.isEmpty else { return nil }
            at += UInt64(piece.count)
            source.progress(at - source.start)
            return ByteBuffer(bytes: piece)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(source: self, at: start) }
}
