import Foundation
import NIOCore
import PostgresNIO

/// Why the PostgreSQL storage could not open or answer, with its facts. The description names
/// no `strata` command: the terminal client adds that advice (Advice.swift).
public struct PostgresStorageError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// A `--database` URL that cannot be read (what is wrong with it).
        case invalidURL(String)
        /// No answer from the server at that address (the reason, e.g. connection refused).
        case unreachable(location: String, reason: String)
        /// The server refused the user name or password.
        case authenticationFailed(location: String)
        /// The server has no database of that name.
        case noDatabase(location: String)
        /// The database holds tables and no Strata schema marker: another application's.
        case foreignDatabase(location: String, tables: [String])
        /// A Strata schema newer than this program knows.
        case newerSchema(location: String, found: Int, supported: Int)
        /// The database needs its schema created or upgraded and this command may not do it.
        case needsMigration(location: String, found: Int, supported: Int)
        /// An operation that did not finish in time (the database slow or out of reach).
        case timedOut(operation: String, seconds: Int)
        /// The server answered an error (its SQLSTATE and message, never query arguments).
        case server(sqlState: String, message: String)
        /// A copy into PostgreSQL that does not match its source (what differs).
        case verificationFailed(String)
    }

    public let kind: Kind
    public init(_ kind: Kind) { self.kind = kind }

    public var description: String {
        switch kind {
        case .invalidURL(let why): "the database URL is not valid: \(why)"
        case .unreachable(let l, let reason): "cannot reach PostgreSQL at \(l): \(reason)"
        case .authenticationFailed(let l): "PostgreSQL at \(l) refused the user name or password"
        case .noDatabase(let l): "PostgreSQL has no database named in \(l)"
        case .foreignDatabase(let l, let tables):
            "the database \(l) belongs to another application (tables \(tables.prefix(5).joined(separator: ", "))\(tables.count > 5 ? ", …" : "") and no Strata schema); it was left untouched"
        case .newerSchema(let l, let found, let supported):
            "the database \(l) has Strata schema version \(found); this strata knows versions up to \(supported)"
        case .needsMigration(let l, let found, let supported):
            found == 0
                ? "the database \(l) holds no Strata schema yet (version \(supported) is needed)"
                : "the database \(l) has Strata schema version \(found); version \(supported) is needed"
        case .timedOut(let op, let s): "PostgreSQL did not \(op) within \(s) s"
        case .server(let state, let message): "PostgreSQL refused (SQLSTATE \(state)): \(message)"
        case .verificationFailed(let what): "the copy does not match its source: \(what)"
        }
    }

    /// A connection error as one of these kinds, for `location`.
    static func classify(_ error: any Error, location: String) -> PostgresStorageError {
        if let e = error as? PostgresStorageError { return e }
        if let e = error as? PSQLError {
            // A connection's failure wrapping the server's own error: tell the server's.
            if let inner = e.underlying as? PSQLError, inner.serverInfo != nil { return classify(inner, location: location) }
            if let state = e.serverInfo?[.sqlState] {
                switch state {
                case "28P01", "28000": return PostgresStorageError(.authenticationFailed(location: location))
                case "3D000": return PostgresStorageError(.noDatabase(location: location))
                default:
                    return PostgresStorageError(.server(sqlState: state, message: e.serverInfo?[.message] ?? "no message"))
                }
            }
            switch e.code {
            case .authMechanismRequiresPassword:
                return PostgresStorageError(.authenticationFailed(location: location))
            default:
                return PostgresStorageError(.unreachable(location: location, reason: reason(e)))
            }
        }
        return PostgresStorageError(.unreachable(location: location, reason: "\(error)"))
    }

    /// Why a connection failed, in words: the underlying error (a socket's, a TLS library's),
    /// else postgres-nio's error code (e.g. `serverClosedConnection`). A `PSQLError`'s own
    /// description is a fixed sentence that says nothing, so it is never used; nor is the
    /// query it carries (its debug description), which a log must not hold.
    static func reason(_ e: PSQLError, depth: Int = 0) -> String {
        if let inner = e.underlying as? PSQLError, depth < 3 { return reason(inner, depth: depth + 1) }
        if let u = e.underlying { return "\(u)" }
        return "\(e.code)"
    }
}
