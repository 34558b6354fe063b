import Foundation
import PostgresNIO

/// Where a PostgreSQL database is, read from a `postgres://` URL:
/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require][&host=/socket/dir]`.
/// A `host` parameter that is a directory (or a percent-encoded path as the host) means the
/// Unix socket `DIR/.s.PGSQL.PORT`, as libpq reads it.
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    public enum TLSMode: String, Sendable { case disable, prefer, require }

    public var host: String
    public var port: Int
    /// The Unix socket directory, when the database is reached through one.
    public var socketDirectory: String?
    public var user: String
    public var password: String?
    public var database: String
    public var tls: TLSMode

    /// Parses a URL; the error says what is wrong in it (never the password).
    public init(url text: String) throws(PostgresStorageError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let c = URLComponents(string: trimmed), let scheme = c.scheme?.lowercased(),
            scheme == "postgres" || scheme == "postgresql"
        else {
            throw PostgresStorageError(.invalidURL("it must start with postgres:// (e.g. postgres://strata@127.0.0.1:5432/strata)"))
        }
        var params: [String: String] = [:]
        for item in c.queryItems ?? [] { params[item.name.lowercased()] = item.value ?? "" }
        let known: Set<String> = ["sslmode", "host", "port", "user", "password"]
        if let unknown = params.keys.sorted().first(where: { !known.contains($0) }) {
            throw PostgresStorageError(.invalidURL("unknown parameter '\(unknown)' (known: sslmode, host, port, user, password)"))
        }
        let hostText = params["host"] ?? c.host.map { $0.removingPercentEncoding ?? $0 } ?? ""
        if hostText.hasPrefix("/") {
            socketDirectory = hostText
            host = "localhost"
        } else {
            socketDirectory = nil
            host = hostText.isEmpty ? "127.0.0.1" : hostText
        }
        if let p = params["port"] {
            guard let n = Int(p), (1...65535).contains(n) else {
                throw PostgresStorageError(.invalidURL("the port '\(p)' is not a number between 1 and 65535"))
            }
            port = n
        } else {
            port = c.port ?? 5432
        }
        guard (1...65535).contains(port) else {
            throw PostgresStorageError(.invalidURL("the port \(port) is not between 1 and 65535"))
        }
        user = params["user"] ?? c.user.map { $0.removingPercentEncoding ?? $0 } ?? "postgres"
        password = params["password"] ?? c.password.map { $0.removingPercentEncoding ?? $0 }
        var path = c.path
        if path.hasPrefix("/") { path.removeFirst() }
        database = path.removingPercentEncoding ?? path
        guard !database.isEmpty, !database.contains("/") else {
            throw PostgresStorageError(.invalidURL("it names no database: end it with /DATABASE, e.g. postgres://strata@127.0.0.1/strata"))
        }
        let mode = params["sslmode"] ?? "prefer"
        guard let t = TLSMode(rawValue: mode) else {
            throw PostgresStorageError(.invalidURL("sslmode '\(mode)' is not one of disable, prefer, require"))
        }
        tls = socketDirectory == nil ? t : .disable
    }

    /// The URL without its password: safe for messages and logs.
    public var description: String {
        if let socketDirectory {
            return "postgres://\(user)@/\(database)?host=\(socketDirectory)&port=\(port)"
        }
        return "postgres://\(user)@\(host):\(port)/\(database)"
    }

    /// The same server with another database (tests make one database per test).
    public func with(database: String) -> PostgresLocation {
        var l = self
        l.database = database
        return l
    }

    var clientConfiguration: PostgresClient.Configuration {
        var c: PostgresClient.Configuration
        if let socketDirectory {
            c = .init(unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: user, password: password, database: database)
        } else {
            let t: PostgresClient.Configuration.TLS
            switch tls {
            case .disable: t = .disable
            case .prefer: t = .prefer(.makeClientConfiguration())
            case .require: t = .require(.makeClientConfiguration())
            }
            c = .init(host: host, port: port, username: user, password: password, database: database, tls: t)
        }
        c.options.connectTimeout = .seconds(5)
        return c
    }

    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        var c: PostgresConnection.Configuration
        if let socketDirectory {
            c = .init(unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: user, password: password, database: database)
        } else {
            let t: PostgresConnection.Configuration.TLS
            switch tls {
            case .disable: t = .disable
            case .prefer: t = .prefer(try .init(configuration: .makeClientConfiguration()))
            case .require: t = .require(try .init(configuration: .makeClientConfiguration()))
            }
            c = .init(host: host, port: port, username: user, password: password, database: database, tls: t)
        }
        c.options.connectTimeout = .seconds(5)
        return c
    }
}
