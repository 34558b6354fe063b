import Foundation
import StrataCodec
import StrataCore
import StrataSync

/// Counts what a sync moves through a transport: requests (failed ones included), changes in
/// pushes begun and in pull answers received whole, and the bytes of the bodies (requests and
/// answers, HTTP headers excluded).
public final class CountingTransport: SyncTransport, @unchecked Sendable {
    public let inner: any SyncTransport
    private let lock = NSLock()
    private var n = 0
    private var sent = 0
    private var received = 0
    private var _bytes = 0
    public var requests: Int { lock.withLock { n } }
    /// Changes in push requests begun, cut ones included.
    public var changesSent: Int { lock.withLock { sent } }
    /// Changes in pull responses received whole.
    public var changesReceived: Int { lock.withLock { received } }
    /// Bytes of pull requests and answers and of pushed change sets.
    public var bytes: Int { lock.withLock { _bytes } }

    public init(_ inner: any SyncTransport) { self.inner = inner }

    public func session() async throws -> SessionInfo {
        lock.withLock { n += 1 }
        return try await inner.session()
    }

    public func pull(_ request: PullRequest) async throws -> PullResponse {
        lock.withLock { n += 1 }
        let r = try await inner.pull(request)
        let size = SyncCodec.encode(request).count + SyncCodec.encode(r).count
        lock.withLock {
            received += r.changes.count
            _bytes += size
        }
        return r
    }

    public func push(_ changes: [Change]) async throws -> PushResult {
        let size = ChangeSetCodec.encode(changes).count
        lock.withLock {
            n += 1
            sent += changes.count
            _bytes += size
        }
        return try await inner.push(changes)
    }

    public func close() async { await inner.close() }
}

/// Lets `allowed` requests through, then fails every one as if the link dropped.
public final class CuttingTransport: SyncTransport, @unchecked Sendable {
    public let inner: any SyncTransport
    private let lock = NSLock()
    private var left: Int

    public init(inner: any SyncTransport, allowed: Int) {
        self.inner = inner
        left = allowed
    }

    func take() throws {
        try lock.withLock {
            left -= 1
            if left < 0 { throw SyncClientError("link cut (test)") }
        }
    }

    public func session() async throws -> SessionInfo {
        try take()
        return try await inner.session()
    }

    public func pull(_ request: PullRequest) async throws -> PullResponse {
        try take()
        return try await inner.pull(request)
    }

    public func push(_ changes: [Change]) async throws -> PushResult {
        try take()
        return try await inner.push(changes)
    }

    public func close() async { await inner.close() }
}
