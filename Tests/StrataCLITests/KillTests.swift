import Foundation
import StrataCore
import StrataStore
import Testing

/// Processes killed with SIGKILL in the middle of a sync: nothing half-applied, and the next
/// sync finishes the job.
@Suite("killed mid-sync")
struct KillTests {
    /// A replica with `n` separate changes (so a sync takes many small batches).
    func replica(_ path: String, author: String, changes n: Int) throws {
        let store = try Store.create(at: path, author: author)
        for i in 0..<n {
            let id = store.newRecordID()
            try store.commit([
                .create(id, kind: .note), .set(id, field: "title", .text("Survey \(i)")),
                .set(id, field: "body", .text(String(repeating: "Column \(i) of the great colonnade. ", count: 20))),
            ])
        }
    }

    /// `strata sync` with 1 KB batches, started in the background.
    func startSync(_ store: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: strataBinary)
        p.arguments = ["sync", "--batch-kb", "1", "--store", store]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    func kill9(_ p: Process) {
        Foundation.kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
    }

    @Test func aClientKilledMidSyncResumesAndConverges() throws {
        let s = try Sandbox()
        let env = ["STRATA_SERVER_DATA": s.path("server")]
        try s.ok("server", "project", "add", "palmyra", env: env)
        let token = try s.ok("server", "token", "create", "--project", "palmyra", "--researcher", "Khaled", env: env)
        let server = try ServerProcess(["serve", "--port", "0"], env: env, cwd: s.dir)
        let a = s.path("khaled.strata")
        try replica(a, author: "Khaled", changes: 400)
        try s.ok("remote", "add", "origin", server.url, "--project", "palmyra", "--token", token, store: a)
        // Kill the client at a few points of a sync made of 1 KB batches.
        for delay in [0.05, 0.2, 0.4] {
            let p = try startSync(a)
            Thread.sleep(forTimeInterval: delay)
            kill9(p)
        }
        let done = try s.ok("sync", store: a)
        #expect(done.contains("synced with origin"))
        let serverStore = s.path("server/projects/palmyra.strata")
        #expect(try s.ok("check", "--store", serverStore) == "ok")
        #expect(try s.ok("check", store: a) == "ok")
        let b = s.path("maria.strata")
        try s.initStore(author: "Maria", store: b)
        try s.ok("remote", "add", "origin", server.url, "--project", "palmyra", "--token", token, store: b)
        try s.ok("sync", store: b)
        #expect(try s.ok("export", "--format", "json", store: a) == (try s.ok("export", "--format", "json", store: b)))
        _ = server.stop()
    }

    @Test func aServerKilledMidSyncLosesNothingAcknowledged() throws {
        let s = try Sandbox()
        let env = ["STRATA_SERVER_DATA": s.path("server")]
        try s.ok("server", "project", "add", "palmyra", env: env)
        let token = try s.ok("server", "token", "create", "--project", "palmyra", "--researcher", "Khaled", env: env)
        let a = s.path("khaled.strata")
        try replica(a, author: "Khaled", changes: 400)
        var server = try ServerProcess(["serve", "--port", "0"], env: env, cwd: s.dir)
        try s.ok("remote", "add", "origin", server.url, "--project", "palmyra", "--token", token, store: a)
        let p = try startSync(a)
        Thread.sleep(forTimeInterval: 0.3)
        kill9(server.process)
        p.waitUntilExit()
        #expect(p.terminationStatus != 0)  // the client saw the server vanish and said so
        let serverStore = s.path("server/projects/palmyra.strata")
        #expect(try s.ok("check", "--store", serverStore) == "ok")
        // Restart on a new port and finish.
        server = try ServerProcess(["serve", "--port", "0"], env: env, cwd: s.dir)
        try s.ok("remote", "remove", "origin", store: a)
        try s.ok("remote", "add", "origin", server.url, "--project", "palmyra", "--token", token, store: a)
        try s.ok("sync", store: a)
        let status = try JSONSerialization.jsonObject(with: Data(try s.ok("status", "--json", store: a).utf8)) as? [String: Any]
        let remotes = status?["remotes"] as? [[String: Any]]
        #expect(remotes?.first?["unsynced_local_changes"] as? Int == 0)
        #expect(try s.ok("check", "--store", serverStore) == "ok")
        _ = server.stop()
    }
}
