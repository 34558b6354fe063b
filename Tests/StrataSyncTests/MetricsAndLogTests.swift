import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import StrataCodec
import StrataCore
import StrataServer
import StrataStore
import StrataSync
import StrataSyncTesting
import StrataTestSupport
import Testing

/// One Prometheus scrape, parsed: each sample's value by its name and labels.
struct Scrape {
    let text: String
    var samples: [(name: String, labels: [String: String], value: Double)] = []

    init(_ text: String) {
        self.text = text
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            let series = line[..<space]
            var labels: [String: String] = [:]
            var name = String(series)
            if let open = series.firstIndex(of: "{"), series.last == "}" {
                name = String(series[..<open])
                let inner = series[series.index(after: open)..<series.index(before: series.endIndex)]
                for pair in inner.split(separator: ",") {
                    let kv = pair.split(separator: "=", maxSplits: 1)
                    if kv.count == 2 { labels[String(kv[0])] = String(kv[1].dropFirst().dropLast()) }
                }
            }
            samples.append((name, labels, value))
        }
    }

    /// The sum of the samples of `name` whose labels include `labels` (0 when none).
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double {
        samples.filter { s in s.name == name && labels.allSatisfy { s.labels[$0.key] == $0.value } }.reduce(0) { $0 + $1.value }
    }
}

/// A logger whose JSON lines (the `--log-format json` handler) are kept for the test.
final class JSONLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    var all: [String] { lock.withLock { lines } }

    var logger: Logger {
        var l = Logger(label: "strata.server") { label in
            JSONLogHandler(label: label, write: { line in self.lock.withLock { self.lines.append(line) } })
        }
        l.logLevel = .trace
        return l
    }
}

/// What an operator scrapes and reads: Prometheus metrics after a real sync, and the JSON
/// request log. Over real HTTP on loopback.
@Suite(.serialized) struct MetricsAndLogTests {
    static let session = "/v1/projects/{project}/session"
    static let pull = "/v1/projects/{project}/pull"
    static let push = "/v1/projects/{project}/push"

    @Test func metricsCountRequestsChangesAndBytesOfASync() async throws {
        let team = try Team(researchers: ["Khaled", "Maria"])
        let dir = try TemporaryDirectory()
        let khaled = try Store.create(at: dir.file("k.strata"), author: "Khaled")
        let maria = try Store.create(at: dir.file("m.strata"), author: "Maria")
        for i in 0..<3 {
            let id = khaled.newRecordID()
            try khaled.commit([.create(id, kind: .note), .set(id, field: "title", .text("Tower tomb \(i)"))])
        }
        try await withServer(team.backend) { url in
            let before = Scrape(try await rawRequestFull(url + "/metrics", method: .GET).text)
            #expect(before.value("strata_changes_received_total", ["result": "applied"]) == 0)
            #expect(before.text.contains("# TYPE strata_changes_sent_total counter"))

            let k = try await sync(khaled, url, token: team.tokens["Khaled"]!)
            let m = try await sync(maria, url, token: team.tokens["Maria"]!)
            #expect(k.pushed == 3 && m.pulled == 3)
            // The same three changes pushed again, raw: three duplicates, and a body of known size.
            let body = ChangeSetCodec.encode(try khaled.changes(missingFrom: VersionVector(), maxBytes: 1 << 20).changes)
            let again = try await rawRequestFull(
                url + "/v1/projects/palmyra/push", token: team.tokens["Khaled"]!, contentType: SyncCodec.changeSetMediaType,
                body: body)
            #expect(again.status == 200)
            // A wrong token and an unknown path are counted too.
            _ = try await rawRequestFull(url + "/v1/projects/palmyra/session", method: .GET, token: "stk_wrong")
            _ = try await rawRequestFull(url + "/v1/projects/palmyra/nothing", method: .GET, token: "stk_wrong")

            let scrape = try await rawRequestFull(url + "/metrics", method: .GET)
            #expect(scrape.status == 200)
            #expect(scrape.headers.first(name: "Content-Type") == ServerMetrics.mediaType)
            let s = Scrape(scrape.text)
            let requests = "strata_http_requests_total"
            #expect(s.value(requests, ["route": Self.session, "method": "GET", "status": "200"]) == 2)
            #expect(s.value(requests, ["route": Self.session, "status": "401"]) == 1)
            #expect(s.value(requests, ["route": "unmatched", "status": "404"]) == 1)
            // Khaled pulled once (nothing) and pushed once; Maria pulled once and pushed nothing.
            #expect(s.value(requests, ["route": Self.pull, "method": "POST", "status": "200"]) == 2)
            #expect(s.value(requests, ["route": Self.push, "method": "POST", "status": "200"]) == 2)
            #expect(s.value("strata_changes_received_total", ["result": "applied"]) == 3)
            #expect(s.value("strata_changes_received_total", ["result": "duplicate"]) == 3)
            #expect(s.value("strata_changes_sent_total") == 3)
            // Bytes in: the raw push's body is counted exactly; bytes out: every answer.
            #expect(s.value("strata_http_request_bytes_total", ["route": Self.push]) > Double(body.count))
            #expect(s.value("strata_http_response_bytes_total", ["route": Self.pull]) > 0)
            #expect(s.value("strata_http_request_duration_seconds_count", ["route": Self.push]) == 2)
            #expect(s.value("strata_http_request_duration_seconds_bucket", ["route": Self.push, "le": "+Inf"]) == 2)
            // Nothing is in flight once the answers are in (the scrape itself is).
            #expect(s.value("strata_http_requests_in_flight", ["route": Self.push]) == 0)
            #expect(s.value("strata_http_requests_in_flight", ["route": "/metrics"]) == 1)
            // Never a project name, a researcher or a token in a label.
            for needle in ["palmyra", "Khaled", "Maria", team.tokens["Khaled"]!, "stk_"] {
                #expect(!scrape.text.contains(needle), "\(needle) in the metrics")
            }

            // The raw push's bytes, exactly: one more push of the same body.
            let pushedBytes = s.value("strata_http_request_bytes_total", ["route": Self.push])
            _ = try await rawRequestFull(
                url + "/v1/projects/palmyra/push", token: team.tokens["Khaled"]!, contentType: SyncCodec.changeSetMediaType,
                body: body)
            let after = Scrape(try await rawRequestFull(url + "/metrics", method: .GET).text)
            #expect(after.value("strata_http_request_bytes_total", ["route": Self.push]) - pushedBytes == Double(body.count))
            #expect(after.value("strata_changes_received_total", ["result": "duplicate"]) == 6)
        }
    }

    /// `--log-format json`: one JSON object a line, one line per request, with method, route,
    /// status, duration, bytes and project; never a token, never record content.
    @Test func theJSONLogHasOneLinePerRequestAndNoTokenOrContent() async throws {
        let team = try Team(researchers: ["Khaled"])
        let token = team.tokens["Khaled"]!
        let log = JSONLines()
        let dir = try TemporaryDirectory()
        let khaled = try Store.create(at: dir.file("k.strata"), author: "Khaled")
        let secret = "Cache of funerary busts hidden under the eastern colonnade"
        let id = khaled.newRecordID()
        try khaled.commit([.create(id, kind: .note), .set(id, field: "title", .text(secret))])
        try await withServer(team.backend, logger: log.logger) { url in
            try await sync(khaled, url, token: token)
            _ = try? await sync(khaled, url, token: "stk_" + String(repeating: "wrong", count: 10))
        }
        let objects = try log.all.map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON object: \(line)")
        }
        let requests = objects.filter { $0["message"] as? String == "request" }
        // session, pull, push; then a session refused.
        #expect(requests.count == 4, "\(log.all)")
        #expect(requests.map { $0["route"] as? String } == [Self.session, Self.pull, Self.push, Self.session])
        #expect(requests.map { $0["status"] as? Int } == [200, 200, 200, 401])
        let push = try #require(requests.first { $0["route"] as? String == Self.push })
        #expect(push["method"] as? String == "POST")
        #expect(push["project"] as? String == "palmyra")
        #expect(push["changes_in"] as? Int == 1)
        #expect((push["bytes_in"] as? Int ?? 0) > 0 && (push["bytes_out"] as? Int ?? 0) > 0)
        #expect(push["ms"] is Double || push["ms"] is Int)
        #expect((push["time"] as? String)?.hasSuffix("Z") == true)
        #expect(requests.last?["error"] as? String == "unauthorized")
        for line in log.all {
            #expect(!line.contains(token) && !line.contains("stk_wrong"), "token in log: \(line)")
            #expect(!line.contains("colonnade"), "note text in log: \(line)")
        }
    }
}
