import Foundation
import GRDB
import StrataCodec
import StrataCore

/// A replica: one SQLite file (WAL) holding the change log and the materialised records.
public final class Store: Sendable {
    /// The file this store lives in.
    public let path: String
    /// This replica's id.
    public let replicaID: ReplicaID
    let db: DatabaseQueue
    /// How far ahead of this machine's clock a remote change may be.
    public let policy: ClockPolicy

    init(path: String, db: DatabaseQueue, replicaID: ReplicaID, policy: ClockPolicy) {
        self.path = path
        self.db = db
        self.replicaID = replicaID
        self.policy = policy
    }

    /// WAL is set when the file is created and persists in it. Opening does not ask GRDB for
    /// WAL again, because GRDB then writes a throw-away table to the file, and a read-only
    /// command must leave the file byte-identical.
    static func configuration(creating: Bool = false) -> Configuration {
        var c = Configuration()
        c.journalMode = creating ? .wal : .default
        c.prepareDatabase { db in
            // Only a Strata store is switched to WAL: another program's database passed by
            // mistake must be refused without a byte of it changed.
            if !creating, try String.fetchOne(db, sql: "PRAGMA journal_mode") != "wal", try db.tableExists("grdb_migrations") {
                try db.execute(sql: "PRAGMA journal_mode = WAL")
            }
            // Durability over speed: a change acknowledged to the user survives a power cut.
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        c.busyMode = .timeout(10)
        c.foreignKeysEnabled = true
        c.label = "strata"
        return c
    }

    /// Creates a new replica at `path` with a fresh replica id.
    public static func create(
        at path: String, author: String, replicaID: ReplicaID? = nil, policy: ClockPolicy = .standard
    ) throws -> Store {
        let author = author.trimmed
        guard !author.isEmpty, !author.contains(where: \.isNewline) else {
            throw StoreError(.invalidAuthorName)
        }
        if FileManager.default.fileExists(atPath: path) {
            throw StoreError(.storeExists(path: path))
        }
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        var rng = SystemRandomNumberGenerator()
        let id = replicaID ?? ReplicaID.random(using: &rng)
        // The replica holds unpublished field notes and remote tokens: owner-only. SQLite
        // creates the -wal and -shm files with the database file's permissions.
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw StoreError(.cannotCreate(path: path))
        }
        let queue = try DatabaseQueue(path: path, configuration: configuration(creating: true))
        try StoreSchema.migrator.migrate(queue)
        try queue.write { db in
            try db.execute(
                sql: "INSERT INTO meta(key, value) VALUES ('replica', ?), ('author', ?), ('hlc', '0'), ('next_seq', '1')",
                arguments: [id.hex, author])
            try db.execute(sql: "INSERT INTO replicas(idx, id) VALUES (1, ?)", arguments: [Data(id.bytes)])
        }
        return Store(path: path, db: queue, replicaID: id, policy: policy)
    }

    /// Opens an existing replica, migrating it to the current schema.
    public static func open(at path: String, policy: ClockPolicy = .standard) throws -> Store {
        guard FileManager.default.fileExists(atPath: path) else {
            throw StoreError(.noStore(path: path))
        }
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration())
            let migrator = StoreSchema.migrator
            let (newer, current, foreign) = try queue.read { db in
                try db.tableExists("grdb_migrations")
                    ? (try migrator.hasBeenSuperseded(db), try migrator.hasCompletedMigrations(db), false)
                    : (false, false, try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") ?? 0 > 0)
            }
            // Another program's database: never add Strata's tables to it.
            if foreign {
                throw StoreError(.notAStrataStore(path: path, .store))
            }
            if newer {
                throw StoreError(.newerSchema(path: path, .store))
            }
            // Migrate only when needed: a read-only command must not write to the file.
            if !current { try migrator.migrate(queue) }
        } catch let e as StoreError {
            throw e
        } catch let e as DatabaseError where e.resultCode == .SQLITE_NOTADB {
            throw StoreError(.notADatabase(path: path, .store))
        }
        let hex = try queue.read { db in try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'replica'") }
        guard let hex, let id = ReplicaID(hex: hex) else {
            throw StoreError(.noReplicaID(path: path))
        }
        // A backup keeps the replica id of the store it was taken from; writing to it would
        // reuse that replica's change ids (see Store+Backup.swift).
        if try queue.read({ db in try Self.meta(db, Self.backupOfKey) }) != nil {
            throw StoreError(.isBackup(path: path))
        }
        return Store(path: path, db: queue, replicaID: id, policy: policy)
    }

    /// Unix time in milliseconds from the system clock: the only clock read of the store.
    ///
    /// `STRATA_FAKE_NOW` (an ISO 8601 date-time such as `2031-01-01T00:00:00Z`) replaces the
    /// system clock; it exists to test how replicas treat a machine whose clock is wrong.
    public static func wallClockMillis() -> UInt64 {
        let date = fakeNow ?? Date()
        return UInt64(max(0, (date.timeIntervalSince1970 * 1000).rounded(.down)))
    }

    /// `STRATA_FAKE_NOW`, read once per process.
    static let fakeNow: Date? = {
        guard let fake = ProcessInfo.processInfo.environment["STRATA_FAKE_NOW"], !fake.isEmpty else { return nil }
        return ISO8601DateFormatter().date(from: fake)
    }()

    /// A new time-ordered record id.
    public func newRecordID() -> RecordID {
        var rng = SystemRandomNumberGenerator()
        return RecordID.v7(unixMillis: Store.wallClockMillis(), using: &rng)
    }

    /// The researcher's name written into every local change.
    public func author() throws -> String {
        try db.read { db in try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'author'") ?? "" }
    }

    public func setAuthor(_ name: String) throws {
        let name = name.trimmed
        guard !name.isEmpty, !name.contains(where: \.isNewline) else {
            throw StoreError(.invalidAuthorName)
        }
        try db.write { db in try db.execute(sql: "UPDATE meta SET value = ? WHERE key = 'author'", arguments: [name]) }
    }

    /// A note kept with the replica under an `x.` meta key: `restore.previous_replica` and
    /// `restore.at` say what a restore replaced. (Remotes and bundle peers have tables: see
    /// Store+SyncState.swift.)
    public func setting(_ key: String) throws -> String? {
        try db.read { db in try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: ["x." + key]) }
    }
}

/// Rows of `meta` and the version vector, read and written inside a transaction.
extension Store {
    static func meta(_ db: Database, _ key: String) throws -> String? {
        try String.fetchOne(db.cachedStatement(sql: "SELECT value FROM meta WHERE key = ?"), arguments: [key])
    }

    static func setMeta(_ db: Database, _ key: String, _ value: String) throws {
        try db.cachedStatement(sql: "UPDATE meta SET value = ? WHERE key = ?").execute(arguments: [value, key])
    }

    static func versionVector(_ db: Database) throws -> VersionVector {
        var vv = VersionVector()
        let rows = try Row.fetchAll(
            db.cachedStatement(sql: "SELECT r.id, v.contiguous FROM versions v JOIN replicas r ON r.idx = v.replica"))
        for row in rows {
            let bytes: Data = row[0]
            if let id = ReplicaID(bytes: bytes) { vv[id] = UInt64(row[1] as Int64) }
        }
        return vv
    }
}
