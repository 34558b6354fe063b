import Crypto
import Dispatch
import Foundation
import StrataCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

private func posixOpen(_ path: String, _ flags: Int32, _ mode: mode_t = 0) -> Int32 { open(path, flags, mode) }
private func posixClose(_ fd: Int32) { _ = close(fd) }
private func posixRead(_ fd: Int32, _ buf: UnsafeMutableRawPointer, _ n: Int) -> Int { read(fd, buf, n) }
private func posixWrite(_ fd: Int32, _ buf: UnsafeRawPointer, _ n: Int) -> Int { write(fd, buf, n) }
private func posixFsync(_ fd: Int32) -> Int32 { fsync(fd) }
private func posixLseek(_ fd: Int32, _ off: off_t, _ whence: Int32) -> off_t { lseek(fd, off, whence) }
/// `syncfs(2)` (Linux): flushes the whole file system a descriptor is on, in one journal commit.
@_silgen_name("syncfs") private func posixSyncfs(_ fd: Int32) -> Int32
/// `sync_file_range(2)` (Linux): starts or waits for the write-back of a file's range.
@_silgen_name("sync_file_range") private func posixSyncFileRange(_ fd: Int32, _ offset: Int64, _ count: Int64, _ flags: UInt32) -> Int32

/// Checks bytes read a piece at a time, in order, hash to a blob's name: the last piece
/// throws when they do not (for copies made through another library's reader, a zip entry).
public final class BlobVerifier: @unchecked Sendable {
    private var hasher = SHA256()
    private var next: UInt64 = 0
    public let hash: BlobHash
    public let size: UInt64

    public init(_ hash: BlobHash, size: UInt64) {
        self.hash = hash
        self.size = size
    }

    /// Adds the piece at `offset` (which must follow the previous one); after the last byte,
    /// throws ``StoreError`` (`blobCorrupt`) when the bytes do not hash to the name.
    public func feed(_ piece: [UInt8], at offset: UInt64) throws {
        guard offset == next else { throw StoreError(.blobOffsetMismatch(hash: hash.hex, held: next, offered: offset)) }
        hasher.update(data: piece)
        next += UInt64(piece.count)
        if next == size, BlobHash(bytes: Array(hasher.finalize()))! != hash {
            throw StoreError(.blobCorrupt(hash: hash.hex, path: "the copy being read"))
        }
    }
}

/// How much of a blob a store holds.
public enum BlobPresence: Sendable, Equatable {
    /// Whole and verified.
    case present
    /// A download or upload stopped after `bytes`: it resumes there.
    case partial(bytes: UInt64)
    case missing
}

/// The store's blobs: files beside the SQLite file, in `<store>.blobs/`, named by their
/// SHA-256 (ARCHITECTURE.md says why files and not rows, with the figures).
///
/// > Invariant: a file under `sha256/` is whole and hashes to its name. Bytes are written
/// > under `tmp/` (an attach) or `partial/` (a transfer that may stop and resume), flushed,
/// > verified, and only then renamed into place. A record may name a blob that is not here
/// > (not downloaded yet), never one that is here in part.
public struct BlobStore: Sendable {
    /// `<store path>.blobs`
    public let root: String
    /// Bytes per read and write.
    static let chunk = 1 << 20

    public init(storePath: String) { root = storePath + ".blobs" }

    var objects: String { root + "/sha256" }
    var partialDirectory: String { root + "/partial" }
    var staging: String { root + "/tmp" }

    /// Where the blob lives when it is here.
    public func path(of hash: BlobHash) -> String {
        let hex = hash.hex
        return "\(objects)/\(hex.prefix(2))/\(hex)"
    }

    func partialPath(of hash: BlobHash) -> String { "\(partialDirectory)/\(hash.hex)" }

    public func presence(of hash: BlobHash) -> BlobPresence {
        if FileManager.default.fileExists(atPath: path(of: hash)) { return .present }
        if let n = FileSystem.fileSize(partialPath(of: hash)) { return .partial(bytes: UInt64(n)) }
        return .missing
    }

    public func has(_ hash: BlobHash) -> Bool { FileManager.default.fileExists(atPath: path(of: hash)) }

    /// Every blob held whole (by the names of the files; `verify` reads them).
    public func allHashes() -> [BlobHash] {
        var out: [BlobHash] = []
        guard let dirs = try? FileManager.default.contentsOfDirectory(atPath: objects) else { return [] }
        for d in dirs.sorted() {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: "\(objects)/\(d)") else { continue }
            for n in names.sorted() {
                if let h = BlobHash(hex: n), n.hasPrefix(d) { out.append(h) }
            }
        }
        return out
    }

    func makeDirectories(for hash: BlobHash? = nil) throws {
        var dirs = [root, objects, partialDirectory, staging]
        if let hash { dirs.append("\(objects)/\(hash.hex.prefix(2))") }
        for d in dirs where !FileManager.default.fileExists(atPath: d) {
            do {
                try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw StoreError(.blobWriteFailed(path: d, reason: "cannot create the folder (\(error.localizedDescription))"))
            }
        }
    }

    // MARK: Adding a blob from a file or bytes

    /// Copies several files in with one flush for all of them instead of one per file: each is
    /// copied under `tmp/` and hashed (its write-back started as soon as it is copied, so the
    /// disk works while the next one is read), then the file system is flushed once (`syncfs`;
    /// one `fsync` per file where that fails), the copies are renamed into place, and the
    /// renames are flushed once. The order is the single-file one (bytes durable before their
    /// name, the name durable before the caller commits a change naming it), paid once per
    /// batch. A single file is flushed by its own `fsync` and its folder's, which wait for
    /// nothing but its bytes (`syncfs` also waits for whatever else is being written).
    ///
    /// The copies run on `workers` threads (default: one per core, at most 4), a file each at a
    /// time: hashing (SHA-256, about 1.3 GB/s a core) costs more CPU than the copy itself, and
    /// one core cannot do both at the speed of `cp`. Results come back in the order of `files`,
    /// and the first failing file (in that order) is the error, as with one worker.
    public func add(files: [String], workers: Int? = nil) throws -> [(hash: BlobHash, size: UInt64, wasHere: Bool)] {
        try makeDirectories()
        var staged: [(path: String, hash: BlobHash, size: UInt64)] = []
        var placed = 0
        defer { for s in staged.dropFirst(placed) { FileSystem.unlink(s.path) } }
        let threads = max(1, min(files.count, workers ?? min(4, ProcessInfo.processInfo.activeProcessorCount)))
        staged = try Self.inOrder(files.count, threads: threads) { i in
            try copyToStaging(files[i], startingWriteBack: files.count > 1)
        } discarding: { FileSystem.unlink($0.path) }
        let one = staged.count == 1
        if one { try syncStaged(staged[0].path) } else { try flush(staged.map(\.path)) }
        var out: [(hash: BlobHash, size: UInt64, wasHere: Bool)] = []
        var dirs = Set<String>()
        for s in staged {
            let wasHere = try place(s.path, as: s.hash, syncingDirectory: false)
            placed += 1
            dirs.insert((path(of: s.hash) as NSString).deletingLastPathComponent)
            out.append((s.hash, s.size, wasHere))
        }
        if !dirs.isEmpty, one || !syncFileSystem() { for d in dirs.sorted() { FileSystem.syncDirectory(d) } }
        return out
    }

    /// `body(0..<count)` on `threads` threads, each taking the next index; the results in index
    /// order. When one throws, the others stop taking indices, the results made are handed to
    /// `discarding`, and the error of the lowest failing index is thrown.
    static func inOrder<T: Sendable>(
        _ count: Int, threads: Int, _ body: @Sendable (Int) throws -> T, discarding: (T) -> Void
    ) throws -> [T] {
        if threads <= 1 {
            var out: [T] = []
            do {
                for i in 0..<count { out.append(try body(i)) }
            } catch {
                out.forEach(discarding)
                throw error
            }
            return out
        }
        let state = ParallelTurns<T>(count)
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            // At most `count` turns per thread: each takes an index or stops.
            for _ in 0..<count {
                guard let i = state.take() else { return }
                state.put(i, Result { try body(i) })
            }
        }
        let results = state.results
        var out: [T] = []
        var firstError: Error?
        for r in results {
            switch r {
            case .success(let v)?: out.append(v)
            case .failure(let e)?: if firstError == nil { firstError = e }
            case nil: break
            }
        }
        if let firstError {
            out.forEach(discarding)
            throw firstError
        }
        return out
    }

    /// A file copied under `tmp/` and hashed on the way, in one pass, not flushed yet
    /// (`startingWriteBack`: its write to the disk is started, not waited for).
    func copyToStaging(_ file: String, startingWriteBack: Bool = false) throws -> (path: String, hash: BlobHash, size: UInt64) {
        let input = posixOpen(file, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw StoreError(.attachmentUnreadable(path: file, reason: FileSystem.errnoText())) }
        defer { posixClose(input) }
        #if os(Linux)
            _ = posix_fadvise(input, 0, 0, Int32(POSIX_FADV_SEQUENTIAL))
        #endif
        let temp = try temporaryFile()
        var keep = false
        defer { if !keep { FileSystem.unlink(temp.path) } }
        var hasher = SHA256()
        var size: UInt64 = 0
        do {
            defer { posixClose(temp.fd) }
            try readAll(fd: input, path: file) { piece in
                hasher.update(data: piece)
                size += UInt64(piece.count)
                try writeAll(fd: temp.fd, piece, path: temp.path)
            }
            if startingWriteBack { startWriteBack(temp.fd) }
        }
        keep = true
        return (temp.path, BlobHash(bytes: Array(hasher.finalize()))!, size)
    }

    /// Starts writing a file's dirty pages to the disk without waiting (`sync_file_range`
    /// with `SYNC_FILE_RANGE_WRITE`, Linux): a later flush then waits for less. Durability
    /// still comes from that flush; this only lets the disk start early.
    func startWriteBack(_ fd: Int32) {
        #if os(Linux)
            _ = posixSyncFileRange(fd, 0, 0, 2)  // SYNC_FILE_RANGE_WRITE
        #endif
    }

    /// Makes the staged files durable: one `syncfs`, else an `fsync` each.
    func flush(_ paths: [String]) throws {
        if syncFileSystem() { return }
        for p in paths { try syncStaged(p) }
    }

    /// `fsync` of a staged file; a failure is the blob's write failure.
    func syncStaged(_ path: String) throws {
        do { try FileSystem.syncFile(path) } catch { throw StoreError(.blobWriteFailed(path: path, reason: "\(error)")) }
    }

    /// `syncfs` on the blob folder's file system; false when it is not available or fails.
    func syncFileSystem() -> Bool {
        let fd = posixOpen(staging, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { posixClose(fd) }
        return posixSyncfs(fd) == 0
    }

    /// Copies a file into the store, hashing it on the way: written under `tmp/`, flushed,
    /// renamed into place. Returns its hash and size. When the store has the blob already, the
    /// copy is dropped. `transform`, when given, is applied to the whole file first (stripping
    /// a photo's position): the stored blob is its output. `wasHere`: the store held these
    /// bytes already.
    public func add(file: String, transform: (([UInt8]) throws -> [UInt8])? = nil) throws -> (hash: BlobHash, size: UInt64, wasHere: Bool) {
        try makeDirectories()
        if let transform {
            let input = posixOpen(file, O_RDONLY | O_CLOEXEC)
            guard input >= 0 else { throw StoreError(.attachmentUnreadable(path: file, reason: FileSystem.errnoText())) }
            defer { posixClose(input) }
            var all: [UInt8] = []
            try readAll(fd: input, path: file) { all.append(contentsOf: $0) }
            return try add(bytes: try transform(all))
        }
        let staged = try copyToStaging(file)
        var placed = false
        defer { if !placed { FileSystem.unlink(staged.path) } }
        try syncStaged(staged.path)
        let wasHere = try place(staged.path, as: staged.hash)
        placed = true
        return (staged.hash, staged.size, wasHere)
    }

    /// Stores bytes held in memory (a transformed file).
    public func add(bytes: [UInt8]) throws -> (hash: BlobHash, size: UInt64, wasHere: Bool) {
        try makeDirectories()
        let hash = BlobHash(bytes: Array(SHA256.hash(data: bytes)))!
        let temp = try temporaryFile()
        var keep = false
        defer { if !keep { FileSystem.unlink(temp.path) } }
        do {
            defer { posixClose(temp.fd) }
            try writeAll(fd: temp.fd, bytes[...], path: temp.path)
            guard posixFsync(temp.fd) == 0 else { throw StoreError(.blobWriteFailed(path: temp.path, reason: FileSystem.errnoText())) }
        }
        let wasHere = try place(temp.path, as: hash)
        keep = true
        return (hash, UInt64(bytes.count), wasHere)
    }

    /// Renames a file into place; when the blob is here already, drops the file and returns
    /// true. A durable caller (`syncingDirectory`: an attach, a bundle, a restore) renames its
    /// flushed, verified copy over the one here instead: the copy here may be a download that
    /// was never flushed, and a change this caller commits next must not name bytes a power
    /// cut can still take.
    @discardableResult
    func place(_ file: String, as hash: BlobHash, syncingDirectory: Bool = true, replacing: Bool = true) throws -> Bool {
        let target = path(of: hash)
        let wasHere = has(hash)
        if wasHere && !replacing {
            FileSystem.unlink(file)
            return true
        }
        try makeDirectories(for: hash)
        if let reason = FileSystem.rename(file, to: target) { throw StoreError(.blobWriteFailed(path: target, reason: reason)) }
        if syncingDirectory { FileSystem.syncDirectory((target as NSString).deletingLastPathComponent) }
        return wasHere
    }

    /// Where damaged copies are moved: `<store>.blobs/damaged/<hex>`.
    var damagedDirectory: String { root + "/damaged" }

    /// Moves a copy that does not hash to its name out of `sha256/` into `damaged/` (kept for
    /// whoever wants to look at it, never deleted here), so that it counts as not here and a
    /// sync or fetch downloads it again. Returns where it went.
    @discardableResult
    public func setAside(_ hash: BlobHash) -> String {
        ReadingHashes.shared.drop(path(of: hash))
        let target = "\(damagedDirectory)/\(hash.hex)"
        if !FileManager.default.fileExists(atPath: damagedDirectory) {
            try? FileManager.default.createDirectory(atPath: damagedDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        if FileSystem.rename(path(of: hash), to: target) != nil { return path(of: hash) }
        return target
    }

    /// Copies set aside as damaged (``setAside(_:)``).
    public func setAsideCopies() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: damagedDirectory)) ?? []).sorted().map { "\(damagedDirectory)/\($0)" }
    }

    /// The error for a copy found damaged, after setting it aside.
    func damaged(_ hash: BlobHash) -> StoreError { StoreError(.blobSetAside(hash: hash.hex, path: setAside(hash))) }

    /// Like ``presence(of:)``, and a copy here whose length is not `size` (torn by a power cut
    /// after an unflushed download) is set aside and counts as missing.
    public func presence(of hash: BlobHash, size: UInt64) -> BlobPresence {
        let p = presence(of: hash)
        if p == .present, let n = self.size(of: hash), n != size {
            setAside(hash)
            return presence(of: hash)
        }
        return p
    }

    func temporaryFile() throws -> (path: String, fd: Int32) {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<8 {
            let name = "\(staging)/\(String(UInt64.random(in: 0...UInt64.max, using: &rng), radix: 16)).tmp"
            let fd = posixOpen(name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
            if fd >= 0 { return (name, fd) }
            if errno != EEXIST { throw StoreError(.blobWriteFailed(path: staging, reason: FileSystem.errnoText())) }
        }
        throw StoreError(.blobWriteFailed(path: staging, reason: "no free temporary name"))
    }

    // MARK: Transfers that stop and resume

    /// Adds the next bytes of a blob that arrives in pieces (an upload to a server). `offset`
    /// must be what the store holds of it (``presence(of:)``); once `size` bytes are here they
    /// are flushed and verified and the blob is renamed into place. Bytes that do not hash to
    /// the name are dropped (the transfer starts again from 0) and reported. `durable: false`
    /// skips the flush (see ``receiving(_:size:offset:durable:)``).
    @discardableResult
    public func receive(_ hash: BlobHash, size: UInt64, offset: UInt64, bytes: some Collection<UInt8>, durable: Bool = true) throws -> BlobPresence {
        if case .present = presence(of: hash) { return .present }
        let receiver = try receiving(hash, size: size, offset: offset, durable: durable)
        defer { receiver.close() }
        return try Self.withRawBytes(bytes) { try receiver.append($0) }
    }

    /// Opens the partial file of a blob that arrives in pieces, for as many pieces as come:
    /// ``BlobReceiver/append(_:)`` writes and hashes each straight from the caller's buffer,
    /// and the last one verifies and places the blob. `offset` must be what the store holds
    /// (``presence(of:)``); nil when the blob is here whole already.
    ///
    /// `durable: false` (a download: a copy of bytes a remote holds) renames the verified file
    /// into place without flushing it or its folder first. A power cut may then leave it
    /// missing or torn under its name; every read verifies the hash and sets a damaged copy
    /// aside (``setAside(_:)``), after which it counts as not here and a sync or fetch gets it
    /// again (ARCHITECTURE.md, "Downloaded blobs are not flushed").
    public func receiving(_ hash: BlobHash, size: UInt64, offset: UInt64, durable: Bool) throws -> BlobReceiver {
        switch presence(of: hash) {
        case .present: throw StoreError(.blobOffsetMismatch(hash: hash.hex, held: size, offered: offset))
        case .partial(let held) where held != offset:
            throw StoreError(.blobOffsetMismatch(hash: hash.hex, held: held, offered: offset))
        case .missing where offset != 0:
            throw StoreError(.blobOffsetMismatch(hash: hash.hex, held: 0, offered: offset))
        default: break
        }
        if offset > size { throw StoreError(.blobPastEnd(hash: hash.hex, size: size, end: offset)) }
        try makeDirectories()
        let partial = partialPath(of: hash)
        let fd = posixOpen(partial, O_CREAT | O_RDWR | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError(.blobWriteFailed(path: partial, reason: FileSystem.errnoText())) }
        do {
            // The bytes held are hashed as they arrive: the hash of the ones before continues
            // (kept in memory for this very file at this very length), and only a transfer
            // resumed by a new process, or after a failed piece, reads its prefix again.
            let file = try fileIdentity(fd, partial)
            guard file.size == Int64(offset) else {
                throw StoreError(.blobOffsetMismatch(hash: hash.hex, held: UInt64(max(0, file.size)), offered: offset))
            }
            let hasher: SHA256
            if let running = ReceivingHashes.shared.take(partial, length: offset, file: file) {
                hasher = running
            } else {
                hasher = try hashOfPrefix(fd: fd, length: offset, path: partial)
            }
            return BlobReceiver(store: self, hash: hash, size: size, held: offset, partial: partial, fd: fd, hasher: hasher, durable: durable)
        } catch {
            posixClose(fd)
            throw error
        }
    }

    /// Ends a receiver's file: the last piece arrived (`verify`: flush when durable, check the
    /// length and the hash, place) or the transfer stopped (keep the running hash for a resume).
    fileprivate func finish(_ r: BlobReceiver) throws -> BlobPresence {
        let fd = r.fd
        r.fd = -1
        let hasher = r.hasher
        do {
            defer { posixClose(fd) }
            // Appended by this receiver alone (a second writer of the same partial file, which
            // the hash in memory would not cover, makes it longer).
            let file = try fileIdentity(fd, r.partial)
            guard file.size == Int64(r.held) else {
                throw StoreError(.blobWriteFailed(path: r.partial, reason: "another process wrote to the file at the same time"))
            }
            guard r.held == r.size else {
                ReceivingHashes.shared.put(r.partial, length: r.held, file: file, hasher)
                return .partial(bytes: r.held)
            }
            if r.durable, posixFsync(fd) != 0 { throw StoreError(.blobWriteFailed(path: r.partial, reason: FileSystem.errnoText())) }
        }
        let actual = BlobHash(bytes: Array(hasher.finalize()))!
        guard actual == r.hash else {
            FileSystem.unlink(r.partial)
            throw StoreError(.blobHashMismatch(hash: r.hash.hex, actual: actual.hex))
        }
        try place(r.partial, as: r.hash, syncingDirectory: r.durable, replacing: r.durable)
        return .present
    }

    /// The hash of the first `length` bytes of an open file (a partial transfer resumed).
    func hashOfPrefix(fd: Int32, length: UInt64, path: String) throws -> SHA256 {
        var hasher = SHA256()
        var left = length
        var buffer = [UInt8](repeating: 0, count: Self.chunk)
        var at: off_t = 0
        while left > 0 {
            let want = Int(min(UInt64(Self.chunk), left))
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, want, at) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw StoreError(.attachmentUnreadable(path: path, reason: n < 0 ? FileSystem.errnoText() : "the file ended early"))
            }
            buffer.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            left -= UInt64(n)
            at += off_t(n)
        }
        return hasher
    }

    /// Which file, at which length and change time: a running hash is used only for the file
    /// it was made from, untouched since (an inode number reused after an unlink, or bytes
    /// appended by someone else, change these).
    func fileIdentity(_ fd: Int32, _ path: String) throws -> RunningHashes.FileIdentity {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw StoreError(.blobWriteFailed(path: path, reason: FileSystem.errnoText())) }
        return .init(device: UInt64(st.st_dev), inode: UInt64(st.st_ino), size: Int64(st.st_size),
            changed: Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec))
    }

    /// Writes a blob that arrives whole in pieces (from a bundle or a backup) under `tmp/`,
    /// hashing it on the way, and flushes it. Returns the staged file, which ``place(staged:as:)``
    /// renames into place and ``discard(staged:)`` drops: a caller that receives several blobs
    /// with something else (a bundle's changes) stages them all, and places them only once all
    /// are verified and the rest is done. Bytes that do not hash to the name, or are not `size`
    /// long, are dropped and reported.
    public func stage(_ hash: BlobHash, size: UInt64, fill: (_ write: (ArraySlice<UInt8>) throws -> Void) throws -> Void) throws -> String {
        try makeDirectories()
        let temp = try temporaryFile()
        var keep = false
        defer { if !keep { FileSystem.unlink(temp.path) } }
        var hasher = SHA256()
        var written: UInt64 = 0
        do {
            defer { posixClose(temp.fd) }
            try fill { piece in
                written += UInt64(piece.count)
                guard written <= size else { throw StoreError(.blobPastEnd(hash: hash.hex, size: size, end: written)) }
                hasher.update(data: piece)
                try writeAll(fd: temp.fd, piece, path: temp.path)
            }
            guard posixFsync(temp.fd) == 0 else { throw StoreError(.blobWriteFailed(path: temp.path, reason: FileSystem.errnoText())) }
        }
        let actual = BlobHash(bytes: Array(hasher.finalize()))!
        guard actual == hash, written == size else { throw StoreError(.blobHashMismatch(hash: hash.hex, actual: actual.hex)) }
        keep = true
        return temp.path
    }

    /// Renames a file from ``stage(_:size:fill:)`` into place (dropped if the blob is here).
    public func place(staged: String, as hash: BlobHash) throws { try place(staged, as: hash) }

    /// Drops a file from ``stage(_:size:fill:)``.
    public func discard(staged: String) { FileSystem.unlink(staged) }

    /// Files left under `tmp/` (a stage or an attach that was stopped): nothing names them.
    public func strayTemporaryFiles() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: staging)) ?? []).sorted().map { "\(staging)/\($0)" }
    }

    /// Drops what a stopped transfer left (to start it again from 0).
    public func discardPartial(_ hash: BlobHash) {
        ReceivingHashes.shared.drop(partialPath(of: hash))
        FileSystem.unlink(partialPath(of: hash))
    }

    // MARK: Reading

    /// Reads a blob whole, in pieces, and checks at the end that the bytes hash to its name:
    /// the last call of `body` is followed by the check, so a caller that writes the pieces
    /// out must not trust them before this returns.
    public func read(_ hash: BlobHash, _ body: (ArraySlice<UInt8>) throws -> Void) throws {
        let file = path(of: hash)
        let fd = posixOpen(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw StoreError(.blobNotHere(hash: hash.hex)) }
            throw StoreError(.attachmentUnreadable(path: file, reason: FileSystem.errnoText()))
        }
        defer { posixClose(fd) }
        var hasher = SHA256()
        try readAll(fd: fd, path: file) { piece in
            hasher.update(data: piece)
            try body(piece)
        }
        let actual = BlobHash(bytes: Array(hasher.finalize()))!
        guard actual == hash else { throw damaged(hash) }
    }

    /// Reads `offset ..< offset + maxBytes` of a blob held whole (a transfer that may resume, a
    /// page serving it, a zip entry). Past the end is an error. Verified: the piece that
    /// reaches the end is returned only once every byte of the file hashed to its name (else
    /// the copy is set aside and ``StoreError`` `blobSetAside` thrown), so a reader never gets
    /// a damaged blob whole. Pieces read in order are hashed once, with the running hash kept
    /// in memory for this very file (``ReadingHashes``); a reader starting past 0 hashes the
    /// prefix first.
    public func read(_ hash: BlobHash, from offset: UInt64, maxBytes: Int) throws -> [UInt8] {
        let file = path(of: hash)
        let fd = posixOpen(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw StoreError(.blobNotHere(hash: hash.hex)) }
            throw StoreError(.attachmentUnreadable(path: file, reason: FileSystem.errnoText()))
        }
        defer { posixClose(fd) }
        let identity = try fileIdentity(fd, file)
        let size = UInt64(max(0, identity.size))
        guard offset <= size else { throw StoreError(.blobPastEnd(hash: hash.hex, size: size, end: offset)) }
        var hasher: SHA256
        if let running = ReadingHashes.shared.take(file, length: offset, file: identity) {
            hasher = running
        } else {
            hasher = try hashOfPrefix(fd: fd, length: offset, path: file)
        }
        let n = Int(min(UInt64(maxBytes), size - offset))
        var out = [UInt8](repeating: 0, count: n)
        var got = 0
        while got < n {
            let r = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + got, n - got, off_t(offset) + off_t(got)) }
            if r < 0 && errno == EINTR { continue }
            guard r > 0 else { throw StoreError(.attachmentUnreadable(path: file, reason: r < 0 ? FileSystem.errnoText() : "the file ended early")) }
            got += r
        }
        hasher.update(data: out)
        let end = offset + UInt64(n)
        if end == size {
            guard BlobHash(bytes: Array(hasher.finalize()))! == hash else { throw damaged(hash) }
        } else {
            ReadingHashes.shared.put(file, length: end, file: identity, hasher)
        }
        return out
    }

    /// Opens a blob held whole for reading from `offset` to its end in order, verified as
    /// ``read(_:from:maxBytes:)`` is: the piece that reaches the end is handed over only once
    /// every byte hashed to its name. One open file for the whole transfer (a server serving a
    /// download), where ``read(_:from:maxBytes:)`` opens it per piece.
    public func openReader(_ hash: BlobHash, from offset: UInt64) throws -> BlobReader {
        let file = path(of: hash)
        let fd = posixOpen(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw StoreError(.blobNotHere(hash: hash.hex)) }
            throw StoreError(.attachmentUnreadable(path: file, reason: FileSystem.errnoText()))
        }
        do {
            let identity = try fileIdentity(fd, file)
            let size = UInt64(max(0, identity.size))
            guard offset <= size else { throw StoreError(.blobPastEnd(hash: hash.hex, size: size, end: offset)) }
            let hasher = try ReadingHashes.shared.take(file, length: offset, file: identity) ?? hashOfPrefix(fd: fd, length: offset, path: file)
            return BlobReader(store: self, hash: hash, path: file, fd: fd, size: size, at: offset, hasher: hasher)
        } catch {
            posixClose(fd)
            throw error
        }
    }

    /// Bytes of every blob held whole and of every partial transfer (what a server's
    /// per-project limit bounds). Reads the folders' listings and the files' sizes.
    public func bytesHeld() -> UInt64 {
        var total: UInt64 = 0
        let fm = FileManager.default
        for d in (try? fm.contentsOfDirectory(atPath: objects)) ?? [] {
            for n in (try? fm.contentsOfDirectory(atPath: "\(objects)/\(d)")) ?? [] {
                total += UInt64(FileSystem.fileSize("\(objects)/\(d)/\(n)") ?? 0)
            }
        }
        for n in (try? fm.contentsOfDirectory(atPath: partialDirectory)) ?? [] {
            total += UInt64(FileSystem.fileSize("\(partialDirectory)/\(n)") ?? 0)
        }
        return total
    }

    public func size(of hash: BlobHash) -> UInt64? { FileSystem.fileSize(path(of: hash)).map(UInt64.init) }

    /// Writes a verified copy of a blob to `destination` (through a temporary file beside it,
    /// renamed once the bytes are verified, so a corrupt blob never leaves a file behind).
    public func export(_ hash: BlobHash, to destination: String) throws {
        let temp = try FileSystem.makeTemporaryFile(besides: destination, purpose: "get")
        var keep = false
        defer { if !keep { FileSystem.unlink(temp) } }
        let fd = posixOpen(temp, O_WRONLY | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError(.cannotWrite(path: destination, reason: FileSystem.errnoText())) }
        do {
            defer { posixClose(fd) }
            try read(hash) { piece in try writeAll(fd: fd, piece, path: destination) }
            guard posixFsync(fd) == 0 else { throw StoreError(.cannotWrite(path: destination, reason: FileSystem.errnoText())) }
        }
        _ = chmod(temp, 0o644)
        if let reason = FileSystem.rename(temp, to: destination) { throw StoreError(.cannotWrite(path: destination, reason: reason)) }
        keep = true
    }

    /// Whether the blob's bytes hash to its name.
    public func verify(_ hash: BlobHash) throws -> Bool {
        do {
            try read(hash) { _ in }
            return true
        } catch let e as StoreError {
            if case .blobSetAside = e.kind { return false }
            throw e
        }
    }

    /// Removes a blob (one no record references any more, found by `check`).
    public func remove(_ hash: BlobHash) { FileSystem.unlink(path(of: hash)) }

    // MARK: POSIX loops

    func readAll(fd: Int32, path: String, _ body: (ArraySlice<UInt8>) throws -> Void) throws {
        var buffer = [UInt8](repeating: 0, count: Self.chunk)
        while true {
            let n = buffer.withUnsafeMutableBytes { posixRead(fd, $0.baseAddress!, Self.chunk) }
            if n < 0 {
                if errno == EINTR { continue }
                throw StoreError(.attachmentUnreadable(path: path, reason: FileSystem.errnoText()))
            }
            if n == 0 { return }
            try body(buffer[0..<n])
        }
    }

    /// The bytes of a collection as one buffer (copied only when they are not contiguous).
    static func withRawBytes<R>(_ bytes: some Collection<UInt8>, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        if let r = try bytes.withContiguousStorageIfAvailable({ try body(UnsafeRawBufferPointer($0)) }) { return r }
        return try Array(bytes).withUnsafeBytes(body)
    }

    func writeAll(fd: Int32, _ bytes: ArraySlice<UInt8>, path: String) throws {
        try bytes.withUnsafeBytes { try writeAll(fd: fd, $0, path: path) }
    }

    func writeAll(fd: Int32, _ raw: UnsafeRawBufferPointer, path: String) throws {
        var done = 0
        let total = raw.count
        while done < total {
            let n = posixWrite(fd, raw.baseAddress! + done, total - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw StoreError(.blobWriteFailed(path: path, reason: FileSystem.errnoText()))
            }
            done += n
        }
    }
}

/// The running SHA-256 of files read or written a piece at a time in this process, keyed by
/// path and trusted only for the same file at the same length and change time.
/// ``ReceivingHashes``: partial files being received, so a transfer is hashed as it arrives
/// and never read back to verify it. ``ReadingHashes``: blobs being read in pieces (a server
/// serving a download), so the verification at the last piece costs no second read. At most
/// `limit` files each; one pushed out is hashed from its file again when its next piece comes.
final class RunningHashes: @unchecked Sendable {
    struct FileIdentity: Equatable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var changed: Int64
    }

    static let limit = 256
    /// Receiving: a file's running hash is its whole length's (one entry per file, taken by
    /// the next piece). Reading: a hash of the file's first `length` bytes, left for any reader
    /// that continues from there (two downloads of one blob in step share them).
    let receiving: Bool
    private let lock = NSLock()
    private struct Key: Hashable {
        var path: String
        var length: UInt64
    }
    private var running: [Key: (file: FileIdentity, hasher: SHA256, stamp: UInt64)] = [:]
    private var stamp: UInt64 = 0

    init(receiving: Bool) { self.receiving = receiving }

    /// The running hash of `path`'s first `length` bytes when the file is the one it was made
    /// from. Receiving: the entry is removed either way (a failed piece leaves none behind),
    /// and the file must be `length` long.
    func take(_ path: String, length: UInt64, file: FileIdentity) -> SHA256? {
        lock.lock()
        defer { lock.unlock() }
        let key = Key(path: path, length: length)
        if receiving {
            guard let r = running.removeValue(forKey: key), r.file == file, file.size == Int64(length) else { return nil }
            return r.hasher
        }
        guard let r = running[key], r.file == file else { return nil }
        return r.hasher
    }

    func put(_ path: String, length: UInt64, file: FileIdentity, _ hasher: SHA256) {
        lock.lock()
        defer { lock.unlock() }
        let key = Key(path: path, length: length)
        if running.count >= Self.limit, running[key] == nil, let oldest = running.min(by: { $0.value.stamp < $1.value.stamp })?.key {
            running.removeValue(forKey: oldest)
        }
        stamp += 1
        running[key] = (file, hasher, stamp)
    }

    func drop(_ path: String) {
        lock.lock()
        defer { lock.unlock() }
        for k in running.keys where k.path == path { running.removeValue(forKey: k) }
    }
}

/// Partial files being received (``RunningHashes``).
enum ReceivingHashes { static let shared = RunningHashes(receiving: true) }

/// Blobs being read in pieces (``RunningHashes``).
enum ReadingHashes { static let shared = RunningHashes(receiving: false) }

/// A blob arriving in pieces into its partial file, held open from the first piece to the last
/// (``BlobStore/receiving(_:size:offset:durable:)``). Not for use from two threads at once.
public final class BlobReceiver {
    public let hash: BlobHash
    public let size: UInt64
    /// Bytes of the blob in the partial file so far.
    public fileprivate(set) var held: UInt64
    let store: BlobStore
    let partial: String
    fileprivate var fd: Int32
    fileprivate var hasher: SHA256
    let durable: Bool

    fileprivate init(store: BlobStore, hash: BlobHash, size: UInt64, held: UInt64, partial: String, fd: Int32, hasher: SHA256, durable: Bool) {
        self.store = store
        self.hash = hash
        self.size = size
        self.held = held
        self.partial = partial
        self.fd = fd
        self.hasher = hasher
        self.durable = durable
    }

    /// Writes and hashes the next bytes; after the blob's last byte, flushes (when durable),
    /// verifies and places it (`.present`), or drops it and throws `blobHashMismatch`.
    @discardableResult
    public func append(_ bytes: UnsafeRawBufferPointer) throws -> BlobPresence {
        guard fd >= 0 else { throw StoreError(.blobWriteFailed(path: partial, reason: "the transfer was closed")) }
        let end = held + UInt64(bytes.count)
        if end > size { throw StoreError(.blobPastEnd(hash: hash.hex, size: size, end: end)) }
        do {
            try store.writeAll(fd: fd, bytes, path: partial)
        } catch {
            // What reached the file is unknown: no running hash is kept (a resume hashes it).
            posixClose(fd)
            fd = -1
            throw error
        }
        hasher.update(bufferPointer: bytes)
        held = end
        if held == size { return try store.finish(self) }
        return .partial(bytes: held)
    }

    /// Stops a transfer before its end (the link dropped): the partial file keeps what
    /// arrived, and its running hash is kept for a resume in this process. Idempotent.
    public func close() {
        guard fd >= 0 else { return }
        _ = try? store.finish(self)
    }

    deinit { if fd >= 0 { posixClose(fd) } }
}

/// The shared state of ``BlobStore/inOrder(_:threads:_:discarding:)``: the next index to take
/// and the results so far, behind one lock.
private final class ParallelTurns<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    private var failed = false
    private let count: Int
    private(set) var results: [Result<T, Error>?]

    init(_ count: Int) {
        self.count = count
        results = Array(repeating: nil, count: count)
    }

    /// The next index, or nil when all are taken or one failed.
    func take() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard !failed, next < count else { return nil }
        next += 1
        return next - 1
    }

    func put(_ i: Int, _ r: Result<T, Error>) {
        lock.lock()
        defer { lock.unlock() }
        results[i] = r
        if case .failure = r { failed = true }
    }
}

/// A blob held whole, read once from an offset to its end in order (``BlobStore/openReader(_:from:)``).
/// Not for use from two threads at once; the file is closed by ``close()`` or when the reader goes.
public final class BlobReader: @unchecked Sendable {
    let store: BlobStore
    public let hash: BlobHash
    let path: String
    private var fd: Int32
    /// The file's length when it was opened.
    public let size: UInt64
    /// Where the next piece starts.
    public private(set) var at: UInt64
    private var hasher: SHA256

    init(store: BlobStore, hash: BlobHash, path: String, fd: Int32, size: UInt64, at: UInt64, hasher: SHA256) {
        self.store = store
        self.hash = hash
        self.path = path
        self.fd = fd
        self.size = size
        self.at = at
        self.hasher = hasher
    }

    deinit { close() }

    public func close() {
        if fd >= 0 { posixClose(fd) }
        fd = -1
    }

    /// Bytes left to read.
    public var remaining: UInt64 { size - at }

    /// Fills `buffer` with the next bytes (all of it, or what is left) and returns how many; 0
    /// at the end. The call that reads the last byte checks the hash first: on a mismatch the
    /// copy is set aside and ``StoreError`` `blobSetAside` thrown, so nothing that reaches the
    /// end was damaged.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard fd >= 0 else { throw StoreError(.attachmentUnreadable(path: path, reason: "the file was closed")) }
        let n = Int(min(UInt64(buffer.count), remaining))
        guard n > 0 else { return 0 }
        var got = 0
        while got < n {
            let r = pread(fd, buffer.baseAddress! + got, n - got, off_t(at) + off_t(got))
            if r < 0 && errno == EINTR { continue }
            guard r > 0 else {
                throw StoreError(.attachmentUnreadable(path: path, reason: r < 0 ? FileSystem.errnoText() : "the file ended early"))
            }
            got += r
        }
        hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        at += UInt64(n)
        if at == size {
            close()
            guard BlobHash(bytes: Array(hasher.finalize()))! == hash else { throw store.damaged(hash) }
        }
        return n
    }
}
