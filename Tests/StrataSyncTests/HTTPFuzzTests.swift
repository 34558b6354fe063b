import Foundation
import StrataCodec
import StrataCore
import StrataServer
import StrataStore
import StrataSyncTesting
import StrataTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Seeded mutation fuzzing of the HTTP endpoints over real loopback HTTP: valid requests
/// (health, session, pull, push) with their method, path, headers and body mutated, written
/// byte for byte on a socket. Every answer must be a well-formed success or a JSON error
/// `{"error":{"code","message"}}` with a 4xx status (never a 5xx, never a token echoed), the
/// server must keep serving, and the project's store must still pass `check()`.
/// STRATA_HTTP_FUZZ_ITERATIONS raises the number of requests (default 300), STRATA_HTTP_FUZZ_SEED
/// changes the seed.
@Suite(.serialized) struct HTTPFuzzTests {
    static let iterations = ProcessEnvironment.int("STRATA_HTTP_FUZZ_ITERATIONS", default: 300)
    static let seed = UInt64(ProcessEnvironment.int("STRATA_HTTP_FUZZ_SEED", default: 0x4E77))

    static let methods: Set<String> = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"]

    /// A request as bytes on the wire.
    struct Wire {
        var method = "GET"
        var path = "/v1/health"
        var headers: [(String, String)] = []
        var body: [UInt8] = []
        var contentLength = true

        var bytes: [UInt8] {
            var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            for (k, v) in headers { head += "\(k): \(v)\r\n" }
            if contentLength { head += "Content-Length: \(body.count)\r\n" }
            return Array((head + "\r\n").utf8) + body
        }
    }

    @Test func mutatedRequestsGetWellFormedAnswersAndTheServerSurvives() async throws {
        var team = try Team(researchers: ["Khaled", "Maria"])
        try team.backend.addProject("other")
        team.tokens["reader"] = try team.backend.tokens.createToken(project: "palmyra", researcher: "Reader", role: .read).token
        team.tokens["other"] = try team.backend.tokens.createToken(project: "other", researcher: "Khaled", role: .write).token
        let dir = try TemporaryDirectory()
        let khaled = try Store.create(at: dir.file("k.strata"), author: "Khaled")
        for i in 0..<5 {
            let id = khaled.newRecordID()
            try khaled.commit([
                .create(id, kind: .note), .set(id, field: "title", .text("Survey \(i)")),
                .set(id, field: "body", .text("Column \(i) of the colonnade.")), .add(id, field: "tags", element: "roman"),
            ])
        }
        let maria = try Store.create(at: dir.file("m.strata"), author: "Maria")
        let tokens = team.tokens
        var limits = ServerLimits()
        limits.maxBodyBytes = 64 << 10
        let backend = team.backend
        let pushBody = ChangeSetCodec.encode(try khaled.changes(missingFrom: VersionVector()))
        let pullBody = SyncCodec.encode(PullRequest(replica: maria.replicaID, version: VersionVector(), maxBatchBytes: 300))
        let invalid = Self.invalidVectors()

        try await withServer(backend, limits: limits) { url in
            let port = Int(url.split(separator: ":").last!)!
            var rng = SeededRandom(seed: Self.seed)
            var statuses: [Int: Int] = [:]
            let deadline = Date().addingTimeInterval(120)
            var sent = 0
            for i in 0..<Self.iterations where Date() < deadline {
                var w = Self.base(i % 4, tokens: tokens, push: pushBody, pull: pullBody)
                for _ in 0..<Int.random(in: 1...3, using: &rng) {
                    Self.mutate(&w, tokens: tokens, invalid: invalid, push: pushBody, pull: pullBody, rng: &rng)
                }
                // Not HTTP the router can see (a method or request target the HTTP parser refuses):
                // a bare 400 or a closed connection is a fine answer.
                let parsable = Self.methods.contains(w.method) && (w.path.hasPrefix("/") || w.path.hasPrefix("http://")) && !w.path.contains(" ")
                    && w.path.unicodeScalars.allSatisfy { $0.isASCII && $0.value > 0x20 }
                let answer = try Self.exchange(port: port, w.bytes)
                sent += 1
                guard parsable else {
                    if let r = answer { #expect(r.status == 400 || r.status == 404, "request \(i): \(w.method) \(w.path) -> \(r.status)") }
                    continue
                }
                let r = try #require(answer, "no answer to request \(i): \(w.method) \(w.path)")
                statuses[r.status, default: 0] += 1
                Self.checkAnswer(r, to: w, tokens: tokens, request: i)
            }
            #expect(sent >= min(Self.iterations, 50))
            // Bytes mutated anywhere in the head: the server may answer or close, never crash.
            for i in 0..<24 where Date() < deadline {
                var bytes = Self.base(i % 4, tokens: tokens, push: pushBody, pull: pullBody).bytes
                let headEnd = Self.headEnd(bytes)
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    let k = Int.random(in: 0..<headEnd, using: &rng)
                    bytes[k] = [0x00, 0x0A, 0x0D, 0x20, 0x3A, 0x7F, 0xFF, UInt8.random(in: 0...255, using: &rng)][
                        Int.random(in: 0..<8, using: &rng)]
                }
                if let r = try Self.exchange(port: port, bytes, timeout: 2) {
                    #expect(r.status < 500, "head mutation \(i): status \(r.status)")
                }
            }
            print("HTTP fuzz: \(sent) mutated requests, statuses \(statuses.sorted { $0.key < $1.key })")
            // Still serving, and the replica is intact.
            let health = try #require(try Self.exchange(port: port, Wire().bytes))
            #expect(health.status == 200)
            let store = try #require(try backend.store(for: "palmyra"))
            #expect(try store.check() == [])
            // The mutations reached both the refusals and the successes.
            #expect((statuses[200] ?? 0) > 0 && statuses.count >= 5, "\(statuses)")
            try await sync(maria, url, token: tokens["Maria"]!)
            #expect(try maria.versionVector() == (try store.versionVector()))
            #expect(try maria.check() == [])
        }
    }

    // MARK: - requests

    static func base(_ kind: Int, tokens: [String: String], push: [UInt8], pull: [UInt8]) -> Wire {
        let auth = [("Authorization", "Bearer \(tokens["Khaled"]!)")]
        switch kind {
        case 0: return Wire()
        case 1: return Wire(path: "/v1/projects/palmyra/session", headers: auth)
        case 2:
            return Wire(
                method: "POST", path: "/v1/projects/palmyra/pull",
                headers: auth + [("Content-Type", SyncCodec.pullRequestMediaType)], body: pull)
        default:
            return Wire(
                method: "POST", path: "/v1/projects/palmyra/push",
                headers: auth + [("Content-Type", SyncCodec.changeSetMediaType)], body: push)
        }
    }

    static func mutate(
        _ w: inout Wire, tokens: [String: String], invalid: [[UInt8]], push: [UInt8], pull: [UInt8],
        rng: inout SeededRandom
    ) {
        let token = tokens["Khaled"]!
        switch Int.random(in: 0..<10, using: &rng) {
        case 0:
            w.method = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FOO", "get", "post"].randomElement(using: &rng)!
        case 1, 2:
            let paths = [
                "/v1/projects/palmyra/push", "/v1/projects/palmyra/pull", "/v1/projects/palmyra/session", "/v1/health",
                "/v1/projects/other/push", "/v1/projects/nowhere/pull", "/v1/projects//push", "/v1/projects/palmyra",
                "/v1/projects/palmyra/push/extra", "/v2/projects/palmyra/push", "/v0/health", "/", "", "*",
                "/v1/projects/%70almyra/session", "/v1/projects/../projects/palmyra/session", "/v1/projects/palmyra/session?x=1&y",
                "/v1/projects/PALMYRA/pull", "/v1/projects/palmyra%00/push", "/v1/projects/\(String(repeating: "p", count: 3000))/pull",
                "/v1/health#frag", "//v1//health", "/v1/projects/palmyra/%2e%2e/session", "/v1/projects/pal%ZZmyra/push",
                "http://127.0.0.1/v1/health", "/v1/projects/p%C3%A1lmyra/session", "/v1/projects/palmyra/session/",
            ]
            if rng.chance(0.5) {
                w.path = paths.randomElement(using: &rng)!
            } else if !w.path.isEmpty {
                var chars = Array(w.path)
                let k = Int.random(in: 0..<chars.count, using: &rng)
                let alphabet = Array("/.%~-_:?#&=+;@!$'()*,aAzZ09\u{E9}")
                chars[k] = alphabet.randomElement(using: &rng)!
                w.path = String(chars)
            }
        case 3, 4:
            let auths = [
                nil, "Bearer", "Bearer ", "Bearer  \(token)", "bearer \(token)", "BEARER \(token)", "Basic \(token)",
                "Bearer \(token.dropLast())", "Bearer \(token)x", "Bearer \(String(token.reversed()))",
                "Bearer \(tokens["other"]!)", "Bearer \(tokens["reader"]!)", "Bearer \(tokens["Maria"]!)",
                "Bearer stk_", "Bearer \(String(repeating: "a", count: 6000))", "Bearer \(token) \(token)", "Token \(token)",
                "Bearer \(token.uppercased())", "Bearer \u{E9}t\u{E9}",
            ]
            w.headers.removeAll { $0.0 == "Authorization" }
            if let a = auths.randomElement(using: &rng)! { w.headers.append(("Authorization", a)) }
            if rng.chance(0.1) { w.headers.append(("Authorization", "Bearer \(tokens["Maria"]!)")) }
        case 5:
            let types = [
                nil, "", "application/json", SyncCodec.changeSetMediaType, SyncCodec.pullRequestMediaType,
                SyncCodec.pullResponseMediaType, SyncCodec.changeSetMediaType.uppercased(), "\(SyncCodec.changeSetMediaType); charset=utf-8",
                " \(SyncCodec.pullRequestMediaType) ;x=y", "application/vnd.strata.changeset+zip", ";", "text/plain; \(SyncCodec.changeSetMediaType)",
            ]
            w.headers.removeAll { $0.0 == "Content-Type" }
            if let t = types.randomElement(using: &rng)! { w.headers.append(("Content-Type", t)) }
        case 6:
            let extra: [(String, String)] = [
                ("Content-Encoding", "deflate"), ("Content-Encoding", "gzip"), ("Accept-Encoding", "deflate, gzip"),
                ("X-Strata", String(repeating: "x", count: 4000)), ("Accept", "application/json"), ("Cookie", "a=b"),
                ("Content-Type", SyncCodec.changeSetMediaType), ("Range", "bytes=0-1"), ("Origin", "http://example.invalid"),
            ]
            w.headers.append(extra.randomElement(using: &rng)!)
        default:
            switch Int.random(in: 0..<6, using: &rng) {
            case 0: w.body = []
            case 1: w.body = invalid.randomElement(using: &rng)!
            case 2: w.body = rng.chance(0.5) ? push : pull
            case 3: w.body = (0..<Int.random(in: 1...512, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            case 4: w.body = Array(w.body.prefix(Int.random(in: 0...max(0, w.body.count), using: &rng)))
            default: w.body = mutateBytes(w.body, &rng)
            }
        }
    }

    static func mutateBytes(_ input: [UInt8], _ rng: inout SeededRandom) -> [UInt8] {
        var b = input
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            if b.isEmpty { b.append(UInt8.random(in: 0...255, using: &rng)) }
            let i = Int.random(in: 0..<b.count, using: &rng)
            switch Int.random(in: 0..<5, using: &rng) {
            case 0: b[i] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
            case 1: b[i] = UInt8.random(in: 0...255, using: &rng)
            case 2: b.insert(UInt8.random(in: 0...255, using: &rng), at: i)
            case 3: b.remove(at: i)
            default: b[i] = [0x00, 0x7F, 0x80, 0xFF][Int.random(in: 0..<4, using: &rng)]
            }
        }
        return b
    }

    static func invalidVectors() -> [[UInt8]] {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Protocol/vectors/invalid")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.sorted().compactMap { n in
            // The 64 MiB bombs are tried by BadInputTests; keep the mutated ones small.
            guard let d = FileManager.default.contents(atPath: dir.appendingPathComponent(n).path), d.count < 16 << 10 else {
                return nil
            }
            return [UInt8](d)
        }
    }

    // MARK: - answers

    struct Answer {
        var status: Int
        var headers: [String: String]
        var body: [UInt8]
    }

    static func checkAnswer(_ r: Answer, to w: Wire, tokens: [String: String], request i: Int) {
        let what = "request \(i): \(w.method) \(w.path.prefix(80)) -> \(r.status)"
        #expect([200, 400, 401, 403, 404, 405, 413, 415, 422].contains(r.status), "\(what)")
        let text = String(decoding: r.body, as: UTF8.self)
        for t in tokens.values { #expect(!text.contains(t), "\(what): a token in the answer") }
        if r.status == 200 && r.headers["content-type"] == SyncCodec.pullResponseMediaType {
            #expect(w.path.hasSuffix("/pull"), "\(what)")
            #expect((try? SyncCodec.decodePullResponse(r.body)) != nil, "\(what): a pull response that does not decode")
            return
        }
        #expect(r.headers["content-type"]?.hasPrefix("application/json") == true, "\(what): content type \(r.headers["content-type"] ?? "none")")
        let json = (try? JSONSerialization.jsonObject(with: Data(r.body))) as? [String: Any]
        #expect(json != nil, "\(what): not a JSON object: \(text.prefix(200))")
        if r.status == 200 { return }
        let err = json?["error"] as? [String: Any]
        #expect((err?["code"] as? String)?.isEmpty == false, "\(what): no error code: \(text.prefix(200))")
        let message = err?["message"] as? String ?? ""
        #expect(!message.isEmpty && !message.contains("\n"), "\(what): message \(message)")
    }

    static func headEnd(_ bytes: [UInt8]) -> Int {
        for i in 0..<(bytes.count - 3) where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
            return i
        }
        return bytes.count
    }

    /// Writes `request` on a new connection to 127.0.0.1:`port` and reads until the server
    /// closes (every request says `Connection: close`) or `timeout` seconds pass. Nil when
    /// nothing parseable came back.
    static func exchange(port: Int, _ request: [UInt8], timeout: Int = 30) throws -> Answer? {
        // Other suites' subprocesses send this process SIGCHLD: an interrupted call is retried.
        var fd: Int32 = -1
        for attempt in 0..<5 {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw POSIXError(.EMFILE) }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            if rc == 0 { break }
            close(fd)
            fd = -1
            if errno != EINTR || attempt == 4 { throw POSIXError(.ECONNREFUSED) }
        }
        defer { close(fd) }
        var tv = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let started = Date()
        var sentBytes = 0
        while sentBytes < request.count && Date().timeIntervalSince(started) < Double(timeout) {
            let n = request[sentBytes...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }  // the server may close early (a refused body): read what it said
            sentBytes += n
        }
        var response: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 64 << 10)
        while response.count < 4 << 20 && Date().timeIntervalSince(started) < Double(timeout) {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            response += buf[0..<n]
            if let a = parse(response), a.body.count >= (Int(a.headers["content-length"] ?? "") ?? Int.max) { break }
        }
        return parse(response)
    }

    /// Parses one HTTP/1.1 response (fixed length or read to the end).
    static func parse(_ bytes: [UInt8]) -> Answer? {
        guard bytes.count >= 4 else { return nil }
        let end = headEnd(bytes)
        guard end < bytes.count else { return nil }
        let head = String(decoding: bytes[0..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let statusLine = head[0].split(separator: " ")
        guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/1."), let status = Int(statusLine[1]) else { return nil }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let c = line.firstIndex(of: ":") else { continue }
            headers[line[..<c].lowercased()] = line[line.index(after: c)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Array(bytes[(end + 4)...])
        if let n = Int(headers["content-length"] ?? ""), body.count > n { body = Array(body.prefix(n)) }
        return Answer(status: status, headers: headers, body: body)
    }
}
