import Foundation

/// A `strata serve` configuration file: one JSON object whose keys are the long names of
/// `serve`'s options, e.g.
///
/// ```json
/// {"host": "127.0.0.1", "port": 7070, "data": "/var/lib/strata", "log-format": "json"}
/// ```
///
/// Every key is optional; the command line overrides the file. `database` (a `postgres://` URL)
/// serves from PostgreSQL instead of `data`'s SQLite files; a file may name one or the other.
/// JSON, not TOML: Foundation reads it, so a config file costs no package and no build time.
///
/// > A file with an unknown key or a bad value is refused whole, with one line naming the
/// > file and the key: a typo must not silently leave a server on its defaults.
public struct ServerConfig: Sendable, Equatable {
    public var host: String?
    public var port: Int?
    public var data: String?
    /// A PostgreSQL URL; it may hold a password, so no error quotes it.
    public var database: String?
    public var logLevel: String?
    public var logFormat: LogFormat?
    public var requestTimeout: Int?
    public var rateLimit: Double?
    public var rateBurst: Int?
    public var shutdownTimeout: Int?
    /// PostgreSQL connections a server process keeps at most.
    public var databaseConnections: Int?
    /// Seconds a PostgreSQL operation may take, the wait for a pooled connection included.
    public var databaseTimeout: Int?

    public init() {}

    /// The keys a file may hold.
    public static let keys = [
        "host", "port", "data", "database", "log-level", "log-format", "request-timeout", "rate-limit", "rate-burst",
        "shutdown-timeout", "database-connections", "database-timeout",
    ]
    public static let portRange = 0...65535
    public static let requestTimeoutRange = 1...86_400
    public static let shutdownTimeoutRange = 1...3_600
    public static let databaseConnectionsRange = 1...1_000
    public static let databaseTimeoutRange = 1...3_600
    public static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    /// Reads and checks the file at `path`.
    public static func load(path: String) throws(ServerConfigError) -> ServerConfig {
        let bytes: Data
        do { bytes = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            var isDir: ObjCBool = false
            let reason =
                !FileManager.default.fileExists(atPath: path, isDirectory: &isDir)
                ? "no such file" : isDir.boolValue ? "it is a directory" : "it cannot be read"
            throw ServerConfigError(.unreadable(path: path, reason: reason))
        }
        return try parse(bytes, path: path)
    }

    /// Parses a file's bytes (`path` names it in errors).
    public static func parse(_ bytes: Data, path: String) throws(ServerConfigError) -> ServerConfig {
        let object: [String: ConfigValue]
        // JSONSerialization first: its errors say where the syntax broke.
        do { _ = try JSONSerialization.jsonObject(with: bytes, options: [.fragmentsAllowed]) } catch {
            throw ServerConfigError(.notJSON(path: path, detail: Self.describe(error, in: bytes)))
        }
        do {
            let value = try JSONDecoder().decode(ConfigValue.self, from: bytes)
            guard case .object(let o) = value else { throw ServerConfigError(.notAnObject(path: path)) }
            object = o
        } catch let e as ServerConfigError {
            throw e
        } catch {
            throw ServerConfigError(.notJSON(path: path, detail: "\(error)"))
        }
        var config = ServerConfig()
        for key in object.keys.sorted() {
            let value = object[key]!
            func bad(_ expected: String) -> ServerConfigError {
                ServerConfigError(.badValue(path: path, key: key, expected: expected, got: value.description))
            }
            func int(_ range: ClosedRange<Int>) throws(ServerConfigError) -> Int {
                guard case .number(let d) = value, d == d.rounded(), let i = Int(exactly: d), range.contains(i) else {
                    throw bad("a whole number from \(range.lowerBound) to \(range.upperBound)")
                }
                return i
            }
            func string() throws(ServerConfigError) -> String {
                guard case .string(let s) = value, !s.isEmpty else { throw bad("a non-empty string") }
                return s
            }
            switch key {
            case "host": config.host = try string()
            case "port": config.port = try int(portRange)
            case "data": config.data = try string()
            case "database":
                guard case .string(let s) = value, s.lowercased().hasPrefix("postgres://") || s.lowercased().hasPrefix("postgresql://")
                else {
                    throw ServerConfigError(.badDatabase(path: path))
                }
                config.database = s
            case "log-level":
                guard case .string(let s) = value, logLevels.contains(s) else {
                    throw bad("one of " + logLevels.joined(separator: ", "))
                }
                config.logLevel = s
            case "log-format":
                guard case .string(let s) = value, let f = LogFormat(rawValue: s) else {
                    throw bad("one of " + LogFormat.allCases.map(\.rawValue).joined(separator: ", "))
                }
                config.logFormat = f
            case "request-timeout": config.requestTimeout = try int(requestTimeoutRange)
            case "rate-limit":
                guard case .number(let d) = value, d >= 0, d.isFinite else {
                    throw bad("a number of requests per second, 0 for no limit")
                }
                config.rateLimit = d
            case "rate-burst": config.rateBurst = try int(1...Int(Int32.max))
            case "shutdown-timeout": config.shutdownTimeout = try int(shutdownTimeoutRange)
            case "database-connections": config.databaseConnections = try int(databaseConnectionsRange)
            case "database-timeout": config.databaseTimeout = try int(databaseTimeoutRange)
            default:
                throw ServerConfigError(.unknownKey(path: path, key: key))
            }
        }
        if config.data != nil, config.database != nil {
            throw ServerConfigError(.bothStorages(path: path))
        }
        return config
    }

    /// JSONSerialization's reason, with "around character N" turned into a line and column.
    static func describe(_ error: any Error, in bytes: Data) -> String {
        var reason = ((error as NSError).userInfo["NSDebugDescription"] as? String) ?? "\(error)"
        reason = reason.trimmingCharacters(in: CharacterSet(charactersIn: ". \n"))
        guard let r = reason.range(of: " around character "), let offset = Int(reason[r.upperBound...]) else { return reason }
        let before = bytes.prefix(offset)
        let line = before.filter { $0 == UInt8(ascii: "\n") }.count + 1
        let column = before.count - (before.lastIndex(of: UInt8(ascii: "\n")).map { $0 - before.startIndex + 1 } ?? 0) + 1
        return String(reason[..<r.lowerBound]) + " at line \(line), column \(column)"
    }
}

/// Why a configuration file was refused: one line naming the file, and the key when one is at fault.
public struct ServerConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case unreadable(path: String, reason: String)
        case notJSON(path: String, detail: String)
        case notAnObject(path: String)
        case unknownKey(path: String, key: String)
        case badValue(path: String, key: String, expected: String, got: String)
        /// `database` is not a `postgres://` URL (its value is not repeated: it may hold a password).
        case badDatabase(path: String)
        case bothStorages(path: String)
    }

    public let kind: Kind
    public init(_ kind: Kind) { self.kind = kind }

    public var description: String {
        switch kind {
        case .unreadable(let path, let reason): "cannot read the config file \(path): \(reason)"
        case .notJSON(let path, let detail): "the config file \(path) is not valid JSON (\(detail))"
        case .notAnObject(let path): "the config file \(path) must be one JSON object, e.g. {\"port\": 7070}"
        case .unknownKey(let path, let key):
            "the config file \(path) has an unknown key \"\(key)\"; known keys: \(ServerConfig.keys.joined(separator: ", "))"
        case .badValue(let path, let key, let expected, let got):
            "the config file \(path) sets \"\(key)\" to \(got); it must be \(expected)"
        case .badDatabase(let path):
            "the config file \(path) sets \"database\" to something that is not a PostgreSQL URL (not shown: it may hold a password); it must be a string postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
        case .bothStorages(let path):
            "the config file \(path) sets both \"data\" (SQLite files) and \"database\" (PostgreSQL); keep the one the server uses"
        }
    }
}

/// A JSON value as a config file holds it (booleans kept apart from numbers).
enum ConfigValue: Decodable, Equatable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([ConfigValue])
    case object([String: ConfigValue])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let d = try? c.decode(Double.self) {
            self = .number(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([ConfigValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: ConfigValue].self))
        }
    }

    var description: String {
        switch self {
        case .null: "null"
        case .bool(let b): "\(b)"
        case .number(let d): d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : "\(d)"
        case .string(let s): "\"\(s.count > 60 ? String(s.prefix(60)) + "…" : s)\""
        case .array: "an array"
        case .object: "an object"
        }
    }
}
