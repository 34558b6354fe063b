// strata-bench: Strata's speed and size against the physical limits, each scenario beside its
// baseline in the same run (these machines are noisy: absolute times vary, ratios hold).
//
//   swift build -c release --product strata-bench && .build/release/strata-bench [options] [scenario ...]
//   Tools/bench/run.sh            the whole suite (release), a table, JSON and the plot
//
// Scenarios: write, merge, first-sync, incremental-sync, cli. Options: --size N (records,
// default 100000), --repeat R (default 3; medians are reported), --json (one JSON object per
// result on stdout), --strata PATH (the strata binary for `cli`; default: next to this one).
import CZlib
import Foundation
import GRDB
import Logging
import StrataCodec
import StrataCore
import StrataServer
import StrataStore
import StrataSync
import StrataSyncTesting

// MARK: options

struct Options: Sendable {
    var size = 100_000
    var repeats = 3
    var json = false
    var strataBinary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("strata").path
    var scenarios: [String] = []
    static let all = ["write", "merge", "first-sync", "incremental-sync", "cli", "load"]
    /// Clients syncing at once in the `load` scenario, and for how long.
    var clients = 50
    var loadSeconds = 20.0

    static func parse() -> Options {
        var o = Options()
        var args = CommandLine.arguments.dropFirst()[...]
        func value(_ name: String) -> String {
            guard let v = args.popFirst() else { fail("\(name) needs a value") }
            return v
        }
        while let a = args.popFirst() {
            switch a {
            case "--size":
                guard let n = Int(value(a)) else { fail("--size takes a number of records, e.g. --size 100000") }
                o.size = n
            case "--repeat":
                guard let n = Int(value(a)) else { fail("--repeat takes a count, e.g. --repeat 3") }
                o.repeats = max(1, n)
            case "--json": o.json = true
            case "--clients":
                guard let n = Int(value(a)), n >= 1 else { fail("--clients takes a count, e.g. --clients 50") }
                o.clients = n
            case "--seconds":
                guard let n = Double(value(a)), n > 0 else { fail("--seconds takes a duration, e.g. --seconds 20") }
                o.loadSeconds = n
            case "--strata": o.strataBinary = value(a)
            case "-h", "--help":
                print("usage: strata-bench [--size N] [--repeat R] [--json] [--strata PATH] [--clients C] [--seconds S] [\(all.joined(separator: "|")) ...]")
                exit(0)
            default:
                guard all.contains(a) else { fail("unknown scenario '\(a)'; scenarios: \(all.joined(separator: ", "))") }
                o.scenarios.append(a)
            }
        }
        if o.scenarios.isEmpty { o.scenarios = all }
        guard o.size >= 10 else { fail("--size must be at least 10") }
        return o
    }
}

let opts = Options.parse()
let size = opts.size
let repeats = opts.repeats

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("strata-bench: \(message)\n".utf8))
    exit(2)
}

// MARK: results

struct Result: Codable {
    var scenario: String
    var metric: String
    var unit: String
    var strata: Double
    var baseline: Double
    var baselineName: String
    /// strata / baseline.
    var ratio: Double
    var goal: String
    var met: Bool?
    var size: Int
}

func report(
    _ scenario: String, _ metric: String, unit: String, strata: Double, baseline: Double, baselineName: String,
    goal: String = "", met: Bool? = nil, size n: Int = size
) {
    let r = Result(
        scenario: scenario, metric: metric, unit: unit, strata: strata, baseline: baseline, baselineName: baselineName,
        ratio: baseline == 0 ? .nan : strata / baseline, goal: goal, met: met, size: n)
    if opts.json {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        print(String(decoding: try! e.encode(r), as: UTF8.self))
    } else {
        let verdict = met.map { $0 ? "met" : "NOT met" } ?? ""
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        print(
            pad(scenario, 17) + pad(metric, 46) + String(format: "%12.4g ", strata) + pad(unit, 6)
                + pad(baselineName, 38) + String(format: "%12.4g  ratio %8.3f  ", baseline, r.ratio) + goal + " " + verdict)
    }
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let t0 = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
}

func seconds(_ body: () async throws -> Void) async rethrows -> Double {
    let t0 = DispatchTime.now().uptimeNanoseconds
    try await body()
    return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
}

// MARK: data

let work = FileManager.default.temporaryDirectory.appendingPathComponent("strata-bench-\(getpid())").path
try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: work) }
func freshPath(_ name: String) -> String { "\(work)/\(UUID().uuidString.prefix(8))-\(name)" }

/// A field note as researchers write them: ~800 characters of body, a title, three tags.
struct Note {
    var id: RecordID
    var title: String
    var body: String
    var tags: [String]
}

/// Real English prose for note bodies (so compression ratios are realistic): the final text of
/// the automerge-paper editing trace (CC BY 4.0, Tests/StrataTextTests/Traces/README.md).
let corpus: [Unicode.Scalar] = {
    let path = ProcessInfo.processInfo.environment["STRATA_BENCH_CORPUS"]
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../../../Tests/StrataTextTests/Traces/automerge-paper.json.gz").standardized.path
    guard let gz = gzopen(path, "rb") else { fail("cannot read the text corpus \(path); set STRATA_BENCH_CORPUS to a trace .json.gz") }
    defer { gzclose(gz) }
    var data = Data()
    var buf = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = gzread(gz, &buf, UInt32(buf.count))
        guard n > 0 else { break }
        data.append(contentsOf: buf[0..<Int(n)])
    }
    // Only the final text is needed: parse the "endContent" string alone, not the whole trace.
    guard let key = data.range(of: Data("\"endContent\"".utf8)),
        let open = data[key.upperBound...].firstIndex(of: UInt8(ascii: "\""))
    else { fail("\(path) is not an editing trace with an endContent") }
    var end = open + 1
    while end < data.endIndex && data[end] != UInt8(ascii: "\"") { end += data[end] == UInt8(ascii: "\\") ? 2 : 1 }
    guard end < data.endIndex, let text = try? JSONDecoder().decode(String.self, from: data[open...end]),
        text.unicodeScalars.count > 2000
    else { fail("\(path) is not an editing trace with an endContent") }
    return Array(text.unicodeScalars)
}()

func makeNotes(_ n: Int, start: Int = 0) -> [Note] {
    var rng = SystemRandomNumberGenerator()
    return (0..<n).map { k in
        let i = start + k
        let offset = (i &* 7919) % (corpus.count - 800)
        var body = String.UnicodeScalarView()
        body.append(contentsOf: corpus[offset..<offset + 800])
        return Note(
            id: RecordID.v7(unixMillis: 1_764_000_000_000 + UInt64(i), using: &rng), title: "Survey note \(i)", body: String(body),
            tags: ["palmyra", ["theatre", "citadel", "temple"][i % 3], "2017"])
    }
}

func edits(_ n: Note) -> [Edit] {
    [.create(n.id, kind: .note), .set(n.id, field: "title", .text(n.title)), .set(n.id, field: "body", .text(n.body))]
        + n.tags.map { .add(n.id, field: SystemField.tags, element: $0) }
}

/// Plain SQLite: the same rows, one prepared statement, WAL (the store's own settings).
func plainInsert(_ notes: [Note], path: String, transactionPerRow: Bool = false) throws -> Double {
    var c = Configuration()
    c.journalMode = .wal
    c.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
    let q = try DatabaseQueue(path: path, configuration: c)
    try q.write { db in try db.execute(sql: "CREATE TABLE notes(id BLOB PRIMARY KEY, title TEXT, body TEXT, tags TEXT)") }
    return try seconds {
        if transactionPerRow {
            for n in notes {
                try q.write { db in
                    try db.cachedStatement(sql: "INSERT INTO notes VALUES (?, ?, ?, ?)").execute(arguments: [
                        Data(n.id.bytes), n.title, n.body, n.tags.joined(separator: " "),
                    ])
                }
            }
        } else {
            try q.write { db in
                let st = try db.cachedStatement(sql: "INSERT INTO notes VALUES (?, ?, ?, ?)")
                for n in notes { try st.execute(arguments: [Data(n.id.bytes), n.title, n.body, n.tags.joined(separator: " ")]) }
            }
        }
    }
}

/// The SQLite work of Strata's own schema without the engine: the rows a Strata store holds
/// after recording notes (change log with its encoded payloads, materialised records with
/// their encoded states, change-to-record links, tags, the FTS5 index) copied by prepared
/// statements into an empty store of the same schema, in one transaction. Strata's time over
/// this is the engine's own cost; this over a plain insert is what the schema costs.
func schemaFloor(copying source: String) throws -> Double {
    let dest = freshPath("floor.strata")
    _ = try Store.create(at: dest, author: "Floor")  // the schema; closed when dropped
    var c = Configuration()
    c.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
    let tables: [(select: String, insert: String)] = [
        ("SELECT replica, seq, hlc, author, payload, received_at FROM changes", "INSERT INTO changes VALUES (?, ?, ?, ?, ?, ?)"),
        (
            "SELECT rowid, id, text_id, kind, title, state, deleted, conflict, created, modified, doc FROM records",
            "INSERT INTO records(rowid, id, text_id, kind, title, state, deleted, conflict, created, modified, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ),
        ("SELECT record, replica, seq FROM change_records", "INSERT INTO change_records VALUES (?, ?, ?)"),
        ("SELECT tag, record FROM record_tags", "INSERT INTO record_tags VALUES (?, ?)"),
        ("SELECT rowid, title, body FROM records_fts", "INSERT INTO records_fts(rowid, title, body) VALUES (?, ?, ?)"),
    ]
    let rows = try DatabaseQueue(path: source).read { db in try tables.map { try Row.fetchAll(db, sql: $0.select) } }
    let q = try DatabaseQueue(path: dest, configuration: c)
    return try seconds {
        try q.write { db in
            for (table, content) in zip(tables, rows) {
                let st = try db.makeStatement(sql: table.insert)
                for row in content { try st.execute(arguments: StatementArguments(row.databaseValues)) }
            }
        }
    }
}

/// A store holding `notes`, recorded in one transaction.
func storeWith(_ notes: [Note], path: String, author: String = "Khaled") throws -> Store {
    let s = try Store.create(at: path, author: author)
    for chunk in stride(from: 0, to: notes.count, by: 5000) {
        try s.commit(each: notes[chunk..<min(notes.count, chunk + 5000)].map(edits))
    }
    return s
}

func zlibSize(_ bytes: [UInt8], level: Int32 = 6) -> Int {
    var outLen = compressBound(uLong(bytes.count))
    var out = [UInt8](repeating: 0, count: Int(outLen))
    let rc = compress2(&out, &outLen, bytes, uLong(bytes.count), level)
    precondition(rc == Z_OK, "zlib compress2 failed: \(rc)")
    return Int(outLen)
}

/// JSON lines of the records, as an export would write them.
func jsonExport(_ notes: [Note]) -> [UInt8] {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys]
    struct Row: Encodable { var id, kind, title, body: String; var tags: [String] }
    var out: [UInt8] = []
    for n in notes {
        out += try! e.encode(Row(id: n.id.text, kind: "note", title: n.title, body: n.body, tags: n.tags))
        out.append(0x0A)
    }
    return out
}

// MARK: sync plumbing

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
            for chunk in stride(from: 0, to: all.count, by: 5000) { try project.apply(Array(all[chunk..<min(all.count, chunk + 5000)])) }
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

// MARK: scenarios

func writeScenario() throws {
    var strata: [Double] = []
    var plain: [Double] = []
    var floor: [Double] = []
    for _ in 0..<repeats {
        let notes = makeNotes(size)
        plain.append(try plainInsert(notes, path: freshPath("plain.db")))
        let path = freshPath("write.strata")
        let s = try Store.create(at: path, author: "Khaled")
        strata.append(try seconds { try s.commit(each: notes.map(edits)) })
        floor.append(try schemaFloor(copying: path))
    }
    report(
        "write", "record notes, one transaction", unit: "s", strata: median(strata), baseline: median(plain),
        baselineName: "plain SQLite insert, 1 tx", goal: "ratio <= 1.5", met: median(strata) <= 1.5 * median(plain))
    report(
        "write", "Strata's tables by plain SQL (schema floor)", unit: "s", strata: median(floor), baseline: median(plain),
        baselineName: "plain SQLite insert, 1 tx")
    report(
        "write", "record notes, against the schema floor", unit: "s", strata: median(strata), baseline: median(floor),
        baselineName: "Strata's tables by plain SQL, 1 tx")
    // As the CLI records them: one change and one durable transaction per note.
    let n = min(size, 2000)
    var strata1: [Double] = []
    var plain1: [Double] = []
    for _ in 0..<repeats {
        let notes = makeNotes(n)
        plain1.append(try plainInsert(notes, path: freshPath("plain1.db"), transactionPerRow: true))
        let s = try Store.create(at: freshPath("write1.strata"), author: "Khaled")
        strata1.append(try seconds { for note in notes { try s.commit(edits(note)) } })
    }
    report(
        "write", "record notes, a transaction each", unit: "s", strata: median(strata1), baseline: median(plain1),
        baselineName: "plain SQLite, 1 tx per row", size: n)
}

func mergeScenario() throws {
    // Khaled records `size` notes; later he and Maria both retitle the same 10% of them
    // offline (concurrent conflicts). A third replica receives all of it.
    let notes = makeNotes(size)
    let khaled = try storeWith(notes, path: freshPath("khaled.strata"))
    let created = try khaled.changes(missingFrom: VersionVector())
    let maria = try Store.create(at: freshPath("maria.strata"), author: "Maria")
    for chunk in stride(from: 0, to: created.count, by: 5000) { try maria.apply(Array(created[chunk..<min(created.count, chunk + 5000)])) }
    let conflicted = notes.enumerated().filter { $0.offset % 10 == 0 }.map(\.element)
    try khaled.commit(each: conflicted.map { [.set($0.id, field: "title", .text($0.title + " (checked)"))] })
    try maria.commit(each: conflicted.map { [.set($0.id, field: "title", .text($0.title + " (revised)"))] })
    var all = try khaled.changes(missingFrom: VersionVector())
    all += try maria.changes(missingFrom: try khaled.versionVector())
    var times: [Double] = []
    var plain: [Double] = []
    for _ in 0..<repeats {
        plain.append(try plainInsert(makeNotes(all.count), path: freshPath("plainmerge.db")))
        let third = try Store.create(at: freshPath("omar.strata"), author: "Omar")
        times.append(
            try seconds {
                for chunk in stride(from: 0, to: all.count, by: 2000) {
                    try third.apply(Array(all[chunk..<min(all.count, chunk + 2000)]))
                }
            })
        let found = try third.conflicts().count
        precondition(found == conflicted.count, "merge: expected \(conflicted.count) conflicts, found \(found)")
    }
    report(
        "merge", "apply \(all.count) remote changes, 10% conflicting", unit: "s", strata: median(times), baseline: median(plain),
        baselineName: "plain SQLite insert of as many rows", size: all.count)
}

func firstSyncScenario() async throws {
    let notes = makeNotes(size)
    var plainTimes: [Double] = []
    for _ in 0..<repeats { plainTimes.append(try plainInsert(notes, path: freshPath("plainfs.db"))) }
    let plainRate = Double(size) / median(plainTimes)
    let zjson = zlibSize(jsonExport(notes))
    try await withServer(notes: notes) { url, token, _ in
        var rates: [Double] = []
        var bytes = 0
        for _ in 0..<repeats {
            let client = try Store.create(at: freshPath("first.strata"), author: "Maria")
            let r = try await sync(client, url, token)
            precondition(r.pulled == size, "first sync pulled \(r.pulled) of \(size)")
            rates.append(Double(size) / r.seconds)
            bytes = r.bytes
        }
        let rate = median(rates)
        report(
            "first-sync", "records per second", unit: "rec/s", strata: rate, baseline: plainRate,
            baselineName: "plain SQLite insert rate", goal: "ratio >= 0.333", met: rate >= plainRate / 3)
        report(
            "first-sync", "bytes on the wire", unit: "B", strata: Double(bytes), baseline: Double(zjson),
            baselineName: "zlib -6 of JSON lines", goal: "ratio <= 1.1", met: Double(bytes) <= 1.1 * Double(zjson))
    }
}

func incrementalScenario() async throws {
    var costs: [(Int, Double, Double)] = []
    let sizes = Array(Set([0, size / 100, size / 10, size])).sorted()
    for n in sizes {
        let notes = makeNotes(n)
        try await withServer(notes: notes) { url, token, _ in
            let reader = try Store.create(at: freshPath("reader.strata"), author: "Maria")
            _ = try await sync(reader, url, token)
            let writer = try Store.create(at: freshPath("writer.strata"), author: "Khaled")
            let push = HTTPTransport(baseURL: url, project: "palmyra", token: token)
            var times: [Double] = []
            var bytes: [Double] = []
            for k in 0..<max(repeats, 5) {
                let note = makeNotes(1, start: size + k)[0]
                let change = try writer.commit(edits(note))!
                _ = try await push.push([change])
                let r = try await sync(reader, url, token)
                precondition(r.pulled == 1, "incremental sync pulled \(r.pulled)")
                times.append(r.seconds)
                bytes.append(Double(r.bytes))
            }
            await push.close()
            costs.append((n, median(times), median(bytes)))
        }
    }
    let base = costs[0]
    for (n, t, b) in costs {
        let last = n == sizes.last!
        report(
            "incremental-sync", "one new note, replica of \(n)", unit: "s", strata: t, baseline: base.1,
            baselineName: "the same into a replica of 0", goal: last ? "ratio <= 1.5" : "", met: last ? t <= 1.5 * base.1 : nil,
            size: n)
        if last {
            report(
                "incremental-sync", "bytes on the wire per new note", unit: "B", strata: b, baseline: Double(zlibSize(jsonExport(makeNotes(1))) ),
                baselineName: "zlib -6 of the note's JSON", size: n)
        }
    }
}

func cliScenario() throws {
    guard FileManager.default.isExecutableFile(atPath: opts.strataBinary) else {
        fail("no strata binary at \(opts.strataBinary): build it (swift build -c release) or pass --strata PATH")
    }
    let sqlite = ["/usr/bin/sqlite3", "/usr/local/bin/sqlite3"].first { FileManager.default.isExecutableFile(atPath: $0) }
    guard let sqlite else { fail("the cli scenario needs the sqlite3 shell: apt-get install -y sqlite3") }
    let notes = makeNotes(size)
    let storePath = freshPath("cli.strata")
    _ = try storeWith(notes, path: storePath)
    let plainPath = freshPath("cli.db")
    _ = try plainInsert(notes, path: plainPath)
    func run(_ exe: String, _ args: [String], env: [String: String] = [:]) throws -> Double {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        p.standardOutput = FileHandle.nullDevice
        let t = try seconds {
            try p.run()
            p.waitUntilExit()
        }
        guard p.terminationStatus == 0 else { fail("\(exe) \(args.first ?? "") ... exited with \(p.terminationStatus)") }
        return t
    }
    var strata: [Double] = []
    var plain: [Double] = []
    for k in 0..<max(repeats, 7) {
        let note = makeNotes(1, start: size + k)[0]
        strata.append(
            try run(opts.strataBinary, ["add", "note", note.title, "--body", note.body, "--tag", "palmyra"], env: ["STRATA_STORE": storePath]))
        func quoted(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }
        let sql = "PRAGMA journal_mode=WAL; INSERT INTO notes VALUES (x'\(note.id.bytes.map { String(format: "%02x", $0) }.joined())', \(quoted(note.title)), \(quoted(note.body)), 'palmyra');"
        plain.append(try run(sqlite, [plainPath, sql]))
    }
    report(
        "cli", "add one note to a replica of \(size)", unit: "s", strata: median(strata), baseline: median(plain),
        baselineName: "sqlite3 shell, one INSERT")
}

/// Many researchers syncing at once: each client records a note and syncs, again and again,
/// for a bounded time; then everyone syncs once more and all replicas must be identical.
/// Baseline: the same cycle by one client alone.
func loadScenario() async throws {
    let clients = opts.clients
    try await withServer(notes: makeNotes(min(size, 1000))) { url, token, backend in
        func cycle(_ store: Store, _ k: Int) async throws -> Double {
            let note = makeNotes(1, start: size + k)[0]
            try store.commit(edits(note))
            return try await sync(store, url, token).seconds
        }
        let solo = try Store.create(at: freshPath("solo.strata"), author: "Solo")
        _ = try await sync(solo, url, token)
        var soloTimes: [Double] = []
        for k in 0..<20 { soloTimes.append(try await cycle(solo, 1_000_000 + k)) }
        let stores = try (0..<clients).map { try Store.create(at: freshPath("c\($0).strata"), author: "R\($0)") }
        for s in stores { _ = try await sync(s, url, token) }
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(opts.loadSeconds * 1e9)
        let t0 = DispatchTime.now().uptimeNanoseconds
        let outcomes = try await withThrowingTaskGroup(of: ([Double], Int).self) { group in
            for (i, store) in stores.enumerated() {
                group.addTask {
                    var times: [Double] = []
                    var errors = 0
                    var k = 0
                    while DispatchTime.now().uptimeNanoseconds < deadline && k < 10_000 {
                        do { times.append(try await cycle(store, 2_000_000 + i * 10_000 + k)) } catch { errors += 1 }
                        k += 1
                    }
                    return (times, errors)
                }
            }
            var all: [([Double], Int)] = []
            for try await o in group { all.append(o) }
            return all
        }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        let times = outcomes.flatMap(\.0).sorted()
        let errors = outcomes.map(\.1).reduce(0, +)
        // Quiescence: two rounds bring everything everywhere; then every replica is identical.
        for _ in 0..<2 { for s in stores { _ = try await sync(s, url, token) } }
        let server = try backend.store(for: "palmyra")!
        let reference = try server.allRecordStates()
        var identical = 0
        for s in stores where try s.allRecordStates() == reference { identical += 1 }
        let written = times.count + soloTimes.count + min(size, 1000)
        let onServer = reference.count
        func pct(_ xs: [Double], _ p: Double) -> Double { xs.isEmpty ? .nan : xs[min(xs.count - 1, Int(Double(xs.count) * p))] }
        let soloSorted = soloTimes.sorted()
        report(
            "load", "\(clients) clients: syncs per second", unit: "1/s", strata: Double(times.count) / elapsed,
            baseline: 1 / median(soloTimes), baselineName: "one client alone", size: clients)
        report(
            "load", "\(clients) clients: p50 sync latency", unit: "s", strata: pct(times, 0.5), baseline: pct(soloSorted, 0.5),
            baselineName: "one client alone, p50", size: clients)
        report(
            "load", "\(clients) clients: p99 sync latency", unit: "s", strata: pct(times, 0.99), baseline: pct(soloSorted, 0.99),
            baselineName: "one client alone, p99", size: clients)
        report(
            "load", "errors; replicas identical at the end", unit: "count", strata: Double(errors), baseline: Double(identical),
            baselineName: "replicas identical (of \(clients))", goal: "0 errors, all identical, none lost",
            met: errors == 0 && identical == clients && onServer == written, size: clients)
        if onServer != written { FileHandle.standardError.write(Data("load: \(written) notes written, \(onServer) on the server\n".utf8)) }
    }
}

// MARK: main

for s in opts.scenarios {
    switch s {
    case "write": try writeScenario()
    case "merge": try mergeScenario()
    case "first-sync": try await firstSyncScenario()
    case "incremental-sync": try await incrementalScenario()
    case "cli": try cliScenario()
    case "load": try await loadScenario()
    default: break
    }
}
