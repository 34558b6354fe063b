import Foundation
import StrataCodec
import StrataCore
import StrataServer
import StrataSync

/// The server's `SyncService` behind a function call: each request is encoded as the client
/// would send it, handed to the service, and its answer encoded and decoded as over HTTP, so
/// both sides run the same codec with no socket. Failures come back as the HTTP transport
/// reports them (status of the edge's mapping, the protocol's code, the server's message).
///
/// For sync logic tests, which then run in parallel and without ports; what only the edge does
/// (auth headers, statuses on the wire, deadlines, cuts, kills) is tested over real HTTP.
public struct InProcessTransport: SyncTransport {
    public let service: SyncService
    public let project: String
    public let token: String?

    public init(service: SyncService, project: String, token: String?) {
        self.service = service
        self.project = project
        self.token = token
    }

    public func session() async throws -> SessionInfo {
        let info = try await call { () async throws(SyncFailure) in try await service.session(token: token, project: project) }
        return try JSONDecoder().decode(SessionInfo.self, from: JSONEncoder().encode(info))
    }

    public func pull(_ request: PullRequest) async throws -> PullResponse {
        let body = SyncCodec.encode(request)
        let response = try await call { () async throws(SyncFailure) in try await service.pull(token: token, project: project, body: body) }
        do {
            return try SyncCodec.decodePullResponse(SyncCodec.encode(response))
        } catch {
            throw SyncClientError(code: SyncErrorCode(error), "the server's pull answer was refused: \(error)")
        }
    }

    public func push(_ changes: [Change]) async throws -> PushResult {
        let body = ChangeSetCodec.encode(changes)
        let result = try await call { () async throws(SyncFailure) in try await service.push(token: token, project: project, body: body) }
        return try JSONDecoder().decode(PushResult.self, from: JSONEncoder().encode(result))
    }

    public func close() async {}

    func call<T>(_ body: () async throws(SyncFailure) -> T) async throws(SyncClientError) -> T {
        do { return try await body() } catch {
            throw SyncClientError(
                status: SyncHTTPServer.status(of: error), code: error.code, retryAfter: error.retryAfter,
                "the server refused: \(error.message)")
        }
    }
}
