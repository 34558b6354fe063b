import Crypto
import Foundation
import GRDB
import StrataCodec
import StrataCore

/// The identity and rights a valid token carries.
public struct Grant: Sendable, Equatable {
    public var tokenID: Int64
    public var project: String
    /// The researcher's name: pushed changes must carry it as their author (unless admin).
    public var researcher: String
    public var role: Role

    public init(tokenID: Int64, project: String, researcher: String, role: Role) {
        self.tokenID = tokenID
        self.project = project
        self.researcher = researcher
        self.role = role
    }
}

/// One row of `strata server token list` (never the token itself).
public struct TokenInfo: Sendable {
    public var id: Int64
    public var project: String
    public var researcher: String
    public var role: Role
    public var createdAt: Date
    public var revokedAt: Date?
    public var lastUsedAt: Date?

    public init(
        id: Int64, project: String, researcher: String, role: Role, createdAt: Date, revokedAt: Date?, lastUsedAt: Date?
    ) {
        self.id = id
        self.project = project
        self.researcher = researcher
        self.role = role
        self.createdAt = createdAt
        self.revokedAt = revokedAt
        self.lastUsedAt = lastUsedAt
    }
}

/// An error of the server's administration (projects and tokens): what happened, with its
/// facts. The description names no `strata` command: the terminal client adds that advice.
public struct ServerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What happened. New cases may be added; the terminal client decides its advice for each.
    public enum Kind: Sendable, Equatable {
        /// A project name outside 1-64 lowercase letters, digits, - and _.
        case invalidProjectName(String)
        /// A researcher name that is empty or spans several lines.
        case invalidResearcherName
        /// No project of that name on this server.
        case noProject(String)
        /// No token with that id.
        case noToken(id: Int64)
    }

    /// What happened, with its facts.
    public let kind: Kind

    public init(_ kind: Kind) { self.kind = kind }

    /// The facts in a sentence, without advice that names a command.
    public var description: String {
        switch kind {
        case .invalidProjectName(let name):
            return "'\(name)' is not a project name; use 1-64 lowercase letters, digits, - and _, e.g. palmyra-2026"
        case .invalidResearcherName:
            return "the researcher name must be one non-empty line: the author name their replica uses"
        case .noProject(let name):
            return "no project '\(name)' on this server"
        case .noToken(let id):
            return "no token with id \(id)"
        }
    }
}

/// Tokens and projects of a server, in `server.sqlite` of the data directory.
///
/// > Invariant: a token is stored only as its SHA-256 digest; the clear token is shown once,
/// > when it is created, and never logged.
public final class TokenStore: Sendable {
    let db: DatabaseQueue
    /// The wall clock, for `created_at`, `revoked_at` and `last_used_at` (tests pass their own).
    let now: @Sendable () -> Date

    /// `last_used_at` is written at most once per this many seconds per token: it is
    /// bookkeeping for `strata server token list`, and writing it on every request made each
    /// authenticated request a write transaction on this database (serialising requests of all
    /// projects behind its write lock).
    public static let lastUsedResolution: TimeInterval = 60

    public init(path: String, now: @escaping @Sendable () -> Date = { Date() }) throws {
        self.now = now
        var c = Configuration()
        c.busyMode = .timeout(10)
        c.journalMode = FileManager.default.fileExists(atPath: path) ? .default : .wal
        db = try DatabaseQueue(path: path, configuration: c)
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE projects(name TEXT PRIMARY KEY, created_at REAL NOT NULL) WITHOUT ROWID;
                    CREATE TABLE tokens(
                        id INTEGER PRIMARY KEY,
                        digest BLOB NOT NULL UNIQUE,
                        project TEXT NOT NULL REFERENCES projects(name),
                        researcher TEXT NOT NULL,
                        role TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        revoked_at REAL,
                        last_used_at REAL);
                    """)
        }
        let current = try db.read { db in try db.tableExists("grdb_migrations") && m.hasCompletedMigrations(db) }
        if !current { try m.migrate(db) }
    }

    /// Project names: lowercase letters, digits, `-` and `_`, 1 to 64, starting with a letter or digit.
    public static func validateProjectName(_ name: String) throws {
        let ok =
            !name.isEmpty && name.count <= 64
            && name.unicodeScalars.allSatisfy { c in
                (c >= "a" && c <= "z") || (c >= "0" && c <= "9") || c == "-" || c == "_"
            } && name.first != "-" && name.first != "_"
        if !ok {
            throw ServerError(.invalidProjectName(name))
        }
    }

    public func projects() throws -> [String] {
        try db.read { db in try String.fetchAll(db, sql: "SELECT name FROM projects ORDER BY name") }
    }

    public func addProject(_ name: String) throws {
        try Self.validateProjectName(name)
        try db.write { db in
            try db.execute(
                sql: "INSERT OR IGNORE INTO projects(name, created_at) VALUES (?, ?)",
                arguments: [name, now().timeIntervalSince1970])
        }
    }

    /// Throws unless the token database can be read now.
    public func checkReadable() throws {
        _ = try db.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM projects") }
    }

    public func hasProject(_ name: String) throws -> Bool {
        try db.read { db in try Bool.fetchOne(db, sql: "SELECT 1 FROM projects WHERE name = ?", arguments: [name]) ?? false }
    }

    /// Creates a token; returns its id and the clear token, which is not kept.
    public func createToken(project: String, researcher: String, role: Role) throws -> (id: Int64, token: String) {
        let researcher = try Self.validateResearcherName(researcher)
        guard try hasProject(project) else {
            throw ServerError(.noProject(project))
        }
        let token = Self.newToken()
        let id = try db.write { db in
            try db.execute(
                sql: "INSERT INTO tokens(digest, project, researcher, role, created_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [Self.digest(token), project, researcher, role.rawValue, now().timeIntervalSince1970])
            return db.lastInsertedRowID
        }
        return (id, token)
    }

    public func listTokens(project: String? = nil) throws -> [TokenInfo] {
        try db.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT id, project, researcher, role, created_at, revoked_at, last_used_at FROM tokens "
                    + (project == nil ? "" : "WHERE project = ? ") + "ORDER BY id",
                arguments: project.map { [$0] } ?? []
            ).map { r in
                TokenInfo(
                    id: r[0], project: r[1], researcher: r[2], role: Role(rawValue: r[3]) ?? .read,
                    createdAt: Date(timeIntervalSince1970: r[4]),
                    revokedAt: (r[5] as Double?).map(Date.init(timeIntervalSince1970:)),
                    lastUsedAt: (r[6] as Double?).map(Date.init(timeIntervalSince1970:)))
            }
        }
    }

    /// Every token with its digest, in id order: for copying a server to another storage.
    public func tokensWithDigests() throws -> [(info: TokenInfo, digest: Data)] {
        let digests = try db.read { db in
            try Dictionary(
                uniqueKeysWithValues: Row.fetchAll(db, sql: "SELECT id, digest FROM tokens").map { r in (r[0] as Int64, r[1] as Data) })
        }
        return try listTokens().compactMap { info in digests[info.id].map { (info: info, digest: $0) } }
    }

    /// Revokes a token by id; revoking twice is harmless.
    public func revoke(id: Int64) throws {
        let n = try db.write { db in
            try db.execute(
                sql: "UPDATE tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?",
                arguments: [now().timeIntervalSince1970, id])
            return db.changesCount
        }
        if n == 0 { throw ServerError(.noToken(id: id)) }
    }

    /// The grant of a valid, unrevoked token, or nil.
    ///
    /// The lookup is by SHA-256 digest: comparing digests, not tokens, means the time a failed
    /// lookup takes says nothing about how close a guess was. It is a read; the token's
    /// `last_used_at` is then written only when the stored one is `lastUsedResolution` or more
    /// away from now (or absent), so most requests write nothing.
    public func authenticate(_ token: String) throws -> Grant? {
        guard token.hasPrefix("stk_"), token.count < 200 else { return nil }
        let d = Self.digest(token)
        let found = try db.read { db -> (Grant, Double?)? in
            guard
                let r = try Row.fetchOne(
                    db,
                    sql: "SELECT id, project, researcher, role, last_used_at FROM tokens WHERE digest = ? AND revoked_at IS NULL",
                    arguments: [d])
            else { return nil }
            return (Grant(tokenID: r[0], project: r[1], researcher: r[2], role: Role(rawValue: r[3]) ?? .read), r[4])
        }
        guard let (grant, lastUsed) = found else { return nil }
        let t = now().timeIntervalSince1970
        if Self.lastUsedIsStale(lastUsed, now: t) {
            // Bookkeeping only: a request is not refused because it could not be recorded. The
            // condition is repeated in SQL so that concurrent requests write it once.
            _ = try? db.write { db in
                try db.execute(
                    sql: "UPDATE tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR abs(? - last_used_at) >= ?)",
                    arguments: [t, grant.tokenID, t, Self.lastUsedResolution])
            }
        }
        return grant
    }

    /// A researcher name trimmed, or `invalidResearcherName` when it is empty or spans lines.
    public static func validateResearcherName(_ name: String) throws -> String {
        let researcher = name.trimmed
        guard !researcher.isEmpty, !researcher.contains(where: \.isNewline) else {
            throw ServerError(.invalidResearcherName)
        }
        return researcher
    }

    /// Whether a stored last use (seconds since 1970) is worth overwriting at `now`.
    public static func lastUsedIsStale(_ stored: Double?, now: Double) -> Bool {
        guard let stored else { return true }
        return abs(now - stored) >= lastUsedResolution
    }

    /// The SHA-256 digest of a token: all a server keeps of it.
    public static func digest(_ token: String) -> Data { Data(SHA256.hash(data: Data(token.utf8))) }

    /// `stk_` and 52 base-32 digits: 256 random bits.
    public static func newToken() -> String {
        var rng = SystemRandomNumberGenerator()
        var bits: [UInt8] = []
        for _ in 0..<4 { withUnsafeBytes(of: rng.next()) { bits.append(contentsOf: $0) } }
        var out = "stk_"
        var acc: UInt32 = 0
        var n = 0
        for b in bits {
            acc = (acc << 8) | UInt32(b)
            n += 8
            while n >= 5 {
                out.append(Character(UnicodeScalar(Base32.alphabet[Int((acc >> UInt32(n - 5)) & 31)])))
                n -= 5
            }
        }
        if n > 0 { out.append(Character(UnicodeScalar(Base32.alphabet[Int((acc << UInt32(5 - n)) & 31)]))) }
        return out
    }
}
