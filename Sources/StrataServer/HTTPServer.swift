import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import StrataCodec
import StrataCore

/// The HTTP edge of the sync protocol (Protocol/SPEC.md, "Sync protocol"): routes, body
/// limits, media types, and the mapping of failures to statuses and JSON error bodies; also
/// the operator's endpoints (`/healthz`, `/readyz`, `/metrics`).
public enum SyncHTTPServer {
    public static let jsonMediaType = "application/json; charset=utf-8"

    /// The routes' templates: the `route` label of the metrics and the log (never a project name).
    enum Route: String, CaseIterable {
        case health = "/v1/health"
        case healthz = "/healthz"
        case readyz = "/readyz"
        case metrics = "/metrics"
        case session = "/v1/projects/{project}/session"
        case pull = "/v1/projects/{project}/pull"
        case push = "/v1/projects/{project}/push"
        case blobStatus = "/v1/projects/{project}/blobs/status"
        case blob = "/v1/projects/{project}/blobs/{hash}"
    }

    /// The template of the route that takes `path`, or nil when none does.
    static func routeTemplate(of path: String) -> String? {
        if path == "/web" || path.hasPrefix("/web/") { return "/web/**" }
        if let r = Route(rawValue: path), !r.rawValue.contains("{") { return r.rawValue }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 6, parts[0].isEmpty, parts[1] == "v1", parts[2] == "projects", !parts[3].isEmpty, parts[4] == "blobs",
            !parts[5].isEmpty
        {
            return (parts[5] == "status" ? Route.blobStatus : Route.blob).rawValue
        }
        guard parts.count == 5, parts[0].isEmpty, parts[1] == "v1", parts[2] == "projects", !parts[3].isEmpty else { return nil }
        return Route(rawValue: "/v1/projects/{project}/\(parts[4])")?.rawValue
    }

    /// The whole HTTP edge: the router, with every request (routed or not) counted in
    /// `metrics` and logged once by `logger`.
    public static func responder(
        service: SyncService, logger: Logger, metrics: ServerMetrics, extraRoutes: ExtraRoutes? = nil
    ) -> some HTTPResponder<StrataRequestContext> {
        ObservedResponder(
            inner: router(service: service, metrics: metrics, extraRoutes: extraRoutes).buildResponder(), logger: logger, metrics: metrics)
    }

    /// Routes another target adds to the server (the web view, `StrataWeb`), before the
    /// catch-all answer for unknown paths.
    public typealias ExtraRoutes = @Sendable (Router<StrataRequestContext>) -> Void

    /// Builds the router for a service.
    public static func router(service: SyncService, metrics: ServerMetrics, extraRoutes: ExtraRoutes? = nil) -> Router<
        StrataRequestContext
    > {
        let router = Router(context: StrataRequestContext.self)
        router.add(middleware: JSONErrors())
        let retryAfter = service.limits.unavailableRetryAfterSeconds

        router.get(.init(Route.health.rawValue)) { _, _ in
            json(200, ["status": "ok", "protocol": [Int(SyncCodec.protocolVersion)], "server": "strata"])
        }
        // For operators and load balancers: the process answers (healthz); its storage can be
        // read now (readyz, 503 with Retry-After when not). Neither needs a token or says more.
        router.get(.init(Route.healthz.rawValue)) { _, _ in json(200, ["status": "ok"]) }
        router.get(.init(Route.readyz.rawValue)) { _, _ in
            do {
                try await service.storage.checkReady()
                return json(200, ["status": "ready"])
            } catch {
                var response = json(503, ["status": "unavailable", "reason": "the server's storage cannot be read; see its log"])
                response.headers[.retryAfter] = String(retryAfter)
                return response
            }
        }
        // Prometheus scrapes: counts by route template and status, never a project or a token.
        router.get(.init(Route.metrics.rawValue)) { _, _ in
            Response(
                status: .ok, headers: [.contentType: ServerMetrics.mediaType],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
        }
        router.get(.init(Route.session.rawValue)) { request, context in
            let project = context.parameters.get("project") ?? ""
            let facts = context.facts
            facts.project = project
            let authorization = request.headers[.authorization]
            return try await respond(facts, retryAfter: retryAfter) {
                let info = try await service.session(token: bearer(authorization), project: project)
                let data = try JSONEncoder.sorted.encode(info)
                return Response(
                    status: .ok, headers: [.contentType: jsonMediaType], body: .init(byteBuffer: ByteBuffer(bytes: data)))
            }
        }
        router.post(.init(Route.pull.rawValue)) { request, context in
            let project = context.parameters.get("project") ?? ""
            let facts = context.facts
            facts.project = project
            var request = request
            let body = try await collect(&request, media: SyncCodec.pullRequestMediaType, limit: service.limits.maxBodyBytes)
            if case .success(let b) = body { facts.bytesIn = b.count }
            let authorization = request.headers[.authorization]
            return try await respond(facts, retryAfter: retryAfter) {
                let token = try bearer(authorization)
                let response = try await service.pull(token: token, project: project, body: try body.get())
                // Deflating the answer is CPU work: off the threads that serve connections.
                let bytes = try await blocking { SyncCodec.encode(response) }
                facts.changesOut = response.changes.count
                return Response(
                    status: .ok, headers: [.contentType: SyncCodec.pullResponseMediaType],
                    body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
            }
        }
        router.post(.init(Route.push.rawValue)) { request, context in
            let project = context.parameters.get("project") ?? ""
            let facts = context.facts
            facts.project = project
            var request = request
            let body = try await collect(&request, media: SyncCodec.changeSetMediaType, limit: service.limits.maxBodyBytes)
            if case .success(let b) = body { facts.bytesIn = b.count }
            let authorization = request.headers[.authorization]
            return try await respond(facts, retryAfter: retryAfter) {
                let token = try bearer(authorization)
                let result = try await service.push(token: token, project: project, body: try body.get())
                facts.changesIn = (result.applied, result.duplicates)
                let data = try JSONEncoder.sorted.encode(result)
                return Response(
                    status: .ok, headers: [.contentType: jsonMediaType], body: .init(byteBuffer: ByteBuffer(bytes: data)))
            }
        }
        addBlobRoutes(to: router, service: service, retryAfter: retryAfter)
        extraRoutes?(router)
        // Any other protocol version or path: say which version this server speaks.
        for method in ["GET", "POST", "PUT", "DELETE"] {
            router.on("/**", method: HTTPRequest.Method(method)!) { request, context in
                let path = request.uri.path
                let failure =
                    path.hasPrefix("/v") && !path.hasPrefix("/v1/")
                    ? SyncFailure(.unsupportedProtocol) : SyncFailure(.noSuchEndpoint(method: "\(request.method)", path: path))
                context.facts.failure = failure
                return error(failure)
            }
        }
        return router
    }

    /// Reads the body up to `limit` bytes, checking the media type. Errors are returned as a
    /// value so that authentication is still checked first by `respond`. The pieces are copied
    /// as they arrive into one array of the declared length, so a body is held once.
    static func collect(_ request: inout Request, media: String, limit: Int) async throws -> Result<[UInt8], SyncFailure> {
        let type = request.headers[.contentType]?.split(separator: ";").first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        guard type == media else {
            return .failure(SyncFailure(.unsupportedMediaType(expected: media, got: type)))
        }
        let declared = request.headers[.contentLength].flatMap(Int.init)
        if let declared, declared > limit {
            return .failure(SyncFailure(.bodyTooLarge(declared: declared, limit: limit)))
        }
        do {
            var bytes: [UInt8] = []
            if let declared, declared >= 0 { bytes.reserveCapacity(declared) }
            for try await piece in request.body {
                guard piece.readableBytes <= limit - bytes.count else {
                    return .failure(SyncFailure(.bodyTooLarge(declared: nil, limit: limit)))
                }
                bytes.append(contentsOf: piece.readableBytesView)
            }
            return .success(bytes)
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

    /// Runs a handler's body; a failure becomes its JSON error answer (and is noted in the
    /// request's facts for the log and metrics). Blocking work (SQLite, deflate) is run on NIO's
    /// pool for blocking work by the storage and the service, so it never holds the threads that
    /// serve connections and run Swift concurrency.
    static func respond(_ facts: RequestFacts? = nil, retryAfter: Int? = nil, _ body: () async throws -> Response)
        async throws -> Response
    {
        do { return try await body() } catch let f as SyncFailure {
            facts?.failure = f
            return error(f, unavailableRetryAfter: retryAfter)
        }
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
        case .storage: 503
        case .unanswered(let status): status
        case .noAttachments, .blobNotFound: 404
        case .badBlobRequest: 400
        case .rangeNotSatisfiable: 416
        case .offsetMismatch: 409
        case .hashMismatch, .sizeMismatch: 422
        case .blobTooLarge, .projectFull: 413
        }
    }

    /// The response for a failure; a storage failure's `Retry-After` is `unavailableRetryAfter`
    /// when given (the server's ``ServerLimits/unavailableRetryAfterSeconds``).
    static func error(_ f: SyncFailure, unavailableRetryAfter: Int? = nil) -> Response {
        var headers: HTTPFields = [.contentType: jsonMediaType]
        if case .storage = f.kind, let wait = unavailableRetryAfter {
            headers[.retryAfter] = String(wait)
        } else if let wait = f.retryAfter {
            headers[.retryAfter] = String(wait)
        }
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
