import Foundation
import Logging
import StrataCodec
import StrataCore
import StrataServer
import StrataStore
import StrataSync
import StrataTestSupport

/// Where a test's clients reach the server: over real HTTP on loopback, or the service in
/// process. Sync logic tests take `.inProcess`; edge tests take a URL.
public enum SyncEndpoint: Sendable {
    case http(String)
    case inProcess(SyncService)

    /// A transport to `project` with `token`.
    public func transport(project: String = "palmyra", token: String) -> any SyncTransport {
        switch self {
        case .http(let url): HTTPTransport(baseURL: url, project: project, token: token)
        case .inProcess(let service): InProcessTransport(service: service, project: project, token: token)
        }
    }
}

/// A quiet logger for servers under test.
public func quietLogger(_ label: String = "test.server") -> Logger {
    var l = Logger(label: label)
    l.logLevel = .critical
    return l
}

/// A sync server on 127.0.0.1 with a free port, until `stop()`.
public final class RunningServer: Sendable {
    public let url: String
    let task: Task<Void, any Error>

    init(url: String, task: Task<Void, any Error>) {
        self.url = url
        self.task = task
    }

    /// Starts a server on `storage` and returns once it listens.
    public static func start(
        _ storage: any ServerStorage, limits: ServerLimits = ServerLimits(), logger: Logger? = nil,
        extraRoutes: SyncHTTPServer.ExtraRoutes? = nil
    ) async throws -> RunningServer {
        var app = ServerApp(
            host: "127.0.0.1", port: 0, service: SyncService(storage: storage, limits: limits),
            logger: logger ?? quietLogger())
        app.extraRoutes = extraRoutes
        let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
        let task = Task { [app] in
            defer { continuation.finish() }
            try await app.runUntilCancelled { port in continuation.yield(port) }
        }
        return try await listening(stream, task)
    }

    /// Waits for the port a starting server reports, or for why it stopped.
    static func listening(_ stream: AsyncStream<Int>, _ task: Task<Void, any Error>) async throws -> RunningServer {
        var port: Int? = nil
        for await p in stream {
            port = p
            break
        }
        guard let port else {
            // The server stopped before listening: report why.
            try await task.value
            throw SyncClientError("the test server stopped before listening")
        }
        return RunningServer(url: "http://127.0.0.1:\(port)", task: task)
    }

    /// Stops the server and waits until it has closed.
    public func stop() async {
        task.cancel()
        _ = await task.result
    }
}

/// A sync server on 127.0.0.1 with a free port, for the duration of `body`, which gets its URL.
public func withServer<T: Sendable>(
    _ storage: any ServerStorage, limits: ServerLimits = ServerLimits(), logger: Logger? = nil,
    _ body: @Sendable (String) async throws -> T
) async throws -> T {
    let server = try await RunningServer.start(storage, limits: limits, logger: logger)
    do {
        let result = try await body(server.url)
        await server.stop()
        return result
    } catch {
        await server.stop()
        throw error
    }
}

/// The same body over either endpoint: `inProcess` hands it the service directly.
public func withEndpoint<T: Sendable>(
    _ storage: any ServerStorage, inProcess: Bool, limits: ServerLimits = ServerLimits(),
    _ body: @Sendable (SyncEndpoint) async throws -> T
) async throws -> T {
    if inProcess { return try await body(.inProcess(SyncService(storage: storage, limits: limits))) }
    return try await withServer(storage, limits: limits) { url in try await body(.http(url)) }
}

/// A team server's storage in a temporary directory with one project and a token per researcher.
public struct Team: Sendable {
    public let dir: TemporaryDirectory
    public let backend: TeamStorage
    public var tokens: [String: String] = [:]

    public init(project: String = "palmyra", researchers: [String], role: Role = .write) throws {
        dir = try TemporaryDirectory("strata-server")
        backend = try TeamStorage(directory: dir.path)
        try backend.addProject(project)
        for r in researchers {
            tokens[r] = try backend.tokens.createToken(project: project, researcher: r, role: role).token
        }
    }

    /// The service on this storage, for in-process clients.
    public func endpoint(limits: ServerLimits = ServerLimits()) -> SyncEndpoint {
        .inProcess(SyncService(storage: backend, limits: limits))
    }
}

/// Syncs a store with a server and closes the transport.
@discardableResult
public func sync(
    _ store: Store, _ endpoint: SyncEndpoint, project: String = "palmyra", token: String, batchBytes: Int = 1 << 20
) async throws -> SyncReport {
    try await sync(store, endpoint.transport(project: project, token: token), batchBytes: batchBytes)
}

/// Syncs a store with a server over HTTP.
@discardableResult
public func sync(_ store: Store, _ url: String, project: String = "palmyra", token: String, batchBytes: Int = 1 << 20)
    async throws -> SyncReport
{
    try await sync(store, .http(url), project: project, token: token, batchBytes: batchBytes)
}

/// Syncs a store through `transport`, then closes it.
@discardableResult
public func sync(_ store: Store, _ transport: any SyncTransport, batchBytes: Int = 1 << 20) async throws -> SyncReport {
    var client = SyncClient(store: store, transport: transport)
    client.maxBatchBytes = batchBytes
    do {
        let r = try await client.sync()
        await transport.close()
        return r
    } catch {
        await transport.close()
        throw error
    }
}
