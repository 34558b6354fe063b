import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import StrataCodec
import StrataServer
import StrataStore
import StrataSync
import StrataSyncTesting
import StrataTestSupport
import Testing

@testable import StrataCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A deliberately slow client on a raw TCP socket.
final class RawSocket {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard r == 0 else { throw LinkError2("connect failed") }
        var tv = timeval(tv_sec: 15, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// Sends bytes; false when the server has closed the connection.
    func put(_ s: String) -> Bool {
        let bytes = Array(s.utf8)
        return bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }

    /// True when the server has answered or closed (something to read, or end of stream).
    func readable() -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, 0) > 0
    }

    /// Everything until the server closes (or 15 s of silence).
    func readToEnd() -> String {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }
}

struct LinkError2: Error { let m: String; init(_ m: String) { self.m = m } }

func port(of url: String) -> Int { Int(url.split(separator: ":").last!)! }

/// A log handler that keeps every line, metadata included.
final class CapturedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ s: String) { lock.withLock { lines.append(s) } }
    var all: [String] { lock.withLock { lines } }

    var logger: Logger {
        var l = Logger(label: "test.captured") { _ in CapturingHandler(sink: self) }
        l.logLevel = .trace
        return l
    }
}

struct CapturingHandler: LogHandler {
    let sink: CapturedLog
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(
        level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String,
        function: String, line: UInt
    ) {
        let all = self.metadata.merging(metadata ?? [:]) { $1 }
        sink.append("\(level) \(message) \(all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))")
    }
}

/// A raw request that also returns the response headers.
func rawRequestWithHeaders(_ url: String, token: String) async throws -> (status: Int, headers: HTTPHeaders, json: [String: Any]) {
    let client = HTTPClient(eventLoopGroupProvider: .singleton)
    var req = HTTPClientRequest(url: url)
    req.headers.add(name: "Authorization", value: "Bearer \(token)")
    do {
        let resp = try await client.execute(req, timeout: .seconds(30))
        let data = try await resp.body.collect(upTo: 1 << 20)
        try await client.shutdown()
        let json = (try? JSONSerialization.jsonObject(with: Data(data.readableBytesView))) as? [String: Any] ?? [:]
        return (Int(resp.status.code), resp.headers, json)
    } catch {
        try? await client.shutdown()
        throw error
    }
}

final class Notices: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func add(_ s: String) { lock.withLock { items.append(s) } }
    var all: [String] { lock.withLock { items } }
}

@Suite(.serialized) struct HardeningTests {
    /// A client that sends its body one byte at a time is answered 408 and cut off; nothing
    /// of its request is applied, and the server goes on serving others.
    @Test func aSlowBodyGets408AndTheConnectionIsClosed() async throws {
        let team = try Team(researchers: ["Khaled"])
        var limits = ServerLimits()
        limits.requestTimeoutSeconds = 1
        let token = team.tokens["Khaled"]!
        try await withServer(team.backend, limits: limits) { url in
            let s = try RawSocket(port: port(of: url))
            #expect(
                s.put(
                    "POST /v1/projects/palmyra/push HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n"
                        + "Content-Type: \(SyncCodec.changeSetMediaType)\r\nContent-Length: 1000\r\n\r\n"))
            var sent = 0
            // One byte every 0.2 s would take 200 s; the server must stop it long before.
            for _ in 0..<100 {
                if s.readable() { break }
                if !s.put("x") { break }
                sent += 1
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(sent < 1000)
            let answer = s.readToEnd()
            #expect(answer.hasPrefix("HTTP/1.1 408"), "\(answer)")
            #expect(answer.lowercased().contains("connection: close"))
            #expect(answer.contains(#""code":"request-timeout""#))
            #expect(answer.components(separatedBy: "HTTP/1.1").count == 2, "one response only: \(answer)")
            // The server is fine and applied nothing.
            let dir = try TemporaryDirectory()
            let khaled = try Store.create(at: dir.file("k.strata"), author: "Khaled")
            try addNotes(khaled, 2)
            let r = try await sync(khaled, url, token: token)
            #expect(r.pushed == 2)
            #expect(try team.backend.store(for: "palmyra")!.status().changes == 2)
        }
    }

    /// Headers sent one byte at a time, or no request at all: the connection is closed.
    @Test func slowHeadersAndSilentConnectionsAreClosed() async throws {
        let team = try Team(researchers: ["Khaled"])
        var limits = ServerLimits()
        limits.requestTimeoutSeconds = 1
        try await withServer(team.backend, limits: limits) { url in
            let slow = try RawSocket(port: port(of: url))
            let silent = try RawSocket(port: port(of: url))
            let header = Array("GET /v1/projects/palmyra/session HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: \(String(repeating: "a", count: 200))\r\n\r\n")
            var sent = 0
            var closed = false
            for c in header {
                if slow.readable() {
                    closed = true
                    break
                }
                if !slow.put(String(c)) {
                    closed = true
                    break
                }
                sent += 1
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(closed && sent < header.count)
            #expect(slow.readToEnd() == "")
            #expect(silent.readToEnd() == "")
        }
    }

    /// Over the limit, a token gets 429 with Retry-After and the JSON error body; other
    /// tokens are not affected.
    @Test func aTokenOverItsRateLimitGets429WithRetryAfter() async throws {
        let team = try Team(researchers: ["Khaled", "Maria"])
        var limits = ServerLimits()
        limits.rateLimit = RateLimit(perSecond: 0.01, burst: 2)
        let tokens = team.tokens
        try await withServer(team.backend, limits: limits) { url in
            let session = url + "/v1/projects/palmyra/session"
            #expect(try await rawRequestWithHeaders(session, token: tokens["Khaled"]!).status == 200)
            #expect(try await rawRequestWithHeaders(session, token: tokens["Khaled"]!).status == 200)
            let r = try await rawRequestWithHeaders(session, token: tokens["Khaled"]!)
            #expect(r.status == 429)
            let wait = Int(r.headers.first(name: "Retry-After") ?? "")
            #expect(wait != nil && wait! >= 1 && wait! <= 100)
            let err = r.json["error"] as? [String: Any]
            #expect(err?["code"] as? String == "rate-limited")
            #expect((err?["message"] as? String)?.contains("wait") == true)
            #expect(try await rawRequestWithHeaders(session, token: tokens["Maria"]!).status == 200)

            // A sync refused for longer than the client waits says when to try again.
            let dir = try TemporaryDirectory()
            let khaled = try Store.create(at: dir.file("k.strata"), author: "Khaled")
            let e = await #expect(throws: SyncClientError.self) { try await sync(khaled, url, token: tokens["Khaled"]!) }
            #expect(e?.status == 429)
            #expect(e?.description.contains("try again in") == true, "\(e?.description ?? "")")
        }
    }

    /// The client waits out a short Retry-After (up to three times per request: two pipelined
    /// pushes share the bucket), says so, and completes.
    @Test func theClientHonoursRetryAfterAndCompletes() async throws {
        let team = try Team(researchers: ["Khaled"])
        var limits = ServerLimits()
        limits.rateLimit = RateLimit(perSecond: 2, burst: 3)
        let token = team.tokens["Khaled"]!
        try await withServer(team.backend, limits: limits) { url in
            let dir = try TemporaryDirectory()
            let khaled = try Store.create(at: dir.file("k.strata"), author: "Khaled")
            for i in 0..<8 {
                let id = khaled.newRecordID()
                try khaled.commit([.create(id, kind: .note), .set(id, field: "body", .text(String(repeating: "Bel \(i) ", count: 80)))])
            }
            let notices = Notices()
            let t = HTTPTransport(baseURL: url, project: "palmyra", token: token, notice: { notices.add($0) })
            var client = SyncClient(store: khaled, transport: t)
            client.maxBatchBytes = 800
            let report: SyncReport
            do {
                report = try await client.sync()
                await t.close()
            } catch {
                await t.close()
                throw error
            }
            #expect(report.pushed == 8 && report.pushBatches >= 4)
            #expect(!notices.all.isEmpty)
            #expect(notices.all.allSatisfy { $0.contains("rate limit") && $0.contains("retrying in") })
            #expect(try team.backend.store(for: "palmyra")!.status().changes == 8)
        }
    }

    /// The server's log, at its most verbose, never holds a token or a note's text.
    @Test func theServerLogNeverHoldsTokensOrNoteText() async throws {
        let team = try Team(researchers: ["Khaled"])
        let token = team.tokens["Khaled"]!
        let log = CapturedLog()
        let dir = try TemporaryDirectory()
        let khaled = try Store.create(at: dir.file("k.strata"), author: "Khaled")
        let secret = "Cache of funerary busts hidden under the eastern colonnade"
        let id = khaled.newRecordID()
        try khaled.commit([.create(id, kind: .note), .set(id, field: "title", .text(secret))])
        try await withServer(team.backend, logger: log.logger) { url in
            try await sync(khaled, url, token: token)
            _ = try? await sync(khaled, url, token: "stk_" + String(repeating: "wrong", count: 10))
            _ = try await rawRequest(url + "/v1/projects/palmyra/push", token: token, contentType: "text/plain", body: Array(secret.utf8))
        }
        let lines = log.all
        #expect(lines.contains { $0.contains("status=200") }, "the log captured nothing: \(lines)")
        #expect(lines.contains { $0.contains("status=401") })
        for line in lines {
            #expect(!line.contains(token), "token in log: \(line)")
            #expect(!line.contains("stk_wrong"), "token in log: \(line)")
            #expect(!line.contains("colonnade"), "note text in log: \(line)")
        }
    }

    /// Tokens are kept only as SHA-256 digests: the clear token is nowhere in the server's files.
    @Test func tokensAreStoredHashed() async throws {
        let team = try Team(researchers: ["Khaled"])
        let token = team.tokens["Khaled"]!
        #expect(try await team.backend.authenticate(token)?.researcher == "Khaled")
        var files: [String] = []
        let e = FileManager.default.enumerator(atPath: team.dir.path)
        while let f = e?.nextObject() as? String { files.append(team.dir.path + "/" + f) }
        var scanned = 0
        for f in files {
            guard let data = FileManager.default.contents(atPath: f) else { continue }
            scanned += data.count
            #expect(data.range(of: Data(token.utf8)) == nil, "\(f) holds the clear token")
            #expect(data.range(of: Data(token.dropFirst(4).prefix(20).utf8)) == nil, "\(f) holds part of the token")
        }
        #expect(scanned > 0)
        // A peer token is compared in constant time on its digest; near misses are refused.
        let peerDir = try TemporaryDirectory()
        let replica = try Store.create(at: peerDir.file("p.strata"), author: "Maria")
        let peerToken = PeerStorage.newToken()
        let peer = try PeerStorage(replica: replica, token: peerToken)
        #expect(try await peer.authenticate(peerToken) != nil)
        var nearMiss = Array(peerToken)
        nearMiss[nearMiss.count - 1] = nearMiss.last == "a" ? "b" : "a"
        #expect(try await peer.authenticate(String(nearMiss)) == nil)
        #expect(try await peer.authenticate("") == nil)
    }
}
