import StrataCodec
import StrataCore
import StrataStore

/// What the blob phase of a sync moves, decided from what each side holds (no I/O): the
/// decisions of the attachment half of a sync, as `SyncSession` makes those of the records.
///
/// - Upload a blob this replica holds whole that the server lacks (from the server's offset
///   when it holds part), unless the token may not push or no record of the project references it.
/// - Download a blob this replica lacks that the server holds whole and `policy` wants (from
///   the local offset when a download stopped); one the policy does not want waits.
public struct BlobPlan: Sendable, Equatable {
    /// One blob to move, from `offset`.
    public struct Transfer: Sendable, Equatable {
        public var hash: BlobHash
        public var size: UInt64
        public var offset: UInt64
        public init(hash: BlobHash, size: UInt64, offset: UInt64) {
            self.hash = hash
            self.size = size
            self.offset = offset
        }
    }

    public var uploads: [Transfer] = []
    public var downloads: [Transfer] = []
    /// Held by the server, not downloaded by the remote's policy (`strata fetch` gets them).
    public var waiting: [ReferencedBlob] = []
    /// Neither side holds them whole (a colleague has not synced them yet).
    public var unavailable: [ReferencedBlob] = []
    /// Held here, not uploaded: the token may not push, or the server does not reference them
    /// (their records did not reach it).
    public var notUploaded: [ReferencedBlob] = []

    public init() {}

    /// `local`: every referenced blob with what this replica holds of it; `remote`: the
    /// server's status of each (by hash).
    public static func make(
        local: [(blob: ReferencedBlob, presence: BlobPresence)], remote: [BlobHash: BlobStatus], policy: AttachmentPolicy,
        mayUpload: Bool
    ) -> BlobPlan {
        var plan = BlobPlan()
        for (blob, presence) in local {
            let status = remote[blob.hash]
            let state = status?.state ?? .unreferenced
            if presence == .present {
                switch state {
                case .present: break
                case .unreferenced: plan.notUploaded.append(blob)
                case .missing, .partial:
                    guard mayUpload else {
                        plan.notUploaded.append(blob)
                        continue
                    }
                    let from = state == .partial ? min(status?.bytes ?? 0, blob.size) : 0
                    plan.uploads.append(Transfer(hash: blob.hash, size: blob.size, offset: from))
                }
                continue
            }
            guard state == .present else {
                plan.unavailable.append(blob)
                continue
            }
            guard policy.wants(blob.size) else {
                plan.waiting.append(blob)
                continue
            }
            let from: UInt64 = if case .partial(let n) = presence, n < blob.size { n } else { 0 }
            plan.downloads.append(Transfer(hash: blob.hash, size: blob.size, offset: from))
        }
        return plan
    }
}
