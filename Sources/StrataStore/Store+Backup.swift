import Foundation
import GRDB
import StrataCodec
import StrataCore

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
    /// The attachments' bytes, in `FILE.blobs/` beside the backup file.
    public var blobs = BackupBlobs()
}

/// The attachments' bytes a backup holds, beside its file as `FILE.blobs/` (the store's own
/// layout: `sha256/ab/<hex>`).
public struct BackupBlobs: Sendable, Equatable {
    /// Blobs the backup's records reference that it holds.
    public var held = 0
    public var bytes: UInt64 = 0
    /// Of those, copied by this backup (the others were there from an earlier one).
    public var copied = 0
    /// Blobs the backup's records reference that it does not hold (they were not on the
    /// machine when it was taken): not a problem.
    public var notHeld = 0
    /// Blobs whose bytes do not hash to their names (in the store when backing up, in the
    /// backup when verifying): a problem.
    public var damaged: [BlobHash] = []

    public init() {}
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
    /// The attachments' bytes brought back from `FILE.blobs/`.
    public var blobs = BlobCopySummary()
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
        let target = FileSystem.absolute(file)
        if FileSystem.absolute(path) == target {
            throw StoreError(.backupOntoStore(path: path))
        }
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: target, isDirectory: &isDir) {
            if isDir.boolValue {
                throw StoreError(.backupTargetIsDirectory(path: file))
            }
            if !force {
                throw StoreError(.fileExists(path: file))
            }
        }
        let dir = (target as NSString).deletingLastPathComponent
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw StoreError(.noDirectory(path: dir))
        }
        let temp = try FileSystem.makeTemporaryFile(besides: target, purpose: "backup")
        var keepTemp = false
        defer { if !keepTemp { FileSystem.removeDatabaseFiles(temp) } }

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
            throw StoreError(.backupFailed(path: file, detail: "\(error)"))
        }
        var summary = try Self.verify(copy: temp, describedAs: "the new backup \(file)")
        // The attachments' bytes go first, so that once the file has its name its blobs are
        // all beside it. Each is verified as it is read and again before it is renamed.
        let referenced = try Self.referencedBlobs(inCopy: temp, describedAs: file)
        let copied = try BlobStore(storePath: target).copy(referenced.map(\.hash), from: blobs)
        summary.blobs.copied = copied.copied
        summary.blobs.damaged = copied.damaged
        summary.blobs.notHeld = copied.notInSource
        let backupBlobs = BlobStore(storePath: target)
        for r in referenced where backupBlobs.has(r.hash) {
            summary.blobs.held += 1
            summary.blobs.bytes += r.size
        }
        try FileSystem.syncFile(temp)
        if force {
            if let reason = FileSystem.rename(temp, to: target) {
                throw StoreError(.cannotWrite(path: file, reason: reason))
            }
        } else {
            // link(2) refuses to replace a file that appeared meanwhile.
            switch FileSystem.link(temp, as: target) {
            case .linked: break
            case .exists: throw StoreError(.fileExists(path: file))
            case .failed(let reason): throw StoreError(.cannotWrite(path: file, reason: reason))
            }
            FileSystem.unlink(temp)
        }
        keepTemp = true
        FileSystem.syncDirectory(dir)
        summary.bytes = FileSystem.fileSize(target) ?? summary.bytes
        return summary
    }

    /// Checks a backup file without changing it: it is copied to a temporary file, which is
    /// checked (SQLite integrity, then every record re-derived from the change log).
    public static func verifyBackup(at file: String) throws -> BackupSummary {
        let source = FileSystem.absolute(file)
        try FileSystem.requireBackupFile(source, file)
        let temp = try FileSystem.makeTemporaryFile(besides: NSTemporaryDirectory() + "/strata-verify", purpose: "verify")
        defer { FileSystem.removeDatabaseFiles(temp) }
        try FileSystem.copyDatabase(from: source, to: temp, describedAs: file)
        var s = try verify(copy: temp, describedAs: file)
        s.bytes = FileSystem.fileSize(source) ?? s.bytes
        // Every blob the backup's records reference: held and whole, or not held.
        let backupBlobs = BlobStore(storePath: source)
        for r in try referencedBlobs(inCopy: temp, describedAs: file) {
            guard backupBlobs.has(r.hash) else {
                s.blobs.notHeld += 1
                continue
            }
            if try backupBlobs.verify(r.hash) {
                s.blobs.held += 1
                s.blobs.bytes += r.size
            } else {
                s.blobs.damaged.append(r.hash)
            }
        }
        return s
    }

    /// The blobs the records of a private copy of a store reference (deleted records too).
    static func referencedBlobs(inCopy path: String, describedAs name: String) throws -> [ReferencedBlob] {
        do {
            let queue = try DatabaseQueue(path: path, configuration: plainConfiguration())
            defer { try? queue.close() }
            return try queue.read { try allReferencedBlobs($0) }
        } catch {
            throw StoreError(.backupUnreadable(file: name, detail: "\(error)"))
        }
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
        let source = FileSystem.absolute(file)
        let target = FileSystem.absolute(storePath)
        if source == target {
            throw StoreError(.restoreFromStore(path: file))
        }
        try FileSystem.requireBackupFile(source, file)
        let dir = (target as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let temp = try FileSystem.makeTemporaryFile(besides: target, purpose: "restore")
        var tempInPlace = false
        defer { if !tempInPlace { FileSystem.removeDatabaseFiles(temp) } }

        // 1. Verify the backup (a copy of it) before touching the current store.
        try FileSystem.copyDatabase(from: source, to: temp, describedAs: file)
        let backup = try verify(copy: temp, describedAs: file)
        // The attachments' bytes, before the swap (a backup from before attachments has none):
        // each verified, written under the store's blobs' tmp/ and renamed into place. Blobs
        // already beside the store are kept; a damaged one in the backup is left out (its
        // records list it as not here).
        let referenced = try referencedBlobs(inCopy: temp, describedAs: file)
        let broughtBack = try BlobStore(storePath: target).copy(referenced.map(\.hash), from: BlobStore(storePath: source))

        // 2. Give the copy a new replica id, keeping every change under its own id.
        var rng = SystemRandomNumberGenerator()
        let newID = newReplicaID ?? ReplicaID.random(using: &rng)
        let queue = try DatabaseQueue(path: temp, configuration: plainConfiguration())
        do {
            try queue.write { db in try StoreSchema.rekey(db, to: newID, previous: backup.replica, now: now) }
            try queue.close()
        } catch {
            try? queue.close()
            throw StoreError(.cannotPrepareRestore(detail: "\(error)"))
        }
        if let size = FileSystem.fileSize(temp + "-wal"), size > 0 {
            throw StoreError(.cannotPrepareRestore(detail: "its log was not written back"))
        }
        try FileSystem.syncFile(temp)

        // 3. Swap: keep the current store under another name, then rename the copy into place.
        var kept: String? = nil
        var onlyInReplaced: Int? = nil
        if FileManager.default.fileExists(atPath: target) {
            try quiesce(target, describedAs: storePath)
            let before = FileSystem.freeName(target + ".before-restore")
            // A hard link keeps the old store under both names until the rename below, so the
            // store path always names a complete store.
            if FileSystem.link(target, as: before) != .linked {
                if let reason = FileSystem.rename(target, to: before) {
                    throw StoreError(.cannotKeepCurrentStore(keptAs: before, reason: reason))
                }
            }
            for suffix in ["-wal", "-shm"] where FileManager.default.fileExists(atPath: target + suffix) {
                _ = FileSystem.rename(target + suffix, to: before + suffix)
            }
            kept = before
            if let reason = FileSystem.rename(temp, to: target) {
                throw StoreError(.cannotSwapIn(reason: reason, previous: before))
            }
            tempInPlace = true
            FileSystem.syncDirectory(dir)
            if let old = try? Store.open(at: before), let restored = try? Store.open(at: target) {
                onlyInReplaced = try? old.changes(missingFrom: restored.versionVector()).count
            }
        } else {
            if let reason = FileSystem.rename(temp, to: target) {
                throw StoreError(.cannotPlaceRestored(path: storePath, reason: reason))
            }
            tempInPlace = true
            FileSystem.syncDirectory(dir)
        }
        return RestoreSummary(
            backup: backup, newReplica: newID, replacedStore: kept, changesOnlyInReplaced: onlyInReplaced, blobs: broughtBack)
    }

    // MARK: - Steps

    /// Opens a private copy of a backup and checks it; migrates it if an older Strata wrote it.
    static func verify(copy path: String, describedAs name: String) throws -> BackupSummary {
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(path: path, configuration: plainConfiguration())
        } catch {
            throw StoreError(.backupUnopenable(file: name, detail: "\(error)"))
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
                throw StoreError(.notAStrataStore(path: name, .backup))
            }
            if newer {
                throw StoreError(.newerSchema(path: name, .backup))
            }
            if !current { try migrator.migrate(queue) }
            replica = id
            takenAt = at.flatMap(UInt64.init)
        } catch let e as StoreError {
            throw e
        } catch let e as DatabaseError where e.resultCode == .SQLITE_NOTADB {
            throw StoreError(.notADatabase(path: name, .backup))
        } catch {
            throw StoreError(.backupUnreadable(file: name, detail: "\(error)"))
        }
        let store = Store(path: path, db: queue, replicaID: replica, policy: .standard)
        let problems: [String]
        do { problems = try store.check() } catch {
            throw StoreError(.backupCheckFailed(file: name, detail: "\(error)"))
        }
        if !problems.isEmpty {
            throw StoreError(.backupInconsistent(file: name, problems: Array(problems.prefix(3)), count: problems.count))
        }
        let status = try store.status()
        return BackupSummary(
            replica: replica, changes: status.changes, records: status.records + status.deleted,
            bytes: FileSystem.fileSize(path) ?? 0, takenAtMillis: takenAt)
    }

    /// Makes sure no other process has the store open, then checkpoints its write-ahead log
    /// into the file, so the swap can neither lose a write in flight nor leave another
    /// process writing to (or, on close, deleting the log of) the wrong file.
    /// The calling process must not have the store open itself.
    static func quiesce(_ path: String, describedAs name: String) throws {
        let inUse = StoreError(.storeInUse(path: name))
        if FileSystem.isOpenElsewhere(path) { throw inUse }
        guard FileSystem.fileSize(path + "-wal") != nil else { return }  // no log: nothing to write back
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

    // MARK: - Configuration

    /// A configuration without Strata's WAL probing: for private copies.
    static func plainConfiguration() -> Configuration {
        var c = Configuration()
        c.busyMode = .timeout(10)
        c.foreignKeysEnabled = true
        c.label = "strata-backup"
        return c
    }
}
