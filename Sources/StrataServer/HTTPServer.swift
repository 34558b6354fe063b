import Foundation
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
        // Any other protocol version or path: say which version this server speaks.
        for method in ["GET", "POST", "PUT", "DELETE"] {
            router.on("/**", method: HTTPRequest.Method(method)!) { request, _ in
                let path = request.uri.path
                if path.hasPrefix("/v"), !path.hasPrefix("/v1/") {
                    return error(
                        SyncFailure(
                            status: 404, code: "unsupported-protocol",
                            "this server speaks Strata sync protocol 1 (/v1/); upgrade the server or use a matching strata"
                        ))
                }
                return error(SyncFailure(status: 404, code: "not-found", "no such endpoint: \(request.method) \(path)"))
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
            return .failure(
                SyncFailure(
                    status: 415, code: "unsupported-media-type",
                    "expected Content-Type \(media), got \(type ?? "none")"))
        }
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > limit {
            return .failure(.tooLarge("the body is \(declared) bytes; this server accepts at most \(limit)"))
        }
        do {
            let buffer = try await request.collectBody(upTo: limit)
            return .success(Array(buffer.readableBytesView))
        } catch let e as HTTPError where e.status == .contentTooLarge {
            return .failure(.tooLarge("the body is larger than the \(limit) bytes this server accepts"))
        } catch let e as RequestDeadlineExceeded {
            // The deadline handler has answered 408 and is closing the connection.
            return .failure(.requestTimeout(e.seconds))
        }
    }

    static func bearer(_ authorization: String?) throws(SyncFailure) -> String? {
        guard let h = authorization else { return nil }
        let parts = h.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw SyncFailure.unauthorized("the Authorization header must be `Bearer <token>`")
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

    static func error(_ f: SyncFailure) -> Response {
        var headers: HTTPFields = [.contentType: jsonMediaType]
        if let wait = f.retryAfter { headers[.retryAfter] = String(wait) }
        if f.status == 408 { headers[.connection] = "close" }
        return Response(
            status: .init(code: f.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: errorBody(f))))
    }

    /// The JSON error body: `{"error":{"code":…,"message":…}}`.
    static func errorBody(_ f: SyncFailure) -> [UInt8] {
        Array((try? JSONEncoder.sorted.encode(["error": ["code": f.code, "message": f.message]])) ?? Data("{}".utf8))
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
                return SyncHTTPServer.error(
                    SyncFailure(status: 404, code: "not-found", "no such endpoint: \(request.method) \(request.uri.path)"))
            case 413:
                return SyncHTTPServer.error(.tooLarge("the body is larger than this server accepts"))
            case 400..<500:
                return SyncHTTPServer.error(SyncFailure(status: status, code: "bad-request", "the request could not be read"))
            default:
                return SyncHTTPServer.error(SyncFailure(status: status, code: "internal", "the server could not answer; see its log"))
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
