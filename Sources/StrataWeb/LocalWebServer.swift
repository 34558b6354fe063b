import Hummingbird
import Logging
import NIOCore
import StrataStore

/// `strata web`: the researcher's own replica as the web view, on 127.0.0.1 only (never
/// another address: there is no sign-in), until SIGINT or SIGTERM.
public struct LocalWebServer: Sendable {
    /// The only address it binds.
    public static let host = "127.0.0.1"
    /// The project name of the local replica in its addresses (`/web/p/local/`).
    public static let project = "local"
    public var site: WebSite
    public var port: Int
    public var logger: Logger

    public init(store: Store, port: Int, leafletDirectory: String? = nil, mapTiles: String? = nil, logger: Logger) {
        site = WebSite(
            backend: .local(store, project: Self.project), sessionKey: .random(), leafletDirectory: leafletDirectory,
            mapTiles: mapTiles)
        self.port = port
        self.logger = logger
    }

    /// The router: the web view's routes, and `/` sending to them.
    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/") { _, _ in WebRoutes.redirect("\(WebSite.prefix)/p/\(Self.project)") }
        WebRoutes.add(to: router, site: site)
        return router
    }

    /// Serves until a shutdown signal (or, without signals, until the task is cancelled);
    /// `onRunning` receives the bound port.
    public func run(signals: Bool = true, onRunning: @escaping @Sendable (Int) async -> Void) async throws {
        let app = Application(
            router: router(),
            configuration: .init(address: .hostname(Self.host, port: port), serverName: "strata-web"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
        if signals {
            try await app.runService()
        } else {
            try await app.run()
        }
    }
}
