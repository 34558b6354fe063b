import Foundation
import Logging
import NIOCore
import PostgresNIO
import StrataCodec
import StrataCore
import StrataPostgres
import StrataServer
import StrataStore
import StrataTestSupport

/// The team-server storages a test body runs over, as GRDB runs one body over every kind of
/// database: SQLite files, and PostgreSQL when a test cluster is given.
public enum TestStorage: String, Sendable, CaseIterable, CustomStringConvertible {
    case sqlite, postgres

    public var description: String { rawValue }

    /// Every storage this run can test. PostgreSQL is in it when `STRATA_TEST_DATABASE_URL` is
    /// set, and always in CI (`CI=true`), where a missing cluster then fails the tests that
    /// need it instead of skipping them. Elsewhere its absence is said in one line.
    public static var all: [TestStorage] {
        if TestPostgres.configured || TestPostgres.inCI { return [.sqlite, .postgres] }
        _ = TestPostgres.announceMissing
        return [.sqlite]
    }
}

/// The PostgreSQL cluster the tests use: `STRATA_TEST_DATABASE_URL` names a database on it
/// whose user may create databases (Tools/pg/start-test-cluster.sh starts one); each test
/// gets a database of its own, dropped at its end.
public enum TestPostgres {
    public static let variable = "STRATA_TEST_DATABASE_URL"
    static var url: String? { ProcessInfo.processInfo.environment[variable].flatMap { $0.isEmpty ? nil : $0 } }
    public static var configured: Bool { url != nil }
    public static var inCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    static let announceMissing: Void = {
        print("PostgreSQL tests not run: \(variable) is not set (start a cluster with Tools/pg/start-test-cluster.sh and export what it prints)")
    }()

    /// The cluster's base database; throws a clear error when none is configured.
    public static func base() throws -> PostgresLocation {
        guard let url else {
            throw PostgresStorageError(
                .invalidURL("\(variable) is not set: start a cluster with Tools/pg/start-test-cluster.sh and export what it prints"))
        }
        return try PostgresLocation(url: url)
    }

    /// A new empty database on the cluster.
    public static func freshDatabase() async throws -> PostgresLocation {
        let base = try base()
        let name = "strata_test_" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        try await execute("CREATE DATABASE \(name)", on: base)
        return base.with(database: name)
    }

    /// `body` with a new empty database, dropped afterwards whatever happens.
    public static func withFreshDatabase<T>(_ body: (PostgresLocation) async throws -> T) async throws -> T {
        let db = try await freshDatabase()
        do {
            let r = try await body(db)
            await drop(db)
            return r
        } catch {
            await drop(db)
            throw error
        }
    }

    /// Drops a database made by `freshDatabase`, closing its connections.
    public static func drop(_ location: PostgresLocation) async {
        guard let base = try? base() else { return }
        _ = try? await execute("DROP DATABASE IF EXISTS \(location.database) WITH (FORCE)", on: base)
    }

    /// Runs SQL on a connection of its own; returns the rows, each cell as text (cast in SQL).
    @discardableResult
    public static func execute(_ sql: String, on location: PostgresLocation) async throws -> [[String?]] {
        let connection = try await connect(location)
        do {
            let rows = try await query(sql, on: connection)
            try? await connection.close()
            return rows
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// A connection of a test's own (to hold a lock or a transaction open).
    public static func connect(_ location: PostgresLocation) async throws -> PostgresConnection {
        var c: PostgresConnection.Configuration
        if let dir = location.socketDirectory {
            c = .init(
                unixSocketPath: "\(dir)/.s.PGSQL.\(location.port)", username: location.user, password: location.password,
                database: location.database)
        } else {
            c = .init(
                host: location.host, port: location.port, username: location.user, password: location.password,
                database: location.database, tls: .disable)
        }
        return try await PostgresConnection.connect(configuration: c, id: 99, logger: quietLogger("test.postgres"))
    }

    @discardableResult
    public static func query(_ sql: String, on connection: PostgresConnection) async throws -> [[String?]] {
        var out: [[String?]] = []
        for try await row in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: quietLogger("test.postgres")) {
            out.append(try row.makeRandomAccess().map { cell in try cell.decode(String?.self) })
        }
        return out
    }
}

/// A team server's storage of either kind with one project and a token per researcher, for one
/// test: `close()` releases it (and drops its PostgreSQL database).
public final class TestTeam: Sendable {
    public let storage: TestStorage
    public let backend: any TeamServerStorage
    public let dir: TemporaryDirectory
    /// The PostgreSQL database, for `.postgres`.
    public let database: PostgresLocation?
    public let tokens: [String: String]
    public let project: String
    let options: PostgresStorage.Options

    init(
        storage: TestStorage, backend: any TeamServerStorage, dir: TemporaryDirectory, database: PostgresLocation?,
        tokens: [String: String], project: String, options: PostgresStorage.Options
    ) {
        self.options = options
        self.storage = storage
        self.backend = backend
        self.dir = dir
        self.database = database
        self.tokens = tokens
        self.project = project
    }

    public static func make(
        _ storage: TestStorage, project: String = "palmyra", researchers: [String], role: Role = .write,
        options: PostgresStorage.Options = TestTeam.postgresOptions
    ) async throws -> TestTeam {
        let dir = try TemporaryDirectory("strata-server")
        let backend: any TeamServerStorage
        var database: PostgresLocation? = nil
        switch storage {
        case .sqlite:
            backend = try TeamStorage(directory: dir.path)
        case .postgres:
            let db = try await TestPostgres.freshDatabase()
            database = db
            do { backend = try await PostgresStorage.open(db, options: options) } catch {
                await TestPostgres.drop(db)
                throw error
            }
        }
        do {
            try await backend.addProject(project)
            var tokens: [String: String] = [:]
            for r in researchers {
                tokens[r] = try await backend.createToken(project: project, researcher: r, role: role).token
            }
            return TestTeam(
                storage: storage, backend: backend, dir: dir, database: database, tokens: tokens, project: project, options: options)
        } catch {
            await backend.close()
            if let database { await TestPostgres.drop(database) }
            throw error
        }
    }

    /// A generous timeout (a loaded CI machine runs many tests at once) and a small pool.
    public static var postgresOptions: PostgresStorage.Options {
        var o = PostgresStorage.Options()
        o.operationTimeoutSeconds = 30
        o.openTimeoutSeconds = 30
        o.maximumConnections = 8
        return o
    }

    /// A short timeout, for tests of a database out of reach (a request fails in seconds).
    public static var fastFailingOptions: PostgresStorage.Options {
        var o = postgresOptions
        o.operationTimeoutSeconds = 3
        return o
    }

    /// Another storage on the same data: a second server process's view of the database
    /// (PostgreSQL), or the same files (SQLite).
    public func secondServerStorage() async throws -> any TeamServerStorage {
        switch storage {
        case .sqlite: return backend
        case .postgres: return try await PostgresStorage.open(database!, options: options)
        }
    }

    public func close() async {
        await backend.close()
        if let database { await TestPostgres.drop(database) }
    }

    /// The service on this storage, for in-process clients.
    public func endpoint(limits: ServerLimits = ServerLimits()) -> SyncEndpoint {
        .inProcess(SyncService(storage: backend, limits: limits))
    }

    /// The project's storage on the server.
    public func projectStorage(_ name: String? = nil) async throws -> any ProjectStorage {
        guard let p = try await backend.project(name ?? project) else { throw SyncClientErrorForTests("no project") }
        return p
    }

    /// The project's attachment bytes on the server.
    public func blobs(_ name: String? = nil) async throws -> any ProjectBlobStorage {
        guard let b = try await projectStorage(name).blobs else { throw SyncClientErrorForTests("the storage keeps no attachments") }
        return b
    }

    /// A blob the server holds whole, read back in pieces as a download reads it.
    public func serverBlob(_ hash: BlobHash, _ name: String? = nil) async throws -> [UInt8] {
        let blobs = try await blobs(name)
        var out: [UInt8] = []
        // Bounded: each round reads at least one byte of a finite blob.
        for _ in 0..<1_000_000 {
            let piece = try await blobs.readBlob(hash, from: UInt64(out.count), maxBytes: 1 << 20)
            if piece.isEmpty { break }
            out += piece
        }
        return out
    }

    /// Every change of the server's log, in (replica, seq) order.
    public func serverChanges(_ name: String? = nil) async throws -> [Change] {
        let p = try await projectStorage(name)
        var out: [Change] = []
        var version = VersionVector()
        // Bounded: each round takes at least one change of a finite log.
        for _ in 0..<100_000 {
            let batch = try await p.changes(missingFrom: version, maxBytes: 1 << 22)
            out += batch.changes
            if batch.changes.isEmpty { break }
            version = version.merged(with: VersionVector(Dictionary(batch.changes.map { ($0.id.replica, $0.id.seq) }, uniquingKeysWith: max)))
            if batch.remaining == 0 { break }
        }
        return out
    }

    /// What the server holds, as a replica: a new store with the server's whole log applied
    /// (the same for a storage that materialises records and one that keeps only the log).
    public func serverReplica(_ name: String? = nil) async throws -> Store {
        let store = try Store.create(at: dir.file("server-view-\(UInt32.random(in: 0...UInt32.max)).strata"), author: "server-view")
        try store.apply(try await serverChanges(name))
        return store
    }
}

/// A test's own error for a missing fixture.
public struct SyncClientErrorForTests: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// `body` with a team on `storage`, closed afterwards whatever happens.
public func withTeam<T: Sendable>(
    _ storage: TestStorage, project: String = "palmyra", researchers: [String], role: Role = .write,
    options: PostgresStorage.Options = TestTeam.postgresOptions, _ body: (TestTeam) async throws -> T
) async throws -> T {
    let team = try await TestTeam.make(storage, project: project, researchers: researchers, role: role, options: options)
    do {
        let r = try await body(team)
        await team.close()
        return r
    } catch {
        await team.close()
        throw error
    }
}
