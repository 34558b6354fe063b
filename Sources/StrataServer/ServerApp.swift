import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals

/// Runs the sync server: Hummingbird on a host and port, as a service of a swift-service-lifecycle
/// `ServiceGroup` that shuts it down gracefully on SIGTERM or SIGINT.
///
/// > Graceful shutdown: on the first signal the server stops accepting connections, closes
/// > idle ones, and lets requests in progress finish (a push is applied whole, or not at all);
/// > then the process exits 0. Requests still running after ``shutdownTimeout`` are cancelled;
/// > a push is one transaction, so even one cut by the process ending is applied whole or not
/// > at all.
public struct ServerApp: Sendable {
    public var host: String
    public var port: Int
    public var service: SyncService
    public var logger: Logger
    /// What `/metrics` serves (one registry per server).
    public var metrics: ServerMetrics
    /// Close a connection that sends nothing for this long (a stalled field link).
    public var idleTimeout: TimeAmount = .seconds(60)
    /// How long requests in progress may take to finish once a shutdown signal came.
    public var shutdownTimeout: Duration = .seconds(30)
    /// Routes added beside the sync protocol's (the web view).
    public var extraRoutes: SyncHTTPServer.ExtraRoutes?

    public init(host: String, port: Int, service: SyncService, logger: Logger, metrics: ServerMetrics = ServerMetrics()) {
        self.host = host
        self.port = port
        self.service = service
        self.logger = logger
        self.metrics = metrics
    }

    func application(onRunning: @escaping @Sendable (Int) async -> Void)
        -> some ApplicationProtocol
    {
        Application(
            responder: SyncHTTPServer.responder(service: service, logger: logger, metrics: metrics, extraRoutes: extraRoutes),
            server: .http1(
                configuration: .init(
                    additionalChannelHandlers: [RequestDeadlineHandler(seconds: service.limits.requestTimeoutSeconds)],
                    idleTimeout: idleTimeout)),
            configuration: .init(address: .hostname(host, port: port), serverName: "strata"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    /// Serves until SIGINT or SIGTERM, then shuts down gracefully within ``shutdownTimeout``;
    /// `onRunning` receives the bound port.
    public func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        try await serviceGroup(signals: [.sigterm, .sigint], onRunning: onRunning).run()
    }

    /// Serves until the surrounding task is cancelled (tests): `onRunning` receives the port.
    public func runUntilCancelled(onRunning: @escaping @Sendable (Int) async -> Void) async throws {
        try await serviceGroup(signals: [], onRunning: onRunning).run()
    }

    func serviceGroup(signals: [UnixSignal], onRunning: @escaping @Sendable (Int) async -> Void) -> ServiceGroup {
        var config = ServiceGroupConfiguration(
            services: [.init(service: application(onRunning: onRunning))], gracefulShutdownSignals: signals,
            logger: logger)
        config.maximumGracefulShutdownDuration = shutdownTimeout
        // Cancelled requests end at their next suspension point; a blocking SQLite write ends
        // with its transaction. Past this, the process stops regardless.
        config.maximumCancellationDuration = .seconds(5)
        return ServiceGroup(configuration: config)
    }
}
