import Foundation
import GRDB
import StrataCodec
import StrataCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// The POSIX calls under names that `Store`'s own members (`open`) do not shadow.
private func posixOpen(_ path: String, _ flags: Int32, _ mode: mode_t = 0) -> Int32 { open(path, flags, mode) }
private func posixClose(_ fd: Int32) { _ = close(fd) }
private func posixFsync(_ fd: Int32) -> Int32 { fsync(fd) }

/// What a backup or a verification found.
public struct BackupSummary: Sendable {
    /// The replica the backup was taken from.
    public var replica: ReplicaID
    public var changes: Int
    public var records: Int
    /// Size of the backup file in bytes.
    public var bytes: Int
    /// When the backup was taken (Unix ms), if the file says so.
    public var takenAtMillis: UInt64?
}

/// What `restore` did.
public struct RestoreSummary: Sendable {
    public var backup: BackupSummary
    /// The restored store's new replica id (its old changes keep their old ids).
    public var newReplica: ReplicaID
    /// Where the replaced store was kept, if there was one.
    public var replacedStore: String?
    /// Changes the replaced store holds that the restored one lacks (nil when it could not be read).
    public var changesOnlyInReplaced: Int?
}

/// Backups and restores of a replica.
///
/// > Invariant: a backup file only appears at its final name once it has passed
/// > `PRAGMA integrity_check` and the store's own check (every record re-derived from the change
/// > log); a restore verifies the backup the same way before the current store is touched, then
/// > swaps the files with one `rename(2)`, keeping the replaced store beside it.
///
/// > Invariant: a restored store gets a **new replica id**. Its old changes keep their old ids
/// > `(old replica, seq)`; its new changes start at `(new replica, 1)`. A backup is older than
/// > the replica it was taken from, which may have sent changes past the backup's sequence
/// > numbers to peers; writing again under the old id would reuse `(replica, seq)` ids for
/// > different changes, and peers holding the old ones would skip the new ones as duplicates.
/// > A backup file is marked as such and `Store.open` refuses it, so it cannot be written to
/// > under the old id by mistake either.
extension Store {
    /// Meta keys that mark a file written by ``backup(to:force:)``.
    static let backupOfKey = "backup_of"
    static let backupAtKey = "backup_at"

    /// Copies this replica to `file` with SQLite's online backup (safe while another process
    /// writes to the store), owner-only, verified before it gets its name. Refuses to replace an
    /// existing file unless `force`.
    @discardableResult
    public func backup(to file: String, force: Bool = false, now: UInt64 = Store.wallClockMillis()) throws -> BackupSummary {
        let target = Self.absolute(file)
        if Self.absolute(path) == target {
            throw StoreError(.invalid, "the backup must be another file than the store itself (\(path))")
        }
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: target, isDirectory: &isDir) {
            if isDir.boolValue {
                throw StoreError(.invalid, "\(file) is a directory; give a file name, e.g. \(file)/replica-backup.strata")
            }
            if !force {
                throw StoreError(.alreadyExists, "\(file) exists; choose another name, or pass --force to replace it")
            }
        }
        let dir = (target as NSString).deletingLastPathComponent
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw StoreError(.invalid, "the directory \(dir) does not exist; create it first")
        }
        let temp = try Self.makeTemporaryFile(besides: target, purpose: "backup")
        var keepTemp = false
        defer { if !keepTemp { Self.removeDatabaseFiles(temp) } }

        // The online backup: one step, inside one read transaction of this store, so the copy
        // is a consistent snapshot whatever other connections write meanwhile.
        let destination = try DatabaseQueue(path: temp, configuration: Self.plainConfiguration())
        do {
            try db.backup(to: destination)
            try destination.write { db in
                try db.execute(
                    sql: "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?), (?, ?)",
                    arguments: [Self.backupOfKey, replicaID.hex, Self.backupAtKey, String(now)])
            }
            try destination.close()
        } catch {
            try? destination.close()
            throw StoreError(.invalid, "the backup to \(file) failed (\(error)); the store is unchanged")
        }
        var summary = try Self.verify(copy: temp, describedAs: "the new backup \(file)")
        try Self.syncFile(temp)
        if force {
            guard rename(temp, target) == 0 else {
                throw StoreError(.invalid, "cannot write \(file): \(Self.errnoText())")
            }
        } else {
            // link(2) refuses to replace a file that appeared meanwhile.
            guard link(temp, target) == 0 else {
                if errno == EEXIST {
                    throw StoreError(.alreadyExists, "\(file) exists; choose another name, or pass --force to replace it")
                }
                throw StoreError(.invalid, "cannot write \(file): \(Self.errnoText())")
            }
            unlink(temp)
        }
        keepTemp = true
        Self.syncDirectory(dir)
        summary.bytes = (try? FileManager.default.attributesOfItem(atPath: target)[.size] as? Int) ?? summary.bytes
        return summary
    }

    /// Checks a backup file without changing it: it is copied to a temporary file, which is
    /// checked (SQLite integrity, then every record re-derived from the change log).
    public static func verifyBackup(at file: String) throws -> BackupSummary {
        let source = absolute(file)
        try requireReadableFile(source, file)
        let temp = try makeTemporaryFile(besides: NSTemporaryDirectory() + "/strata-verify", purpose: "verify")
        defer { removeDatabaseFiles(temp) }
        try copyDatabase(from: source, to: temp, describedAs: file)
        var s = try verify(copy: temp, describedAs: file)
        s.bytes = (try? FileManager.default.attributesOfItem(atPath: source)[.size] as? Int) ?? s.bytes
        return s
    }

    /// Replaces the store at `storePath` with the backup in `file`.
    ///
    /// The backup is copied next to the store and verified there before anything else; the
    /// copy gets a new replica id; then the current store (if any) is kept as
    /// `<store>.before-restore` (or `-2`, `-3`, … if that exists) and the copy is renamed into
    /// place. Refuses while another process has the current store open.
    public static func restore(
        from file: String, to storePath: String, newReplicaID: ReplicaID? = nil, now: UInt64 = Store.wallClockMillis()
    ) throws -> RestoreSummary {
        let source = absolute(file)
        let target = absolute(storePath)
        if source == target {
            throw StoreError(.invalid, "\(file) is the store itself; restore from a backup file made by `strata backup`")
        }
        try requireReadableFile(source, file)
        let dir = (target as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let temp = try makeTemporaryFile(besides: target, purpose: "restore")
        var tempInPlace = false
        defer { if !tempInPlace { removeDatabaseFiles(temp) } }

        // 1. Verify the backup (a copy of it) before touching the current store.
        try copyDatabase(from: source, to: temp, describedAs: file)
        let backup = try verify(copy: temp, describedAs: file)

        // 2. Give the copy a new replica id, keeping every change under its own id.
        var rng = SystemRandomNumberGenerator()
        let newID = newReplicaID ?? ReplicaID.random(using: &rng)
        let queue = try DatabaseQueue(path: temp, configuration: plainConfiguration())
        do {
            try queue.write { db in try rekey(db, to: newID, previous: backup.replica, now: now) }
            try queue.close()
        } catch {
            try? queue.close()
            throw StoreError(.invalid, "cannot prepare the restored store (\(error)); the current store is unchanged")
        }
        if let size = fileSize(temp + "-wal"), size > 0 {
            throw StoreError(.invalid, "cannot prepare the restored store (its log was not written back); the current store is unchanged")
        }
        try syncFile(temp)

        // 3. Swap: keep the current store under another name, then rename the copy into place.
        var kept: String? = nil
        var onlyInReplaced: Int? = nil
        if FileManager.default.fileExists(atPath: target) {
            try quiesce(target, describedAs: storePath)
            let before = freeName(target + ".before-restore")
            // A hard link keeps the old store under both names until the rename below, so the
            // store path always names a complete store.
            if link(target, before) != 0 {
                guard rename(target, before) == 0 else {
                    throw StoreError(.invalid, "cannot keep the current store as \(before): \(errnoText()); nothing was changed")
                }
            }
            for suffix in ["-wal", "-shm"] where FileManager.default.fileExists(atPath: target + suffix) {
                _ = rename(target + suffix, before + suffix)
            }
            kept = before
            guard rename(temp, target) == 0 else {
                throw StoreError(
                    .invalid, "cannot put the restored store in place: \(errnoText()); the previous store is at \(before)")
            }
            tempInPlace = true
            syncDirectory(dir)
            if let old = try? Store.open(at: before), let restored = try? Store.open(at: target) {
                onlyInReplaced = try? old.changes(missingFrom: restored.versionVector()).count
            }
        } else {
            guard rename(temp, target) == 0 else {
                throw StoreError(.invalid, "cannot put the restored store at \(storePath): \(errnoText())")
            }
            tempInPlace = true
            syncDirectory(dir)
        }
        return RestoreSummary(backup: backup, newReplica: newID, replacedStore: kept, changesOnlyInReplaced: onlyInReplaced)
    }

    // MARK: - Steps

    /// Moves the local replica to a new id: the row at index 1 (the local replica, where
    /// `create` and this function put it) moves to a fresh index with every change, version and
    /// history row that refers to it; the new id takes index 1 with an empty sequence. Nothing
    /// depends on the local replica being at index 1 (`status` looks its index up): were another
    /// replica there, it would move instead, consistently in every table.
    static func rekey(_ db: Database, to newID: ReplicaID, previous: ReplicaID, now: UInt64) throws {
        if try Int.fetchOne(db, sql: "SELECT 1 FROM replicas WHERE id = ?", arguments: [Data(newID.bytes)]) != nil {
            throw StoreError(.invalid, "the new replica id \(newID.hex) is already in the store")
        }
        try db.execute(sql: "PRAGMA defer_foreign_keys = ON")
        let moved = (try Int64.fetchOne(db, sql: "SELECT max(idx) FROM replicas") ?? 1) + 1
        for table in ["changes", "change_records", "versions"] {
            try db.execute(sql: "UPDATE \(table) SET replica = ? WHERE replica = 1", arguments: [moved])
        }
        try db.execute(sql: "UPDATE replicas SET idx = ? WHERE idx = 1", arguments: [moved])
        try db.execute(sql: "INSERT INTO replicas(idx, id) VALUES (1, ?)", arguments: [Data(newID.bytes)])
        try db.execute(sql: "UPDATE meta SET value = ? WHERE key = 'replica'", arguments: [newID.hex])
        try db.execute(sql: "UPDATE meta SET value = '1' WHERE key = 'next_seq'")
        try db.execute(sql: "DELETE FROM meta WHERE key IN (?, ?)", arguments: [backupOfKey, backupAtKey])
        try db.execute(
            sql: "INSERT OR REPLACE INTO meta(key, value) VALUES ('x.restore.previous_replica', ?), ('x.restore.at', ?)",
            arguments: [previous.hex, String(now)])
    }

    /// Opens a private copy of a backup and checks it; migrates it if an older Strata wrote it.
    static func verify(copy path: String, describedAs name: String) throws -> BackupSummary {
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(path: path, configuration: plainConfiguration())
        } catch {
            throw StoreError(.corrupt, "\(name) is damaged: SQLite cannot open it (\(error)); it is not a usable Strata backup")
        }
        defer { try? queue.close() }
        let replica: ReplicaID
        let takenAt: UInt64?
        do {
            let migrator = StoreSchema.migrator
            let (isStore, hex, at, newer, current) = try queue.read { db in
                let isStore = try db.tableExists("meta") && db.tableExists("changes") && db.tableExists("grdb_migrations")
                guard isStore else { return (false, nil as String?, nil as String?, false, false) }
                return (
                    true, try meta(db, "replica"), try meta(db, backupAtKey), try migrator.hasBeenSuperseded(db),
                    try migrator.hasCompletedMigrations(db)
                )
            }
            guard isStore, let hex, let id = ReplicaID(hex: hex) else {
                throw StoreError(.corrupt, "\(name) is an SQLite database but not a Strata store; give a file made by `strata backup`")
            }
            if newer {
                throw StoreError(.newerSchema, "\(name) was written by a newer Strata; upgrade strata to restore it")
            }
            if !current { try migrator.migrate(queue) }
            replica = id
            takenAt = at.flatMap(UInt64.init)
        } catch let e as StoreError {
            throw e
        } catch let e as DatabaseError where e.resultCode == .SQLITE_NOTADB {
            throw StoreError(.corrupt, "\(name) is not a Strata backup (not an SQLite database)")
        } catch {
            throw StoreError(.corrupt, "\(name) is damaged: it cannot be read (\(error)); it is not a usable Strata backup")
        }
        let store = Store(path: path, db: queue, replicaID: replica, policy: .standard)
        let problems: [String]
        do { problems = try store.check() } catch {
            throw StoreError(.corrupt, "\(name) is damaged (\(error)); it is not a usable Strata backup")
        }
        if !problems.isEmpty {
            let shown = problems.prefix(3).joined(separator: "; ")
            throw StoreError(
                .corrupt,
                "\(name) is damaged (\(problems.count) problem\(problems.count == 1 ? "" : "s"): \(shown)); it is not a usable backup")
        }
        let status = try store.status()
        return BackupSummary(
            replica: replica, changes: status.changes, records: status.records + status.deleted,
            bytes: fileSize(path) ?? 0, takenAtMillis: takenAt)
    }

    /// Makes sure no other process has the store open, then checkpoints its write-ahead log
    /// into the file, so the swap can neither lose a write in flight nor leave another
    /// process writing to (or, on close, deleting the log of) the wrong file.
    /// The calling process must not have the store open itself.
    static func quiesce(_ path: String, describedAs name: String) throws {
        let inUse = StoreError(
            .invalid,
            "the store \(name) is open in another strata process (serve? sync?); stop it, then restore again; nothing was changed")
        if isOpenElsewhere(path) { throw inUse }
        guard fileSize(path + "-wal") != nil else { return }  // no log: nothing to write back
        var c = Configuration()
        c.busyMode = .timeout(2)
        // A store that SQLite cannot open is kept as it is, with its log beside it.
        guard let queue = try? DatabaseQueue(path: path, configuration: c) else { return }
        defer { try? queue.close() }
        let busy: Int? = try? queue.writeWithoutTransaction { db in
            try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)").map { $0[0] as Int }
        }
        if busy == 1 { throw inUse }
    }

    /// True when another process holds one of SQLite's locks on the store: every connection
    /// to a WAL database holds a shared lock on the "dead man switch" byte of its `-shm` file
    /// (and readers a shared lock on the database file) for as long as it is open.
    static func isOpenElsewhere(_ path: String) -> Bool {
        // (file, first byte, length): the -shm DMS byte; the database's SHARED range.
        let probes: [(String, Int, Int)] = [(path + "-shm", 128, 1), (path, 0x4000_0002, 510)]
        for (file, start, length) in probes {
            let fd = posixOpen(file, O_RDWR | O_CLOEXEC)
            guard fd >= 0 else { continue }
            var lock = flock()
            lock.l_type = Int16(F_WRLCK)
            lock.l_whence = Int16(SEEK_SET)
            lock.l_start = off_t(start)
            lock.l_len = off_t(length)
            let r = fcntl(fd, F_GETLK, &lock)
            posixClose(fd)
            if r == 0 && lock.l_type != Int16(F_UNLCK) { return true }
        }
        return false
    }

    // MARK: - Files

    /// A configuration without Strata's WAL probing: for private copies.
    static func plainConfiguration() -> Configuration {
        var c = Configuration()
        c.busyMode = .timeout(10)
        c.foreignKeysEnabled = true
        c.label = "strata-backup"
        return c
    }

    static func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }

    /// An empty owner-only file next to `path`, named so it is clearly temporary.
    static func makeTemporaryFile(besides path: String, purpose: String) throws -> String {
        let dir = (path as NSString).deletingLastPathComponent
        let base = (path as NSString).lastPathComponent
        var rng = SystemRandomNumberGenerator()
        let name = "\(dir)/.\(base).\(purpose)-\(String(UInt32.random(in: 0...UInt32.max, using: &rng), radix: 16)).tmp"
        let fd = posixOpen(name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw StoreError(.invalid, "cannot create a file in \(dir) (\(errnoText())); check that the directory is writable")
        }
        posixClose(fd)
        return name
    }

    /// Copies a database file (and its write-ahead log, if it has one) byte for byte.
    static func copyDatabase(from source: String, to destination: String, describedAs name: String) throws {
        for suffix in ["", "-wal"] {
            let from = source + suffix
            if suffix == "-wal" && !FileManager.default.fileExists(atPath: from) { continue }
            guard let input = FileHandle(forReadingAtPath: from) else {
                throw StoreError(.invalid, "cannot read \(name)\(suffix); check its permissions")
            }
            defer { try? input.close() }
            if suffix == "-wal" {
                guard FileManager.default.createFile(atPath: destination + suffix, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                    throw StoreError(.invalid, "cannot copy \(name)\(suffix)")
                }
            }
            guard let output = FileHandle(forWritingAtPath: destination + suffix) else {
                throw StoreError(.invalid, "cannot copy \(name): the temporary copy cannot be written")
            }
            defer { try? output.close() }
            while true {
                let chunk = try input.read(upToCount: 1 << 20) ?? Data()
                if chunk.isEmpty { break }
                try output.write(contentsOf: chunk)
            }
        }
        guard let header = FileHandle(forReadingAtPath: destination), let magic = try header.read(upToCount: 16) else {
            throw StoreError(.invalid, "cannot read \(name)")
        }
        try? header.close()
        if magic != Data("SQLite format 3\0".utf8) {
            throw StoreError(.corrupt, "\(name) is not a Strata backup (not an SQLite database)")
        }
    }

    static func requireReadableFile(_ path: String, _ name: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw StoreError(.noStore, "no file \(name); give the path of a backup made by `strata backup FILE`")
        }
        if isDir.boolValue { throw StoreError(.invalid, "\(name) is a directory; give the backup file inside it") }
    }

    /// `path`, or `path-2`, `path-3`, … : the first name not taken.
    static func freeName(_ path: String) -> String {
        if !FileManager.default.fileExists(atPath: path) { return path }
        var n = 2
        while FileManager.default.fileExists(atPath: "\(path)-\(n)") { n += 1 }
        return "\(path)-\(n)"
    }

    static func removeDatabaseFiles(_ path: String) {
        for suffix in ["", "-wal", "-shm", "-journal"] { unlink(path + suffix) }
    }

    static func fileSize(_ path: String) -> Int? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int
    }

    static func syncFile(_ path: String) throws {
        let fd = posixOpen(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError(.invalid, "cannot open \(path) to flush it: \(errnoText())") }
        defer { posixClose(fd) }
        guard posixFsync(fd) == 0 else { throw StoreError(.invalid, "cannot flush \(path) to disk: \(errnoText())") }
    }

    /// Makes a rename durable. Best effort: some file systems refuse to sync a directory.
    static func syncDirectory(_ path: String) {
        let fd = posixOpen(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = posixFsync(fd)
        posixClose(fd)
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}
