import Foundation
import StrataCodec
import StrataCore

/// A team server's storage with its administration (projects and tokens): what `strata serve`
/// and every `strata server …` command open, on SQLite files (`TeamStorage`) or on PostgreSQL
/// (`PostgresStorage` in StrataPostgres).
public protocol TeamServerStorage: ServerStorage {
    /// Where the data lives, for messages: a directory, or a database URL without its password.
    var location: String { get }
    func projects() async throws -> [String]
    /// Creates a project; creating one that exists is harmless.
    func addProject(_ name: String) async throws
    /// Creates a token; returns its id and the clear token, which is not kept.
    func createToken(project: String, researcher: String, role: Role) async throws -> (id: Int64, token: String)
    func listTokens(project: String?) async throws -> [TokenInfo]
    /// Revokes a token by id; revoking twice is harmless.
    func revoke(id: Int64) async throws
    /// Releases connections and files; the storage is not used afterwards.
    func close() async
}

/// Administration is rare and quick: these run SQLite directly (the sync path's reads and
/// writes go through NIO's pool for blocking work).
extension TeamStorage: TeamServerStorage {
    public var location: String { directory }
    public func projects() throws -> [String] { try tokens.projects() }
    public func createToken(project: String, researcher: String, role: Role) throws -> (id: Int64, token: String) {
        try tokens.createToken(project: project, researcher: researcher, role: role)
    }
    public func listTokens(project: String?) throws -> [TokenInfo] { try tokens.listTokens(project: project) }
    public func revoke(id: Int64) throws { try tokens.revoke(id: id) }
    public func close() async {}
}
