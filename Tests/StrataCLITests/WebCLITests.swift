import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A whole HTTP/1.1 exchange with 127.0.0.1 over a POSIX socket: the response's head and body.
func httpExchange(port: Int, _ request: String) -> (head: String, body: String)? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { return nil }
    guard request.withCString({ send(fd, $0, strlen($0), 0) }) > 0 else { return nil }
    var data = [UInt8]()
    var buffer = [UInt8](repeating: 0, count: 65536)
    for _ in 0..<1000 {
        let n = recv(fd, &buffer, buffer.count, 0)
        if n <= 0 { break }
        data += buffer[0..<n]
    }
    let text = String(decoding: data, as: UTF8.self)
    guard let split = text.range(of: "\r\n\r\n") else { return nil }
    return (String(text[..<split.lowerBound]), String(text[split.upperBound...]))
}

/// The sockets listening on `port` (IPv4 and IPv6), as `/proc/net/tcp*` gives their local
/// addresses in hex (`0100007F` is 127.0.0.1).
func listeningAddresses(port: Int) -> [String] {
    let hexPort = String(format: "%04X", port)
    var out: [String] = []
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { continue }
        for line in text.split(separator: "\n").dropFirst() {
            let cols = line.split(separator: " ")
            guard cols.count > 3, cols[3] == "0A" else { continue }  // 0A: LISTEN
            let local = cols[1].split(separator: ":")
            if local.count == 2, local[1] == hexPort { out.append(String(local[0])) }
        }
    }
    return out
}

@Suite("strata web and the team server's pages", .serialized)
struct WebCLITests {
    @Test func strataWebBindsLoopbackOnlyAndPrintsTheAddressToOpen() async throws {
        let s = try Sandbox()
        try s.initStore()
        let id = try s.ok("add", "site", "Roman theatre", "--set", "condition=poor")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: strataBinary)
        process.arguments = ["web", "--port", "0", "--leaflet-dir", s.path("no-leaflet")]
        var env = ProcessInfo.processInfo.environment
        env["STRATA_STORE"] = s.store
        process.environment = env
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            if process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
        }
        // The first line names the address (at most 20 s).
        let line: String? = try await offPool {
            var got = [UInt8]()
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline, !got.contains(10) {
                let d = out.fileHandleForReading.availableData
                if d.isEmpty { break }
                got += d
            }
            return String(decoding: got, as: UTF8.self)
        }
        let text = try #require(line)
        let r = try #require(text.range(of: "open http://127.0.0.1:"), "strata web printed: \(text)")
        let port = try #require(Int(text[r.upperBound...].prefix { $0.isNumber }))
        #expect(text.contains("/web/p/local/"))
        let addresses = listeningAddresses(port: port)
        #expect(addresses == ["0100007F"], "strata web listens on \(addresses)")
        let page = try #require(httpExchange(port: port, "GET /web/p/local/records?kind=site HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"))
        #expect(page.head.hasPrefix("HTTP/1.1 200"))
        #expect(page.body.contains("Roman theatre"))
        #expect(!id.isEmpty)
        let map = try #require(httpExchange(port: port, "GET /web/p/local/map HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"))
        #expect(map.body.contains("apt-get install libjs-leaflet"))
    }

    @Test func aTokenGoesInNoAddressAndNoLogLineOfTheTeamServer() async throws {
        let s = try Sandbox()
        let data = s.path("server")
        try s.ok("server", "project", "add", "palmyra", "--data", data)
        let token = try s.ok("server", "token", "create", "--project", "palmyra", "--researcher", "Registrar", "--role", "read", "--data", data)
        let cwd = s.dir
        let server = try await offPool {
            try ServerProcess(["serve", "--data", data, "--port", "0", "--log-format", "json", "--log-level", "trace"], env: [:], cwd: cwd)
        }
        defer { _ = server.stop() }
        let body = "project=palmyra&token=\(token)"
        let signIn = try #require(
            httpExchange(
                port: server.port,
                "POST /web/signin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
            ))
        #expect(signIn.head.hasPrefix("HTTP/1.1 303"))
        let cookieLine = try #require(signIn.head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("set-cookie:") })
        let cookie = String(cookieLine.dropFirst("set-cookie:".count).trimmingCharacters(in: .whitespaces).prefix { $0 != ";" })
        #expect(!signIn.head.contains(token))
        let page = try #require(
            httpExchange(port: server.port, "GET /web/p/palmyra HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: \(cookie)\r\nConnection: close\r\n\r\n"))
        #expect(page.head.hasPrefix("HTTP/1.1 200"))
        #expect(!page.body.contains(token))
        let bad = try #require(
            httpExchange(
                port: server.port,
                "POST /web/signin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 28\r\nConnection: close\r\n\r\nproject=palmyra&token=stk_no"))
        #expect(bad.head.hasPrefix("HTTP/1.1 401"))
        let log = server.log
        #expect(log.contains("/web/signin"))
        #expect(log.contains("/web/p/palmyra"))
        #expect(!log.contains(token))
        #expect(!log.contains("stk_no"))
        #expect(!log.contains(cookie.dropFirst("strata_session=".count)))
    }
}
