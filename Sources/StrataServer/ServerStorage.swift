import StrataCodec
import StrataCore

/// What a sync server keeps: who may do what, and each project's changes. `strata serve` runs
/// on `TeamStorage` (SQLite files in a data directory) or `PeerStorage` (a researcher's own
/// replica); the sync service sees only this protocol.
///
/// The methods are `async`: a storage on a network database awaits its answers, and one on
/// local files runs its blocking reads and writes off the threads that serve connections.
public protocol ServerStorage: Sendable {
    /// The grant of a token, or nil when it is unknown or revoked.
    func authenticate(_ token: String) async throws -> Grant?
    /// A project's changes, or nil when there is no such project.
    func project(_ name: String) async throws -> (any ProjectStorage)?
    /// Throws when the storage cannot be reached or read now (`/readyz`).
    func checkReady() async throws
}

/// What the sync protocol needs of one project: its version vector, the changes missing from a
/// version in bounded batches, and appending a batch. Not a replica's records or search.
///
/// > Invariant: `append` is atomic (every change of the batch is stored, or none) and
/// > idempotent (a change already present is counted as a duplicate and changes nothing), so
/// > overlapping pushes never lose or duplicate a change.
public protocol ProjectStorage: Sendable {
    /// The server's replica id for this project (sent with every pull answer).
    var replicaID: ReplicaID { get }
    func versionVector() async throws -> VersionVector
    /// At most about `maxBytes` of stored change bytes (at least one change) of what a replica at
    /// `version` lacks, in (replica id, seq) order, and how many more it lacks after them.
    func changes(missingFrom version: VersionVector, maxBytes: Int) async throws -> MissingChanges
    /// The subset of `ids` already stored.
    func present(_ ids: [ChangeID]) async throws -> Set<ChangeID>
    /// Stores the changes of one push in one transaction, reading them a bounded batch at a
    /// time: each batch is validated (structure, clock skew against `now`), each change passed
    /// to `admit` with whether the project held it already, then stored. All or nothing: a
    /// throw from the changes (`CodecError`: the change set is refused, however far into it),
    /// from validation (`ChangeValidationError`, `ClockSkewError`) or from `admit` stores none.
    func append(_ push: PushedChanges, now: UInt64, admit: @escaping @Sendable (Change, _ present: Bool) throws -> Void)
        async throws -> AppendResult
}

extension ProjectStorage {
    /// Validates and stores `changes`: all or nothing.
    public func append(_ changes: [Change], now: UInt64) async throws -> AppendResult {
        try await append(PushedChanges(changes), now: now, admit: { _, _ in })
    }
}

/// The changes of one push, read a bounded batch at a time from its change set as a storage
/// appends them, so a push never holds all its decoded changes at once (ARCHITECTURE.md,
/// "Memory per request"); read again from the first when a storage starts its transaction
/// again (PostgreSQL, after a deadlock).
public struct PushedChanges: Sendable {
    enum Source {
        case changeSet(bytes: [UInt8], limits: CodecLimits)
        case changes([Change])
    }

    let source: Source
    /// Most changes in one batch.
    public var batchChanges = 1000
    /// Inflated change-set bytes in one batch (a batch stops at the change that passes this).
    public var batchBytes = 256 << 10

    /// The changes of an encoded change set, decoded a batch at a time under `limits`. Its
    /// header (magic, version, flags, sizes against the caps) is checked here, before a storage
    /// opens a transaction for it.
    public init(changeSet bytes: [UInt8], limits: CodecLimits) throws(CodecError) {
        _ = try ChangeSetReader(bytes, limits: limits)
        source = .changeSet(bytes: bytes, limits: limits)
    }

    /// Changes already decoded (tests, benchmarks, the SQLite migration's checks).
    public init(_ changes: [Change]) { source = .changes(changes) }

    /// Calls `body` with each batch in order; throws the codec's error for a change set it
    /// refuses, which may come after batches were passed on.
    public func forEachBatch(_ body: ([Change]) throws -> Void) throws {
        switch source {
        case .changes(let all):
            for r in ranges(of: all) { try body(Array(all[r])) }
        case .changeSet(let bytes, let limits):
            let reader = try ChangeSetReader(bytes, limits: limits)
            while let batch = try reader.next(maxChanges: batchChanges, maxBytes: batchBytes) { try body(batch) }
        }
    }

    /// The same, each batch decoded on NIO's pool for blocking work (inflating is CPU work).
    public func forEachBatch(_ body: ([Change]) async throws -> Void) async throws {
        switch source {
        case .changes(let all):
            for r in ranges(of: all) { try await body(Array(all[r])) }
        case .changeSet(let bytes, let limits):
            let reader = try await blocking { ReaderBox(try ChangeSetReader(bytes, limits: limits)) }
            let (n, size) = (batchChanges, batchBytes)
            while let batch = try await blocking({ try reader.reader.next(maxChanges: n, maxBytes: size) }) { try await body(batch) }
        }
    }
}

extension PushedChanges {
    fileprivate func ranges(of all: [Change]) -> [Range<Int>] {
        let n = max(1, batchChanges)
        return stride(from: 0, to: all.count, by: n).map { $0..<min(all.count, $0 + n) }
    }
}

/// A reader handed from one blocking step to the next, never used by two at once.
private final class ReaderBox: @unchecked Sendable {
    let reader: ChangeSetReader
    init(_ reader: ChangeSetReader) { self.reader = reader }
}

/// One bounded slice of what a puller lacks.
public struct MissingChanges: Sendable, Equatable {
    /// Changes in (replica, seq) order.
    public var changes: [Change]
    /// How many changes the puller still lacks after these.
    public var remaining: Int

    public init(changes: [Change], remaining: Int) {
        self.changes = changes
        self.remaining = remaining
    }
}

/// What appending a batch did.
public struct AppendResult: Sendable, Equatable {
    /// Changes new to the project.
    public var applied: Int
    /// Changes it already held.
    public var duplicates: Int

    public init(applied: Int, duplicates: Int) {
        self.applied = applied
        self.duplicates = duplicates
    }
}
