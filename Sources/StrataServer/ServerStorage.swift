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
    /// Validates (structure, clock skew against `now`) and stores a batch: all or nothing.
    /// Throws `ChangeValidationError` or `ClockSkewError` for a batch it refuses.
    func append(_ changes: [Change], now: UInt64) async throws -> AppendResult
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
