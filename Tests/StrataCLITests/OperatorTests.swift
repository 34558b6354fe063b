import Foundation
import StrataCore
import StrataServer
import StrataStore
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A plain HTTP/1.1 GET to 127.0.0.1 over a POSIX socket (the CLI tests link no HTTP client):
/// the response body, or nil when the server does not answer.
func httpGet(port: Int, path: String) -> String? {
    httpExchange(port: port, "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?.body
}

/// Runs blocking work (subprocess waits, a store filled in bulk) on a thread of its own, so the
/// test does not hold one of Swift concurrency's few threads that in-process servers of other
/// suites answer on.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// `strata serve` as an operator runs it: a config file, JSON logs, SIGTERM during a push.
@Suite("serve for operators", .serialized)
struct OperatorTests {
    /// A team server's data directory with project palmyra and a token for Khaled.
    static func team(_ s: Sandbox) async throws -> (data: String, token: String) {
        let data = s.path("server")
        try await ok(s, "server", "project", "add", "palmyra", "--data", data)
        let token = try await ok(s, "server", "token", "create", "--project", "palmyra", "--researcher", "Khaled", "--data", data)
        return (data, token)
    }

    /// `strata ARGS` on the sandbox's store, waited for off the concurrency pool.
    static func run(_ s: Sandbox, _ args: String...) async throws -> Run {
        let (store, dir) = (s.store, s.dir)
        return try await offPool { try strata(args, env: ["STRATA_STORE": store], cwd: dir) }
    }

    /// Like ``run`` but expects success and returns trimmed standard output.
    @discardableResult
    static func ok(_ s: Sandbox, _ args: String..., sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        let (store, dir) = (s.store, s.dir)
        let r = try await offPool { try strata(args, env: ["STRATA_STORE": store], cwd: dir) }
        #expect(r.status == 0, "strata \(args.joined(separator: " ")) failed: \(r.stderr)", sourceLocation: sourceLocation)
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func write(_ s: Sandbox, _ name: String, _ text: String) throws -> String {
        let p = s.path(name)
        try Data(text.utf8).write(to: URL(fileURLWithPath: p))
        return p
    }

    @Test func aConfigFileSetsTheServerAndFlagsOverrideIt() async throws {
        let s = try Sandbox()
        let cwd = s.dir
        let (data, token) = try await Self.team(s)
        let config = try Self.write(
            s, "serve.json", #"{"host": "127.0.0.1", "port": 0, "data": "\#(data)", "log-format": "json", "rate-burst": 5}"#)
        let server = try await offPool { try ServerProcess(["serve", "--config", config], env: [:], cwd: cwd) }
        let port = server.port
        #expect(try await offPool { httpGet(port: port, path: "/healthz") } == #"{"status":"ok"}"#)
        // The data directory came from the file: the project is there.
        try await Self.ok(s, "init", "--author", "Khaled")
        try await Self.ok(s, "remote", "add", "origin", server.url, "--project", "palmyra", "--token", token)
        try await Self.ok(s, "add", "note", "Arch of Triumph")
        #expect(try await Self.ok(s, "sync").contains("pushed 1 change"))
        #expect(try await offPool { server.stop() } == 0)
        // JSON logs from the file: every line of the log is one JSON object.
        let lines = server.log.split(separator: "\n")
        #expect(lines.count >= 4)
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["level"] != nil, "not a JSON log line: \(line)")
            #expect(!line.contains(token))
        }

        // Options on the command line override the file: another port, the human log.
        let busy = try Self.write(s, "busy.json", #"{"port": 9, "log-format": "json", "data": "\#(data)"}"#)
        let over = try await offPool {
            try ServerProcess(["serve", "--config", busy, "--port", "0", "--log-format", "human"], env: [:], cwd: cwd)
        }
        #expect(over.port != 9)
        #expect(over.log.contains("listening on http://127.0.0.1:\(over.port) (Ctrl-C to stop)"))
        #expect(!over.log.contains(#""level":"#))
        #expect(try await offPool { over.stop() } == 0)
    }

    @Test func aBadConfigFileIsOneLineNamingTheFileAndTheKey() async throws {
        let s = try Sandbox()
        let cases: [(String, String)] = [
            (#"{"prot": 7070}"#, #"has an unknown key "prot"; known keys: host, port"#),
            (#"{"port": "7070"}"#, #"sets "port" to "7070"; it must be a whole number from 0 to 65535"#),
            (#"{"port": 70000}"#, #"sets "port" to 70000; it must be a whole number from 0 to 65535"#),
            (#"{"log-format": "xml"}"#, #"sets "log-format" to "xml"; it must be one of human, json"#),
            (#"{"rate-limit": true}"#, #"sets "rate-limit" to true; it must be a number of requests per second"#),
            (#"{"port": 7070"#, "is not valid JSON"),
            ("port = 7070", "is not valid JSON"),
            (#"[7070]"#, "must be one JSON object"),
            (
                #"{"database": "mysql://strata:hunter2@db.internal/strata"}"#,
                #"sets "database" to something that is not a PostgreSQL URL (not shown: it may hold a password)"#
            ),
            (#"{"database-connections": 0}"#, #"sets "database-connections" to 0; it must be a whole number from 1 to 1000"#),
            (#"{"database-timeout": 2.5}"#, #"sets "database-timeout" to 2.5; it must be a whole number from 1 to 3600"#),
            (#"{"database": 5432}"#, #"it must be a string postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"#),
            (
                #"{"data": "/srv/strata", "database": "postgres://strata:hunter2@db.internal/strata"}"#,
                #"sets both "data" (SQLite files) and "database" (PostgreSQL)"#
            ),
        ]
        for (i, (text, needle)) in cases.enumerated() {
            let path = try Self.write(s, "bad-\(i).json", text)
            let r = try await Self.serveRefused(s, "--config", path, "--data", s.path("server"))
            expectOneLineError(r, containing: needle)
            #expect(r.stderr.contains(path), "\(r.stderr)")
            #expect(!r.stderr.contains("hunter2"), "a password in an error: \(r.stderr)")
        }
        let missing = try await Self.serveRefused(s, "--config", s.path("none.json"))
        expectOneLineError(missing, containing: "cannot read the config file \(s.path("none.json")): no such file")
        // A bad option is argument-parser's usage error, naming the option.
        let flag = try await Self.serveRefused(s, "--log-format", "xml")
        #expect(flag.status != 0 && flag.stderr.contains("--log-format must be human or json"))
        let pool = try await Self.serveRefused(s, "--database-connections", "0")
        #expect(pool.status != 0 && pool.stderr.contains("--database-connections must be from 1 to 1000, not 0"), "\(pool.stderr)")
    }

    /// `strata serve ARGS` expected to refuse to start; a server that starts anyway is stopped
    /// after 20 s (and the test fails on its exit status) rather than left running.
    static func serveRefused(_ s: Sandbox, _ args: String...) async throws -> Run {
        let (dir, err) = (s.dir, s.path(".refused-\(UUID().uuidString)"))
        return try await offPool { try Self.serveRefused(in: dir, args, errorFile: err) }
    }

    static func serveRefused(in dir: URL, _ args: [String], errorFile err: String) throws -> Run {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: strataBinary)
        p.arguments = ["serve", "--port", "0"] + args
        p.currentDirectoryURL = dir
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(20)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if p.isRunning { p.interrupt() }
        p.waitUntilExit()
        let stderr = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
        return Run(status: p.isRunning ? 0 : p.terminationStatus, stdout: "", stderr: stderr)
    }

    /// SIGTERM while a push is being applied: the server lets it finish (or, past the shutdown
    /// timeout, cancels it whole), exits 0, and the project holds all of the push or none of it.
    @Test func sigtermDuringAPushFinishesItAndExitsZero() async throws {
        let s = try Sandbox()
        let (data, token) = try await Self.team(s)
        // Enough changes that applying the push takes a while on the server.
        let count = 3000
        let path = s.store
        try await offPool {
            let store = try Store.create(at: path, author: "Khaled")
            try store.commit(
                each: (0..<count).map { i in
                    let id = store.newRecordID()
                    return [.create(id, kind: .note), .set(id, field: "title", .text("Column \(i) of the great colonnade"))]
                })
        }
        let cwd = s.dir
        let server = try await offPool {
            try ServerProcess(["serve", "--port", "0", "--data", data, "--shutdown-timeout", "120"], env: [:], cwd: cwd)
        }
        try await Self.ok(s, "remote", "add", "origin", server.url, "--project", "palmyra", "--token", token)

        // The sync in the background, one push batch.
        let client = Process()
        client.executableURL = URL(fileURLWithPath: strataBinary)
        client.arguments = ["sync", "--batch-kb", "16384"]
        var env = ProcessInfo.processInfo.environment
        env["STRATA_STORE"] = s.store
        client.environment = env
        let out = s.path("sync.out")
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        client.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        client.standardError = client.standardOutput
        try client.run()

        // Wait (bounded) until the push is in flight on the server, then SIGTERM it.
        let port = server.port
        let inFlight = try await offPool { () -> Bool in
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline && client.isRunning {
                let metrics = httpGet(port: port, path: "/metrics") ?? ""
                if metrics.contains(#"strata_http_requests_in_flight{route="/v1/projects/{project}/push"} 1"#) { return true }
                Thread.sleep(forTimeInterval: 0.005)
            }
            return false
        }
        #expect(inFlight, "the push was never seen in flight")
        kill(server.process.processIdentifier, SIGTERM)
        let status = try await offPool { server.waitForExit(seconds: 130) }
        #expect(status == 0, "serve exit: \(String(describing: status)); log: \(server.log)")
        try await offPool {
            let clientDeadline = Date().addingTimeInterval(60)
            while client.isRunning && Date() < clientDeadline { Thread.sleep(forTimeInterval: 0.05) }
            if client.isRunning { client.terminate() }
        }
        let said = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""

        let held = try #require(try TeamStorage(directory: data).store(for: "palmyra")).status().changes
        #expect(held == 0 || held == count, "a push half applied: \(held) of \(count)")
        if client.terminationStatus == 0 {
            #expect(said.contains("pushed \(count) changes") && held == count, "\(said)")
        } else {
            #expect(said.contains("sync with origin stopped"), "\(said)")
        }
        // Graceful: the push in flight finished.
        #expect(held == count, "the push in flight was not finished: \(said)")
    }

    /// A push whose body never comes holds the shutdown no longer than --shutdown-timeout: the
    /// server gives up on it, exits 0, and nothing of it is applied.
    @Test func aStalledRequestHoldsTheShutdownOnlyForTheShutdownTimeout() async throws {
        let s = try Sandbox()
        let (data, token) = try await Self.team(s)
        let cwd = s.dir
        let server = try await offPool {
            try ServerProcess(
                ["serve", "--port", "0", "--data", data, "--shutdown-timeout", "1", "--request-timeout", "3600"], env: [:], cwd: cwd)
        }
        // Headers of a 1,000-byte push, then 10 bytes, then nothing.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(server.port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(connected == 0)
        let head =
            "POST /v1/projects/palmyra/push HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n"
            + "Content-Type: application/vnd.strata.changeset\r\nContent-Length: 1000\r\n\r\nSCHG\u{1}\u{0}\u{0}\u{0}\u{0}\u{0}"
        #expect(head.withCString { send(fd, $0, strlen($0), 0) } > 0)
        let port = server.port
        let inFlight = try await offPool { () -> Bool in
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline {
                if (httpGet(port: port, path: "/metrics") ?? "").contains(
                    #"strata_http_requests_in_flight{route="/v1/projects/{project}/push"} 1"#)
                { return true }
                Thread.sleep(forTimeInterval: 0.01)
            }
            return false
        }
        try #require(inFlight, "the stalled push never reached the server")
        kill(server.process.processIdentifier, SIGTERM)
        // 1 s of grace, then the request is cancelled; 30 s is only this test's own bound.
        let status = try await offPool { server.waitForExit(seconds: 30) }
        #expect(status == 0, "serve exit: \(String(describing: status)); log: \(server.log)")
        #expect(try #require(try TeamStorage(directory: data).store(for: "palmyra")).status().changes == 0)
    }
}
