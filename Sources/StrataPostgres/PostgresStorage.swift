import Foundation
import Logging
import NIOCore
import PostgresNIO
import StrataCodec
import StrataCore
import StrataServer

/// A team server on PostgreSQL: projects, token digests, and each project's change log with its
/// version vector, in one database that any number of `strata serve` processes share.
///
/// The log is the whole of a project's data (ARCHITECTURE.md, "Does a server materialise
/// records?"): pulls read it in (replica, seq) order bounded by bytes, pushes append to it.
///
/// > Invariant: a push is one transaction that inserts its changes with `ON CONFLICT DO
/// > NOTHING` on (project, replica, seq) and advances the version vector under a row lock of
/// > each replica it touched, so pushes of overlapping batches through several servers at once
/// > never lose, duplicate or half-apply a change. A pull reads one REPEATABLE READ snapshot.
public final class PostgresStorage: TeamServerStorage, Sendable {
    /// Settings of a storage; the defaults suit `strata serve`.
    public struct Options: Sendable {
        /// Seconds an operation may take before it fails as out of reach (the request then
        /// fails as a storage failure and the client retries later).
        public var operationTimeoutSeconds = 10
        /// Seconds opening may take: the first connection, the credentials, the schema check.
        public var openTimeoutSeconds = 10
        /// Connections this process keeps to the database at most.
        public var maximumConnections = 20
        /// Create or upgrade the Strata schema when the database needs it.
        public var migrate = true
        /// How far ahead of this server's clock a pushed change may be stamped.
        public var policy = ClockPolicy.standard

        public init() {}
    }

    public let database: PostgresLocation
    public let options: Options
    let client: PostgresClient
    let runTask: Task<Void, Never>
    let logger: Logger
    private let projectCache = ProjectCache()
    /// The hash states of uploads in progress through this process.
    let hashStates = HashStates()

    public var location: String { database.description }
    /// The newest Strata schema version this program reads and writes.
    public static let schemaVersion = PostgresSchema.version

    init(database: PostgresLocation, options: Options, client: PostgresClient, runTask: Task<Void, Never>, logger: Logger) {
        self.database = database
        self.options = options
        self.client = client
        self.runTask = runTask
        self.logger = logger
    }

    /// Connects, checks the credentials and the schema (creating or upgrading it when
    /// `options.migrate`), then opens a pool of connections. Fails with one
    /// `PostgresStorageError` when the database is out of reach, refuses the credentials,
    /// belongs to another application or has a newer schema.
    public static func open(_ database: PostgresLocation, options: Options = Options(), logger: Logger? = nil) async throws
        -> PostgresStorage
    {
        var log = logger ?? Logger(label: "strata.postgres")
        if logger == nil { log.logLevel = .critical }
        let location = database.description
        let seconds = options.openTimeoutSeconds
        let configuration: PostgresConnection.Configuration
        do { configuration = try database.connectionConfiguration() } catch {
            throw PostgresStorageError(.unreachable(location: location, reason: "TLS could not be set up: \(error)"))
        }
        // The first connection's failures are reported once, as this call's error, not logged.
        var quiet = log
        quiet.logLevel = .critical
        let bootLogger = quiet
        do {
            try await withTimeout(seconds: seconds, operation: "answer") {
                let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: bootLogger)
                do {
                    _ = try await PostgresSchema.prepare(connection, location: location, migrate: options.migrate, logger: bootLogger)
                    try? await connection.close()
                } catch {
                    try? await connection.close()
                    throw error
                }
            }
        } catch {
            throw PostgresStorageError.classify(error, location: location)
        }
        var c = database.clientConfiguration
        c.options.maximumConnections = options.maximumConnections
        // The server gives up on a statement (a lock wait included) when the request has, so a
        // connection never stays busy with work nobody waits for.
        c.options.additionalStartupParameters = [("statement_timeout", "\(options.operationTimeoutSeconds * 1000)")]
        let client = PostgresClient(configuration: c, backgroundLogger: log)
        let task = Task { await client.run() }
        return PostgresStorage(database: database, options: options, client: client, runTask: task, logger: log)
    }

    /// Closes the pool's connections.
    public func close() async {
        runTask.cancel()
        await runTask.value
    }

    /// `body` with the operation timeout. A PostgreSQL error that comes out of it is told as
    /// ``PostgresStorageError`` (its SQLSTATE and message, or why the server was out of reach):
    /// postgres-nio's own description of it is a generic sentence, which is what a server's
    /// log showed for connections a restart cut.
    func timed<T: Sendable>(_ operation: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        do {
            return try await withTimeout(seconds: options.operationTimeoutSeconds, operation: operation, body)
        } catch let e as PSQLError {
            throw PostgresStorageError.classify(e, location: database.description)
        }
    }

    /// `body` in a transaction on one leased connection, with the operation timeout. A
    /// serialization failure or deadlock (SQLSTATE 40001, 40P01) is retried up to 3 times.
    func inTransaction<T: Sendable>(
        _ operation: String, readOnlySnapshot: Bool = false, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let logger = self.logger
        return try await timed(operation) { [client] in
            var attempt = 0
            while true {
                attempt += 1
                do {
                    return try await client.withConnection { connection in
                        try await transaction(connection, logger: logger) { c in
                            if readOnlySnapshot {
                                try await c.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", logger: logger)
                            }
                            return try await body(c)
                        }
                    }
                } catch let e as PSQLError where attempt < 3 && ["40001", "40P01"].contains(e.serverInfo?[.sqlState] ?? "") {
                    continue
                }
            }
        }
    }

    func query<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (PostgresConnection) async throws -> T)
        async throws -> T
    {
        try await timed(operation) { [client] in try await client.withConnection { c in try await body(c) } }
    }

    // MARK: ServerStorage

    public func authenticate(_ token: String) async throws -> Grant? {
        guard token.hasPrefix("stk_"), token.count < 200 else { return nil }
        let digest = ByteBuffer(bytes: TokenStore.digest(token))
        let logger = self.logger
        let found: (Grant, Double?)? = try await query("read the tokens") { c in
            let rows = try await c.query(
                """
                SELECT id, project, researcher, role, last_used_at FROM strata_tokens
                WHERE digest = \(digest) AND revoked_at IS NULL
                """, logger: logger)
            for try await (id, project, researcher, role, lastUsed) in rows.decode((Int64, String, String, String, Double?).self) {
                return (Grant(tokenID: id, project: project, researcher: researcher, role: Role(rawValue: role) ?? .read), lastUsed)
            }
            return nil
        }
        guard let (grant, lastUsed) = found else { return nil }
        let t = Date().timeIntervalSince1970
        if TokenStore.lastUsedIsStale(lastUsed, now: t) {
            // Bookkeeping only: a request is not refused because it could not be recorded; the
            // condition is repeated in SQL so concurrent requests (of any server) write it once.
            let resolution = TokenStore.lastUsedResolution
            _ = try? await query("record the token's use") { c in
                try await c.query(
                    """
                    UPDATE strata_tokens SET last_used_at = \(t) WHERE id = \(grant.tokenID)
                    AND (last_used_at IS NULL OR abs(\(t) - last_used_at) >= \(resolution))
                    """, logger: logger)
            }
        }
        return grant
    }

    public func project(_ name: String) async throws -> (any ProjectStorage)? {
        guard (try? TokenStore.validateProjectName(name)) != nil else { return nil }
        if let replica = projectCache[name] { return PostgresProjectStorage(storage: self, name: name, replicaID: replica) }
        let logger = self.logger
        let replica: ReplicaID? = try await query("read the projects") { c in
            for try await bytes in try await c.query("SELECT replica FROM strata_projects WHERE name = \(name)", logger: logger)
                .decode(ByteBuffer.self)
            {
                return ReplicaID(bytes: bytes.readableBytesView)
            }
            return nil
        }
        guard let replica else { return nil }
        projectCache[name] = replica
        return PostgresProjectStorage(storage: self, name: name, replicaID: replica)
    }

    /// Reads the schema marker: the database answers and is Strata's.
    public func checkReady() async throws {
        let logger = self.logger
        _ = try await query("answer") { c in try await c.query("SELECT version FROM strata_schema", logger: logger).collect() }
    }

    // MARK: Administration

    public func projects() async throws -> [String] {
        let logger = self.logger
        return try await query("read the projects") { c in
            var out: [String] = []
            for try await name in try await c.query("SELECT name FROM strata_projects ORDER BY name", logger: logger)
                .decode(String.self)
            {
                out.append(name)
            }
            return out
        }
    }

    public func addProject(_ name: String) async throws {
        try TokenStore.validateProjectName(name)
        var rng = SystemRandomNumberGenerator()
        try await addProject(name, replica: .random(using: &rng), createdAt: Date().timeIntervalSince1970)
    }

    /// Creates a project with its server replica id (a migration keeps the SQLite one), unless
    /// it exists; returns the replica id the project has.
    @discardableResult
    public func addProject(_ name: String, replica: ReplicaID, createdAt: Double) async throws -> ReplicaID {
        try TokenStore.validateProjectName(name)
        let logger = self.logger
        let bytes = ByteBuffer(bytes: replica.bytes)
        return try await inTransaction("create the project") { c in
            try await c.query(
                """
                INSERT INTO strata_projects(name, replica, created_at) VALUES (\(name), \(bytes), \(createdAt))
                ON CONFLICT (name) DO NOTHING
                """, logger: logger)
            for try await b in try await c.query("SELECT replica FROM strata_projects WHERE name = \(name)", logger: logger)
                .decode(ByteBuffer.self)
            {
                if let r = ReplicaID(bytes: b.readableBytesView) { return r }
            }
            throw PostgresStorageError(.verificationFailed("project \(name) was not stored"))
        }
    }

    public func createToken(project: String, researcher: String, role: Role) async throws -> (id: Int64, token: String) {
        let researcher = try TokenStore.validateResearcherName(researcher)
        guard try await projects().contains(project) else { throw ServerError(.noProject(project)) }
        let token = TokenStore.newToken()
        let id = try await insertToken(
            digest: TokenStore.digest(token), project: project, researcher: researcher, role: role,
            createdAt: Date().timeIntervalSince1970, revokedAt: nil, lastUsedAt: nil, id: nil)
        return (id, token)
    }

    /// Inserts a token digest (a migration keeps its id and dates); a digest already stored is
    /// left as it is. Returns the token's id.
    @discardableResult
    public func insertToken(
        digest: Data, project: String, researcher: String, role: Role, createdAt: Double, revokedAt: Double?,
        lastUsedAt: Double?, id: Int64?
    ) async throws -> Int64 {
        let logger = self.logger
        let d = ByteBuffer(bytes: digest)
        let roleName = role.rawValue
        return try await inTransaction("store the token") { c in
            if let id {
                try await c.query(
                    """
                    INSERT INTO strata_tokens(id, digest, project, researcher, role, created_at, revoked_at, last_used_at)
                    VALUES (\(id), \(d), \(project), \(researcher), \(roleName), \(createdAt), \(revokedAt), \(lastUsedAt))
                    ON CONFLICT DO NOTHING
                    """, logger: logger)
                // A token revoked since an earlier copy is revoked in the copy too.
                if let revokedAt {
                    try await c.query(
                        """
                        UPDATE strata_tokens SET revoked_at = coalesce(revoked_at, \(revokedAt))
                        WHERE id = \(id) AND digest = \(d)
                        """, logger: logger)
                }
                // Tokens created later must not take the ids of those copied.
                try await c.query(
                    """
                    SELECT setval(pg_get_serial_sequence('strata_tokens', 'id'),
                                  greatest((SELECT max(id) FROM strata_tokens), 1))
                    """, logger: logger)
            } else {
                try await c.query(
                    """
                    INSERT INTO strata_tokens(digest, project, researcher, role, created_at)
                    VALUES (\(d), \(project), \(researcher), \(roleName), \(createdAt))
                    """, logger: logger)
            }
            for try await stored in try await c.query("SELECT id FROM strata_tokens WHERE digest = \(d)", logger: logger)
                .decode(Int64.self)
            {
                return stored
            }
            throw PostgresStorageError(.verificationFailed("a token digest was not stored (its id is taken by another token)"))
        }
    }

    public func listTokens(project: String?) async throws -> [TokenInfo] {
        let logger = self.logger
        return try await query("read the tokens") { c in
            let rows =
                if let project {
                    try await c.query(
                        """
                        SELECT id, project, researcher, role, created_at, revoked_at, last_used_at FROM strata_tokens
                        WHERE project = \(project) ORDER BY id
                        """, logger: logger)
                } else {
                    try await c.query(
                        "SELECT id, project, researcher, role, created_at, revoked_at, last_used_at FROM strata_tokens ORDER BY id",
                        logger: logger)
                }
            var out: [TokenInfo] = []
            for try await (id, p, r, role, created, revoked, used) in rows.decode(
                (Int64, String, String, String, Double, Double?, Double?).self)
            {
                out.append(
                    TokenInfo(
                        id: id, project: p, researcher: r, role: Role(rawValue: role) ?? .read,
                        createdAt: Date(timeIntervalSince1970: created), revokedAt: revoked.map(Date.init(timeIntervalSince1970:)),
                        lastUsedAt: used.map(Date.init(timeIntervalSince1970:))))
            }
            return out
        }
    }

    public func revoke(id: Int64) async throws {
        let logger = self.logger
        let t = Date().timeIntervalSince1970
        let found = try await query("revoke the token") { c in
            try await c.query(
                "UPDATE strata_tokens SET revoked_at = coalesce(revoked_at, \(t)) WHERE id = \(id) RETURNING id", logger: logger
            ).collect().count
        }
        if found == 0 { throw ServerError(.noToken(id: id)) }
    }

    // MARK: Reading the log (migration checks, tests)

    /// How many changes a project's log holds.
    public func changeCount(project: String) async throws -> Int {
        let logger = self.logger
        return try await query("count the changes") { c in
            for try await n in try await c.query("SELECT count(*) FROM strata_changes WHERE project = \(project)", logger: logger)
                .decode(Int64.self)
            {
                return Int(n)
            }
            return 0
        }
    }

    /// Up to `limit` stored changes of one replica after `seq`, as (seq, bytes), in seq order.
    public func logEntries(project: String, replica: ReplicaID, after seq: UInt64, limit: Int) async throws
        -> [(seq: UInt64, payload: [UInt8])]
    {
        let logger = self.logger
        let r = ByteBuffer(bytes: replica.bytes)
        let from = Int64(bitPattern: seq)
        return try await query("read the project") { c in
            var out: [(seq: UInt64, payload: [UInt8])] = []
            for try await (s, p) in try await c.query(
                """
                SELECT seq, payload FROM strata_changes WHERE project = \(project) AND replica = \(r) AND seq > \(from)
                ORDER BY seq LIMIT \(limit)
                """, logger: logger
            ).decode((Int64, ByteBuffer).self) {
                out.append((UInt64(bitPattern: s), Array(p.readableBytesView)))
            }
            return out
        }
    }
}

/// Project names to their server replica ids: projects are never removed, so a name once
/// read stays true.
final class ProjectCache: @unchecked Sendable {
    private let lock = NSLock()
    private var names: [String: ReplicaID] = [:]

    subscript(name: String) -> ReplicaID? {
        get { lock.withLock { names[name] } }
        set { lock.withLock { names[name] = newValue } }
    }
}

/// Runs `body`, failing with `timedOut` after `seconds`. The caller gets its answer in time even
/// when the body does not stop at once on cancellation (a query the server is still running):
/// the body is cancelled and left to finish on its own.
func withTimeout<T: Sendable>(seconds: Int, operation: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let race = Race<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            race.start(
                continuation,
                work: Task { race.finish(await Result { try await body() }) },
                timer: Task {
                    try? await Task.sleep(for: .seconds(seconds))
                    race.finish(.failure(PostgresStorageError(.timedOut(operation: operation, seconds: seconds))))
                })
        }
    } onCancel: {
        race.finish(.failure(CancellationError()))
    }
}

/// The first of a body's answer, its timeout and the caller's cancellation resumes the caller;
/// the others are ignored, and the body and the timer are cancelled.
final class Race<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<T, any Error>?
    private var early: Result<T, any Error>?
    private var done = false
    private var tasks: [Task<Void, Never>] = []

    func start(_ c: CheckedContinuation<T, any Error>, work: Task<Void, Never>, timer: Task<Void, Never>) {
        let ready: Result<T, any Error>? = lock.withLock {
            tasks = [work, timer]
            if let early {
                done = true
                return early
            }
            continuation = c
            return nil
        }
        if let ready {
            work.cancel()
            timer.cancel()
            c.resume(with: ready)
        }
    }

    func finish(_ result: Result<T, any Error>) {
        let (c, toCancel): (CheckedContinuation<T, any Error>?, [Task<Void, Never>]) = lock.withLock {
            if done { return (nil, []) }
            guard let c = continuation else {
                // Before `start` (cancelled at once): kept for it.
                if early == nil { early = result }
                return (nil, [])
            }
            done = true
            continuation = nil
            return (c, tasks)
        }
        guard let c else { return }
        for t in toCancel { t.cancel() }
        c.resume(with: result)
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
