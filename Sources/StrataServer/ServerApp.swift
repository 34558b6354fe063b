import Foundation
import Hummingbird
import Logging
import NIOCore

/// Runs the sync server: Hummingbird on a host and port, graceful shutdown on SIGINT/SIGTERM.
public struct ServerApp: Sendable {
    public var host: String
    public var port: Int
    public var service: SyncService
    public var logger: Logger
    /// Close a connection that sends nothing for this long (a stalled field link).
    public var idleTimeout: TimeAmount = .seconds(60)

    public init(host: String, port: Int, service: SyncService, logger: Logger) {
        self.host = host
        self.port = port
        self.service = service
        self.logger = logger
    }

    func application(onRunning: @escaping @Sendable (Int) async -> Void)
        -> some ApplicationProtocol
    {
        let router = SyncHTTPServer.router(service: service, logger: logger)
        return Application(
            router: router,
            server: .http1(
                configuration: .init(
                    additionalChannelHandlers: [RequestDeadlineHandler(seconds: service.limits.requestTimeoutSeconds)],
                    idleTimeout: idleTimeout)),
            configuration: .init(address: .hostname(host, port: port), serverName: "strata"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    /// Serves until SIGINT or SIGTERM; `onRunning` receives the bound port.
    public func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        try await application(onRunning: onRunning).runService()
    }

    /// Serves until the surrounding task is cancelled (tests): `onRunning` receives the port.
    public func runUntilCancelled(onRunning: @escaping @Sendable (Int) async -> Void) async throws {
        try await application(onRunning: onRunning).runService(gracefulShutdownSignals: [])
    }
}
