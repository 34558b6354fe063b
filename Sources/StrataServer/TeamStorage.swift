import Crypto
import Foundation
import NIOPosix
import StrataCodec
import StrataCore
import StrataStore

/// A team server on SQLite: `server.sqlite` (projects, hashed tokens) and one replica per
/// project in `projects/NAME.strata`, under one data directory. Each project is a whole
/// `Store`, so it materialises records (see ARCHITECTURE.md, "Does a server materialise
/// records?"); the sync service reaches it only through `ProjectStorage`.
public final class TeamStorage: ServerStorage, @unchecked Sendable {
    public let directory: String
    public let tokens: TokenStore
    private let lock = NSLock()
    private var open: [String: Store] = [:]

    public init(directory: String) throws {
        self.directory = directory
        try FileManager.default.createDirectory(
            atPath: directory + "/projects", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        tokens = try TokenStore(path: directory + "/server.sqlite")
    }

    public func authenticate(_ token: String) async throws -> Grant? { try await blocking { try self.tokens.authenticate(token) } }

    public func project(_ name: String) async throws -> (any ProjectStorage)? {
        try await blocking { try self.store(for: name).map(StoreProjectStorage.init) }
    }

    /// Reads `server.sqlite` (projects and tokens): what every request needs first.
    public func checkReady() async throws { try await blocking { try self.tokens.checkReadable() } }

    /// The replica of a project, or nil when there is no such project (administration, tests).
    public func store(for project: String) throws -> Store? {
        lock.lock()
        defer { lock.unlock() }
        if let s = open[project] { return s }
        guard (try? TokenStore.validateProjectName(project)) != nil, try tokens.hasProject(project) else { return nil }
        let path = projectPath(project)
        let s =
            FileManager.default.fileExists(atPath: path)
            ? try Store.open(at: path) : try Store.create(at: path, author: "server:\(project)")
        open[project] = s
        return s
    }

    func projectPath(_ project: String) -> String { "\(directory)/projects/\(project).strata" }

    /// Creates a project and its replica.
    public func addProject(_ name: String) throws {
        try tokens.addProject(name)
        _ = try store(for: name)
    }
}

/// Peer-to-peer: a researcher serves their own replica to a colleague, as project `peer`,
/// with one token made when the server starts (admin: the colleague may relay others' work).
public final class PeerStorage: ServerStorage, Sendable {
    public static let project = "peer"
    public let replica: Store
    let digest: Data
    let researcher: String

    /// `token` is shown to the person running the server and never stored.
    public init(replica: Store, token: String) throws {
        self.replica = replica
        digest = Data(SHA256.hash(data: Data(token.utf8)))
        researcher = try replica.author()
    }

    public static func newToken() -> String { TokenStore.newToken() }

    public func authenticate(_ token: String) async throws -> Grant? {
        let d = Data(SHA256.hash(data: Data(token.utf8)))
        // Constant-time comparison of the digests.
        guard d.count == digest.count else { return nil }
        var diff: UInt8 = 0
        for (a, b) in zip(d, digest) { diff |= a ^ b }
        return diff == 0 ? Grant(tokenID: 0, project: Self.project, researcher: researcher, role: .admin) : nil
    }

    public func project(_ name: String) async throws -> (any ProjectStorage)? {
        name == Self.project ? StoreProjectStorage(replica) : nil
    }

    /// Reads the served replica's version vector.
    public func checkReady() async throws { _ = try await blocking { try self.replica.versionVector() } }
}

/// A replica's change log as a project's storage: pulls read primary-key ranges of its log,
/// pushes are applied (merged and materialised) in one transaction.
public struct StoreProjectStorage: ProjectStorage {
    public let store: Store
    public init(_ store: Store) { self.store = store }

    public var replicaID: ReplicaID { store.replicaID }
    public func versionVector() async throws -> VersionVector { try await blocking { try store.versionVector() } }
    public func changes(missingFrom version: VersionVector, maxBytes: Int) async throws -> MissingChanges {
        try await blocking {
            let batch = try store.changes(missingFrom: version, maxBytes: maxBytes)
            return MissingChanges(changes: batch.changes, remaining: batch.remaining)
        }
    }
    public func present(_ ids: [ChangeID]) async throws -> Set<ChangeID> { try await blocking { try store.present(ids) } }
    /// One SQLite transaction for the whole push, on NIO's pool for blocking work: each batch is
    /// decoded, checked and merged before the next is decoded.
    public func append(_ push: PushedChanges, now: UInt64, admit: @escaping @Sendable (Change, Bool) throws -> Void)
        async throws -> AppendResult
    {
        try await blocking {
            let r = try store.apply(batches: { each in try push.forEachBatch(each) }, now: now, admit: admit)
            return AppendResult(applied: r.applied, duplicates: r.duplicates)
        }
    }
}

/// Runs blocking work (SQLite reads and writes with their fsyncs, deflate) on NIO's pool for
/// blocking work, so it never holds the threads that serve connections and run Swift
/// concurrency: one slow push does not stall every other request.
func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await NIOThreadPool.singleton.runIfActive(body)
}
