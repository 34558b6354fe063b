import Foundation
import Prometheus

/// The server's Prometheus metrics (swift-prometheus), served at `GET /metrics` in the text
/// exposition format. One registry per server, so several servers in one process (tests) keep
/// their own counts.
///
/// > Invariant: labels are route templates (`/v1/projects/{project}/push`), methods and
/// > statuses: never a project name, a researcher, a token or anything from a body, so the
/// > number of series is bounded by the routes and statuses the server has.
///
/// | Metric | Type | Labels |
/// |---|---|---|
/// | `strata_http_requests_total` | counter | `route`, `method`, `status` |
/// | `strata_http_request_duration_seconds` | histogram | `route`, `method` |
/// | `strata_http_requests_in_flight` | gauge | `route` (a sync in progress is a request in flight) |
/// | `strata_http_request_bytes_total` | counter | `route` (request bodies read) |
/// | `strata_http_response_bytes_total` | counter | `route` (response bodies sent) |
/// | `strata_changes_received_total` | counter | `result` = `applied` or `duplicate` (pushes) |
/// | `strata_changes_sent_total` | counter | none (pull answers) |
public final class ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    /// The media type of `GET /metrics`.
    public static let mediaType = "text/plain; version=0.0.4; charset=utf-8"
    /// Request duration buckets: from a health check to a large push on a slow disk.
    static let durationBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        .seconds(30), .seconds(60),
    ]
    static let methods: Set<String> = ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"]

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        // Declared at start so a scrape before the first sync shows them at 0.
        for result in ["applied", "duplicate"] { _ = changesReceived(result) }
        _ = changesSent
    }

    /// The label for a request's route: its template, or `unmatched` when no route took it.
    static func routeLabel(_ endpointPath: String?) -> String {
        guard let p = endpointPath, p.hasPrefix("/"), p != "/**" else { return "unmatched" }
        return p
    }

    static func methodLabel(_ method: String) -> String { methods.contains(method) ? method : "other" }

    func inFlight(_ route: String) -> Gauge {
        registry.makeGauge(
            descriptor: .init(
                namespace: "strata", subsystem: "http", metricName: "requests", unitName: "in_flight",
                helpText: "Requests being answered now, by route (a sync in progress has one)."),
            labels: [("route", route)])
    }

    func changesReceived(_ result: String) -> Counter {
        registry.makeCounter(
            descriptor: .init(
                namespace: "strata", metricName: "changes_received", unitName: "total",
                helpText: "Changes received in pushes: applied (new to the project) or duplicate (already held)."),
            labels: [("result", result)])
    }

    var changesSent: Counter {
        registry.makeCounter(
            descriptor: .init(
                namespace: "strata", metricName: "changes_sent", unitName: "total",
                helpText: "Changes sent in pull answers."))
    }

    /// A request was taken by `route` (call `finished` for it once answered).
    func started(route: String) { inFlight(route).increment() }

    /// A request answered: counts, duration, bytes and the changes it moved.
    func finished(
        route: String, method: String, status: Int, duration: Duration, bytesIn: Int, bytesOut: Int,
        changesIn: (applied: Int, duplicates: Int), changesOut: Int
    ) {
        let method = Self.methodLabel(method)
        inFlight(route).decrement()
        registry.makeCounter(
            descriptor: .init(
                namespace: "strata", subsystem: "http", metricName: "requests", unitName: "total",
                helpText: "Requests answered, by route template, method and status."),
            labels: [("route", route), ("method", method), ("status", String(status))]
        ).increment()
        registry.makeDurationHistogram(
            descriptor: .init(
                namespace: "strata", subsystem: "http", metricName: "request_duration", unitName: "seconds",
                helpText: "Time from a request's headers to its response, by route template and method."),
            labels: [("route", route), ("method", method)], buckets: Self.durationBuckets
        ).record(duration)
        if bytesIn > 0 {
            registry.makeCounter(
                descriptor: .init(
                    namespace: "strata", subsystem: "http", metricName: "request_bytes", unitName: "total",
                    helpText: "Request body bytes read, by route template."),
                labels: [("route", route)]
            ).increment(by: Int64(bytesIn))
        }
        registry.makeCounter(
            descriptor: .init(
                namespace: "strata", subsystem: "http", metricName: "response_bytes", unitName: "total",
                helpText: "Response body bytes sent, by route template."),
            labels: [("route", route)]
        ).increment(by: Int64(bytesOut))
        if changesIn.applied > 0 { changesReceived("applied").increment(by: Int64(changesIn.applied)) }
        if changesIn.duplicates > 0 { changesReceived("duplicate").increment(by: Int64(changesIn.duplicates)) }
        if changesOut > 0 { changesSent.increment(by: Int64(changesOut)) }
    }

    /// The exposition text of every metric.
    public func exposition() -> [UInt8] { registry.emitToBuffer() }
}
