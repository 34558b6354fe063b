import Foundation
import Testing

/// `strata serve` running as a separate process, as a team or a researcher runs it.
final class ServerProcess: @unchecked Sendable {
    let process = Process()
    let errURL: URL
    private(set) var port = 0

    init(_ args: [String], env: [String: String], cwd: URL) throws {
        process.executableURL = URL(fileURLWithPath: strataBinary)
        process.arguments = args
        var environment = ProcessInfo.processInfo.environment
        for (k, v) in env { environment[k] = v }
        process.environment = environment
        process.currentDirectoryURL = cwd
        errURL = cwd.appendingPathComponent(".serve-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: errURL)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Wait (at most 20 s) for "listening on http://127.0.0.1:PORT" (a line of its own, or
        // the message of a JSON log line).
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            let log = self.log
            if let r = log.range(of: "listening on http://127.0.0.1:"),
                let p = Int(log[r.upperBound...].prefix { $0.isNumber })
            {
                port = p
                return
            }
            if !process.isRunning { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        process.terminate()
        throw CLIError("strata serve did not start: \(log)")
    }

    var log: String { (try? String(contentsOf: errURL, encoding: .utf8)) ?? "" }
    var url: String { "http://127.0.0.1:\(port)" }

    /// SIGTERM, then the exit status (graceful shutdown exits 0).
    func stop() -> Int32 {
        process.terminate()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Waits at most `seconds` for the process to exit; its status, or nil if it is still running.
    func waitForExit(seconds: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        return process.isRunning ? nil : process.terminationStatus
    }

    deinit { if process.isRunning { process.terminate() } }
}

struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

@Suite("serve and sync, from the terminal")
struct ServeTests {
    @Test func teamServerTokensRemotesAndSync() throws {
        let s = try Sandbox()
        let data = s.path("server")
        let env = ["STRATA_SERVER_DATA": data]
        try s.ok("server", "project", "add", "palmyra", env: env)
        let bad = try s.run("server", "project", "add", "Palmyra!", env: env)
        #expect(bad.status != 0 && bad.stderr.contains("not a project name"))
        let khaledToken = try s.ok("server", "token", "create", "--project", "palmyra", "--researcher", "Khaled", env: env)
        let mariaToken = try s.ok("server", "token", "create", "--project", "palmyra", "--researcher", "Maria", env: env)
        let readToken = try s.ok("server", "token", "create", "--project", "palmyra", "--researcher", "Visitor", "--role", "read", env: env)
        #expect(khaledToken.hasPrefix("stk_") && khaledToken.count == 56)
        let list = try s.ok("server", "token", "list", env: env)
        #expect(list.contains("Khaled") && !list.contains(khaledToken))
        // Tokens are stored hashed: not in clear anywhere in the server's files.
        for file in try FileManager.default.subpathsOfDirectory(atPath: data) {
            let bytes = (try? Data(contentsOf: URL(fileURLWithPath: data + "/" + file))) ?? Data()
            #expect(bytes.range(of: Data(khaledToken.utf8)) == nil, "token in clear in \(file)")
        }

        let server = try ServerProcess(["serve", "--port", "0"], env: env, cwd: s.dir)
        let a = s.path("khaled.strata")
        let b = s.path("maria.strata")
        let c = s.path("visitor.strata")
        try s.initStore(author: "Khaled", store: a)
        try s.initStore(author: "Maria", store: b)
        try s.initStore(author: "Visitor", store: c)
        try s.ok("remote", "add", "origin", server.url, "--project", "palmyra", "--token", khaledToken, store: a)
        try s.ok("remote", "add", "origin", server.url, "--project", "palmyra", store: b, env: ["STRATA_TOKEN": mariaToken])
        try s.ok("remote", "add", "origin", server.url, "--project", "palmyra", "--token", readToken, store: c)
        #expect(!(try s.ok("remote", "list", store: a)).contains(khaledToken))

        let bust = try s.ok("add", "artefact", "Funerary bust", "--set", "state=in-situ", store: a)
        #expect(try s.ok("sync", store: a).contains("pushed 1 change"))
        #expect(try s.ok("sync", store: b).contains("pulled 1 change"))
        try s.ok("set", bust, "state", "moved-for-safekeeping", store: a)
        try s.ok("set", bust, "state", "missing", store: b)
        try s.ok("add", "note", "Theatre", store: c)
        let status = try s.ok("status", store: a)
        #expect(status.contains("1 local change not yet sent"))
        for store in [a, b, a] { try s.ok("sync", store: store) }
        // The visitor's read token pulls but keeps their note: it is not theirs to push.
        let visitor = try s.ok("sync", store: c)
        #expect(visitor.contains("pushed 0 changes") && visitor.contains("1 change stays here: a read token only pulls"))
        let js = try JSONSerialization.jsonObject(with: Data(try s.ok("conflicts", "--json", store: b).utf8)) as? [Any]
        #expect(js?.count == 1)
        #expect(
            try s.ok("export", "--format", "json", store: a) == (try s.ok("export", "--format", "json", store: b)))
        #expect(server.stop() == 0)
        #expect(server.log.contains("status=200"))
        #expect(!server.log.contains(khaledToken))
        // The server is gone: a clear message, nothing lost.
        let down = try s.run("sync", store: a)
        #expect(down.status != 0 && down.stderr.contains("cannot reach"))
    }

    /// A team server on the sandbox's data directory with project palmyra, and the replicas of
    /// Khaled and Maria with `origin` pointing at it (`mariaRemote`: more `remote add` options).
    static func khaledAndMaria(_ s: Sandbox, mariaRemote: [String] = []) throws -> (server: ServerProcess, a: String, b: String) {
        let env = ["STRATA_SERVER_DATA": s.path("server")]
        try s.ok("server", "project", "add", "palmyra", env: env)
        let k = try s.ok("server", "token", "create", "--project", "palmyra", "--researcher", "Khaled", env: env)
        let m = try s.ok("server", "token", "create", "--project", "palmyra", "--researcher", "Maria", env: env)
        let server = try ServerProcess(["serve", "--port", "0"], env: env, cwd: s.dir)
        let a = s.path("khaled.strata")
        let b = s.path("maria.strata")
        try s.initStore(author: "Khaled", store: a)
        try s.initStore(author: "Maria", store: b)
        try s.ok("remote", "add", "origin", server.url, "--project", "palmyra", "--token", k, store: a)
        let added = try strata(
            ["remote", "add", "origin", server.url, "--project", "palmyra", "--token", m] + mariaRemote, env: ["STRATA_STORE": b], cwd: s.dir)
        #expect(added.status == 0, "strata remote add failed: \(added.stderr)")
        return (server, a, b)
    }

    @Test func attachmentsMoveAfterTheRecordsAndAPolicyLeavesLargeOnesForFetch() throws {
        let s = try Sandbox()
        let (server, a, b) = try Self.khaledAndMaria(s, mariaRemote: ["--attachments", "up-to 1MB"])
        let bust = try s.ok("add", "artefact", "Funerary bust", store: a)
        let small = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        let large = Data((0..<1_500_000).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) })
        try small.write(to: URL(fileURLWithPath: s.path("east.bin")))
        try large.write(to: URL(fileURLWithPath: s.path("handover.bin")))
        try s.ok("attach", bust, s.path("east.bin"), store: a)
        try s.ok("attach", bust, s.path("handover.bin"), store: a)
        let up = try s.ok("sync", store: a)
        #expect(up.contains("pushed 3 changes"))
        #expect(up.contains("attachments: uploaded 2 attachments (1.8 MB)"))
        let down = try s.ok("sync", store: b)
        #expect(down.contains("attachments: downloaded 1 attachment (300 kB)"))
        #expect(down.contains("1 attachment (1.5 MB) waits on origin, not downloaded by its policy 'up-to 1MB': strata fetch --all"))
        #expect(try s.ok("status", store: b).contains("attachments: 1 not downloaded here (1.5 MB)"))
        let get = try s.run("get", bust, "2", "-o", s.path("out.bin"), store: b)
        #expect(get.status != 0)
        let fetched = try s.ok("fetch", bust, "2", store: b)
        #expect(fetched.contains("attachments: downloaded 1 attachment (1.5 MB)"))
        try s.ok("get", bust, "2", "-o", s.path("out.bin"), store: b)
        #expect(try Data(contentsOf: URL(fileURLWithPath: s.path("out.bin"))) == large)
        #expect(try s.ok("fetch", "--all", store: b) == "nothing to fetch: every attachment asked for is here")
        let js = try #require(try s.run("sync", "--json", store: b).json() as? [String: Any])
        #expect((js["attachments"] as? [String: Any])?["downloaded"] as? Int == 0)
        #expect(server.stop() == 0)
    }

    /// A download is placed without a flush (ARCHITECTURE.md, "Downloaded blobs are not
    /// flushed"): a copy a power cut tore, or bytes damaged under its name, must be refused by
    /// every read, reported by `check`, and downloaded again.
    @Test func aDownloadedAttachmentDamagedUnderItsNameIsRefusedReportedAndDownloadedAgain() throws {
        let s = try Sandbox()
        let (server, a, b) = try Self.khaledAndMaria(s)
        let bust = try s.ok("add", "artefact", "Funerary bust", store: a)
        let photo = Data((0..<700_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 3) })
        try photo.write(to: URL(fileURLWithPath: s.path("bust.bin")))
        try s.ok("attach", bust, s.path("bust.bin"), store: a)
        try s.ok("sync", store: a)
        #expect(try s.ok("sync", store: b).contains("attachments: downloaded 1 attachment (700 kB)"))
        let held = try FileManager.default.subpathsOfDirectory(atPath: b + ".blobs/sha256").filter { $0.count == 67 }
        try #require(held.count == 1)
        let hex = String(held[0].dropFirst(3))
        let blob = b + ".blobs/sha256/" + held[0]
        func damage() throws {
            var bytes = try Data(contentsOf: URL(fileURLWithPath: blob))
            bytes[350_000] ^= 0x5A
            _ = chmod(blob, 0o600)
            try bytes.write(to: URL(fileURLWithPath: blob))
        }

        // `check` reads it, reports it, and sets it aside: it counts as not here.
        try damage()
        let checked = try s.run("check", store: b)
        #expect(checked.status != 0)
        #expect(checked.stderr.contains("attachment \(hex.prefix(12)) is damaged: its bytes did not hash to its name"))
        #expect(checked.stderr.contains("strata fetch --all"))
        #expect(!FileManager.default.fileExists(atPath: blob))
        #expect(FileManager.default.fileExists(atPath: b + ".blobs/damaged/\(hex)"), "the damaged copy is kept, not deleted")
        #expect(try s.ok("status", store: b).contains("attachments: 1 not downloaded here (700 kB)"))
        #expect(try s.ok("fetch", bust, store: b).contains("attachments: downloaded 1 attachment (700 kB)"))
        try s.ok("get", bust, "1", "-o", s.path("out1.bin"), store: b)
        #expect(try Data(contentsOf: URL(fileURLWithPath: s.path("out1.bin"))) == photo)
        let again = try s.ok("check", store: b)
        #expect(again.contains("1 attachment (700 kB) verified") && again.contains("1 damaged copy set aside"))

        // `get` refuses it with one clear line and leaves no file; `fetch` of the record reads
        // the copy here first and downloads it again.
        try damage()
        let got = try s.run("get", bust, "1", "-o", s.path("out2.bin"), store: b)
        #expect(got.status != 0)
        #expect(got.stderr.contains("the stored copy of attachment \(hex.prefix(12)) is damaged (its bytes do not hash to its name)"))
        #expect(!FileManager.default.fileExists(atPath: s.path("out2.bin")))
        #expect(try s.ok("fetch", bust, store: b).contains("attachments: downloaded 1 attachment (700 kB)"))
        try damage()
        #expect(try s.ok("fetch", bust, "1", store: b).contains("attachments: downloaded 1 attachment (700 kB)"))
        try s.ok("get", bust, "1", "-o", s.path("out3.bin"), store: b)
        #expect(try Data(contentsOf: URL(fileURLWithPath: s.path("out3.bin"))) == photo)

        // A copy a power cut cut short: the next sync sees its length and downloads it again.
        #expect(truncate(blob, 4096) == 0)
        #expect(try s.ok("sync", store: b).contains("attachments: downloaded 1 attachment (700 kB)"))
        #expect(try s.ok("check", store: b).contains("1 attachment (700 kB) verified"))
        #expect(server.stop() == 0)
    }

    @Test func twoLaptopsPeerToPeer() throws {
        let s = try Sandbox()
        let a = s.path("khaled.strata")
        let b = s.path("maria.strata")
        try s.initStore(author: "Khaled", store: a)
        try s.initStore(author: "Maria", store: b)
        try s.ok("add", "site", "Citadel", store: a)
        try s.ok("add", "site", "Theatre", store: b)
        let server = try ServerProcess(["serve", "--peer", "--port", "0", "--store", a], env: [:], cwd: s.dir)
        let token = try #require(
            server.log.split(whereSeparator: { $0 == " " || $0 == "\n" }).first { $0.hasPrefix("stk_") }.map(String.init))
        try s.ok("remote", "add", "khaled", server.url, "--project", "peer", "--token", token, store: b)
        #expect(try s.ok("sync", store: b).contains("pulled 1 change, pushed 1 change"))
        #expect(server.stop() == 0)
        #expect(
            try s.ok("export", "--format", "json", store: a) == (try s.ok("export", "--format", "json", store: b)))
    }
}
