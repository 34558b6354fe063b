import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import StrataCodec
import StrataCore
import StrataServer
import StrataStore
import StrataSync
import StrataTestSupport
import Testing

/// A team server on 127.0.0.1 with a free port, for the duration of `body`.
func withServer<T: Sendable>(
    _ backend: any SyncBackend, limits: ServerLimits = ServerLimits(), logger: Logger? = nil,
    _ body: @Sendable (String) async throws -> T
) async throws -> T {
    let logger = logger ?? {
        var l = Logger(label: "test.server")
        l.logLevel = .critical
        return l
    }()
    let app = ServerApp(host: "127.0.0.1", port: 0, service: SyncService(backend: backend, limits: limits), logger: logger)
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
        let result = try await body("http://127.0.0.1:\(port)")
        group.cancelAll()
        while let r = try await group.next() { if let r { return r } }
        return result
    }
}

/// A team backend in a temporary directory with one project and tokens per researcher.
struct Team: Sendable {
    let dir: TemporaryDirectory
    let backend: TeamBackend
    var tokens: [String: String] = [:]

    init(project: String = "palmyra", researchers: [String], role: Role = .write) throws {
        dir = try TemporaryDirectory("strata-server")
        backend = try TeamBackend(directory: dir.path)
        try backend.addProject(project)
        for r in researchers {
            tokens[r] = try backend.tokens.createToken(project: project, researcher: r, role: role).token
        }
    }
}

/// Syncs a store with a server over HTTP.
@discardableResult
func sync(_ store: Store, _ url: String, project: String = "palmyra", token: String, batchBytes: Int = 1 << 20) async throws
    -> SyncReport
{
    let t = HTTPTransport(baseURL: url, project: project, token: token)
    var client = SyncClient(store: store, transport: t)
    client.maxBatchBytes = batchBytes
    do {
        let r = try await client.sync()
        await t.close()
        return r
    } catch {
        await t.close()
        throw error
    }
}

/// A raw HTTP request, for bad-input tests.
func rawRequest(
    _ url: String, method: HTTPMethod = .POST, token: String? = nil, contentType: String? = nil, body: [UInt8] = []
) async throws -> (status: Int, json: [String: Any]) {
    var config = HTTPClient.Configuration()
    config.decompression = .disabled
    let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    var req = HTTPClientRequest(url: url)
    req.method = method
    if let token { req.headers.add(name: "Authorization", value: "Bearer \(token)") }
    if let contentType { req.headers.add(name: "Content-Type", value: contentType) }
    if method == .POST { req.body = .bytes(ByteBuffer(bytes: body)) }
    do {
        let resp = try await client.execute(req, timeout: .seconds(30))
        let data = try await resp.body.collect(upTo: 1 << 20)
        try await client.shutdown()
        let json = (try? JSONSerialization.jsonObject(with: Data(data.readableBytesView))) as? [String: Any] ?? [:]
        return (Int(resp.status.code), json)
    } catch {
        try? await client.shutdown()
        throw error
    }
}

