// strata-bench scenario `push-memory`: the peak memory one large push takes on the server, as
// growth of the process's peak RSS over its RSS just before the push, against the push's
// inflated size (goal: at most 2x, issue 13). Each measurement runs in a fresh child process
// (this binary, `push-memory-child`), so one run's freed memory does not hide the next one's:
//   - "whole": what the server did before: decode the whole change set, check which changes
//     the project holds, then append every change as one batch;
//   - "streamed": `SyncService.push`, which decodes and appends a bounded batch at a time
//     inside the storage's one transaction.
// Over the SQLite team storage (a Store per project, every change merged) and, when
// STRATA_BENCH_DATABASE_URL names a database whose user may create databases, PostgreSQL (the
// log only). The push: new records of eight small fields each, about --push-mb MB inflated
// (default 10.9, the size of issue 13's figure), the change set's body held in memory as the
// HTTP edge holds it.
import Foundation
import StrataCodec
import StrataCore
import StrataPostgres
import StrataServer
import StrataStore
import StrataSyncTesting

/// The push: `count` changes by Khaled, each creating a record with eight integer fields.
func pushMemoryChanges(_ count: Int, replica: ReplicaID, from wallMillis: UInt64) -> [Change] {
    var rng = SystemRandomNumberGenerator()
    return (0..<count).map { i in
        let record = RecordID.v7(unixMillis: wallMillis, using: &rng)
        let ops = (0..<8).map { f in
            FieldOperation(record: record, key: FieldKey("f\(f)"), action: .assign(.integer(Int64((i + f) % 64))), preds: [])
        }
        return Change(
            id: ChangeID(replica: replica, seq: UInt64(i + 1)),
            timestamp: HybridTimestamp(wallMillis: wallMillis + UInt64(i / 1000), counter: UInt16(i % 1000)), author: "Khaled",
            operations: ops)
    }
}

/// Bytes of the change set's inflated payload (the varint after magic, version and flags).
func inflatedSize(_ changeSet: [UInt8]) -> Int {
    var n = 0
    var shift = 0
    for b in changeSet[6...] {
        n |= Int(b & 0x7F) << shift
        if b < 0x80 { break }
        shift += 7
    }
    return n
}

func pushMemoryScenario() async throws {
    let target = Int(opts.pushMegabytes * 1e6)
    var rng = SystemRandomNumberGenerator()
    let replica = ReplicaID.random(using: &rng)
    let start = Store.wallClockMillis() - 3_600_000
    // Size the push: bytes per change from a sample, then the count that fills the target.
    let sample = inflatedSize(ChangeSetCodec.encode(pushMemoryChanges(2000, replica: replica, from: start)))
    let count = max(1, Int(Double(target) / (Double(sample) / 2000)))
    let changes = pushMemoryChanges(count, replica: replica, from: start)
    let body = ChangeSetCodec.encode(changes)
    let inflated = inflatedSize(body)
    let ops = changes.reduce(0) { $0 + $1.operations.count }
    let bodyFile = freshPath("push.changeset")
    try Data(body).write(to: URL(fileURLWithPath: bodyFile))
    FileHandle.standardError.write(
        Data("push-memory: \(count) changes, \(ops) operations, \(inflated) bytes inflated, \(body.count) compressed\n".utf8))

    var storages = ["sqlite"]
    if let url = ProcessInfo.processInfo.environment["STRATA_BENCH_DATABASE_URL"], !url.isEmpty {
        storages.append("postgres")
    } else {
        FileHandle.standardError.write(Data("push-memory: PostgreSQL not measured: STRATA_BENCH_DATABASE_URL is not set\n".utf8))
    }
    for storage in storages {
        var growth: [String: [Double]] = [:]
        var secs: [String: [Double]] = [:]
        // Alternating, so both paths see the same machine load.
        for _ in 0..<repeats {
            for path in ["whole", "streamed"] {
                let r = try runPushMemoryChild(path: path, storage: storage, bodyFile: bodyFile, expected: count)
                growth[path, default: []].append(r.growth)
                secs[path, default: []].append(r.seconds)
            }
        }
        let whole = median(growth["whole"]!)
        let streamed = median(growth["streamed"]!)
        let name = storage == "sqlite" ? "SQLite" : "PostgreSQL"
        let mb = String(format: "%.1f", Double(inflated) / 1e6)
        report(
            "push-memory", "\(name): peak RSS growth, whole-set decode (MB)", unit: "MB", strata: whole / 1e6,
            baseline: Double(inflated) / 1e6, baselineName: "inflated size (\(mb) MB)", size: count)
        report(
            "push-memory", "\(name): peak RSS growth, streamed push (MB)", unit: "MB", strata: streamed / 1e6,
            baseline: Double(inflated) / 1e6, baselineName: "inflated size (\(mb) MB)", goal: "<= 2x",
            met: streamed <= 2 * Double(inflated), size: count)
        report(
            "push-memory", "\(name): push time, streamed (s)", unit: "s", strata: median(secs["streamed"]!),
            baseline: median(secs["whole"]!), baselineName: "whole-set decode", size: count)
    }
}

/// Runs one measurement in a child process; its last line on stdout is "growth seconds".
func runPushMemoryChild(path: String, storage: String, bodyFile: String, expected: Int) throws -> (growth: Double, seconds: Double) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
    p.arguments = ["push-memory-child", path, storage, bodyFile, String(expected), freshPath("pm-\(storage)-\(path)")]
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let line = String(decoding: data, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
    let parts = line.split(separator: " ").compactMap { Double($0) }
    guard p.terminationStatus == 0, parts.count == 2 else {
        fail("push-memory-child \(path) \(storage) failed (exit \(p.terminationStatus)): \(line)")
    }
    return (parts[0], parts[1])
}

/// Reads a kB field of /proc/self/status, in bytes.
func procStatus(_ field: String) -> Double {
    let text = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
        return Double(line.split(separator: " ").dropFirst().first ?? "0").map { $0 * 1024 } ?? 0
    }
    fail("no \(field) in /proc/self/status (this scenario needs Linux)")
}

/// The child: a fresh team on one storage, one small push to warm pools and caches, then the
/// measured push: RSS before, the peak reset (/proc/self/clear_refs), the push, the peak after.
func pushMemoryChild(_ args: [String]) async throws {
    guard args.count == 5, let expected = Int(args[3]) else { fail("push-memory-child PATH STORAGE BODY COUNT DIR") }
    let (path, storage, bodyFile, dir) = (args[0], args[1], args[2], args[4])
    let team: any TeamServerStorage
    var database: PostgresLocation?
    var base: PostgresLocation?
    if storage == "postgres" {
        let b = try PostgresLocation(url: ProcessInfo.processInfo.environment["STRATA_BENCH_DATABASE_URL"] ?? "")
        let name = "strata_bench_" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        _ = try await TestPostgres.execute("CREATE DATABASE \(name)", on: b)
        database = b.with(database: name)
        base = b
        var options = PostgresStorage.Options()
        options.operationTimeoutSeconds = 600
        team = try await PostgresStorage.open(database!, options: options)
    } else {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        team = try TeamStorage(directory: dir)
    }
    try await team.addProject("palmyra")
    let token = try await team.createToken(project: "palmyra", researcher: "Khaled", role: .write).token
    let service = SyncService(storage: team)
    let now = Store.wallClockMillis()
    var rng = SystemRandomNumberGenerator()
    let warm = pushMemoryChanges(50, replica: ReplicaID.random(using: &rng), from: now - 3_600_000)
    _ = try await service.push(token: token, project: "palmyra", body: ChangeSetCodec.encode(warm))

    let before = procStatus("VmRSS")
    try "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
    let t0 = DispatchTime.now().uptimeNanoseconds
    let body = [UInt8](try Data(contentsOf: URL(fileURLWithPath: bodyFile)))
    let applied: Int
    if path == "whole" {
        let project = try await team.project("palmyra")!
        let changes = try ChangeSetCodec.decode(body)
        let present = try await project.present(changes.map(\.id))
        precondition(present.isEmpty)
        var all = PushedChanges(changes)
        all.batchChanges = changes.count  // one batch: every change decoded and handed over at once
        applied = try await project.append(all, now: now, admit: { _, _ in }).applied
    } else {
        applied = try await service.push(token: token, project: "palmyra", body: body).applied
    }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    let peak = procStatus("VmHWM")
    precondition(applied == expected, "applied \(applied) of \(expected)")
    await team.close()
    if let database, let base { _ = try? await TestPostgres.execute("DROP DATABASE \(database.database) WITH (FORCE)", on: base) }
    try? FileManager.default.removeItem(atPath: dir)
    print("\(Int(peak - before)) \(seconds)")
}
