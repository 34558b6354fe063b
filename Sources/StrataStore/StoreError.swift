import StrataCore

/// An error of the store: what happened (``kind``), with the facts (paths, ids, prefixes).
///
/// > Invariant: a description states what happened and never names a `strata` command or
/// > flag: the store does not know how it is run. The terminal client adds the advice for
/// > each kind (`StrataCLI`'s `Advice`).
public struct StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Which file a check was about: the replica itself or a backup of one.
    public enum Role: Sendable, Equatable {
        case store, backup
    }

    /// What happened. New cases may be added; the terminal client decides its advice for each.
    public enum Kind: Sendable, Equatable {
        // Creating and opening a store.
        /// The author name is empty or spans several lines.
        case invalidAuthorName
        /// `create` found a file at `path`.
        case storeExists(path: String)
        /// The store file could not be created.
        case cannotCreate(path: String)
        /// No file at `path` to open as a store.
        case noStore(path: String)
        /// An SQLite database without Strata's tables: another program's.
        case notAStrataStore(path: String, Role)
        /// Not an SQLite database at all.
        case notADatabase(path: String, Role)
        /// An SQLite file with Strata's tables but no replica id.
        case noReplicaID(path: String)
        /// A newer Strata wrote the file's schema.
        case newerSchema(path: String, Role)
        /// The file is a backup, which must be restored rather than opened as a store.
        case isBackup(path: String)

        // Records and queries.
        /// Text that cannot be (a prefix of) a record id.
        case notARecordID(text: String)
        /// A complete record id that names no record here.
        case noRecord(id: String)
        /// An id prefix shorter than the 4 characters a lookup needs.
        case prefixTooShort(prefix: String)
        /// No record's id starts with the prefix.
        case noMatch(prefix: String)
        /// Several records' ids start with the prefix; `candidates` shows up to 10 of them
        /// (short id, kind, title), `more` says whether there are more than 10.
        case ambiguous(prefix: String, candidates: [String], more: Bool)
        /// A full-text query SQLite refused.
        case invalidSearch(query: String, reason: String)

        // Writing and merging.
        /// A local change past what every reader of a change accepts (`CodecLimits`).
        case changeTooLarge(problem: String)
        /// A record's materialised state cannot be decoded.
        case corruptRecord(id: String, detail: String)
        /// A record a change touched has no row after the write (nothing was committed).
        case recordWithoutRow(id: String)
        /// A change of the log cannot be decoded, so the store was not migrated.
        case unreadableLog(detail: String)
        /// A change asked for by id (to push it) is not in the log.
        case changeNotInLog(id: String)

        // Attachments.
        /// No file to attach at `path`.
        case attachmentMissing(path: String)
        /// A directory was given where a file to attach was expected.
        case attachmentIsDirectory(path: String)
        /// The file cannot be read (the POSIX reason).
        case attachmentUnreadable(path: String, reason: String)
        /// The file is empty: nothing to keep as evidence.
        case attachmentEmpty(path: String)
        /// The file is over the largest size an attachment may have.
        case attachmentTooLarge(path: String, size: UInt64, limit: UInt64)
        /// The file changed size while it was being stored.
        case attachmentChanged(path: String)
        /// The name an attachment would get cannot be one (path separators, control characters, …).
        case attachmentBadName(name: String, problem: String)
        /// The caption cannot be one.
        case attachmentBadCaption(problem: String)
        /// The attach change could not be planned.
        case cannotAttach(detail: String)
        /// The photo's position could not be removed from the copy; nothing was attached.
        case cannotStripLocation(path: String, detail: String)
        /// A record has no attachment with that number.
        case noAttachment(record: String, number: Int, count: Int)
        /// The blob's bytes are not on this machine (not downloaded yet).
        case blobNotHere(hash: String)
        /// The stored blob's bytes do not hash to its name: the copy here is damaged.
        case blobCorrupt(hash: String, path: String)
        /// The stored blob's bytes did not hash to its name (a damaged disk, a download a power
        /// cut tore): the copy was moved to `path`, and the blob counts as not here.
        case blobSetAside(hash: String, path: String)
        /// Received bytes do not hash to the blob's name; they were dropped.
        case blobHashMismatch(hash: String, actual: String)
        /// A piece of a blob offered at another offset than what is held.
        case blobOffsetMismatch(hash: String, held: UInt64, offered: UInt64)
        /// A piece or a range past the blob's end.
        case blobPastEnd(hash: String, size: UInt64, end: UInt64)
        /// A blob's file could not be written (disk full, say); nothing partial is under its name.
        case blobWriteFailed(path: String, reason: String)

        // Sync state.
        /// A remote of that name is already configured.
        case remoteExists(name: String)
        /// Sync state names a remote that is not configured (removed while a sync ran, say).
        case noRemote(name: String)

        // Backups.
        /// The backup's target is the store file itself.
        case backupOntoStore(path: String)
        /// The backup's target is a directory.
        case backupTargetIsDirectory(path: String)
        /// The backup's target exists (and replacing it was not asked for).
        case fileExists(path: String)
        /// The directory a backup would go in does not exist.
        case noDirectory(path: String)
        /// SQLite's online backup failed; the store is unchanged.
        case backupFailed(path: String, detail: String)
        /// The file could not be written (the POSIX reason).
        case cannotWrite(path: String, reason: String)
        /// No file where a backup was expected.
        case noBackupFile(path: String)
        /// A directory where a backup file was expected.
        case backupIsDirectory(path: String)
        /// A file of the backup could not be opened for reading.
        case cannotRead(path: String)
        /// The private copy of a backup could not be read back.
        case cannotReadCopy(path: String)
        /// A file of the backup could not be copied.
        case cannotCopy(path: String)
        /// The private copy of a backup could not be opened for writing.
        case cannotWriteCopy(path: String)
        /// No temporary file could be made in the directory.
        case cannotCreateTemporaryFile(directory: String, reason: String)
        /// A file could not be opened to be flushed to disk.
        case cannotOpenToFlush(path: String, reason: String)
        /// A file could not be flushed to disk.
        case cannotFlush(path: String, reason: String)
        /// SQLite cannot open the backup.
        case backupUnopenable(file: String, detail: String)
        /// The backup's tables cannot be read.
        case backupUnreadable(file: String, detail: String)
        /// The store's check could not run on the backup.
        case backupCheckFailed(file: String, detail: String)
        /// The store's check found problems in the backup (all counted, the first 3 kept).
        case backupInconsistent(file: String, problems: [String], count: Int)

        // Restores.
        /// The file to restore from is the store itself.
        case restoreFromStore(path: String)
        /// The restored copy could not be re-keyed or written back; the current store is unchanged.
        case cannotPrepareRestore(detail: String)
        /// The new replica id already names a replica of the backup.
        case replicaIDTaken(hex: String)
        /// Another process has the store open; nothing was changed.
        case storeInUse(path: String)
        /// The current store could not be kept under `keptAs`; nothing was changed.
        case cannotKeepCurrentStore(keptAs: String, reason: String)
        /// The restored copy could not be renamed into place; the previous store is at `previous`.
        case cannotSwapIn(reason: String, previous: String)
        /// The restored copy could not be renamed to `path` (there was no store before).
        case cannotPlaceRestored(path: String, reason: String)
    }

    /// What happened, with its facts.
    public let kind: Kind

    public init(_ kind: Kind) { self.kind = kind }

    /// A lookup found no record (not a record id, too short, no match).
    public var isNotFound: Bool {
        switch kind {
        case .notARecordID, .noRecord, .prefixTooShort, .noMatch: true
        default: false
        }
    }

    public var isAmbiguous: Bool {
        if case .ambiguous = kind { true } else { false }
    }

    /// The facts in a sentence, without advice that names a command or a flag.
    public var description: String {
        switch kind {
        case .attachmentMissing(let path):
            return "no file at \(path) to attach"
        case .attachmentIsDirectory(let path):
            return "\(path) is a folder; attach the files in it one by one"
        case .attachmentUnreadable(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .attachmentEmpty(let path):
            return "\(path) is empty (0 bytes); nothing was attached"
        case .attachmentTooLarge(let path, let size, let limit):
            return "\(path) is \(Display.bytes(size)), over the \(Display.bytes(limit)) an attachment may have; nothing was attached"
        case .attachmentChanged(let path):
            return "\(path) changed while it was being stored; nothing was attached"
        case .attachmentBadName(let name, let problem):
            return "the attachment name \(Display.quoted(name)) \(problem); nothing was attached"
        case .attachmentBadCaption(let problem):
            return "the caption \(problem)"
        case .cannotAttach(let detail):
            return "cannot attach: \(detail)"
        case .cannotStripLocation(let path, let detail):
            return "cannot remove the position from \(path) (\(detail)); nothing was attached"
        case .noAttachment(let record, let number, let count):
            if count == 0 { return "record \(record) has no attachments" }
            return "record \(record) has no attachment \(number); it has \(count == 1 ? "1 (number 1)" : "\(count), numbered 1 to \(count)")"
        case .blobNotHere(let hash):
            return "the bytes of attachment \(hash.prefix(12)) are not on this machine yet"
        case .blobCorrupt(let hash, let path):
            return "the stored copy of attachment \(hash.prefix(12)) is damaged (\(path) does not hash to its name)"
        case .blobSetAside(let hash, let path):
            return "the stored copy of attachment \(hash.prefix(12)) is damaged (its bytes do not hash to its name); it was moved to \(path) and counts as not on this machine"
        case .blobHashMismatch(let hash, let actual):
            return "the bytes received for attachment \(hash.prefix(12)) hash to \(actual.prefix(12)), not to its name; they were dropped"
        case .blobOffsetMismatch(let hash, let held, let offered):
            return "bytes of attachment \(hash.prefix(12)) were offered from byte \(offered), but \(held) are held"
        case .blobPastEnd(let hash, let size, let end):
            return "byte \(end) is past the end of attachment \(hash.prefix(12)) (\(size) bytes)"
        case .blobWriteFailed(let path, let reason):
            return "cannot write \(path): \(reason); nothing partial was kept under the attachment's name"
        case .invalidAuthorName:
            return "the author name must be one non-empty line"
        case .storeExists(let path):
            return "a store already exists at \(path)"
        case .cannotCreate(let path):
            return "cannot create \(path): check that the directory is writable"
        case .noStore(let path):
            return "no Strata store at \(path)"
        case .notAStrataStore(let path, .store):
            return "\(path) is an SQLite database but not a Strata store; pass the path of a store"
        case .notAStrataStore(let path, .backup):
            return "\(path) is an SQLite database but not a Strata store"
        case .notADatabase(let path, .store):
            return "\(path) is not a Strata store (not an SQLite database)"
        case .notADatabase(let path, .backup):
            return "\(path) is not a Strata backup (not an SQLite database)"
        case .noReplicaID(let path):
            return "\(path) is an SQLite file but not a Strata store (no replica id)"
        case .newerSchema(let path, .store):
            return "the store at \(path) was written by a newer Strata"
        case .newerSchema(let path, .backup):
            return "\(path) was written by a newer Strata"
        case .isBackup(let path):
            return "\(path) is a backup, not a store"

        case .notARecordID(let text):
            return "'\(text)' is not a record id; ids use the letters 0-9 a-z"
        case .noRecord(let id):
            return "no record \(id) on this replica"
        case .prefixTooShort(let prefix):
            return "id prefix '\(prefix)' is too short; give at least 4 characters"
        case .noMatch(let prefix):
            return "no record matches '\(prefix)'"
        case .ambiguous(let prefix, let candidates, let more):
            return "id prefix '\(prefix)' matches \(more ? "more than 10" : String(candidates.count)) records: "
                + candidates.joined(separator: "; ") + "; give more characters"
        case .invalidSearch(let query, let reason):
            return "cannot search for '\(query)': \(reason)"

        case .changeTooLarge(let problem):
            return "\(problem); nothing was recorded"
        case .corruptRecord(let id, let detail):
            return "record \(id) cannot be read (\(detail))"
        case .recordWithoutRow(let id):
            return "record \(id) of a change has no row; nothing was written"
        case .unreadableLog(let detail):
            return "the change log cannot be read (\(detail)); the store was not migrated"
        case .changeNotInLog(let id):
            return "change \(id) is not in the log"
        case .remoteExists(let name):
            return "a remote named '\(name)' exists"
        case .noRemote(let name):
            return "no remote '\(name)'; nothing was recorded"

        case .backupOntoStore(let path):
            return "the backup must be another file than the store itself (\(path))"
        case .backupTargetIsDirectory(let path):
            return "\(path) is a directory; give a file name, e.g. \(path)/replica-backup.strata"
        case .fileExists(let path):
            return "\(path) exists; choose another name"
        case .noDirectory(let path):
            return "the directory \(path) does not exist; create it first"
        case .backupFailed(let path, let detail):
            return "the backup to \(path) failed (\(detail)); the store is unchanged"
        case .cannotWrite(let path, let reason):
            return "cannot write \(path): \(reason)"
        case .noBackupFile(let path):
            return "no file \(path)"
        case .backupIsDirectory(let path):
            return "\(path) is a directory; give the backup file inside it"
        case .cannotRead(let path):
            return "cannot read \(path); check its permissions"
        case .cannotReadCopy(let path):
            return "cannot read \(path)"
        case .cannotCopy(let path):
            return "cannot copy \(path)"
        case .cannotWriteCopy(let path):
            return "cannot copy \(path): the temporary copy cannot be written"
        case .cannotCreateTemporaryFile(let directory, let reason):
            return "cannot create a file in \(directory) (\(reason)); check that the directory is writable"
        case .cannotOpenToFlush(let path, let reason):
            return "cannot open \(path) to flush it: \(reason)"
        case .cannotFlush(let path, let reason):
            return "cannot flush \(path) to disk: \(reason)"
        case .backupUnopenable(let file, let detail):
            return "\(file) is damaged: SQLite cannot open it (\(detail)); it is not a usable Strata backup"
        case .backupUnreadable(let file, let detail):
            return "\(file) is damaged: it cannot be read (\(detail)); it is not a usable Strata backup"
        case .backupCheckFailed(let file, let detail):
            return "\(file) is damaged (\(detail)); it is not a usable Strata backup"
        case .backupInconsistent(let file, let problems, let count):
            return "\(file) is damaged (\(count) problem\(count == 1 ? "" : "s"): \(problems.joined(separator: "; "))); "
                + "it is not a usable backup"

        case .restoreFromStore(let path):
            return "\(path) is the store itself"
        case .cannotPrepareRestore(let detail):
            return "cannot prepare the restored store (\(detail)); the current store is unchanged"
        case .replicaIDTaken(let hex):
            return "the new replica id \(hex) is already in the store"
        case .storeInUse(let path):
            return "the store \(path) is open in another strata process; nothing was changed"
        case .cannotKeepCurrentStore(let keptAs, let reason):
            return "cannot keep the current store as \(keptAs): \(reason); nothing was changed"
        case .cannotSwapIn(let reason, let previous):
            return "cannot put the restored store in place: \(reason); the previous store is at \(previous)"
        case .cannotPlaceRestored(let path, let reason):
            return "cannot put the restored store at \(path): \(reason)"
        }
    }
}
