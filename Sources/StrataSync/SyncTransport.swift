import StrataCodec
import StrataCore

/// How a sync client reaches a server. The HTTP transport is the real one; tests can put the
/// server's logic behind this protocol directly.
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
    public let code: String?
    /// The server's `Retry-After`, in seconds, when it sent one.
    public let retryAfter: Int?
    public let description: String

    public init(status: Int? = nil, code: String? = nil, retryAfter: Int? = nil, _ message: String) {
        self.status = status
        self.code = code
        self.retryAfter = retryAfter
        self.description = message
    }
}
