import Foundation
import Hummingbird
import Logging

/// The request context of the sync server: Hummingbird's core context and the facts a handler
/// learns about its request (bytes read, changes moved, the project), which the metrics and
/// the access log read once the response is made.
public struct StrataRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Shared by every copy of this context (the router copies it on the way to a handler).
    public let facts = RequestFacts()

    public init(source: Source) {
        coreContext = .init(source: source)
    }
}

/// What a handler learned about its request. A reference, so the copy of the context that the
/// handler gets and the one the observing responder holds see the same facts.
public final class RequestFacts: @unchecked Sendable {
    private let lock = NSLock()
    private var _project: String?
    private var _bytesIn = 0
    private var _changesIn = (applied: 0, duplicates: 0)
    private var _changesOut = 0
    private var _failure: SyncFailure?

    public init() {}

    /// The project named in the path (never a token).
    public var project: String? {
        get { lock.withLock { _project } }
        set { lock.withLock { _project = newValue } }
    }
    /// Request body bytes read.
    public var bytesIn: Int {
        get { lock.withLock { _bytesIn } }
        set { lock.withLock { _bytesIn = newValue } }
    }
    /// Changes a push brought: new to the project, and already held.
    public var changesIn: (applied: Int, duplicates: Int) {
        get { lock.withLock { _changesIn } }
        set { lock.withLock { _changesIn = newValue } }
    }
    /// Changes a pull answer carried.
    public var changesOut: Int {
        get { lock.withLock { _changesOut } }
        set { lock.withLock { _changesOut = newValue } }
    }
    /// The failure the request was answered with, if any (its code goes into the log).
    public var failure: SyncFailure? {
        get { lock.withLock { _failure } }
        set { lock.withLock { _failure = newValue } }
    }
}
