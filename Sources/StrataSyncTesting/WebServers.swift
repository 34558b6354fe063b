import Foundation
import Logging
import StrataServer
import StrataStore
import StrataWeb

/// Servers with the web view on 127.0.0.1 and a free port, for the web's HTML tests and the
/// browser tests: a team server on SQLite, a peer server, and `strata web`'s local server.
/// Each returns a ``RunningServer`` (its `url` is `http://127.0.0.1:PORT`; pages are under
/// `/web/`); `stop()` it when done.
public enum WebTestServer {
    /// A team server on `team` (SQLite: every project materialised) serving the sync protocol
    /// and the web view; sessions signed with the key in the team's data directory.
    public static func team(_ team: TeamStorage, leafletDirectory: String? = nil, mapTiles: String? = nil) async throws
        -> RunningServer
    {
        let site = WebSite(
            backend: .team(team), sessionKey: try SessionKey.load(orCreateIn: team.directory), leafletDirectory: leafletDirectory,
            mapTiles: mapTiles)
        return try await RunningServer.start(team, extraRoutes: { WebRoutes.add(to: $0, site: site) })
    }

    /// A team server whose storage keeps only a log (PostgreSQL's case): the web routes answer
    /// that the web view needs the SQLite storage.
    public static func logOnly(_ storage: any ServerStorage) async throws -> RunningServer {
        let site = WebSite(backend: .logOnly, sessionKey: .random())
        return try await RunningServer.start(storage, extraRoutes: { WebRoutes.add(to: $0, site: site) })
    }

    /// `strata serve --peer` on `store`, with `token` the one its banner would print (project `peer`).
    public static func peer(_ store: Store, token: String, leafletDirectory: String? = nil) async throws -> RunningServer {
        let peer = try PeerStorage(replica: store, token: token)
        let site = WebSite(backend: .peer(peer), sessionKey: .random(), leafletDirectory: leafletDirectory)
        return try await RunningServer.start(peer, extraRoutes: { WebRoutes.add(to: $0, site: site) })
    }

    /// `strata web` on `store`: no sign-in, project `local`, bound to 127.0.0.1 only.
    public static func local(_ store: Store, leafletDirectory: String? = nil, mapTiles: String? = nil) async throws
        -> RunningServer
    {
        let server = LocalWebServer(
            store: store, port: 0, leafletDirectory: leafletDirectory, mapTiles: mapTiles, logger: quietLogger("test.web"))
        let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
        let task = Task {
            defer { continuation.finish() }
            try await server.run(signals: false) { port in continuation.yield(port) }
        }
        return try await RunningServer.listening(stream, task)
    }
}
