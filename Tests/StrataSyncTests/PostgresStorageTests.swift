import Foundation
import StrataCodec
import StrataCore
import StrataPostgres
import StrataServer
import StrataStore
import StrataSync
import StrataSyncTesting
import StrataTestSupport
import Testing

/// Notes by one researcher, for pushing the same changes by several routes.
func notes(_ store: Store, count: Int, words: String = "Tadmor") throws {
    for i in 0..<count {
        let id = store.newRecordID()
        try store.commit([.create(id, kind: .note), .set(id, field: "body", .text(String(repeating: "\(words) \(i) ", count: 20)))])
    }
}

/// What only the PostgreSQL storage has: several servers on one database, faults of the
/// database, databases that are not Strata's, and the copy from SQLite. Run when a test
/// cluster is given (`STRATA_TEST_DATABASE_URL`), and always in CI, where a missing cluster fails.
@Suite(.serialized, .enabled(if: TestStorage.all.contains(.postgres)))
struct PostgresStorageTests {
    /// Two `strata serve` on one database, eight overlapping pushes of the same 150 changes
    /// through both at once, while a third client pulls through the second: every change is
    /// stored once, counted applied once, the version vector is Khaled's, and every pull batch
    /// is one consistent snapshot (in order, past the version asked, each change whole).
    @Test func twoServersTakeOverlappingPushesOfTheSameChangesWithoutLossOrDuplicates() async throws {
        try await withTeam(.postgres, researchers: ["Khaled", "Reader"]) { team in
            let second = try await team.secondServerStorage()
            let dir = try TemporaryDirectory()
            let khaled = try Store.create(at: dir.file("k.strata"), author: "Khaled")
            try notes(khaled, count: 150)
            let all = try khaled.changes(missingFrom: VersionVector())
            let token = team.tokens["Khaled"]!
            let reader = team.tokens["Reader"]!
            let slices = [0..<80, 40..<120, 60..<150, 0..<150, 100..<150, 20..<60, 70..<71, 0..<150]
            do {
                try await withServer(team.backend) { a in
                    try await withServer(second) { b in
                        let original = Dictionary(uniqueKeysWithValues: all.map { ($0.id, ChangeCodec.encode($0)) })
                        async let pulls: Int = consistentPulls(url: b, token: reader, rounds: 30, original: original)
                        let results = try await withThrowingTaskGroup(of: PushResult.self) { group in
                            for (i, slice) in slices.enumerated() {
                                let url = i % 2 == 0 ? a : b
                                let batch = Array(all[slice])
                                group.addTask {
                                    let t = HTTPTransport(baseURL: url, project: "palmyra", token: token)
                                    do {
                                        let r = try await t.push(batch)
                                        await t.close()
                                        return r
                                    } catch {
                                        await t.close()
                                        throw error
                                    }
                                }
                            }
                            var out: [PushResult] = []
                            for try await r in group { out.append(r) }
                            return out
                        }
                        let checkedBatches = try await pulls
                        #expect(checkedBatches > 0)
                        #expect(results.map(\.applied).reduce(0, +) == 150)
                        #expect(results.map { $0.applied + $0.duplicates }.reduce(0, +) == slices.map(\.count).reduce(0, +))
                    }
                }
                let log = try await team.serverChanges()
                #expect(log.count == 150)
                #expect(Set(log.map(\.id)).count == 150)
                #expect(try await team.projectStorage().versionVector() == (try khaled.versionVector()))
                #expect(try await team.serverReplica().snapshot() == (try khaled.snapshot()))
                await second.close()
            } catch {
                await second.close()
                throw error
            }
        }
    }

    /// Pulls from scratch in small batches, `rounds` times, checking each batch; returns how
    /// many batches were checked.
    func consistentPulls(url: String, token: String, rounds: Int, original: [ChangeID: [UInt8]]) async throws -> Int {
        let t = HTTPTransport(baseURL: url, project: "palmyra", token: token)
        var checked = 0
        let client = ReplicaID(high: 2, low: 2)
        do {
            for _ in 0..<rounds {
                var version = VersionVector()
                for _ in 0..<200 {
                    let batch = try await t.pull(PullRequest(replica: client, version: version, maxBatchBytes: 2000))
                    // Concurrent pushes of slices leave gaps for a while (a slice past a gap may
                    // commit first); a batch is still one snapshot in order: past the version
                    // asked, each change once, each one a change Khaled made, byte for byte.
                    var expected = version
                    for c in batch.changes {
                        #expect(c.id.seq > expected[c.id.replica], "a pull batch repeats or reorders a change")
                        #expect(original[c.id] == ChangeCodec.encode(c), "a pulled change is not the one pushed")
                        expected[c.id.replica] = c.id.seq
                    }
                    #expect(zip(batch.changes, batch.changes.dropFirst()).allSatisfy { $0.id.replica <= $1.id.replica })
                    checked += 1
                    version = expected
                    if batch.remaining == 0 || batch.changes.isEmpty { break }
                }
            }
            await t.close()
            return checked
        } catch {
            await t.close()
            throw error
        }
    }

    /// The server's connection is cut while its push transaction waits (on a lock a test
    /// connection holds): nothing of the batch is stored, and the next sync stores all of it
    /// once.
    @Test func aConnectionDroppedMidPushLeavesNothingHalfApplied() async throws {
        try await withTeam(.postgres, researchers: ["Khaled"]) { team in
            let db = try #require(team.database)
            let dir = try TemporaryDirectory()
            let khaled = try Store.create(at: dir.file("k.strata"), author: "Khaled")
            try notes(khaled, count: 40)
            let token = team.tokens["Khaled"]!
            let body = ChangeSetCodec.encode(try khaled.changes(missingFrom: VersionVector()))
            let blocker = try await TestPostgres.connect(db)
            defer { Task { [blocker] in try? await blocker.close() } }
            try await withServer(team.backend) { url in
                try await TestPostgres.query("BEGIN", on: blocker)
                try await TestPostgres.query("LOCK TABLE strata_versions IN EXCLUSIVE MODE", on: blocker)
                async let push = rawRequest(
                    url + "/v1/projects/palmyra/push", token: token, contentType: SyncCodec.changeSetMediaType, body: body)
                // The push has inserted its changes and waits for the version vector's lock.
                var pid: String? = nil
                for _ in 0..<200 {
                    let rows = try await TestPostgres.query(
                        """
                        SELECT pid::text FROM pg_stat_activity
                        WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()
                        """, on: blocker)
                    if let p = rows.first?.first ?? nil {
                        pid = p
                        break
                    }
                    try await Task.sleep(for: .milliseconds(50))
                }
                let waiting = try #require(pid, "the push never waited on the lock")
                try await TestPostgres.query("SELECT pg_terminate_backend(\(waiting))::text", on: blocker)
                try await TestPostgres.query("ROLLBACK", on: blocker)
                let answer = try await push
                #expect(answer.status == SyncHTTPServer.status(of: SyncFailure(.storage(what: "apply the changes", logged: true))))
                #expect(try await team.serverChanges().isEmpty, "a cut push left changes behind")
                #expect(try await team.projectStorage().versionVector() == VersionVector())
                // The client syncs again: everything, once.
                let r = try await sync(khaled, url, token: token)
                #expect(r.pushed == 40)
                #expect(try await team.serverChanges().count == 40)
                #expect(try await team.projectStorage().versionVector() == (try khaled.versionVector()))
            }
        }
    }

    /// The database stops taking connections and drops the server's in the middle of its
    /// work: the next request fails as a storage failure (the edge's status for it, with
    /// Retry-After once that status is 503), `/readyz` says unavailable, and once the
    /// database is back the same server answers again and nothing was lost.
    @Test func aDatabaseOutOfReachMidRunFailsRequestsAsUnavailableAndRecovers() async throws {
        try await withTeam(.postgres, researchers: ["Khaled"], options: TestTeam.fastFailingOptions) { team in
            let db = try #require(team.database)
            let base = try TestPostgres.base()
            let dir = try TemporaryDirectory()
            let khaled = try Store.create(at: dir.file("k.strata"), author: "Khaled")
            try notes(khaled, count: 5)
            let token = team.tokens["Khaled"]!
            try await withServer(team.backend) { url in
                try await sync(khaled, url, token: token)
                try await TestPostgres.execute("ALTER DATABASE \(db.database) ALLOW_CONNECTIONS false", on: base)
                try await TestPostgres.execute(
                    "SELECT pg_terminate_backend(pid)::text FROM pg_stat_activity WHERE datname = '\(db.database)'", on: base)
                try notes(khaled, count: 3, words: "Bel")
                let body = ChangeSetCodec.encode(try khaled.changes(missingFrom: VersionVector()))
                let answer = try await rawRequest(
                    url + "/v1/projects/palmyra/push", token: token, contentType: SyncCodec.changeSetMediaType, body: body)
                let expected = SyncHTTPServer.status(of: SyncFailure(.storage(what: "read its data", logged: true)))
                #expect(answer.status == expected)
                let ready = try await rawRequest(url + "/readyz", method: .GET)
                #expect(ready.status == 503)
                try await TestPostgres.execute("ALTER DATABASE \(db.database) ALLOW_CONNECTIONS true", on: base)
                // Back: the pool reconnects (bounded wait), the client's changes were safe.
                var synced: SyncReport? = nil
                for _ in 0..<40 {
                    if let r = try? await sync(khaled, url, token: token) {
                        synced = r
                        break
                    }
                    try await Task.sleep(for: .milliseconds(250))
                }
                #expect(synced != nil, "the server did not recover once the database was back")
                #expect(try await team.serverChanges().count == 8)
            }
        }
    }

    @Test func wrongCredentialsAndAnUnreachableServerFailAtStartInOneLine() async throws {
        let base = try TestPostgres.base()
        var wrong = base
        wrong.password = "not-the-password"
        let e1 = await #expect(throws: PostgresStorageError.self) { _ = try await PostgresStorage.open(wrong) }
        #expect(e1?.kind == .authenticationFailed(location: wrong.description))
        var nobody = base
        nobody.user = "nobody_here"
        let e2 = await #expect(throws: PostgresStorageError.self) { _ = try await PostgresStorage.open(nobody) }
        #expect(e2?.kind == .authenticationFailed(location: nobody.description))
        var closed = base
        closed.port = 1
        let e3 = await #expect(throws: PostgresStorageError.self) { _ = try await PostgresStorage.open(closed) }
        if case .unreachable(let l, _)? = e3?.kind { #expect(l == closed.description) } else { Issue.record("\(String(describing: e3))") }
        let missing = base.with(database: "strata_no_such_database")
        let e4 = await #expect(throws: PostgresStorageError.self) { _ = try await PostgresStorage.open(missing) }
        #expect(e4?.kind == .noDatabase(location: missing.description))
        // No message holds the password.
        for e in [e1, e2, e3, e4] { #expect(!"\(String(describing: e))".contains(base.password ?? "\u{0}")) }
    }

    /// A database with another application's tables, or a Strata schema newer than this
    /// program, is refused, and nothing in it changes.
    @Test func aForeignOrNewerDatabaseIsRefusedAndLeftUntouched() async throws {
        let db = try await TestPostgres.freshDatabase()
        do {
            try await TestPostgres.execute("CREATE TABLE visits(id integer PRIMARY KEY, place text)", on: db)
            try await TestPostgres.execute("INSERT INTO visits VALUES (1, 'Palmyra museum')", on: db)
            let tables = "SELECT string_agg(tablename::text, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'"
            let before = try await TestPostgres.execute(tables, on: db)
            let e = await #expect(throws: PostgresStorageError.self) { _ = try await PostgresStorage.open(db) }
            #expect(e?.kind == .foreignDatabase(location: db.description, tables: ["visits"]))
            #expect(try await TestPostgres.execute(tables, on: db) == before)
            #expect(try await TestPostgres.execute("SELECT place FROM visits", on: db) == [["Palmyra museum"]])

            // A Strata database of a newer schema: refused, its marker unchanged.
            try await TestPostgres.execute("DROP TABLE visits", on: db)
            let strata = try await PostgresStorage.open(db)
            await strata.close()
            try await TestPostgres.execute("UPDATE strata_schema SET version = 99", on: db)
            let n = await #expect(throws: PostgresStorageError.self) { _ = try await PostgresStorage.open(db) }
            #expect(n?.kind == .newerSchema(location: db.description, found: 99, supported: PostgresStorage.schemaVersion))
            #expect(try await TestPostgres.execute("SELECT version::text FROM strata_schema", on: db) == [["99"]])

            // An empty database is not migrated when migrating is not allowed.
            try await TestPostgres.execute(
                "DROP TABLE strata_blob_chunks, strata_blobs, strata_blob_refs, strata_changes, strata_versions, strata_tokens, strata_projects, strata_schema",
                on: db)
            var options = PostgresStorage.Options()
            options.migrate = false
            let m = await #expect(throws: PostgresStorageError.self) { _ = try await PostgresStorage.open(db, options: options) }
            #expect(m?.kind == .needsMigration(location: db.description, found: 0, supported: PostgresStorage.schemaVersion))
            await TestPostgres.drop(db)
        } catch {
            await TestPostgres.drop(db)
            throw error
        }
    }

    /// A database of schema version 1 (before attachment bytes) whose log already holds
    /// attachments: upgrading records them as the project's references, so their bytes can be
    /// uploaded and served at once.
    @Test func upgradingAVersion1DatabaseRecordsTheAttachmentsItsLogReferences() async throws {
        try await withTeam(.postgres, researchers: ["Khaled"]) { team in
            let dir = try TemporaryDirectory()
            let (khaled, _, files) = try BlobSyncTests.replica(dir, "k", author: "Khaled", files: [20_000, 30_000])
            try await sync(khaled, team.endpoint(), token: team.tokens["Khaled"]!)
            let db = team.database!
            await team.backend.close()
            // Back to version 1: its tables only.
            try await TestPostgres.execute("DROP TABLE strata_blob_chunks, strata_blobs, strata_blob_refs", on: db)
            try await TestPostgres.execute("UPDATE strata_schema SET version = 1", on: db)
            let upgraded = try await PostgresStorage.open(db, options: TestTeam.postgresOptions)
            let project = try #require(try await upgraded.project("palmyra") as? PostgresProjectStorage)
            for f in files {
                #expect(try await project.referencedSize(of: BlobSyncTests.sha(f)) == UInt64(f.count))
            }
            #expect(try await TestPostgres.execute("SELECT version::text FROM strata_schema", on: db) == [["2"]])
            let report = try await BlobSyncTests.syncAll(khaled, .inProcess(SyncService(storage: upgraded)), token: team.tokens["Khaled"]!)
            #expect(report.uploaded == 2 && report.failures.isEmpty)
            await upgraded.close()
        }
    }

    /// A SQLite team server (two projects, tokens one of them revoked, changes of two
    /// researchers) copied into PostgreSQL: verified, safe to run again, and the copy serves
    /// the same tokens and data.
    @Test func aSQLiteServerIsCopiedIntoPostgreSQLVerifiedAndTheCopyCanBeRunAgain() async throws {
        let source = try Team(researchers: ["Khaled", "Maria"])
        try source.backend.addProject("aleppo")
        let revoked = try source.backend.tokens.createToken(project: "palmyra", researcher: "Old", role: .write)
        try source.backend.tokens.revoke(id: revoked.id)
        let dir = try TemporaryDirectory()
        let khaled = try Store.create(at: dir.file("k.strata"), author: "Khaled")
        let maria = try Store.create(at: dir.file("m.strata"), author: "Maria")
        try notes(khaled, count: 30)
        try notes(maria, count: 12, words: "Bel")
        let tokens = source.tokens
        try await withServer(source.backend) { url in
            try await sync(khaled, url, token: tokens["Khaled"]!)
            try await sync(maria, url, token: tokens["Maria"]!)
            try await sync(khaled, url, token: tokens["Khaled"]!)
        }
        let sqliteServer = try #require(try source.backend.store(for: "palmyra"))
        let db = try await TestPostgres.freshDatabase()
        let pg = try await PostgresStorage.open(db, options: TestTeam.postgresOptions)
        do {
            let first = try await TeamMigration.copy(from: source.backend, to: pg)
            #expect(first.projects == 2 && first.tokens == 3)
            #expect(first.changesCopied == 42 && first.changesAlreadyThere == 0 && first.changesVerified == 42)
            let again = try await TeamMigration.copy(from: source.backend, to: pg)
            #expect(again.changesCopied == 0 && again.changesAlreadyThere == 42 && again.changesVerified == 42)
            #expect(try await pg.projects() == ["aleppo", "palmyra"])
            let project = try #require(try await pg.project("palmyra"))
            #expect(project.replicaID == sqliteServer.replicaID)
            #expect(try await project.versionVector() == (try sqliteServer.versionVector()))
            #expect(try await pg.authenticate(revoked.token) == nil)
            #expect(try await pg.authenticate(tokens["Maria"]!)?.researcher == "Maria")
            // A new token does not take a copied one's id.
            let fresh = try await pg.createToken(project: "palmyra", researcher: "Omar", role: .read)
            #expect(fresh.id > revoked.id)
            // Served from PostgreSQL, a new replica of Omar's receives exactly the SQLite server's data.
            let omar = try Store.create(at: dir.file("o.strata"), author: "Omar")
            try await withServer(pg) { url in try await sync(omar, url, token: fresh.token) }
            #expect(try omar.snapshot() == (try sqliteServer.snapshot()))
            await pg.close()
            await TestPostgres.drop(db)
        } catch {
            await pg.close()
            await TestPostgres.drop(db)
            throw error
        }
    }

    /// The attachments of a SQLite server move with `TeamMigration`: each blob its log
    /// references, verified by reading it back; a run cut in the middle of a blob continues at
    /// the held offset; a copy whose bytes were damaged since fails the verification.
    @Test func aSQLiteServersAttachmentsAreCopiedVerifiedAndACutCopyContinuesWhereItStopped() async throws {
        let source = try Team(researchers: ["Khaled"])
        let dir = try TemporaryDirectory()
        let (khaled, _, files) = try BlobSyncTests.replica(dir, "k", author: "Khaled", files: [2_500_000, 100_000])
        try await BlobSyncTests.syncAll(khaled, source.endpoint(), token: source.tokens["Khaled"]!)
        let big = BlobSyncTests.sha(files[0])
        try await TestPostgres.withFreshDatabase { db in
            let pg = try await PostgresStorage.open(db, options: TestTeam.postgresOptions)
            do {
                let first = try await TeamMigration.copy(from: source.backend, to: pg)
                #expect(first.blobsCopied == 2 && first.blobBytesCopied == 2_600_000 && first.blobsVerified == 2)
                let again = try await TeamMigration.copy(from: source.backend, to: pg)
                #expect(again.blobsCopied == 0 && again.blobsAlreadyThere == 2 && again.blobsVerified == 2)
                // As if the first run had stopped after 1 MiB of the big photo.
                let hex = "'\\x\(big.hex)'"
                try await TestPostgres.execute("DELETE FROM strata_blob_chunks WHERE hash = \(hex) AND start >= 1048576", on: db)
                try await TestPostgres.execute("UPDATE strata_blobs SET held = 1048576, whole = false WHERE hash = \(hex)", on: db)
                let resumed = try await TeamMigration.copy(from: source.backend, to: pg)
                #expect(resumed.blobsCopied == 1 && resumed.blobBytesCopied == 2_500_000 - 1_048_576 && resumed.blobsVerified == 2)
                let project = try #require(try await pg.project("palmyra") as? PostgresProjectStorage)
                var back: [UInt8] = []
                for _ in 0..<10 {
                    let piece = try await project.readBlob(big, from: UInt64(back.count), maxBytes: 700_000)
                    if piece.isEmpty { break }
                    back += piece
                }
                #expect(back == files[0])
                // Bytes damaged in PostgreSQL since: the next run says so and overwrites nothing.
                try await TestPostgres.execute(
                    "UPDATE strata_blob_chunks SET bytes = set_byte(bytes, 2, get_byte(bytes, 2) # 255) WHERE hash = \(hex) AND start = 0",
                    on: db)
                let e = await #expect(throws: PostgresStorageError.self) { _ = try await TeamMigration.copy(from: source.backend, to: pg) }
                #expect("\(e.map { "\($0)" } ?? "")".contains("attachment \(big.short) differs from its copy"))
                await pg.close()
            } catch {
                await pg.close()
                throw error
            }
        }
    }
}
