import Foundation
import StrataCodec
import StrataCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

private func posixOpen(_ path: String, _ flags: Int32) -> Int32 { open(path, flags) }
private func posixClose(_ fd: Int32) { _ = close(fd) }

/// A file read in pieces at any offset (`pread(2)`): a bundle larger than memory.
public final class FileByteSource: ByteSource, @unchecked Sendable {
    public let path: String
    public let size: UInt64
    private let fd: Int32

    /// Opens `path` for reading; throws ``StoreError`` when it cannot.
    public init(path: String) throws {
        let fd = posixOpen(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError(.attachmentUnreadable(path: path, reason: FileSystem.errnoText())) }
        var st = stat()
        guard fstat(fd, &st) == 0, UInt32(st.st_mode) & 0o170000 == 0o100000 else {
            posixClose(fd)
            throw StoreError(.attachmentUnreadable(path: path, reason: "not a regular file"))
        }
        self.path = path
        self.fd = fd
        self.size = UInt64(st.st_size)
    }

    deinit { posixClose(fd) }

    public func read(at offset: UInt64, count: Int) throws -> [UInt8] {
        guard count > 0, offset < size else { return [] }
        let n = Int(min(UInt64(count), size - offset))
        var out = [UInt8](repeating: 0, count: n)
        var got = 0
        while got < n {
            let r = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + got, n - got, off_t(offset) + off_t(got)) }
            if r < 0 && errno == EINTR { continue }
            guard r > 0 else {
                throw StoreError(.attachmentUnreadable(path: path, reason: r < 0 ? FileSystem.errnoText() : "the file ended early"))
            }
            got += r
        }
        return out
    }
}

/// A bundle refused before anything was applied, because of one of its blobs (its bytes do
/// not hash to its name, or could not be read or staged): the store is unchanged.
public struct BundleBlobRefused: Error, Sendable, CustomStringConvertible {
    /// 1-based, in the bundle's (hash) order.
    public let number: Int
    public let count: Int
    public let hash: BlobHash
    public let underlying: any Error

    public var description: String { "attachment \(number) of \(count) (\(hash.short)): \(underlying)" }
}

/// What applying a bundle file did.
public struct BundleApplyResult: Sendable, Equatable {
    public var changes: ApplyResult
    /// Blobs the bundle carried that were not here and now are.
    public var blobsReceived: Int
    /// Blobs the bundle carried that were here already (verified all the same).
    public var blobsAlreadyHere: Int
    /// Their bytes together (received ones).
    public var bytesReceived: UInt64
}

extension Store {
    /// The blobs `changes` reference (attachment values) that this store holds whole, once
    /// each, in hash order: what a bundle of those changes carries.
    public func blobsToCarry(in changes: [Change]) -> [BundleBlob] {
        var seen = Set<BlobHash>()
        var out: [BundleBlob] = []
        for c in changes {
            for op in c.operations {
                guard case .assign(.attachment(let ref)) = op.action, seen.insert(ref.hash).inserted else { continue }
                if let size = blobs.size(of: ref.hash), size == ref.size { out.append(BundleBlob(hash: ref.hash, size: size)) }
            }
        }
        return out.sorted { $0.hash < $1.hash }
    }

    /// Writes a bundle file: to a temporary file beside `path` a piece at a time (each blob
    /// read from the store and verified on the way), flushed, then renamed over `path`. A blob
    /// whose stored copy is damaged stops the write and leaves no file. Returns the file's size.
    @discardableResult
    public func writeBundle(_ bundle: ChangeBundle, blobs carried: [BundleBlob], to path: String) throws -> UInt64 {
        let temp = try FileSystem.makeTemporaryFile(besides: path, purpose: "bundle")
        var keep = false
        defer { if !keep { FileSystem.unlink(temp) } }
        let fd = posixOpen(temp, O_WRONLY | O_TRUNC | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError(.cannotWrite(path: path, reason: FileSystem.errnoText())) }
        var size: UInt64 = 0
        do {
            defer { posixClose(fd) }
            func put(_ bytes: ArraySlice<UInt8>) throws {
                try blobs.writeAll(fd: fd, bytes, path: path)
                size += UInt64(bytes.count)
            }
            try BundleCodec.write(bundle, blobs: carried, to: { try put($0[...]) }) { blob, piece in
                // `read` checks the hash after the last piece: a damaged copy throws before the
                // bundle is complete, so it is never renamed into place.
                try blobs.read(blob.hash) { try piece($0) }
            }
            guard fsync(fd) == 0 else { throw StoreError(.cannotWrite(path: path, reason: FileSystem.errnoText())) }
        }
        _ = chmod(temp, 0o644)
        if let reason = FileSystem.rename(temp, to: path) { throw StoreError(.cannotWrite(path: path, reason: reason)) }
        keep = true
        return size
    }

    /// Applies a bundle read by ``BundleCodec/read(_:limits:)``: every blob it carries is
    /// written under the blob store's `tmp/` and verified first; if one does not hash to its
    /// name the whole bundle is refused and the store is unchanged (no change applied, no
    /// blob kept). Then the changes are applied (one transaction) and the blobs renamed into
    /// place. A crash between the two leaves the changes without those blobs (referenced, not
    /// here: applying the bundle again brings them) and files under `tmp/` that `check` reports.
    public func applyBundle(_ contents: BundleContents, from source: some ByteSource, now: UInt64 = Store.wallClockMillis()) throws
        -> BundleApplyResult
    {
        var staged: [(path: String, hash: BlobHash)] = []
        var placed = false
        defer { if !placed { for s in staged { blobs.discard(staged: s.path) } } }
        var already = 0
        var bytes: UInt64 = 0
        for (i, blob) in contents.blobs.enumerated() {
            let here = blobs.has(blob.hash)
            let path: String
            do {
                path = try blobs.stage(blob.hash, size: blob.size) { write in
                    try BundleCodec.blobBytes(blob, from: source) { try write($0[...]) }
                }
            } catch {
                throw BundleBlobRefused(number: i + 1, count: contents.blobs.count, hash: blob.hash, underlying: error)
            }
            if here {
                blobs.discard(staged: path)
                already += 1
            } else {
                staged.append((path, blob.hash))
                bytes += blob.size
            }
        }
        let result = try apply(contents.bundle.changes, now: now, recording: .bundle(contents.bundle))
        for s in staged { try blobs.place(staged: s.path, as: s.hash) }
        placed = true
        return BundleApplyResult(changes: result, blobsReceived: staged.count, blobsAlreadyHere: already, bytesReceived: bytes)
    }
}
