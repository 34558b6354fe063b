import StrataCodec
import StrataCore

/// How a sync client reaches a server. `HTTPTransport` is the real one; the test-support
/// target's in-process transport puts the server's `SyncService` behind a function call, with
/// the same codec on both sides.
public protocol SyncTransport: Sendable {
    func session() async throws -> SessionInfo
    func pull(_ request: PullRequest) async throws -> PullResponse
    func push(_ changes: [Change]) async throws -> PushResult
    /// Releases connections.
    func close() async
}

/// A sync failure as the person at the terminal should read it.
public struct SyncClientError: Error, Sendable, CustomStringConvertible {
    /// The HTTP status, when the server answered.
    public let status: Int?
    /// The server's error code, when it sent one.
    public let code: SyncErrorCode?
    /// The server's `Retry-After`, in seconds, when it sent one.
    public let retryAfter: Int?
    /// Set when the session itself stopped (a server that does not move, another protocol).
    public let session: SyncSessionFailure?
    public let description: String

    public init(status: Int? = nil, code: SyncErrorCode? = nil, retryAfter: Int? = nil, _ message: String) {
        self.status = status
        self.code = code
        self.retryAfter = retryAfter
        self.session = nil
        self.description = message
    }

    public init(_ failure: SyncSessionFailure) {
        status = nil
        code = nil
        retryAfter = nil
        session = failure
        description = failure.description
    }
}
