import Foundation
import GRDB
import StrataCodec
import StrataCore

/// What `check` found among the store's blobs.
public struct BlobCheck: Sendable {
    /// Blobs held whole that hash to their names.
    public var verified: Int = 0
    public var verifiedBytes: UInt64 = 0
    /// Blobs whose stored bytes do not hash to their names (a damaged disk, a file edited by
    /// hand, a download a power cut tore): a problem. Each was set aside (``BlobStore/setAside(_:)``)
    /// and counts as not here from now on.
    public var damaged: [BlobHash] = []
    /// Copies set aside as damaged, by this check or earlier reads, under `damaged/`.
    public var setAside: [String] = []
    /// Blobs records reference that are not here (not downloaded yet, or left out of a
    /// bundle): a fact, not a problem.
    public var notHere: [ReferencedBlob] = []
    /// Blobs no record references (an attach stopped before its change was written, or
    /// detached everywhere), with their sizes: `check --prune` removes them.
    public var unreferenced: [ReferencedBlob] = []
    /// Files under the blob store's `tmp/` (an attach or a bundle stopped midway).
    public var strayFiles: [String] = []

    public var unreferencedBytes: UInt64 { unreferenced.reduce(0) { $0 + $1.size } }
}

extension Store {
    /// Unreferenced blobs and stray files younger than this are left alone by `prune`: another
    /// process may be attaching them right now (the blob is placed before its change is written).
    public static let pruneGraceSeconds: TimeInterval = 600

    /// Every blob a record references, deleted records included (a restore brings them back).
    static func allReferencedBlobs(_ db: Database) throws -> [ReferencedBlob] {
        guard try db.tableExists("record_attachments") else { return [] }
        return try Row.fetchAll(db, sql: "SELECT hash, MAX(size) FROM record_attachments GROUP BY hash ORDER BY hash").compactMap { row in
            guard let h = BlobHash(bytes: [UInt8](row[0] as Data)) else { return nil }
            return ReferencedBlob(hash: h, size: UInt64(row[1] as Int64))
        }
    }

    /// Reads every blob held here and checks it hashes to its name; lists referenced blobs that
    /// are not here, blobs no record references and stray temporary files.
    public func checkBlobs() throws -> BlobCheck {
        var out = BlobCheck()
        let referenced = try db.read { try Self.allReferencedBlobs($0) }
        let held = blobs.allHashes()
        let heldSet = Set(held)
        let referencedSet = Set(referenced.map(\.hash))
        for h in held {
            if try blobs.verify(h) {
                out.verified += 1
                out.verifiedBytes += blobs.size(of: h) ?? 0
            } else {
                out.damaged.append(h)
            }
            if !referencedSet.contains(h) { out.unreferenced.append(ReferencedBlob(hash: h, size: blobs.size(of: h) ?? 0)) }
        }
        out.notHere = referenced.filter { !heldSet.contains($0.hash) }
        out.strayFiles = blobs.strayTemporaryFiles()
        out.setAside = blobs.setAsideCopies()
        return out
    }

    /// Removes the unreferenced blobs and stray files `check` found, except those changed in the
    /// last ``pruneGraceSeconds`` (an attach in progress in another process). Returns how many
    /// blobs and files were removed and the bytes freed.
    public func pruneBlobs(_ found: BlobCheck, now: Date = Date()) throws -> (blobs: Int, files: Int, bytes: UInt64) {
        func old(_ path: String) -> Bool {
            guard let m = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date else { return false }
            return now.timeIntervalSince(m) >= Self.pruneGraceSeconds
        }
        // Read the references again: a record may have been given the blob since `check` ran.
        let referenced = Set(try db.read { try Self.allReferencedBlobs($0) }.map(\.hash))
        var removed = 0
        var files = 0
        var bytes: UInt64 = 0
        for b in found.unreferenced where !referenced.contains(b.hash) && old(blobs.path(of: b.hash)) {
            blobs.remove(b.hash)
            removed += 1
            bytes += b.size
        }
        for f in found.strayFiles where old(f) {
            bytes += UInt64(FileSystem.fileSize(f) ?? 0)
            FileSystem.unlink(f)
            files += 1
        }
        return (removed, files, bytes)
    }
}

/// What copying blobs between a store and a backup did.
public struct BlobCopySummary: Sendable, Equatable {
    /// Blobs copied (verified on the way).
    public var copied: Int = 0
    public var copiedBytes: UInt64 = 0
    /// Blobs the destination held already.
    public var alreadyThere: Int = 0
    /// Blobs referenced that the source does not hold (not downloaded when the backup was
    /// taken): not copied, not a problem.
    public var notInSource: Int = 0
    /// Blobs whose bytes in the source do not hash to their names: not copied.
    public var damaged: [BlobHash] = []

    public init() {}
}

extension BlobStore {
    /// Copies the blobs `hashes` from `source` into this store: each one read (and verified)
    /// from `source`, written under `tmp/`, verified again and renamed into place. Blobs
    /// already here are skipped (a backup to the same place again copies only new photos).
    func copy(_ hashes: [BlobHash], from source: BlobStore) throws -> BlobCopySummary {
        var out = BlobCopySummary()
        for h in hashes {
            if has(h) {
                out.alreadyThere += 1
                continue
            }
            guard let size = source.size(of: h) else {
                out.notInSource += 1
                continue
            }
            do {
                let staged = try stage(h, size: size) { write in try source.read(h) { try write($0) } }
                try place(staged: staged, as: h)
                out.copied += 1
                out.copiedBytes += size
            } catch let e as StoreError {
                switch e.kind {
                case .blobCorrupt, .blobSetAside, .blobHashMismatch: out.damaged.append(h)
                default: throw e
                }
            }
        }
        return out
    }
}
