import ArgumentParser
import Foundation
import Logging
import StrataCodec
import StrataServer
import StrataStore

/// Where a team server keeps its data: `--data DIR`, else `$STRATA_SERVER_DATA`, else
/// `$XDG_DATA_HOME/strata/server`.
struct ServerDataOptions: ParsableArguments {
    @Option(name: .customLong("data"), help: "The server's data directory (default: $STRATA_SERVER_DATA, else $XDG_DATA_HOME/strata/server).", completion: .directory)
    var data: String?

    var path: String {
        let env = ProcessInfo.processInfo.environment
        if let d = data, !d.isEmpty { return Paths.expand(d) }
        if let d = env["STRATA_SERVER_DATA"], !d.isEmpty { return Paths.expand(d) }
        let base = env["XDG_DATA_HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? (Paths.home() + "/.local/share")
        return base + "/strata/server"
    }

    func open() throws -> TeamStorage {
        do { return try TeamStorage(directory: path) } catch let e as ServerError { throw CLIError(Advice.message(for: e)) }
    }
}

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Run a sync server: a team's shared server, or --peer for a colleague.",
        discussion: """
            Team server: projects and tokens live in the data directory (see `strata server`).
              strata serve --data /srv/strata --host 0.0.0.0 --port 7070
            Peer to peer: serve your own replica so a colleague in the same camp can sync with it.
              strata serve --peer --port 7070
            Put a TLS-terminating reverse proxy in front of a server reachable beyond your own network.
            Stop with Ctrl-C (SIGINT) or SIGTERM: requests in progress finish first.
            """)

    @OptionGroup var options: StoreOptions
    @OptionGroup var server: ServerDataOptions
    @Option(help: "Address to listen on (127.0.0.1: this machine only; 0.0.0.0: every interface).") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0: any free port).") var port = 7070
    @Flag(help: "Serve this replica (--store) to a colleague as project 'peer', with a token printed at start.") var peer = false
    @Option(help: "Log level: debug, info, notice, warning, error.") var logLevel = "info"
    @Option(help: "Seconds a client has to send a request's headers, then its body (slower: 408, connection closed).")
    var requestTimeout = 120
    @Option(help: "Requests per second each token may make, on average (0: no limit; over it: 429 with Retry-After).")
    var rateLimit = RateLimit.standard.perSecond
    @Option(help: "Requests a token may make in a burst before the rate limit applies.")
    var rateBurst = RateLimit.standard.burst
    @Option(help: "Largest attachment accepted, e.g. 500MB (default 4GB, the largest `attach` takes; larger: 413).")
    var maxAttachment = "4GB"
    @Option(help: "Most attachment bytes one project may hold, e.g. 100GB (default 64GB; beyond: 413).")
    var maxProjectAttachments = "64GB"

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard (1...86_400).contains(requestTimeout) else {
            throw ValidationError("--request-timeout must be between 1 and 86400 seconds (default 120)")
        }
        guard rateLimit >= 0, rateLimit.isFinite else {
            throw ValidationError("--rate-limit must be a number of requests per second, 0 for no limit (default 10)")
        }
        guard rateBurst >= 1 else { throw ValidationError("--rate-burst must be at least 1 (default 60)") }
        guard let file = AttachmentPolicy.parseSize(maxAttachment), file > 0 else {
            throw ValidationError("--max-attachment must be a size such as 500MB or 4GB (default 4GB)")
        }
        guard let project = AttachmentPolicy.parseSize(maxProjectAttachments), project > 0 else {
            throw ValidationError("--max-project-attachments must be a size such as 100GB (default 64GB)")
        }
        guard file <= project else {
            throw ValidationError("--max-attachment (\(maxAttachment)) is larger than --max-project-attachments (\(maxProjectAttachments))")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of: trace, debug, info, notice, warning, error, critical")
        }
    }

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = Logger.Level(rawValue: logLevel) ?? .info
            return h
        }
        let logger = Logger(label: "strata.server")
        let backend: any ServerStorage
        var banner: [String] = []
        if peer {
            let store = try options.open()
            let token = PeerStorage.newToken()
            backend = try PeerStorage(replica: store, token: token)
            let author = try store.author()
            banner = [
                "serving \(author)'s replica \(store.replicaID.short) as project 'peer'.",
                "your colleague runs (with this machine's address instead of \(host) if they are on another machine):",
                "  strata remote add \(author.lowercased().filter { $0.isLetter || $0.isNumber }) http://\(host):PORT --project peer --token \(token)",
                "this token works until you stop the server.",
            ]
        } else {
            let team = try server.open()
            if try team.tokens.projects().isEmpty {
                banner.append(
                    "no projects yet: create one with `strata server project add NAME --data \(server.path)` and give each researcher a token")
            }
            backend = team
        }
        var limits = ServerLimits()
        limits.requestTimeoutSeconds = requestTimeout
        limits.rateLimit = rateLimit > 0 ? RateLimit(perSecond: rateLimit, burst: rateBurst) : nil
        limits.maxBlobBytes = AttachmentPolicy.parseSize(maxAttachment) ?? limits.maxBlobBytes
        limits.maxProjectBlobBytes = AttachmentPolicy.parseSize(maxProjectAttachments) ?? limits.maxProjectBlobBytes
        let app = ServerApp(host: host, port: port, service: SyncService(storage: backend, limits: limits), logger: logger)
        let lines = banner
        try await app.run { bound in
            for line in lines { printError(line.replacingOccurrences(of: ":PORT", with: ":\(bound)")) }
            printError("listening on http://\(host):\(bound) (Ctrl-C to stop)")
        }
    }
}

struct ServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server", abstract: "Administer a team server's projects and tokens.",
        subcommands: [ServerProject.self, ServerToken.self])
}

struct ServerProject: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "project", abstract: "Create and list projects.", subcommands: [Add.self, List.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a project (one replica on the server).")
        @OptionGroup var server: ServerDataOptions
        @Argument(help: "Project name: lowercase letters, digits, - and _.") var name: String

        func run() throws {
            let team = try server.open()
            do { try team.addProject(name) } catch let e as ServerError { throw CLIError(Advice.message(for: e)) }
            print("project \(name) ready in \(server.path); give each researcher a token: strata server token create --project \(name) --researcher NAME")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List projects.")
        @OptionGroup var server: ServerDataOptions
        func run() throws {
            for p in try server.open().tokens.projects() { print(p) }
        }
    }
}

struct ServerToken: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Create, list and revoke researchers' tokens.",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a token for one researcher in one project (shown once, stored hashed).")
        @OptionGroup var server: ServerDataOptions
        @Option(help: "The project.") var project: String
        @Option(help: "The researcher's name, exactly as their replica's author name.") var researcher: String
        @Option(help: "read (pull), write (push own changes), admin (push anyone's: relaying).") var role = "write"

        func run() throws {
            guard let r = Role(rawValue: role.lowercased()) else {
                throw CLIError("'\(role)' is not a role; roles: read, write, admin")
            }
            let team = try server.open()
            do {
                let (id, token) = try team.tokens.createToken(project: project, researcher: researcher, role: r)
                print(token)
                printError("token \(id) for \(researcher) (\(r.rawValue)) in \(project): copy it now, it is not stored and cannot be shown again")
            } catch let e as ServerError { throw CLIError(Advice.message(for: e)) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens (never the tokens themselves).")
        @OptionGroup var server: ServerDataOptions
        @Option(help: "Only this project.") var project: String?
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let tokens = try server.open().tokens.listTokens(project: project)
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

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token by its id (see `token list`).")
        @OptionGroup var server: ServerDataOptions
        @Argument(help: "The token id.") var id: Int64

        func run() throws {
            do { try server.open().tokens.revoke(id: id) } catch let e as ServerError { throw CLIError(Advice.message(for: e)) }
            print("token \(id) revoked")
        }
    }
}
