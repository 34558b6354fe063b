import ArgumentParser
import Foundation
import Logging
import StrataCodec
import StrataCore
import StrataJSON
import StrataPostgres
import StrataServer
import StrataStore
import StrataWeb

/// Where a team server keeps its data, the first of: `--database postgres://…` (PostgreSQL),
/// `--data DIR` (SQLite files), `$STRATA_DATABASE_URL`, `$STRATA_SERVER_DATA`, the config file's
/// `database` or `data` (for `serve`), `$XDG_DATA_HOME/strata/server`. Flags and environment
/// win over the file, as for every other setting.
struct ServerDataOptions: ParsableArguments {
    @Option(name: .customLong("data"), help: "The server's data directory (default: $STRATA_SERVER_DATA, else $XDG_DATA_HOME/strata/server).", completion: .directory)
    var data: String?
    @Option(name: .customLong("database"), help: "A PostgreSQL database instead of the data directory: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (default: $STRATA_DATABASE_URL).")
    var database: String?
    @Option(name: .customLong("database-connections"), help: ArgumentHelp("PostgreSQL connections this process keeps at most (default 20).", valueName: "n"))
    var databaseConnections: Int?
    @Option(name: .customLong("database-timeout"), help: ArgumentHelp("Seconds a PostgreSQL operation may take, the wait for a pooled connection included, before the request is answered 503 with Retry-After (default 10).", valueName: "seconds"))
    var databaseTimeout: Int?

    var path: String { path(configured: nil) }

    func path(configured: String?) -> String {
        let env = ProcessInfo.processInfo.environment
        if let d = data, !d.isEmpty { return Paths.expand(d) }
        if let d = env["STRATA_SERVER_DATA"], !d.isEmpty { return Paths.expand(d) }
        if let d = configured, !d.isEmpty { return Paths.expand(d) }
        let base = env["XDG_DATA_HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? (Paths.home() + "/.local/share")
        return base + "/strata/server"
    }

    /// The PostgreSQL URL, when the server's data is in PostgreSQL.
    var databaseURL: String? { databaseURL(configured: nil) }

    /// The PostgreSQL URL, with a config file's `database` as the last resort.
    func databaseURL(configured: String?) -> String? {
        if let d = database, !d.isEmpty { return d }
        if data != nil { return nil }
        let env = ProcessInfo.processInfo.environment
        if let d = env["STRATA_DATABASE_URL"], !d.isEmpty { return d }
        if let d = env["STRATA_SERVER_DATA"], !d.isEmpty { return nil }
        if let d = configured, !d.isEmpty { return d }
        return nil
    }

    func validate() throws {
        if data != nil, database != nil {
            throw ValidationError("pass --data (SQLite files) or --database (PostgreSQL), not both")
        }
        if let n = databaseConnections, !ServerConfig.databaseConnectionsRange.contains(n) {
            throw ValidationError("--database-connections must be from \(ServerConfig.databaseConnectionsRange.lowerBound) to \(ServerConfig.databaseConnectionsRange.upperBound), not \(n)")
        }
        if let t = databaseTimeout, !ServerConfig.databaseTimeoutRange.contains(t) {
            throw ValidationError("--database-timeout must be from \(ServerConfig.databaseTimeoutRange.lowerBound) to \(ServerConfig.databaseTimeoutRange.upperBound) seconds, not \(t)")
        }
    }

    /// The SQLite storage in the data directory.
    func openSQLite(configured: String? = nil) throws -> TeamStorage {
        do { return try TeamStorage(directory: path(configured: configured)) } catch let e as ServerError {
            throw CLIError(Advice.message(for: e))
        }
    }

    /// The storage these options name (`configured` and `configuredDatabase`: a config file's
    /// `data` and `database`); a PostgreSQL database is created or upgraded when `migrate`.
    /// Errors are one line with advice.
    func open(
        configured: String? = nil, configuredDatabase: String? = nil, file: ServerConfig = ServerConfig(),
        migrate: Bool = true, logger: Logger? = nil
    ) async throws -> any TeamServerStorage {
        guard let url = databaseURL(configured: configuredDatabase) else { return try openSQLite(configured: configured) }
        do {
            var options = PostgresStorage.Options()
            options.migrate = migrate
            if let n = databaseConnections ?? file.databaseConnections { options.maximumConnections = n }
            if let t = databaseTimeout ?? file.databaseTimeout { options.operationTimeoutSeconds = t }
            return try await PostgresStorage.open(try PostgresLocation(url: url), options: options, logger: logger)
        } catch let e as PostgresStorageError { throw CLIError(Advice.message(for: e)) }
    }

    /// `body` on the storage, closed afterwards; a `ServerError` becomes its line with advice.
    func with<T>(_ body: (any TeamServerStorage) async throws -> T) async throws -> T {
        let storage = try await open()
        do {
            let r = try await body(storage)
            await storage.close()
            return r
        } catch let e as ServerError {
            await storage.close()
            throw CLIError(Advice.message(for: e))
        } catch let e as PostgresStorageError {
            await storage.close()
            throw CLIError(Advice.message(for: e))
        } catch {
            await storage.close()
            throw error
        }
    }

    /// Where the data is, for messages (never a password).
    var shown: String { databaseURL.flatMap { try? PostgresLocation(url: $0).description } ?? path }
    /// The flag naming this storage again, for advice (never a password).
    func flag(configured: String? = nil, configuredDatabase: String? = nil) -> String {
        if let url = databaseURL(configured: configuredDatabase) {
            return "--database \((try? PostgresLocation(url: url).description) ?? "postgres://…")"
        }
        return "--data \(path(configured: configured))"
    }
}

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Run a sync server: a team's shared server, or --peer for a colleague.",
        discussion: """
            Team server: projects and tokens live in the data directory (see `strata server`).
              strata serve --data /srv/strata --host 0.0.0.0 --port 7070
            Or in PostgreSQL, where any number of servers may share one database:
              strata serve --database postgres://strata@db.internal/strata --port 7070
            Peer to peer: serve your own replica so a colleague in the same camp can sync with it.
              strata serve --peer --port 7070
            Settings can also come from a JSON file, keys named as the long options:
              strata serve --config /etc/strata/serve.json   ({"port": 7070, "log-format": "json"})
            Options on the command line override the file.
            Put a TLS-terminating reverse proxy in front of a server reachable beyond your own network.
            For operators: GET /healthz, /readyz, /metrics (Prometheus).
            Stop with Ctrl-C (SIGINT) or SIGTERM: requests in progress finish first (at most
            --shutdown-timeout seconds), then the server exits 0.
            """)

    @OptionGroup var options: StoreOptions
    @OptionGroup var server: ServerDataOptions
    @Option(help: "A JSON file of settings (keys: the long option names); options given here override it.", completion: .file())
    var config: String?
    @Option(help: "Address to listen on (127.0.0.1: this machine only; 0.0.0.0: every interface). Default 127.0.0.1.")
    var host: String?
    @Option(help: "Port to listen on (0: any free port). Default 7070.") var port: Int?
    @Flag(help: "Serve this replica (--store) to a colleague as project 'peer', with a token printed at start.") var peer = false
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical. Default info.") var logLevel: String?
    @Option(help: "Log format: human (default) or json (one JSON object a line, for a log collector).") var logFormat: String?
    @Option(help: "Seconds a client has to send a request's headers, then its body (slower: 408, connection closed). Default 120.")
    var requestTimeout: Int?
    @Option(help: "Requests per second each token may make, on average (0: no limit; over it: 429 with Retry-After). Default 10.")
    var rateLimit: Double?
    @Option(help: "Requests a token may make in a burst before the rate limit applies. Default 60.")
    var rateBurst: Int?
    @Option(help: "Seconds requests in progress may take to finish after SIGTERM or SIGINT. Default 30.")
    var shutdownTimeout: Int?
    @Option(help: "Largest attachment accepted, e.g. 500MB (default 4GB, the largest `attach` takes; larger: 413).")
    var maxAttachment = "4GB"
    @Option(help: "Most attachment bytes one project may hold, e.g. 100GB (default 64GB; beyond: 413).")
    var maxProjectAttachments = "64GB"
    @OptionGroup(title: "Web view (read-only pages under /web/ for a project's readers)") var web: WebOptions

    func validate() throws {
        if let port, !ServerConfig.portRange.contains(port) { throw ValidationError("--port must be between 0 and 65535") }
        if let requestTimeout, !ServerConfig.requestTimeoutRange.contains(requestTimeout) {
            throw ValidationError("--request-timeout must be between 1 and 86400 seconds (default 120)")
        }
        if let rateLimit, !(rateLimit >= 0 && rateLimit.isFinite) {
            throw ValidationError("--rate-limit must be a number of requests per second, 0 for no limit (default 10)")
        }
        if let rateBurst, rateBurst < 1 { throw ValidationError("--rate-burst must be at least 1 (default 60)") }
        guard let file = AttachmentPolicy.parseSize(maxAttachment), file > 0 else {
            throw ValidationError("--max-attachment must be a size such as 500MB or 4GB (default 4GB)")
        }
        guard let project = AttachmentPolicy.parseSize(maxProjectAttachments), project > 0 else {
            throw ValidationError("--max-project-attachments must be a size such as 100GB (default 64GB)")
        }
        guard file <= project else {
            throw ValidationError("--max-attachment (\(maxAttachment)) is larger than --max-project-attachments (\(maxProjectAttachments))")
        }
        if let logLevel, Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("--log-level must be one of: trace, debug, info, notice, warning, error, critical")
        }
        if let logFormat, LogFormat(rawValue: logFormat) == nil {
            throw ValidationError("--log-format must be human or json")
        }
        if let shutdownTimeout, !ServerConfig.shutdownTimeoutRange.contains(shutdownTimeout) {
            throw ValidationError("--shutdown-timeout must be between 1 and 3600 seconds (default 30)")
        }
    }

    func run() async throws {
        var file = ServerConfig()
        if let config {
            do { file = try ServerConfig.load(path: Paths.expand(config)) } catch { throw CLIError(Advice.message(for: error)) }
        }
        let host = self.host ?? file.host ?? "127.0.0.1"
        let port = self.port ?? file.port ?? 7070
        let level = Logger.Level(rawValue: logLevel ?? file.logLevel ?? "info") ?? .info
        let format = logFormat.flatMap(LogFormat.init(rawValue:)) ?? file.logFormat ?? .human
        let rateLimit = self.rateLimit ?? file.rateLimit ?? RateLimit.standard.perSecond
        let rateBurst = self.rateBurst ?? file.rateBurst ?? RateLimit.standard.burst
        LoggingSystem.bootstrap { label in
            switch format {
            case .human:
                var h = StreamLogHandler.standardError(label: label)
                h.logLevel = level
                return h
            case .json:
                var h = JSONLogHandler(label: label)
                h.logLevel = level
                return h
            }
        }
        let logger = Logger(label: "strata.server")
        let backend: any ServerStorage
        var banner: [String] = []
        // Lines for the person who started a peer server: they hold its token, so in JSON mode
        // they go to standard output, never into the log.
        var peerBanner: [String] = []
        if peer {
            let store = try options.open()
            let token = PeerStorage.newToken()
            backend = try PeerStorage(replica: store, token: token)
            let author = try store.author()
            peerBanner = [
                "serving \(author)'s replica \(store.replicaID.short) as project 'peer'.",
                "your colleague runs (with this machine's address instead of \(host) if they are on another machine):",
                "  strata remote add \(author.lowercased().filter { $0.isLetter || $0.isNumber }) http://\(host):PORT --project peer --token \(token)",
                "this token works until you stop the server.",
            ]
        } else {
            let team = try await server.open(configured: file.data, configuredDatabase: file.database, file: file, logger: logger)
            if try await team.projects().isEmpty {
                banner.append(
                    "no projects yet: create one with `strata server project add NAME \(server.flag(configured: file.data, configuredDatabase: file.database))` and give each researcher a token")
            }
            if let pg = team as? PostgresStorage {
                banner.append(
                    "serving from PostgreSQL at \(pg.location): at most \(pg.options.maximumConnections) connections, operations time out after \(pg.options.operationTimeoutSeconds) s (--database-connections, --database-timeout)")
            }
            backend = team
        }
        var limits = ServerLimits()
        limits.requestTimeoutSeconds = requestTimeout ?? file.requestTimeout ?? limits.requestTimeoutSeconds
        limits.rateLimit = rateLimit > 0 ? RateLimit(perSecond: rateLimit, burst: rateBurst) : nil
        limits.maxBlobBytes = AttachmentPolicy.parseSize(maxAttachment) ?? limits.maxBlobBytes
        limits.maxProjectBlobBytes = AttachmentPolicy.parseSize(maxProjectAttachments) ?? limits.maxProjectBlobBytes
        var app = ServerApp(host: host, port: port, service: SyncService(storage: backend, limits: limits), logger: logger)
        let site: WebSite
        if let peer = backend as? PeerStorage {
            site = WebSite(backend: .peer(peer), sessionKey: .random(), leafletDirectory: web.leafletDirectory, mapTiles: web.mapTiles)
        } else if let team = backend as? TeamStorage {
            let key: SessionKey
            do { key = try SessionKey.load(orCreateIn: team.directory) } catch { throw CLIError("\(error)") }
            site = WebSite(backend: .team(team), sessionKey: key, leafletDirectory: web.leafletDirectory, mapTiles: web.mapTiles)
        } else {
            site = WebSite(backend: .logOnly, sessionKey: .random())
            banner.append("the web view (/web/) needs the SQLite storage: on PostgreSQL its pages say so")
        }
        app.extraRoutes = { router in WebRoutes.add(to: router, site: site) }
        if case .logOnly = site.backend {} else {
            banner.append("web view (sign in with a token of the project): http://\(host):PORT\(WebSite.prefix)/")
        }
        app.shutdownTimeout = .seconds(shutdownTimeout ?? file.shutdownTimeout ?? 30)
        let (lines, peerLines) = (banner, peerBanner)
        do {
            try await app.run { bound in
                let listening = "listening on http://\(host):\(bound)"
                switch format {
                case .human:
                    for line in peerLines + lines { printError(line.replacingOccurrences(of: ":PORT", with: ":\(bound)")) }
                    printError(listening + " (Ctrl-C to stop)")
                case .json:
                    for line in peerLines { print(line.replacingOccurrences(of: ":PORT", with: ":\(bound)")) }
                    for line in lines { logger.notice("\(line)") }
                    logger.notice("\(listening)", metadata: ["host": "\(host)", "port": .stringConvertible(bound)])
                }
            }
        } catch {
            if let team = backend as? any TeamServerStorage { await team.close() }
            throw error
        }
        if let team = backend as? any TeamServerStorage { await team.close() }
        logger.notice("stopped")
    }
}

struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server", abstract: "Administer a team server's projects and tokens.",
        subcommands: [ServerProject.self, ServerToken.self, ServerMigrate.self])
}

struct ServerProject: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "project", abstract: "Create and list projects.", subcommands: [Add.self, List.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a project (one replica on the server).")
        @OptionGroup var server: ServerDataOptions
        @Argument(help: "Project name: lowercase letters, digits, - and _.") var name: String

        func run() async throws {
            try await server.with { team in try await team.addProject(name) }
            print("project \(name) ready in \(server.shown); give each researcher a token: strata server token create --project \(name) --researcher NAME")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List projects.")
        @OptionGroup var server: ServerDataOptions
        func run() async throws {
            for p in try await server.with({ team in try await team.projects() }) { print(p) }
        }
    }
}

struct ServerToken: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Create, list and revoke researchers' tokens.",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a token for one researcher in one project (shown once, stored hashed).")
        @OptionGroup var server: ServerDataOptions
        @Option(help: "The project.") var project: String
        @Option(help: "The researcher's name, exactly as their replica's author name.") var researcher: String
        @Option(help: "read (pull), write (push own changes), admin (push anyone's: relaying).") var role = "write"

        func run() async throws {
            guard let r = Role(rawValue: role.lowercased()) else {
                throw CLIError("'\(role)' is not a role; roles: read, write, admin")
            }
            let (id, token) = try await server.with { team in
                try await team.createToken(project: project, researcher: researcher, role: r)
            }
            print(token)
            printError("token \(id) for \(researcher) (\(r.rawValue)) in \(project): copy it now, it is not stored and cannot be shown again")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens (never the tokens themselves).")
        @OptionGroup var server: ServerDataOptions
        @Option(help: "Only this project.") var project: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let tokens = try await server.with { team in try await team.listTokens(project: project) }
            func iso(_ d: Date?) -> String { d.map { Output.iso(millis: UInt64($0.timeIntervalSince1970 * 1000)) } ?? "" }
            if json {
                printJSON(
                    .array(
                        tokens.map {
                            .object([
                                "id": .int($0.id), "project": .string($0.project), "researcher": .string($0.researcher),
                                "role": .string($0.role.rawValue), "created": .string(iso($0.createdAt)),
                                "revoked": $0.revokedAt.map { .string(iso($0)) } ?? .null,
                                "last_used": $0.lastUsedAt.map { .string(iso($0)) } ?? .null,
                            ])
                        }))
                return
            }
            if tokens.isEmpty { print("no tokens") }
            let rows = tokens.map {
                [String($0.id), $0.project, $0.researcher, $0.role.rawValue, iso($0.createdAt),
                 $0.revokedAt == nil ? "active" : "revoked " + iso($0.revokedAt)]
            }
            if !rows.isEmpty { print(Output.table([["id", "project", "researcher", "role", "created", "status"]] + rows), terminator: Output.table([["x"]]).hasSuffix("\n") ? "" : "\n") }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token by its id (see `token list`).")
        @OptionGroup var server: ServerDataOptions
        @Argument(help: "The token id.") var id: Int64

        func run() async throws {
            try await server.with { team in try await team.revoke(id: id) }
            print("token \(id) revoked")
        }
    }
}

struct ServerMigrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Create or upgrade a PostgreSQL server's schema, or copy a SQLite server into PostgreSQL (--to).",
        discussion: """
            Create or upgrade the Strata schema of a PostgreSQL database (strata serve also does it on start):
              strata server migrate --database postgres://strata@127.0.0.1/strata
            Copy the SQLite server in a data directory (every project, token, change and attachment) into
            PostgreSQL, then verify counts, version vectors, every change byte for byte and every attachment
            by its hash. Safe to run again:
              strata server migrate --data /srv/strata --to postgres://strata@127.0.0.1/strata
            """)

    @OptionGroup var server: ServerDataOptions
    @Option(help: "Copy the SQLite server (--data) into this PostgreSQL database: postgres://USER@HOST[:PORT]/DATABASE.")
    var to: String?

    func validate() throws {
        if to != nil, server.database != nil {
            throw ValidationError("--to copies the SQLite server in --data into PostgreSQL; pass --data DIR, not --database")
        }
    }

    func run() async throws {
        do {
            if let to {
                let location = try PostgresLocation(url: to)
                guard FileManager.default.fileExists(atPath: server.path + "/server.sqlite") else {
                    throw CLIError("no SQLite team server in \(server.path) (no server.sqlite); pass --data DIR")
                }
                let team = try server.openSQLite()
                let pg = try await PostgresStorage.open(location)
                do {
                    let r = try await TeamMigration.copy(from: team, to: pg) { line in printError(line) }
                    await pg.close()
                    print(
                        "copied \(server.path) to \(location): \(r.projects) projects, \(r.tokens) tokens, \(r.changesCopied) changes copied (\(r.changesAlreadyThere) already there), \(r.changesVerified) changes verified byte for byte, \(r.blobsCopied) attachments copied (\(Display.bytes(r.blobBytesCopied)), \(r.blobsAlreadyThere) already there), \(r.blobsVerified) attachments verified by their hash"
                    )
                    print("serve it with: strata serve --database \(location)")
                } catch {
                    await pg.close()
                    throw error
                }
            } else if let url = server.databaseURL {
                let location = try PostgresLocation(url: url)
                var options = PostgresStorage.Options()
                options.migrate = true
                let pg = try await PostgresStorage.open(location, options: options)
                await pg.close()
                print("\(location) has the Strata schema, version \(PostgresStorage.schemaVersion)")
            } else {
                _ = try server.openSQLite()
                print("\(server.path) is up to date (SQLite servers are upgraded when they are opened)")
            }
        } catch let e as PostgresStorageError {
            throw CLIError(Advice.message(for: e))
        } catch let e as ServerError {
            throw CLIError(Advice.message(for: e))
        }
    }
}
