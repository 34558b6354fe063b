// strata-bench: sync plumbing shared by the sync scenarios (a counting transport, team
// servers on loopback, one sync).
import CZlib
import Foundation
import GRDB
import Logging
import StrataCodec
import StrataCore
import StrataServer
import StrataStore
import StrataSync

/// Counts the bytes of every request and response body (HTTP headers excluded).
final class CountingTransport: SyncTransport, @unchecked Sendable {
    let inner: HTTPTransport
    private let lock = NSLock()
    private var _bytes = 0
    var bytes: Int { lock.withLock { _bytes } }
    init(_ inner: HTTPTransport) { self.inner = inner }
    func add(_ n: Int) { lock.withLock { _bytes += n } }
    func session() async throws -> SessionInfo { try await inner.session() }
    func pull(_ request: PullRequest) async throws -> PullResponse {
        let r = try await inner.pull(request)
        add(SyncCodec.encode(request).count + SyncCodec.encode(r).count)
        return r
    }
    func push(_ changes: [Change]) async throws -> PushResult {
        add(ChangeSetCodec.encode(changes).count)
        return try await inner.push(changes)
    }
    func close() async { await inner.close() }
}

/// A team server on 127.0.0.1 (free port) whose project holds `notes`, for `body`.
/// Server directories already filled, by number of notes: (directory, admin token). Scenarios
/// that need a server holding the same number of notes get a copy instead of recording and
/// merging them again (at 100,000 notes that is over a minute each time).
nonisolated(unsafe) var serverTemplates: [Int: (dir: String, token: String)] = [:]

func serverTemplate(_ notes: [Note]) throws -> (dir: String, token: String) {
    if let t = serverTemplates[notes.count] { return t }
    let dir = freshPath("server-template")
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let token: String
    do {
        let backend = try TeamBackend(directory: dir)
        try backend.addProject("palmyra")
        token = try backend.tokens.createToken(project: "palmyra", researcher: "Bench", role: .admin).token
        if !notes.isEmpty {
            let source = try storeWith(notes, path: freshPath("source.strata"))
            let project = try backend.store(for: "palmyra")!
            let all = try source.changes(missingFrom: VersionVector())
            for chunk in stride(from: 0, to: all.count, by: 5000) { try project.apply(Array(all[chunk..<min(all.count, chunk + 5000)])) }
        }
    }  // the backend and its stores close here (SQLite checkpoints the WAL), so the files can be copied
    serverTemplates[notes.count] = (dir, token)
    return (dir, token)
}

func withServer<T>(notes: [Note], _ body: (String, String, TeamBackend) async throws -> T) async throws -> T {
    let template = try serverTemplate(notes)
    let dir = freshPath("server")
    try FileManager.default.copyItem(atPath: template.dir, toPath: dir)
    let backend = try TeamBackend(directory: dir)
    let token = template.token
    var logger = Logger(label: "bench.server")
    logger.logLevel = .critical
    let app = ServerApp(host: "127.0.0.1", port: 0, service: SyncService(backend: backend), logger: logger)
    let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
    let server = Task { try await app.runUntilCancelled { port in continuation.yield(port) } }
    var port = 0
    for await p in stream {
        port = p
        break
    }
    defer { server.cancel() }
    return try await body("http://127.0.0.1:\(port)", token, backend)
}

func sync(_ store: Store, _ url: String, _ token: String) async throws -> (seconds: Double, bytes: Int, pulled: Int) {
    let t = CountingTransport(HTTPTransport(baseURL: url, project: "palmyra", token: token))
    let client = SyncClient(store: store, transport: t)
    let t0 = DispatchTime.now().uptimeNanoseconds
    let report = try await client.sync()
    let s = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    await t.close()
    return (s, t.bytes, report.pulled)
}
