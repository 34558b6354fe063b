// strata-bench: sync plumbing shared by the sync scenarios (team servers on loopback filled
// from templates, one sync; the counting transport and the server runner are StrataSyncTesting's).
import CStrataZlib
import Foundation
import GRDB
import Logging
import StrataCodec
import StrataCore
import StrataServer
import StrataStore
import StrataSync
import StrataSyncTesting

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
        let backend = try TeamStorage(directory: dir)
        try backend.addProject("palmyra")
        token = try backend.tokens.createToken(project: "palmyra", researcher: "Bench", role: .admin).token
        if !notes.isEmpty {
            let source = try storeWith(notes, path: freshPath("source.strata"))
            let project = try backend.store(for: "palmyra")!
            let all = try source.changes(missingFrom: VersionVector())
            try apply(all, to: project, inChunksOf: 5000)
        }
    }  // the backend and its stores close here (SQLite checkpoints the WAL), so the files can be copied
    serverTemplates[notes.count] = (dir, token)
    return (dir, token)
}

func withServer<T>(notes: [Note], _ body: (String, String, TeamStorage) async throws -> T) async throws -> T {
    let template = try serverTemplate(notes)
    let dir = freshPath("server")
    try FileManager.default.copyItem(atPath: template.dir, toPath: dir)
    let backend = try TeamStorage(directory: dir)
    let server = try await RunningServer.start(backend, logger: quietLogger("bench.server"))
    do {
        let result = try await body(server.url, template.token, backend)
        await server.stop()
        return result
    } catch {
        await server.stop()
        throw error
    }
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
