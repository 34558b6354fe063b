import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOPosix
import StrataCodec
import StrataCore
import StrataStore

/// The attachment-bytes endpoints (SPEC §11): status as JSON, bytes as plain HTTP bodies
/// streamed from and into the blob files in pieces (never a whole blob in memory).
extension SyncHTTPServer {
    /// Bytes read from a blob file per piece of a download, and gathered per write of an upload.
    static let blobPiece = 256 << 10

    static func addBlobRoutes(to router: Router<StrataRequestContext>, service: SyncService, retryAfter: Int) {
        router.post("/v1/projects/:project/blobs/status") { request, context in
            let project = context.parameters.get("project") ?? ""
            let facts = context.facts
            facts.project = project
            var request = request
            let body = try await collect(&request, media: "application/json", limit: 256 << 10)
            if case .success(let b) = body { facts.bytesIn = b.count }
            let authorization = request.headers[.authorization]
            return try await respond(facts, retryAfter: retryAfter) {
                let answer = try await service.blobStatus(token: bearer(authorization), project: project, body: try body.get())
                let data = try JSONEncoder.sorted.encode(answer)
                return Response(status: .ok, headers: [.contentType: jsonMediaType], body: .init(byteBuffer: ByteBuffer(bytes: data)))
            }
        }
        router.get("/v1/projects/:project/blobs/:hash") { request, context in
            let project = context.parameters.get("project") ?? ""
            context.facts.project = project
            let hash = context.parameters.get("hash") ?? ""
            let authorization = request.headers[.authorization]
            let range = request.headers[.range]
            let checked: Result<BlobDownload, SyncFailure>
            do { checked = .success(try await service.blobForDownload(token: bearer(authorization), project: project, hash: hash)) } catch let f as SyncFailure {
                checked = .failure(f)
            }
            switch checked {
            case .failure(let f):
                context.facts.failure = f
                return error(f, unavailableRetryAfter: retryAfter)
            case .success(let d): return download(d, range: range)
            }
        }
        router.put("/v1/projects/:project/blobs/:hash") { request, context in
            let project = context.parameters.get("project") ?? ""
            context.facts.project = project
            let hash = context.parameters.get("hash") ?? ""
            return try await upload(request, project: project, hash: hash, service: service)
        }
    }

    /// `Range: bytes=N-` → 206 from N; no range (or another form, which RFC 9110 lets a
    /// server ignore) → 200 whole; N at or past the end → 416.
    static func download(_ d: BlobDownload, range: String?) -> Response {
        var start: UInt64 = 0
        if let range, let n = parseOpenRange(range) {
            guard n < d.size else {
                var r = error(SyncFailure(.rangeNotSatisfiable(offset: n, size: d.size)))
                r.headers[.contentRange] = "bytes */\(d.size)"
                return r
            }
            start = n
        }
        var headers: HTTPFields = [.contentType: BlobProtocol.bytesMediaType, .acceptRanges: "bytes"]
        if start > 0 { headers[.contentRange] = "bytes \(start)-\(d.size - 1)/\(d.size)" }
        let length = d.size - start
        let first = start
        let body = ResponseBody(contentLength: Int(length)) { writer in
            var sent: UInt64 = 0
            try await d.storage.streamBlob(d.hash, from: first, piece: blobPiece) { piece in
                sent += UInt64(piece.readableBytes)
                try await writer.write(piece)
            }
            guard sent == length else { throw SyncFailure(.storage(what: "read the attachment", logged: false)) }
            try await writer.finish(nil)
        }
        return Response(status: start > 0 ? .partialContent : .ok, headers: headers, body: body)
    }

    /// `bytes=N-` (the only form the protocol uses), else nil.
    static func parseOpenRange(_ header: String) -> UInt64? {
        let h = header.trimmingCharacters(in: .whitespaces)
        guard h.lowercased().hasPrefix("bytes="), h.hasSuffix("-") else { return nil }
        let digits = h.dropFirst(6).dropLast()
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber) else { return nil }
        return UInt64(digits)
    }

    /// Streams a `PUT` body into the blob store in pieces of about `blobPiece` bytes. When the
    /// body stops early (a cut link), what arrived is written first, so the next status says
    /// where to resume to the byte.
    static func upload(_ request: Request, project: String, hash: String, service: SyncService) async throws -> Response {
        let authorization = request.headers[.authorization]
        let type = request.headers[.contentType]?.split(separator: ";").first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        let offset = request.headers[HTTPField.Name(BlobProtocol.uploadOffsetHeader)!].flatMap { UInt64($0) }
        let length = request.headers[HTTPField.Name(BlobProtocol.uploadLengthHeader)!].flatMap { UInt64($0) }
        let declared = request.headers[.contentLength].flatMap { UInt64($0) }
        let checked: Result<BlobUpload, SyncFailure>
        do {
            checked = .success(try await {
                let u = try await service.blobForUpload(
                    token: bearer(authorization), project: project, hash: hash, offset: offset, length: length)
                guard type == BlobProtocol.bytesMediaType else {
                    throw SyncFailure(.unsupportedMediaType(expected: BlobProtocol.bytesMediaType, got: type))
                }
                if let declared, !u.alreadyPresent, u.offset + declared > u.size {
                    throw SyncFailure(.badBlobRequest(problem: "the body runs past the attachment's \(u.size) bytes"))
                }
                return u
            }())
        } catch let f as SyncFailure { checked = .failure(f) }
        let up: BlobUpload
        switch checked {
        case .failure(let f): return error(f)
        case .success(let u): up = u
        }
        if up.alreadyPresent { return uploaded(up, .present) }
        var at = up.offset
        var held = BlobPresence.partial(bytes: at)
        var pending: [UInt8] = []
        pending.reserveCapacity(blobPiece)
        func flush() async throws(SyncFailure) {
            guard !pending.isEmpty || at == up.size else { return }
            let bytes = pending
            let from = at
            // In a task of its own: a cut connection may cancel the handler's task, and the bytes
            // that arrived must still be written (BL-PUT-03).
            let result: Result<BlobPresence, SyncFailure> = await Task {
                do throws(SyncFailure) { return .success(try await service.receive(up, at: from, bytes: bytes)) } catch {
                    return .failure(error)
                }
            }.value
            held = try result.get()
            at += UInt64(bytes.count)
            pending.removeAll(keepingCapacity: true)
        }
        // After a cut the handler's task may be cancelled, and work awaited in it would then not
        // run: what arrived is written in a task of its own (once, at most one piece).
        func keepWhatArrived() async {
            guard !pending.isEmpty else { return }
            let bytes = pending
            let from = at
            if await Task(operation: { (try? await service.receive(up, at: from, bytes: bytes)) != nil }).value {
                at += UInt64(bytes.count)
            }
            pending.removeAll()
        }
        do {
            for try await piece in request.body {
                pending.append(contentsOf: piece.readableBytesView)
                if pending.count >= blobPiece { try await flush() }
            }
            try await flush()
        } catch let f as SyncFailure {
            return error(f)
        } catch let e as RequestDeadlineExceeded {
            await keepWhatArrived()
            return error(SyncFailure(.requestTimeout(seconds: e.seconds)))
        } catch {
            // The body stopped (a cut connection): keep what arrived; nobody reads the answer.
            await keepWhatArrived()
            throw error
        }
        return uploaded(up, held)
    }

    static func uploaded(_ up: BlobUpload, _ held: BlobPresence) -> Response {
        let result: BlobUploadResult
        switch held {
        case .present: result = BlobUploadResult(hash: up.hash.hex, state: .present, bytes: up.size)
        case .partial(let n): result = BlobUploadResult(hash: up.hash.hex, state: .partial, bytes: n)
        case .missing: result = BlobUploadResult(hash: up.hash.hex, state: .missing, bytes: 0)
        }
        let data = (try? JSONEncoder.sorted.encode(result)) ?? Data("{}".utf8)
        var headers: HTTPFields = [.contentType: jsonMediaType]
        headers[HTTPField.Name(BlobProtocol.uploadOffsetHeader)!] = String(result.bytes)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
