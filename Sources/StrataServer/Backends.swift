import Crypto
import Foundation
import StrataCore
import StrataStore

/// A team server: `server.sqlite` (projects, hashed tokens) and one replica per project in
/// `projects/NAME.strata`, under one data directory.
public final class TeamBackend: SyncBackend, @unchecked Sendable {
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

    public func authenticate(_ token: String) throws -> Grant? { try tokens.authenticate(token) }

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
public final class PeerBackend: SyncBackend, Sendable {
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

    public func authenticate(_ token: String) throws -> Grant? {
        let d = Data(SHA256.hash(data: Data(token.utf8)))
        // Constant-time comparison of the digests.
        guard d.count == digest.count else { return nil }
        var diff: UInt8 = 0
        for (a, b) in zip(d, digest) { diff |= a ^ b }
        return diff == 0 ? Grant(tokenID: 0, project: Self.project, researcher: researcher, role: .admin) : nil
    }

    public func store(for project: String) throws -> Store? { project == Self.project ? replica : nil }
}
