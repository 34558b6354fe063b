import StrataCore

/// Caps that bound what a decoder allocates, whatever the input says.
///
/// > Invariant: a decoder never allocates more than these limits allow, and checks every
/// > declared length or count against them (and against the bytes remaining) before
/// > reserving memory for it.
public struct CodecLimits: Sendable, Equatable {
    /// Largest inflated (uncompressed) payload of one change set. Checked against the declared
    /// length before inflating and while inflating (zip-bomb cap).
    public var maxInflatedBytes: Int
    /// Largest compressed change set (one bundle frame).
    public var maxCompressedBytes: Int
    /// Most changes in one change set, and in one bundle in total.
    public var maxChanges: Int
    /// Most operations in one change.
    public var maxOperationsPerChange: Int
    /// Longest string (table entry, set element, text value), in UTF-8 bytes.
    public var maxStringBytes: Int
    /// Most predecessors of one operation.
    public var maxPreds: Int
    /// Most entries in one table (replicas, authors, records, field names).
    public var maxTableEntries: Int
    /// Most entries in one version vector (deletion values, bundle header).
    public var maxVersionVectorEntries: Int
    /// Most change sets in one bundle.
    public var maxChangeSetsPerBundle: Int
    /// Largest sum of inflated payloads across one bundle.
    public var maxBundleInflatedBytes: Int
    /// Most blobs (attachments' bytes) in one bundle (format version 2).
    public var maxBlobsPerBundle: Int

    public init(
        maxInflatedBytes: Int = 32 << 20,
        maxCompressedBytes: Int = 32 << 20,
        maxChanges: Int = 1 << 20,
        maxOperationsPerChange: Int = 1 << 16,
        maxStringBytes: Int = 8 << 20,
        maxPreds: Int = 1 << 12,
        maxTableEntries: Int = 1 << 20,
        maxVersionVectorEntries: Int = 1 << 16,
        maxChangeSetsPerBundle: Int = 1 << 16,
        maxBundleInflatedBytes: Int = 1 << 30,
        maxBlobsPerBundle: Int = 1 << 16
    ) {
        self.maxInflatedBytes = maxInflatedBytes
        self.maxCompressedBytes = maxCompressedBytes
        self.maxChanges = maxChanges
        self.maxOperationsPerChange = maxOperationsPerChange
        self.maxStringBytes = maxStringBytes
        self.maxPreds = maxPreds
        self.maxTableEntries = maxTableEntries
        self.maxVersionVectorEntries = maxVersionVectorEntries
        self.maxChangeSetsPerBundle = maxChangeSetsPerBundle
        self.maxBundleInflatedBytes = maxBundleInflatedBytes
        self.maxBlobsPerBundle = maxBlobsPerBundle
    }

    /// The defaults documented in Protocol/SPEC.md, "Limits".
    public static let standard = CodecLimits()

    /// No cap but the bytes present (every count is still checked against the bytes remaining
    /// before anything is reserved for it), for the store's record states: they are what merging
    /// made, and merging is not capped (4,097 replicas writing one field concurrently make 4,097
    /// live values, more than `maxPreds`), so a cap here would make such a record unreadable.
    public static let bytesOnly = CodecLimits(
        maxInflatedBytes: .max, maxCompressedBytes: .max, maxChanges: .max, maxOperationsPerChange: .max,
        maxStringBytes: .max, maxPreds: .max, maxTableEntries: .max, maxVersionVectorEntries: .max,
        maxChangeSetsPerBundle: .max, maxBundleInflatedBytes: .max, maxBlobsPerBundle: .max)
}

extension CodecLimits {
    /// What in `change` its readers would refuse under these limits (the replica's own log when
    /// read back, every peer, `strata check`), said for the person who made it; nil when the
    /// change fits. Local changes are checked with this before they are recorded, so a change
    /// that no reader accepts is never made.
    public func violation(in change: Change) -> String? {
        // Runs on every local commit: the messages' parts are built only when one is needed.
        func tooLong(_ s: String) -> Bool { s.utf8.count > maxStringBytes }
        var mib: String { "\(maxStringBytes >> 20) MiB" }
        if tooLong(change.author) { return "the author name is longer than \(mib)" }
        if change.operations.count > maxOperationsPerChange {
            return "one change would hold \(change.operations.count) field writes; a change holds at most \(maxOperationsPerChange)"
        }
        for op in change.operations {
            var record: String { op.record.text }
            if tooLong(op.key.field) || tooLong(op.key.element) { return "a field name or element of \(record) is longer than \(mib)" }
            if op.preds.count > maxPreds {
                return "\(op.key.field) of \(record) holds \(op.preds.count) concurrent values; a change may replace at most \(maxPreds) at once"
            }
            switch op.action {
            case .assign(.text(let s)) where tooLong(s):
                return "the value of \(op.key.field) of \(record) is longer than \(mib)"
            case .assign(.deletion(let seen)) where seen.entries.count > maxVersionVectorEntries:
                return "deleting \(record) would record \(seen.entries.count) replicas seen; a change holds at most \(maxVersionVectorEntries)"
            case .editText(let edits):
                if edits.count > maxOperationsPerChange {
                    return "the edit of \(op.key.field) of \(record) has \(edits.count) parts; a change holds at most \(maxOperationsPerChange)"
                }
                for e in edits {
                    switch e {
                    case .insert(_, _, _, let text) where tooLong(text):
                        return "the text inserted into \(op.key.field) of \(record) is longer than \(mib)"
                    case .delete(_, let ranges) where ranges.count > maxOperationsPerChange:
                        return "the edit of \(op.key.field) of \(record) deletes \(ranges.count) separate stretches; a change holds at most \(maxOperationsPerChange)"
                    default: break
                    }
                }
            default: break
            }
        }
        return nil
    }
}
