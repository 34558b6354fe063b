// strata-bench scenario `server-storage`: the team server's two storages behind the same
// protocol (ProjectStorage), pushes and pulls of the same changes: SQLite (a whole replica per
// project, every change merged) against PostgreSQL (log only). PostgreSQL is measured when
// STRATA_BENCH_DATABASE_URL names a database whose user may create databases (e.g. what
// Tools/pg/start-test-cluster.sh prints, with PG_FSYNC=on for figures); each run gets a new one.
import Foundation
import Logging
import StrataCodec
import StrataCore
import StrataPostgres
import StrataServer
import StrataStore
import StrataSyncTesting

func serverStorageScenario() async throws {
    let notes = makeNotes(size)
    let source = try storeWith(notes, path: freshPath("ss-source.strata"))
    let all = try source.changes(missingFrom: VersionVector())
    let batch = 1000  // changes per push, as a client's 1 MiB batches of notes hold about that many
    func run(_ project: any ProjectStorage) async throws -> (push: Double, pull: Double) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        for start in stride(from: 0, to: all.count, by: batch) {
            let r = try await project.append(Array(all[start..<min(all.count, start + batch)]), now: Store.wallClockMillis())
            precondition(r.duplicates == 0)
        }
        let t1 = DispatchTime.now().uptimeNanoseconds
        var version = VersionVector()
        var pulled = 0
        for _ in 0..<(all.count + 1) {
            let b = try await project.changes(missingFrom: version, maxBytes: 1 << 20)
            pulled += b.changes.count
            for c in b.changes { version[c.id.replica] = max(version[c.id.replica], c.id.seq) }
            if b.remaining == 0 || b.changes.isEmpty { break }
        }
        let t2 = DispatchTime.now().uptimeNanoseconds
        precondition(pulled == all.count, "pulled \(pulled) of \(all.count)")
        return (Double(all.count) / (Double(t1 - t0) / 1e9), Double(all.count) / (Double(t2 - t1) / 1e9))
    }
    var sqlite: [(push: Double, pull: Double)] = []
    for _ in 0..<repeats {
        let team = try TeamStorage(directory: freshPath("ss-sqlite"))
        try team.addProject("palmyra")
        sqlite.append(try await run(try await team.project("palmyra")!))
    }
    let sqlPush = median(sqlite.map(\.push))
    let sqlPull = median(sqlite.map(\.pull))
    report("server-storage", "SQLite push (changes/s, 1000 per batch)", unit: "ch/s", strata: sqlPush, baseline: sqlPush, baselineName: "SQLite push")
    report("server-storage", "SQLite pull (changes/s, 1 MiB batches)", unit: "ch/s", strata: sqlPull, baseline: sqlPull, baselineName: "SQLite pull")
    guard let url = ProcessInfo.processInfo.environment["STRATA_BENCH_DATABASE_URL"], !url.isEmpty else {
        FileHandle.standardError.write(Data("server-storage: PostgreSQL not measured: STRATA_BENCH_DATABASE_URL is not set\n".utf8))
        return
    }
    let base = try PostgresLocation(url: url)
    var pg: [(push: Double, pull: Double)] = []
    for _ in 0..<repeats {
        let name = "strata_bench_" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        _ = try await TestPostgres.execute("CREATE DATABASE \(name)", on: base)
        let db = base.with(database: name)
        let storage = try await PostgresStorage.open(db)
        try await storage.addProject("palmyra")
        pg.append(try await run(try await storage.project("palmyra")!))
        await storage.close()
        _ = try? await TestPostgres.execute("DROP DATABASE \(name) WITH (FORCE)", on: base)
    }
    let pgPush = median(pg.map(\.push))
    let pgPull = median(pg.map(\.pull))
    report("server-storage", "PostgreSQL push (changes/s, 1000 per batch)", unit: "ch/s", strata: pgPush, baseline: sqlPush, baselineName: "SQLite push")
    report("server-storage", "PostgreSQL pull (changes/s, 1 MiB batches)", unit: "ch/s", strata: pgPull, baseline: sqlPull, baselineName: "SQLite pull")
}
