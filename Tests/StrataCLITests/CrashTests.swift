import Foundation
import StrataTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Crash safety: a team server and three client replicas, all `strata` processes on 127.0.0.1,
/// record notes and sync while, at each kill point, one of them is killed with SIGKILL after a
/// random delay; then it is restarted and every store is checked.
///
/// Checked after every kill: the killed store passes `strata check` (which runs
/// `PRAGMA integrity_check` and re-derives every record from the change log) and the sqlite3
/// shell's `PRAGMA integrity_check` when present; every note whose `strata add` (or text whose
/// `strata append`) exited 0 is in its replica; every note or text a replica had when a
/// `strata sync` of it exited 0 is on the server. At the end every replica syncs until nothing
/// moves, and all replicas and the server's store export the same JSON, acknowledged edits
/// included.
///
/// Only kills that landed while the process was still running count as kill points.
/// The default suite runs a short seeded slice; `STRATA_CRASH_RUNS=300` (and `STRATA_CRASH_SEED`)
/// give the long run that Tools/crash/run.sh drives.
@Suite("crash safety", .serialized)
struct CrashTests {
    static let runs = ProcessEnvironment.int("STRATA_CRASH_RUNS", default: 3)
    static let seed = UInt64(ProcessEnvironment.int("STRATA_CRASH_SEED", default: 0xC4A5))

    @Test func killedClientsAndServerLoseNothingAcknowledged() throws {
        var h = try CrashHarness(seed: Self.seed)
        let summary = try h.run(killPoints: Self.runs)
        print("crash safety: \(summary)")
        #expect(summary.killPoints >= Self.runs)
        #expect(summary.problems.isEmpty, "\(summary.problems.joined(separator: "\n"))")
    }
}

/// One seeded crash campaign (see ``CrashTests``).
struct CrashHarness {
    struct Summary: CustomStringConvertible {
        var killPoints = 0
        var serverKills = 0
        var clientKillsInAdd = 0
        var clientKillsInAppend = 0
        var clientKillsInSync = 0
        var missedKills = 0
        var acknowledgedAdds = 0
        var acknowledgedAppends = 0
        var acknowledgedSyncs = 0
        var failedSyncs = 0
        var seconds = 0.0
        var problems: [String] = []

        var description: String {
            "\(killPoints) kill points survived (server \(serverKills), client in add \(clientKillsInAdd), "
                + "in append \(clientKillsInAppend), in sync \(clientKillsInSync)); \(missedKills) kills came after "
                + "the process had exited and were not counted; \(acknowledgedAdds) acknowledged adds, "
                + "\(acknowledgedAppends) acknowledged appends, \(acknowledgedSyncs) acknowledged syncs, "
                + "\(failedSyncs) syncs cut or refused; \(problems.count) problems; \(String(format: "%.0f", seconds)) s"
        }
    }

    struct Client {
        var name: String
        var store: String
        /// Markers (note titles, appended texts) acknowledged locally: the command exited 0.
        var local: [String] = []
        /// Markers the server acknowledged: the replica had them when a sync exited 0.
        var pushed: Set<String> = []
        /// Titles of notes this client may append to (their add was acknowledged).
        var notes: [String] = []
    }

    let sandbox: Sandbox
    var rng: SeededRandom
    var clients: [Client] = []
    var server: ServerProcess
    let port: Int
    let serverEnv: [String: String]
    var summary = Summary()
    /// Typical run times of each operation (s), measured on this machine, for the kill delays.
    var typical: [String: Double] = [:]
    let sqlite3: String? = ["/usr/bin/sqlite3", "/usr/local/bin/sqlite3"].first { FileManager.default.isExecutableFile(atPath: $0) }

    var serverStore: String { sandbox.path("server/projects/palmyra.strata") }

    init(seed: UInt64) throws {
        sandbox = try Sandbox()
        rng = SeededRandom(seed: seed)
        serverEnv = ["STRATA_SERVER_DATA": sandbox.path("server")]
        try sandbox.ok("server", "project", "add", "palmyra", env: serverEnv)
        server = try ServerProcess(["serve", "--port", "0"], env: serverEnv, cwd: sandbox.dir)
        port = server.port
        for name in ["Khaled", "Maria", "Lena"] {
            let store = sandbox.path("\(name.lowercased()).strata")
            let token = try sandbox.ok(
                "server", "token", "create", "--project", "palmyra", "--researcher", name, env: serverEnv)
            try sandbox.ok("init", "--author", name, store: store)
            try sandbox.ok("remote", "add", "origin", server.url, "--project", "palmyra", "--token", token, store: store)
            clients.append(Client(name: name, store: store))
        }
    }

    // MARK: - the campaign

    mutating func run(killPoints: Int) throws -> Summary {
        let started = Date()
        // Some history first, so syncs take many 1 KB batches (less for the short slice).
        for c in clients.indices {
            for _ in 0..<(killPoints > 10 ? 8 : 2) { try add(c, run: 0) }
        }
        try calibrate()
        var run = 1
        // Bounded: at most 4 attempts per kill point asked for, and 90 minutes.
        while summary.killPoints < killPoints && run <= killPoints * 4 && Date().timeIntervalSince(started) < 5400 {
            try killPoint(run: run)
            run += 1
        }
        try finish()
        summary.seconds = Date().timeIntervalSince(started)
        return summary
    }

    /// Measures each operation once, so kill delays spread over its whole run.
    mutating func calibrate() throws {
        var t = Date()
        try add(0, run: 0)
        typical["add"] = Date().timeIntervalSince(t)
        t = Date()
        try append(0, run: 0)
        typical["append"] = Date().timeIntervalSince(t)
        t = Date()
        try sync(1)
        typical["sync"] = max(Date().timeIntervalSince(t), typical["add"]!)
    }

    mutating func killPoint(run: Int) throws {
        // A little foreground work by random replicas: notes and syncs (acknowledged or not).
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            let c = Int.random(in: 0..<clients.count, using: &rng)
            switch Int.random(in: 0..<5, using: &rng) {
            case 0: try sync(c)
            case 1: try append(c, run: run)
            default: try add(c, run: run)
            }
        }
        let victim = Int.random(in: 0...clients.count, using: &rng)  // clients.count: the server
        if victim == clients.count {
            try killServer(run: run)
        } else {
            try killClient(victim, run: run)
        }
        if run % 10 == 0 { checkEverything(when: "after run \(run)") }
    }

    /// Kills the server while a replica syncs (pushing its new notes or pulling what it lacks);
    /// restarts it on the same port.
    mutating func killServer(run: Int) throws {
        let c = Int.random(in: 0..<clients.count, using: &rng)
        let before = Set(clients[c].local)
        let syncing = try start(["sync", "--batch-kb", "1"], client: c)
        let delay = Double.random(in: 0.01...(typical["sync"]! * 1.2), using: &rng)
        let landed = killAfter(server.process, delay: delay)
        let rc = wait(syncing)
        if rc == 0 {
            // The sync finished before the kill: the server acknowledged everything it had.
            clients[c].pushed.formUnion(before)
            summary.acknowledgedSyncs += 1
        } else {
            summary.failedSyncs += 1
        }
        if landed { summary.serverKills += 1 } else { summary.missedKills += 1 }
        if landed { summary.killPoints += 1 }
        check(store: serverStore, what: "server after kill \(run)")
        checkServerHasPushed(when: "server after kill \(run)")
        try restartServer()
    }

    /// Kills a replica in the middle of recording a note, appending to one, or syncing.
    mutating func killClient(_ c: Int, run: Int) throws {
        let kind = ["add", "add", "append", "sync", "sync"][Int.random(in: 0..<5, using: &rng)]
        let p: Process
        var pendingTitle: String? = nil
        let before = Set(clients[c].local)
        switch kind {
        case "add":
            let title = marker(c, run: run, "n")
            pendingTitle = title
            p = try start(addArguments(title), client: c)
        case "append":
            guard let note = clients[c].notes.randomElement(using: &rng) else { return }
            let text = marker(c, run: run, "a")
            p = try start(["append", try recordID(of: note, client: c), text], client: c)
        default:
            p = try start(["sync", "--batch-kb", "1"], client: c)
        }
        let delay = Double.random(in: 0.005...(typical[kind]! * 1.1), using: &rng)
        let landed = killAfter(p, delay: delay)
        if !landed {
            summary.missedKills += 1
            // It had finished: its exit status is an acknowledgement like any other.
            if p.terminationStatus == 0 {
                if kind == "sync" {
                    clients[c].pushed.formUnion(before)
                } else if let t = pendingTitle {
                    clients[c].local.append(t)
                    clients[c].notes.append(t)
                }
            }
        } else {
            summary.killPoints += 1
            switch kind {
            case "add": summary.clientKillsInAdd += 1
            case "append": summary.clientKillsInAppend += 1
            default: summary.clientKillsInSync += 1
            }
        }
        check(store: clients[c].store, what: "\(clients[c].name) after kill \(run) in \(kind)")
        checkLocal(c, when: "after kill \(run) in \(kind)")
        // "Restart": the next command opens the store again and must work.
        try add(c, run: run)
    }

    /// Syncs every replica until nothing moves, then compares everything.
    mutating func finish() throws {
        checkEverything(when: "before the final sync")
        // Two rounds: after the first the last replica has everything, after the second all do.
        for _ in 0..<2 {
            for c in clients.indices { try sync(c, mustSucceed: true) }
        }
        let reference = try sandbox.ok("export", "--format", "json", store: clients[0].store)
        for c in clients.indices.dropFirst() {
            let e = try sandbox.ok("export", "--format", "json", store: clients[c].store)
            if e != reference { summary.problems.append("\(clients[c].name) differs from \(clients[0].name) after the final sync") }
        }
        let s = try sandbox.ok("export", "--format", "json", "--store", serverStore)
        if s != reference { summary.problems.append("the server's store differs from the replicas after the final sync") }
        for c in clients.indices {
            for m in clients[c].local where !reference.contains(m) {
                summary.problems.append("\(m), acknowledged by \(clients[c].name), is missing after the final sync")
            }
        }
        checkEverything(when: "at the end")
        _ = server.stop()
    }

    // MARK: - operations

    func marker(_ c: Int, run: Int, _ kind: String) -> String {
        "[\(clients[c].name) r\(run) \(kind)\(clients[c].local.count)]"
    }

    func addArguments(_ title: String) -> [String] {
        ["add", "note", title, "--body", "Recorded in the field. \(title)\n" + String(repeating: "Column drums, fallen. ", count: 30),
         "--tag", "crash"]
    }

    mutating func add(_ c: Int, run: Int) throws {
        let title = marker(c, run: run, "n")
        let r = try cli(addArguments(title), store: clients[c].store)
        guard r.status == 0 else {
            summary.problems.append("strata add on \(clients[c].name) failed: \(r.stderr)")
            return
        }
        clients[c].local.append(title)
        clients[c].notes.append(title)
        summary.acknowledgedAdds += 1
    }

    mutating func append(_ c: Int, run: Int) throws {
        guard let note = clients[c].notes.randomElement(using: &rng) else { return }
        let text = marker(c, run: run, "a")
        let r = try cli(["append", try recordID(of: note, client: c), text], store: clients[c].store)
        guard r.status == 0 else {
            summary.problems.append("strata append on \(clients[c].name) failed: \(r.stderr)")
            return
        }
        clients[c].local.append(text)
        summary.acknowledgedAppends += 1
    }

    mutating func sync(_ c: Int, mustSucceed: Bool = false) throws {
        let before = Set(clients[c].local)
        let r = try cli(["sync", "--batch-kb", "1"], store: clients[c].store)
        if r.status == 0 {
            clients[c].pushed.formUnion(before)
            summary.acknowledgedSyncs += 1
        } else {
            summary.failedSyncs += 1
            if mustSucceed { summary.problems.append("sync of \(clients[c].name) failed: \(r.stderr)") }
        }
    }

    /// The record id of the note titled `title` (its add was acknowledged, so it is there).
    func recordID(of title: String, client c: Int) throws -> String {
        let r = try cli(["list", "--json", "--all"], store: clients[c].store)
        let list = (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [[String: Any]] ?? []
        let hit = list.first { ($0["title"] as? String) == title }
        return (hit?["id"] as? String) ?? title
    }

    /// Runs `strata args --store store` to completion.
    func cli(_ args: [String], store: String) throws -> Run {
        try strata(args + ["--store", store], env: [:], cwd: sandbox.dir)
    }

    func start(_ args: [String], client c: Int) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: strataBinary)
        p.arguments = args + ["--store", clients[c].store]
        var env = ProcessInfo.processInfo.environment
        env["EDITOR"] = "false"
        p.environment = env
        p.currentDirectoryURL = sandbox.dir
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Sleeps `delay`, then SIGKILLs `p` if it is still running. True when the kill landed.
    func killAfter(_ p: Process, delay: Double) -> Bool {
        Thread.sleep(forTimeInterval: delay)
        guard p.isRunning else {
            p.waitUntilExit()
            return false
        }
        let landed = Foundation.kill(p.processIdentifier, SIGKILL) == 0
        p.waitUntilExit()
        return landed && p.terminationReason == .uncaughtSignal && p.terminationStatus == SIGKILL
    }

    func wait(_ p: Process) -> Int32 {
        // A client whose server vanished fails fast (connection refused); bounded anyway.
        let deadline = Date().addingTimeInterval(120)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        if p.isRunning {
            Foundation.kill(p.processIdentifier, SIGKILL)
        }
        p.waitUntilExit()
        return p.terminationReason == .exit ? p.terminationStatus : -1
    }

    mutating func restartServer() throws {
        var lastError: Error? = nil
        for _ in 0..<20 {
            do {
                server = try ServerProcess(["serve", "--port", "\(port)"], env: serverEnv, cwd: sandbox.dir)
                return
            } catch {
                lastError = error
                Thread.sleep(forTimeInterval: 0.25)
            }
        }
        throw lastError ?? CLIError("the server did not restart")
    }

    // MARK: - checks

    mutating func check(store: String, what: String) {
        guard let r = try? cli(["check"], store: store) else {
            summary.problems.append("\(what): strata check did not run")
            return
        }
        if r.status != 0 || r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) != "ok" {
            summary.problems.append("\(what): strata check: \(r.stdout) \(r.stderr)")
        }
        if let sqlite3, let r = try? runProgram(sqlite3, ["-readonly", store, "PRAGMA integrity_check"], cwd: sandbox.dir) {
            let out = r.stdout + r.stderr
            if out.trimmingCharacters(in: .whitespacesAndNewlines) != "ok" {
                summary.problems.append("\(what): PRAGMA integrity_check: \(out)")
            }
        }
    }

    func export(_ store: String) -> String {
        (try? cli(["export", "--format", "json", "--all"], store: store))?.stdout ?? ""
    }

    mutating func checkLocal(_ c: Int, when: String) {
        let e = export(clients[c].store)
        for m in clients[c].local where !e.contains(m) {
            summary.problems.append("\(m), acknowledged by strata on \(clients[c].name), is missing \(when)")
        }
    }

    mutating func checkServerHasPushed(when: String) {
        let e = export(serverStore)
        for c in clients.indices {
            for m in clients[c].pushed where !e.contains(m) {
                summary.problems.append("\(m), acknowledged by a sync of \(clients[c].name), is not on the server \(when)")
            }
        }
    }

    mutating func checkEverything(when: String) {
        for c in clients.indices {
            check(store: clients[c].store, what: "\(clients[c].name) \(when)")
            checkLocal(c, when: when)
        }
        check(store: serverStore, what: "server \(when)")
        checkServerHasPushed(when: when)
    }
}
