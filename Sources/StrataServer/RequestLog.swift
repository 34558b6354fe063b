import Foundation
import Hummingbird
import Logging

/// Wraps the router: every request, routed or not, is counted in the metrics and logged once
/// (method, route template, path, status, duration, bytes in and out, project, error code).
/// Never a header (so never a token) and never a body (so never record content).
struct ObservedResponder<Inner: HTTPResponder>: HTTPResponder where Inner.Context == StrataRequestContext {
    let inner: Inner
    let logger: Logger
    let metrics: ServerMetrics

    func respond(to request: Request, context: StrataRequestContext) async throws -> Response {
        let start = ContinuousClock.now
        // The route is known only once the router has resolved it: count the request in
        // flight under the route the path will take.
        let route = ServerMetrics.routeLabel(SyncHTTPServer.routeTemplate(of: request.uri.path))
        metrics.started(route: route)
        let status: Int
        let response: Response
        do {
            response = try await inner.respond(to: request, context: context)
            status = Int(response.status.code)
        } catch {
            status = (error as? any HTTPResponseError).map { Int($0.status.code) } ?? 500
            finish(request, context: context, route: route, status: status, bytesOut: 0, start: start)
            throw error
        }
        finish(request, context: context, route: route, status: status, bytesOut: response.body.contentLength ?? 0, start: start)
        return response
    }

    func finish(_ request: Request, context: StrataRequestContext, route: String, status: Int, bytesOut: Int, start: ContinuousClock.Instant) {
        let duration = ContinuousClock.now - start
        let facts = context.facts
        let changesIn = facts.changesIn
        let changesOut = facts.changesOut
        metrics.finished(
            route: route, method: "\(request.method)", status: status, duration: duration, bytesIn: facts.bytesIn,
            bytesOut: bytesOut, changesIn: changesIn, changesOut: changesOut)
        var metadata: Logger.Metadata = [
            "method": "\(request.method)", "route": "\(route)", "path": "\(request.uri.path)",
            "status": .stringConvertible(status),
            "ms": .stringConvertible(Double(Int((duration / .milliseconds(1)) * 10)) / 10),
            "bytes_in": .stringConvertible(facts.bytesIn), "bytes_out": .stringConvertible(bytesOut),
        ]
        if let p = facts.project { metadata["project"] = "\(p)" }
        if changesIn.applied + changesIn.duplicates > 0 {
            metadata["changes_in"] = .stringConvertible(changesIn.applied)
            metadata["duplicates"] = .stringConvertible(changesIn.duplicates)
        }
        if changesOut > 0 { metadata["changes_out"] = .stringConvertible(changesOut) }
        if let f = facts.failure {
            metadata["error"] = "\(f.code.rawValue)"
            // What failed underneath (a storage error), which the client is told to find here.
            if let cause = f.cause { metadata["cause"] = "\(cause)" }
        }
        logger.log(level: status >= 500 ? .warning : .info, "request", metadata: metadata)
    }
}

/// How `strata serve` writes its log: lines for a person (the default), or one JSON object a
/// line for a log collector (`--log-format json`).
public enum LogFormat: String, Sendable, CaseIterable {
    case human
    case json
}

/// A swift-log handler writing one JSON object a line: `time` (ISO 8601, UTC, milliseconds),
/// `level`, `label`, `message`, then each metadata key; integer and floating-point metadata
/// stay numbers. Keys are sorted, so lines are stable for tests and `grep`.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    let write: @Sendable (String) -> Void

    /// A handler writing to `write` (standard error by default).
    public init(label: String, write: @escaping @Sendable (String) -> Void = JSONLogHandler.standardError) {
        self.label = label
        self.write = write
    }

    public static let standardError: @Sendable (String) -> Void = { line in
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { $1 } }
        if let m = event.metadata { all.merge(m) { $1 } }
        var object: [String: Any] = [
            "time": Self.timestamp(Date()), "level": event.level.rawValue, "label": label,
            "message": event.message.description,
        ]
        for (k, v) in all where object[k] == nil { object[k] = Self.json(v) }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        else { return }
        write(String(decoding: data, as: UTF8.self))
    }

    static func json(_ value: Logger.MetadataValue) -> Any {
        switch value {
        case .string(let s): return s
        case .stringConvertible(let c):
            if let i = c as? Int { return i }
            if let d = c as? Double, d.isFinite { return d }
            return c.description
        case .array(let a): return a.map(json)
        case .dictionary(let d): return d.mapValues(json)
        }
    }

    static func timestamp(_ date: Date) -> String {
        let ms = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var t = time_t(ms / 1000)
        var parts = tm()
        gmtime_r(&t, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
            Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), Int(ms % 1000))
    }
}
