import Foundation
import NIOPosix
import StrataServer
import StrataStore

/// What a web view serves and who may read it.
///
/// - `local`: the researcher's own replica (`strata web`), on 127.0.0.1 only, no sign-in.
/// - `peer`: the replica a `strata serve --peer` serves, as project `peer`; sign-in with the
///   token it printed.
/// - `team`: a team server on SQLite: every project is a `Store` (ARCHITECTURE.md, "Does a
///   server materialise records?"); sign-in with a token of the project.
/// - `logOnly`: a team server on PostgreSQL keeps only the change log, so its web routes answer
///   a page saying the web view needs the SQLite storage.
public enum WebBackend: Sendable {
    case local(Store, project: String)
    case peer(PeerStorage)
    case team(TeamStorage)
    case logOnly
}

/// A web view's settings: its backend, the session key, where Leaflet is, the map's tiles.
public struct WebSite: Sendable {
    public static let prefix = "/web"
    public var backend: WebBackend
    public var sessionKey: SessionKey
    /// Debian's libjs-leaflet by default (`leaflet.js`, `leaflet.css`, `images/`).
    public var leafletDirectory: String
    /// A tile URL template (`https://tile.example/{z}/{x}/{y}.png`); none: a graticule.
    public var mapTiles: String?
    /// How long a session lasts.
    public var sessionSeconds: Int64 = 12 * 3600
    /// Records per page of the list.
    public var pageSize = 50

    public static let defaultLeafletDirectory = "/usr/share/javascript/leaflet"

    public init(backend: WebBackend, sessionKey: SessionKey, leafletDirectory: String? = nil, mapTiles: String? = nil) {
        self.backend = backend
        self.sessionKey = sessionKey
        self.leafletDirectory =
            leafletDirectory ?? ProcessInfo.processInfo.environment["STRATA_LEAFLET_DIR"].flatMap { $0.isEmpty ? nil : $0 }
            ?? Self.defaultLeafletDirectory
        self.mapTiles = mapTiles
    }

    /// Whether Leaflet's script and style sheet are where this site looks for them.
    public var hasLeaflet: Bool {
        FileManager.default.fileExists(atPath: leafletDirectory + "/leaflet.js")
            && FileManager.default.fileExists(atPath: leafletDirectory + "/leaflet.css")
    }

    var needsSignIn: Bool {
        if case .local = backend { return false }
        return true
    }

    /// What a project name leads to.
    enum Lookup {
        case store(Store)
        case noProject
        case logOnly
    }

    func lookup(_ project: String) async throws -> Lookup {
        switch backend {
        case .local(let store, let name): return project == name ? .store(store) : .noProject
        case .peer(let peer): return project == PeerStorage.project ? .store(peer.replica) : .noProject
        case .team(let team):
            guard (try? TokenStore.validateProjectName(project)) != nil else { return .noProject }
            return try await blockingWeb { try team.store(for: project) }.map(Lookup.store) ?? .noProject
        case .logOnly: return .logOnly
        }
    }

    /// The session of a sign-in: the token must be a live token of this very project.
    func signIn(project: String, token: String, now: Int64) async throws -> WebSession? {
        let grant: Grant?
        switch backend {
        case .local, .logOnly: return nil
        case .peer(let peer): grant = try await peer.authenticate(token)
        case .team(let team): grant = try await team.authenticate(token)
        }
        guard let grant, grant.project == project else { return nil }
        return WebSession(project: project, tokenID: grant.tokenID, expires: now + sessionSeconds)
    }

    /// Whether a verified session's token is still live (not revoked) for its project.
    func tokenIsLive(_ session: WebSession) async throws -> Bool {
        switch backend {
        case .local, .logOnly: return false
        case .peer: return session.project == PeerStorage.project && session.tokenID == 0
        case .team(let team):
            let tokens = try await blockingWeb { try team.tokens.listTokens(project: session.project) }
            return tokens.contains { $0.id == session.tokenID && $0.revokedAt == nil }
        }
    }
}

/// Blocking SQLite work off the threads that serve connections, as the sync server does.
func blockingWeb<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await NIOThreadPool.singleton.runIfActive(body)
}
