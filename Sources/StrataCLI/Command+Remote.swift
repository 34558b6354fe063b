import ArgumentParser
import Foundation
import StrataCore
import StrataJSON
import StrataStore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A server or a colleague's laptop this replica syncs with, and what its syncs left
/// (the store's `remotes` and `remote_state` tables).
struct Remote {
    var config: RemoteConfig
    var state: RemoteState

    var name: String { config.name }
    var url: String { config.url }
    var project: String { config.project }
    var token: String { config.token }
    /// When the last sync that ran to its end ended.
    var lastSyncMillis: UInt64? { state.lastSync?.atMillis }
    var serverVersion: VersionVector? { state.serverVersion }

    static func all(_ store: Store) throws -> [Remote] {
        try store.remotes().map { Remote(config: $0, state: try store.remoteState(named: $0.name) ?? RemoteState()) }
    }

    static func load(_ name: String, from store: Store) throws -> Remote? {
        guard let config = try store.remote(named: name) else { return nil }
        return Remote(config: config, state: try store.remoteState(named: name) ?? RemoteState())
    }

    /// The remote a command names, or the only one there is.
    static func pick(_ name: String?, from store: Store) throws -> Remote {
        let remotes = try all(store)
        if let name {
            guard let r = remotes.first(where: { $0.name == name }) else {
                throw CLIError(
                    "no remote '\(name)'"
                        + (remotes.isEmpty ? "; add one with `strata remote add NAME URL --project P`" : "; remotes: \(remotes.map(\.name).joined(separator: ", "))"))
            }
            return r
        }
        if remotes.count == 1 { return remotes[0] }
        if remotes.isEmpty { throw CLIError("no remote to sync with; add one with `strata remote add NAME URL --project P`") }
        throw CLIError("several remotes (\(remotes.map(\.name).joined(separator: ", "))); say which: strata sync NAME")
    }

    /// Records a sync that ran to its end, with the server's version as it left it.
    func recordSync(version: VersionVector, pulled: Int = 0, pushed: Int = 0, in store: Store) throws {
        try store.recordSyncResult(remote: name, .completed(pulled: pulled, pushed: pushed), serverVersion: version)
    }

    /// Records a sync that stopped (the time and why); the last completed sync stays.
    func recordFailure(_ reason: String, in store: Store) throws {
        try store.recordSyncResult(remote: name, .failed(reason: reason))
    }
}

struct RemoteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remote", abstract: "Manage the servers and colleagues this replica syncs with.",
        subcommands: [RemoteAdd.self, RemoteList.self, RemoteSet.self, RemoteRemove.self])
}

struct RemoteAdd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Add a remote: a team server or a colleague running `strata serve --peer`.",
        discussion: """
            The token comes from --token, else $STRATA_TOKEN, else a prompt. It is kept with the \
            replica and never printed.
              strata remote add origin https://strata.example.org --project palmyra
              strata remote add maria http://127.0.0.1:7070 --project peer --token stk_...
            """)

    @OptionGroup var options: StoreOptions
    @Argument(help: "A short name for the remote, e.g. origin.") var name: String
    @Argument(help: "The server's base URL, e.g. http://127.0.0.1:7070.") var url: String
    @Option(help: "The project on that server.") var project: String
    @Option(help: "Your token (else $STRATA_TOKEN, else a prompt).") var token: String?
    @Option(help: "Attachments a sync downloads: all, none, or up-to SIZE (e.g. 'up-to 2MB').") var attachments = "all"

    func validate() throws {
        guard name.range(of: #"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"#, options: .regularExpression) != nil else {
            throw ValidationError("'\(name)' is not a remote name; use letters, digits, - and _, e.g. origin")
        }
        guard let u = URL(string: url), let scheme = u.scheme?.lowercased(), scheme == "http" || scheme == "https",
            u.host != nil
        else {
            throw ValidationError("'\(url)' is not a server URL; write it as http://HOST:PORT or https://HOST")
        }
        _ = try RemoteSet.policy(attachments)
    }

    func run() throws {
        let store = try options.open()
        if try Remote.load(name, from: store) != nil {
            throw CLIError("a remote named '\(name)' exists; remove it first with `strata remote remove \(name)`")
        }
        let secret = try token ?? ProcessInfo.processInfo.environment["STRATA_TOKEN"] ?? Self.prompt()
        guard !secret.trimmed.isEmpty else { throw CLIError("no token given") }
        try store.addRemote(
            RemoteConfig(name: name, url: url, project: project, token: secret.trimmed, attachments: try RemoteSet.policy(attachments)))
        print("added remote \(name): \(url) project \(project); run `strata sync \(name)`")
    }

    static func prompt() throws -> String {
        guard isatty(0) == 1 else {
            throw CLIError("no token: pass --token, set STRATA_TOKEN, or run on a terminal to be asked")
        }
        guard let p = getpass("token (not shown): ") else { throw CLIError("no token entered") }
        return String(cString: p)
    }
}

struct RemoteList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List remotes (tokens are not shown).")
    @OptionGroup var options: StoreOptions
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let store = try options.open()
        let remotes = try Remote.all(store)
        if json {
            printJSON(
                .array(
                    remotes.map {
                        .object([
                            "name": .string($0.name), "url": .string($0.url), "project": .string($0.project),
                            "attachments": .string($0.config.attachments.description),
                            "last_sync": $0.lastSyncMillis.map { .string(Output.iso(millis: $0)) } ?? .null,
                        ])
                    }))
            return
        }
        if remotes.isEmpty { print("no remotes; add one with `strata remote add NAME URL --project P`") }
        for r in remotes {
            print(
                "\(r.name)\t\(r.url)\tproject \(r.project)\tattachments \(r.config.attachments)\tlast sync \(r.lastSyncMillis.map { Output.iso(millis: $0) } ?? "never")")
        }
    }
}

struct RemoteSet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set", abstract: "Change a remote's settings.",
        discussion: """
            --attachments says which attachments `strata sync` downloads from the remote on its own \
            (uploads always go); `strata fetch` downloads the others on demand.
              strata remote set origin --attachments up-to 2MB
              strata remote set origin --attachments none
            """)
    @OptionGroup var options: StoreOptions
    @Argument(help: "The remote.") var name: String
    @Option(help: "all, none, or up-to SIZE (SIZE like 2MB, 500KB, 1.5GB).") var attachments: String
    @Argument(parsing: .remaining, help: .hidden) var rest: [String] = []

    /// `all`, `none`, `up-to 2MB` (or `up-to` and the size as the next word).
    static func policy(_ text: String, _ rest: [String] = []) throws -> AttachmentPolicy {
        let whole = ([text] + rest).joined(separator: " ")
        guard let p = AttachmentPolicy(text: whole) else {
            throw ValidationError("'\(whole)' is not an attachment policy; use all, none, or up-to SIZE (e.g. up-to 2MB)")
        }
        return p
    }

    func validate() throws { _ = try Self.policy(attachments, rest) }

    func run() throws {
        let store = try options.open()
        guard try Remote.load(name, from: store) != nil else { throw CLIError("no remote '\(name)'") }
        let p = try Self.policy(attachments, rest)
        try store.setAttachmentPolicy(p, forRemote: name)
        print("remote \(name): syncs download \(Self.words(p))")
    }

    static func words(_ p: AttachmentPolicy) -> String {
        switch p {
        case .all: "every attachment"
        case .none: "no attachments (strata fetch gets them on demand)"
        case .upTo(let n): "attachments up to \(Display.bytes(n)) (strata fetch gets larger ones on demand)"
        }
    }
}

struct RemoteRemove: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remove", abstract: "Forget a remote and its token.")
    @OptionGroup var options: StoreOptions
    @Argument var name: String

    func run() throws {
        let store = try options.open()
        guard try store.removeRemote(named: name) else { throw CLIError("no remote '\(name)'") }
        print("removed remote \(name)")
    }
}
