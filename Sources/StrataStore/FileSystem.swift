import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// The POSIX calls under names that the members below (`link`, `rename`, `unlink`) and
// `Store`'s own (`open`) do not shadow.
private func posixOpen(_ path: String, _ flags: Int32, _ mode: mode_t = 0) -> Int32 { open(path, flags, mode) }
private func posixClose(_ fd: Int32) { _ = close(fd) }
private func posixFsync(_ fd: Int32) -> Int32 { fsync(fd) }
private func posixLink(_ existing: String, _ new: String) -> Int32 { link(existing, new) }
private func posixRename(_ from: String, _ to: String) -> Int32 { rename(from, to) }
private func posixUnlink(_ path: String) { _ = unlink(path) }

/// The POSIX file work of backups and restores: owner-only temporary files, byte copies,
/// `fsync`, `link` and `rename`, and probing SQLite's locks. No SQL here; failures are
/// ``StoreError`` values or the `strerror` text of the call that failed.
enum FileSystem {
    /// The text of the last POSIX error (`strerror(errno)`).
    static func errnoText() -> String { String(cString: strerror(errno)) }

    /// `path` made absolute and standardised, so two names of one file compare equal.
    static func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }

    /// What `link(2)` did.
    enum LinkOutcome: Equatable {
        case linked
        /// The new name exists already.
        case exists
        /// Another failure, with its `strerror` text.
        case failed(String)
    }

    /// A second name for a file (`link(2)`): never replaces an existing file.
    static func link(_ existing: String, as new: String) -> LinkOutcome {
        if posixLink(existing, new) == 0 { return .linked }
        return errno == EEXIST ? .exists : .failed(errnoText())
    }

    /// Renames a file, replacing `to` (`rename(2)`); nil when done, else the `strerror` text.
    static func rename(_ from: String, to: String) -> String? {
        posixRename(from, to) == 0 ? nil : errnoText()
    }

    /// Removes one name of a file (`unlink(2)`), ignoring failures.
    static func unlink(_ path: String) { posixUnlink(path) }

    /// An empty owner-only file next to `path`, named so it is clearly temporary.
    static func makeTemporaryFile(besides path: String, purpose: String) throws -> String {
        let dir = (path as NSString).deletingLastPathComponent
        let base = (path as NSString).lastPathComponent
        var rng = SystemRandomNumberGenerator()
        let name = "\(dir)/.\(base).\(purpose)-\(String(UInt32.random(in: 0...UInt32.max, using: &rng), radix: 16)).tmp"
        let fd = posixOpen(name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw StoreError(.cannotCreateTemporaryFile(directory: dir, reason: errnoText()))
        }
        posixClose(fd)
        return name
    }

    /// Copies a database file (and its write-ahead log, if it has one) byte for byte; the
    /// copy must start with SQLite's header.
    static func copyDatabase(from source: String, to destination: String, describedAs name: String) throws {
        for suffix in ["", "-wal"] {
            let from = source + suffix
            if suffix == "-wal" && !FileManager.default.fileExists(atPath: from) { continue }
            guard let input = FileHandle(forReadingAtPath: from) else {
                throw StoreError(.cannotRead(path: name + suffix))
            }
            defer { try? input.close() }
            if suffix == "-wal" {
                guard FileManager.default.createFile(atPath: destination + suffix, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                    throw StoreError(.cannotCopy(path: name + suffix))
                }
            }
            guard let output = FileHandle(forWritingAtPath: destination + suffix) else {
                throw StoreError(.cannotWriteCopy(path: name))
            }
            defer { try? output.close() }
            while true {
                let chunk = try input.read(upToCount: 1 << 20) ?? Data()
                if chunk.isEmpty { break }
                try output.write(contentsOf: chunk)
            }
        }
        guard let header = FileHandle(forReadingAtPath: destination), let magic = try header.read(upToCount: 16) else {
            throw StoreError(.cannotReadCopy(path: name))
        }
        try? header.close()
        if magic != Data("SQLite format 3\0".utf8) {
            throw StoreError(.notADatabase(path: name, .backup))
        }
    }

    /// Refuses a missing file or a directory where a backup file is expected.
    static func requireBackupFile(_ path: String, _ name: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw StoreError(.noBackupFile(path: name))
        }
        if isDir.boolValue { throw StoreError(.backupIsDirectory(path: name)) }
    }

    /// `path`, or `path-2`, `path-3`, … : the first name not taken.
    static func freeName(_ path: String) -> String {
        if !FileManager.default.fileExists(atPath: path) { return path }
        var n = 2
        while FileManager.default.fileExists(atPath: "\(path)-\(n)") { n += 1 }
        return "\(path)-\(n)"
    }

    /// Removes a database file and the files SQLite keeps beside it.
    static func removeDatabaseFiles(_ path: String) {
        for suffix in ["", "-wal", "-shm", "-journal"] { unlink(path + suffix) }
    }

    static func fileSize(_ path: String) -> Int? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int
    }

    /// Flushes a file to disk (`fsync(2)`).
    static func syncFile(_ path: String) throws {
        let fd = posixOpen(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError(.cannotOpenToFlush(path: path, reason: errnoText())) }
        defer { posixClose(fd) }
        guard posixFsync(fd) == 0 else { throw StoreError(.cannotFlush(path: path, reason: errnoText())) }
    }

    /// Makes a rename durable. Best effort: some file systems refuse to sync a directory.
    static func syncDirectory(_ path: String) {
        let fd = posixOpen(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = posixFsync(fd)
        posixClose(fd)
    }

    /// True when another process holds one of SQLite's locks on the database at `path`: every
    /// connection to a WAL database holds a shared lock on the "dead man switch" byte of its
    /// `-shm` file (and readers a shared lock on the database file) for as long as it is open.
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
}
