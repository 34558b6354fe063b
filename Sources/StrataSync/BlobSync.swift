import Foundation
import StrataCodec
import StrataCore
import StrataStore

/// Progress of the blob phase: bytes moved of the bytes to move, and the blob at hand.
public struct BlobProgress: Sendable, Equatable {
    public enum Direction: String, Sendable { case upload, download }
    public var direction: Direction
    public var done: UInt64
    public var total: UInt64
    public var files: Int
    public var filesDone: Int
}

/// One attachment that did not move, and why, in one line.
public struct BlobFailure: Sendable, Equatable, CustomStringConvertible {
    public var hash: BlobHash
    public var direction: BlobProgress.Direction
    public var reason: String
    public var description: String { "attachment \(hash.short) (\(direction)): \(reason)" }
}

/// What the blob phase did.
public struct BlobSyncReport: Sendable, Equatable {
    public var uploaded = 0
    public var downloaded = 0
    public var bytesUploaded: UInt64 = 0
    public var bytesDownloaded: UInt64 = 0
    /// Held by the server, left by the remote's policy.
    public var waiting = 0
    public var waitingBytes: UInt64 = 0
    /// Neither side holds them yet.
    public var unavailable = 0
    /// Held here and not uploaded (a read token; records the server lacks).
    public var notUploaded = 0
    public var failures: [BlobFailure] = []
    /// The link dropped: the blobs after it were not tried (the next sync resumes).
    public var stopped: String? = nil
    public init() {}
}

/// The blob phase of a sync, after the records: performs a ``BlobPlan`` through a
/// ``BlobTransport``. A blob that fails is reported and the others go on; a link that drops
/// stops the phase (each transfer resumes next time from what arrived). It never touches the
/// records, so a blob failure never undoes their sync.
public struct BlobSync: Sendable {
    public let store: Store
    public let transport: any BlobTransport
    public var policy: AttachmentPolicy
    /// Whether the token may upload (a write or admin token).
    public var mayUpload: Bool
    /// Read every blob asked for that is here and set aside those that do not hash to their
    /// names, so they are downloaded again (`strata fetch ID`). Otherwise a copy here counts
    /// as whole when its length is the referenced one (a torn download is shorter; reads
    /// verify the rest).
    public var verifyingHeld = false

    public init(store: Store, transport: any BlobTransport, policy: AttachmentPolicy, mayUpload: Bool) {
        self.store = store
        self.transport = transport
        self.policy = policy
        self.mayUpload = mayUpload
    }

    /// Looks at every blob the replica's records reference; with `only`, at those alone (and
    /// downloads them whatever the policy: `strata fetch`).
    public func run(only: Set<BlobHash>? = nil, progress: @escaping @Sendable (BlobProgress) -> Void = { _ in })
        async throws -> BlobSyncReport
    {
        var referenced = try store.referencedBlobs()
        if let only { referenced = referenced.filter { only.contains($0.hash) } }
        let blobs = store.blobs
        if verifyingHeld {
            for r in referenced where blobs.presence(of: r.hash) == .present { _ = try? blobs.verify(r.hash) }
        }
        let local = referenced.map { (blob: $0, presence: blobs.presence(of: $0.hash, size: $0.size)) }
        var remote: [BlobHash: BlobStatus] = [:]
        var start = 0
        while start < referenced.count {
            let slice = Array(referenced[start..<min(referenced.count, start + BlobProtocol.maxStatusHashes)].map(\.hash))
            for (h, s) in zip(slice, try await transport.blobStatus(slice)) { remote[h] = s }
            start += slice.count
        }
        let plan = BlobPlan.make(
            local: local, remote: remote, policy: only == nil ? policy : .all, mayUpload: mayUpload && only == nil)
        var report = BlobSyncReport()
        report.waiting = plan.waiting.count
        report.waitingBytes = plan.waiting.reduce(0) { $0 + $1.size }
        report.unavailable = plan.unavailable.count
        report.notUploaded = plan.notUploaded.count
        try await move(plan.uploads, .upload, &report, progress)
        if report.stopped == nil { try await move(plan.downloads, .download, &report, progress) }
        return report
    }

    func move(
        _ transfers: [BlobPlan.Transfer], _ direction: BlobProgress.Direction, _ report: inout BlobSyncReport,
        _ progress: @escaping @Sendable (BlobProgress) -> Void
    ) async throws {
        let total = transfers.reduce(0) { $0 + ($1.size - $1.offset) }
        var done: UInt64 = 0
        for (i, t) in transfers.enumerated() {
            let before = done
            let files = transfers.count
            let tick: @Sendable (UInt64) -> Void = { n in
                progress(BlobProgress(direction: direction, done: before + n, total: total, files: files, filesDone: i))
            }
            var offset = t.offset
            // A second try only after the server said where it stands (409, or 422 after a
            // resumed upload: it dropped what it held and holds nothing now).
            for attempt in 0..<2 {
                do {
                    if direction == .upload {
                        let r = try await transport.uploadBlob(t.hash, size: t.size, from: offset, reading: store.blobs, progress: tick)
                        guard r.state == .present else {
                            throw SyncClientError("the server holds \(r.bytes) of \(t.size) bytes after the upload; the next sync resumes it")
                        }
                        report.uploaded += 1
                        report.bytesUploaded += t.size - offset
                    } else {
                        _ = try await transport.downloadBlob(t.hash, size: t.size, from: offset, into: store.blobs, progress: tick)
                        report.downloaded += 1
                        report.bytesDownloaded += t.size - offset
                    }
                    break
                } catch let e as SyncClientError where attempt == 0 && direction == .upload
                    && (e.status == 409 || (e.status == 422 && e.code == .hashMismatch && offset > 0))
                {
                    let status = try await transport.blobStatus([t.hash]).first
                    offset = status?.state == .partial ? min(status?.bytes ?? 0, t.size) : 0
                    if status?.state == .present {
                        report.uploaded += 1
                        break
                    }
                } catch let e as StoreError {
                    // Bytes that do not hash to the name (dropped), or a local write failure.
                    report.failures.append(BlobFailure(hash: t.hash, direction: direction, reason: e.description))
                    break
                } catch let e as SyncClientError {
                    if e.status == nil {
                        // No answer: the link dropped. The others would fail the same way.
                        report.failures.append(BlobFailure(hash: t.hash, direction: direction, reason: e.description))
                        report.stopped = e.description
                        return
                    }
                    report.failures.append(BlobFailure(hash: t.hash, direction: direction, reason: e.description))
                    break
                }
            }
            done = before + (t.size - t.offset)
            progress(BlobProgress(direction: direction, done: done, total: total, files: transfers.count, filesDone: i + 1))
        }
    }
}
