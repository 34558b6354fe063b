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

/// A sync server on 127.0.0.1 with a free port, for the duration of `body`, which gets its URL.
public func withServer<T: Sendable>(
    _ storage: any ServerStorage, limits: ServerLimits = ServerLimits(), logger: Logger? = nil,
    _ body: @Sendable (String) async throws -> T
) async throws -> T {
    let app = ServerApp(
        host: "127.0.0.1", port: 0, service: SyncService(storage: storage, limits: limits), logger: logger ?? quietLogger())
    let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            try await app.runUntilCancelled { port in continuation.yield(port) }
            return nil
        }
        var port = 0
        for await p in stream {
            port = p
            break
        }
        let result: T
        do { result = try await body("http://127.0.0.1:\(port)") } catch {
            group.cancelAll()
            throw error
        }
        group.cancelAll()
        while let r = try await group.next() { if let r { return r } }
        return result
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
