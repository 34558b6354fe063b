import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import StrataCodec
import StrataCore

/// The HTTP edge of the sync protocol (Protocol/SPEC.md, "Sync protocol"): routes, body
/// limits, media types, and the mapping of failures to statuses and JSON error bodies.
public enum SyncHTTPServer {
    public static let jsonMediaType = "application/json; charset=utf-8"

    /// Builds the router for a service.
    public static func router(service: SyncService, logger: Logger) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: AccessLog(logger: logger))
        router.add(middleware: JSONErrors())

        router.get("/v1/health") { _, _ in
            json(200, ["status": "ok", "protocol": [Int(SyncCodec.protocolVersion)], "server": "strata"])
        }
        // For operators and load balancers: the process answers (healthz); its storage can be
        // read now (readyz, 503 with Retry-After when not). Neither needs a token or says more.
        router.get("/healthz") { _, _ in json(200, ["status": "ok"]) }
        router.get("/readyz") { _, _ in
            try await NIOThreadPool.singleton.runIfActive {
                do {
                    try service.storage.checkReady()
                    return json(200, ["status": "ready"])
                } catch {
                    var response = json(503, ["status": "unavailable", "reason": "the server's storage cannot be read; see its log"])
                    response.headers[.retryAfter] = "5"
                    return response
                }
            }
        }
        router.get("/v1/projects/:project/session") { request, context in
            let project = context.parameters.get("project") ?? ""
            let authorization = request.headers[.authorization]
            return try await offload {
                let info = try service.session(token: bearer(authorization), project: project)
                let data = try JSONEncoder.sorted.encode(info)
                return Response(
                    status: .ok, headers: [.contentType: jsonMediaType], body: .init(byteBuffer: ByteBuffer(bytes: data)))
            }
        }
        router.post("/v1/projects/:project/pull") { request, context in
            let project = context.parameters.get("project") ?? ""
            var request = request
            let body = try await collect(&request, media: SyncCodec.pullRequestMediaType, limit: service.limits.maxBodyBytes)
            let authorization = request.headers[.authorization]
            return try await offload {
                let token = try bearer(authorization)
                let response = try service.pull(token: token, project: project, body: try body.get())
                let bytes = SyncCodec.encode(response)
                return Response(
                    status: .ok, headers: [.contentType: SyncCodec.pullResponseMediaType],
                    body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
            }
        }
        router.post("/v1/projects/:project/push") { request, context in
            let project = context.parameters.get("project") ?? ""
            var request = request
            let body = try await collect(&request, media: SyncCodec.changeSetMediaType, limit: service.limits.maxBodyBytes)
            let authorization = request.headers[.authorization]
            return try await offload {
                let token = try bearer(authorization)
                let result = try service.push(token: token, project: project, body: try body.get())
                let data = try JSONEncoder.sorted.encode(result)
                return Response(
                    status: .ok, headers: [.contentType: jsonMediaType], body: .init(byteBuffer: ByteBuffer(bytes: data)))
            }
        }
        addBlobRoutes(to: router, service: service)
        // Any other protocol version or path: say which version this server speaks.
        for method in ["GET", "POST", "PUT", "DELETE"] {
            router.on("/**", method: HTTPRequest.Method(method)!) { request, _ in
                let path = request.uri.path
                if path.hasPrefix("/v"), !path.hasPrefix("/v1/") {
                    return error(SyncFailure(.unsupportedProtocol))
                }
                return error(SyncFailure(.noSuchEndpoint(method: "\(request.method)", path: path)))
            }
        }
        return router
    }

    /// Reads the body up to `limit` bytes, checking the media type. Errors are returned as a
    /// value so that authentication is still checked first by `respond`.
    static func collect(_ request: inout Request, media: String, limit: Int) async throws -> Result<[UInt8], SyncFailure> {
        let type = request.headers[.contentType]?.split(separator: ";").first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        guard type == media else {
            return .failure(SyncFailure(.unsupportedMediaType(expected: media, got: type)))
        }
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > limit {
            return .failure(SyncFailure(.bodyTooLarge(declared: declared, limit: limit)))
        }
        do {
            let buffer = try await request.collectBody(upTo: limit)
            return .success(Array(buffer.readableBytesView))
        } catch let e as HTTPError where e.status == .contentTooLarge {
            return .failure(SyncFailure(.bodyTooLarge(declared: nil, limit: limit)))
        } catch let e as RequestDeadlineExceeded {
            // The deadline handler has answered 408 and is closing the connection.
            return .failure(SyncFailure(.requestTimeout(seconds: e.seconds)))
        }
    }

    static func bearer(_ authorization: String?) throws(SyncFailure) -> String? {
        guard let h = authorization else { return nil }
        let parts = h.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw SyncFailure(.malformedAuthorization)
        }
        return String(parts[1]).trimmingCharacters(in: .whitespaces)
    }

    static func respond(_ body: () throws -> Response) throws -> Response {
        do { return try body() } catch let f as SyncFailure { return error(f) }
    }

    /// `respond` on NIO's pool for blocking work: the store's SQLite reads and writes (with
    /// their fsyncs) and the change-set deflate never hold the threads that serve connections
    /// and run Swift concurrency, so one slow push does not stall every other request.
    static func offload(_ body: @escaping @Sendable () throws -> Response) async throws -> Response {
        try await NIOThreadPool.singleton.runIfActive { try respond(body) }
    }

    /// The HTTP status of a failure (SPEC §10.4): the one place kinds become statuses.
    public static func status(of f: SyncFailure) -> Int {
        switch f.kind {
        case .noToken, .malformedAuthorization, .unknownToken: 401
        case .wrongProject, .roleTooLow, .foreignAuthor: 403
        case .noSuchProject, .noSuchEndpoint, .unsupportedProtocol: 404
        case .unsupportedMediaType: 415
        case .bodyTooLarge: 413
        case .requestTimeout: 408
        case .rateLimited: 429
        case .undecodable(let e, _): e.code == SyncErrorCode.tooLarge.rawValue ? 413 : 400
        case .invalidChange: 400
        case .clockSkew: 422
        case .badRequest(let status): status
        case .storage: 500
        case .unanswered(let status): status
        case .noAttachments, .blobNotFound: 404
        case .badBlobRequest: 400
        case .rangeNotSatisfiable: 416
        case .offsetMismatch: 409
        case .hashMismatch, .sizeMismatch: 422
        case .blobTooLarge, .projectFull: 413
        }
    }

    static func error(_ f: SyncFailure) -> Response {
        var headers: HTTPFields = [.contentType: jsonMediaType]
        if let wait = f.retryAfter { headers[.retryAfter] = String(wait) }
        if case .requestTimeout = f.kind { headers[.connection] = "close" }
        if case .offsetMismatch(let held, _) = f.kind { headers[HTTPField.Name(BlobProtocol.uploadOffsetHeader)!] = String(held) }
        return Response(
            status: .init(code: status(of: f)), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: errorBody(f))))
    }

    /// The JSON error body: `{"error":{"code":…,"message":…}}`.
    static func errorBody(_ f: SyncFailure) -> [UInt8] {
        Array((try? JSONEncoder.sorted.encode(["error": ["code": f.code.rawValue, "message": f.message]])) ?? Data("{}".utf8))
    }

    static func json(_ status: Int, _ object: [String: any Sendable]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(
            status: .init(code: status), headers: [.contentType: jsonMediaType],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}

/// Errors raised outside the handlers (a known path with another method, which the router
/// answers with a bare 404; a body it could not read) become JSON errors like every other.
struct JSONErrors<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let e as HTTPError {
            let status = Int(e.status.code)
            switch status {
            case 404:
                return SyncHTTPServer.error(SyncFailure(.noSuchEndpoint(method: "\(request.method)", path: request.uri.path)))
            case 413:
                return SyncHTTPServer.error(SyncFailure(.bodyTooLarge(declared: nil, limit: nil)))
            case 400..<500:
                return SyncHTTPServer.error(SyncFailure(.badRequest(status: status)))
            default:
                return SyncHTTPServer.error(SyncFailure(.unanswered(status: status)))
            }
        }
    }
}

/// One log line per request: method, path, status, duration. Never the token or the body.
struct AccessLog<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            log(request, status: Int(response.status.code), start: start)
            return response
        } catch {
            log(request, status: (error as? HTTPError).map { Int($0.status.code) } ?? 500, start: start)
            throw error
        }
    }

    func log(_ request: Request, status: Int, start: ContinuousClock.Instant) {
        let ms = (ContinuousClock.now - start) / .milliseconds(1)
        logger.info(
            "request",
            metadata: [
                "method": "\(request.method)", "path": "\(request.uri.path)", "status": "\(status)",
                "ms": "\(String(format: "%.1f", ms))",
            ])
    }
}
