import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Headless Chromium driven through its DevTools protocol over a pipe
/// (`--remote-debugging-pipe`: the browser reads commands on fd 3 and writes answers and events
/// on fd 4, each message a JSON object ended by a NUL byte). No WebSocket, no port, nothing but
/// the child process: the browser tests load Strata's pages as a person's browser does, with
/// cookies, CSP and scripts, and read back what is on the screen.
///
/// One reader thread parses what the browser writes; a command waits for its answer with a
/// deadline, so a hung browser fails a test with a message instead of hanging the suite.
public final class Chromium: @unchecked Sendable {
    /// Why a browser test cannot run, said in one line.
    public struct Unavailable: Error, CustomStringConvertible {
        public let description: String
    }

    /// A DevTools command the browser refused, or one that did not answer in time.
    public struct ProtocolError: Error, CustomStringConvertible {
        public let description: String
    }

    /// The browser's executable: `$STRATA_CHROMIUM`, else `chromium` or `chromium-browser` on PATH.
    public static func executable() -> String? {
        let env = ProcessInfo.processInfo.environment
        if let given = env["STRATA_CHROMIUM"], !given.isEmpty {
            return FileManager.default.isExecutableFile(atPath: given) ? given : nil
        }
        let path = env["PATH"] ?? "/usr/bin:/bin"
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            for dir in path.split(separator: ":") {
                let candidate = "\(dir)/\(name)"
                if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            }
        }
        return nil
    }

    /// Browser tests run when a browser is found, and always in CI (`CI=true`), where a missing
    /// browser fails them instead of skipping them. Elsewhere its absence is said in one line.
    public static var available: Bool {
        if executable() != nil || ProcessInfo.processInfo.environment["CI"] == "true" { return true }
        _ = announceMissing
        return false
    }

    static let announceMissing: Void = {
        print("browser tests not run: no chromium on PATH (apt-get install chromium, or set STRATA_CHROMIUM)")
    }()

    private let pid: pid_t
    private let commandFD: Int32
    private let eventFD: Int32
    private let profile: URL
    private let lock = NSLock()
    private let answered = NSCondition()
    private var nextID = 1
    private var answers: [Int: [String: Any]] = [:]
    private var events: [(method: String, sessionID: String?, params: [String: Any])] = []
    private var readerDone = false
    private var closed = false

    /// Starts a headless browser with a throwaway profile.
    public init(windowWidth: Int = 1280, windowHeight: Int = 900) throws {
        guard let executable = Chromium.executable() else {
            throw Unavailable(description: "no chromium on PATH (apt-get install chromium, or set STRATA_CHROMIUM)")
        }
        profile = FileManager.default.temporaryDirectory
            .appendingPathComponent("strata-chromium-\(UUID().uuidString.prefix(8))", isDirectory: true)
        try FileManager.default.createDirectory(at: profile, withIntermediateDirectories: true)

        var toBrowser: [Int32] = [0, 0]
        var fromBrowser: [Int32] = [0, 0]
        // Close-on-exec, so the browser inherits only fds 3 and 4 (posix_spawn's dup2 clears it
        // on those) and no other test's pipe stays open in it.
        guard pipe(&toBrowser) == 0, pipe(&fromBrowser) == 0,
              (toBrowser + fromBrowser).allSatisfy({ fcntl($0, F_SETFD, FD_CLOEXEC) == 0 }) else {
            throw Unavailable(description: "cannot make pipes for chromium: \(String(cString: strerror(errno)))")
        }
        var arguments = [
            executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--remote-debugging-pipe", "--user-data-dir=\(profile.path)",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions",
            "--disable-background-networking", "--disable-sync", "--disable-component-update",
            "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
            "--window-size=\(windowWidth),\(windowHeight)", "about:blank",
        ]
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toBrowser[0], 3)
        posix_spawn_file_actions_adddup2(&actions, fromBrowser[1], 4)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        let log = profile.appendingPathComponent("chromium.log").path
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var child: pid_t = 0
        let status = posix_spawn(&child, executable, &actions, nil, &argv, environ)
        close(toBrowser[0])
        close(fromBrowser[1])
        guard status == 0 else {
            close(toBrowser[1])
            close(fromBrowser[0])
            throw Unavailable(description: "cannot start \(executable): \(String(cString: strerror(status)))")
        }
        arguments.removeAll()
        pid = child
        commandFD = toBrowser[1]
        eventFD = fromBrowser[0]
        let reader = Thread { [unowned self] in self.readLoop() }
        reader.name = "chromium-devtools"
        reader.start()
    }

    deinit { shutDown() }

    /// Closes the browser and removes its profile.
    public func shutDown() {
        lock.lock()
        if closed { lock.unlock(); return }
        closed = true
        lock.unlock()
        close(commandFD)
        kill(pid, SIGTERM)
        var status: Int32 = 0
        // Bounded: a browser that ignores SIGTERM for 3 s is killed.
        var exited = false
        for _ in 0..<30 where !exited {
            if waitpid(pid, &status, WNOHANG) == pid { exited = true } else { usleep(100_000) }
        }
        if !exited {
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
        }
        try? FileManager.default.removeItem(at: profile)
    }

    /// The browser's own log (what it printed), for a failing test's message.
    public func browserLog() -> String {
        (try? String(contentsOf: profile.appendingPathComponent("chromium.log"), encoding: .utf8)) ?? ""
    }

    private func readLoop() {
        var pending = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(eventFD, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            pending.append(contentsOf: buffer[0..<n])
            while let end = pending.firstIndex(of: 0) {
                let message = Data(pending[..<end])
                pending.removeSubrange(...end)
                deliver(message)
            }
        }
        close(eventFD)
        answered.lock()
        readerDone = true
        answered.broadcast()
        answered.unlock()
    }

    private func deliver(_ message: Data) {
        guard let object = (try? JSONSerialization.jsonObject(with: message)) as? [String: Any] else { return }
        answered.lock()
        if let id = object["id"] as? Int {
            answers[id] = object
        } else if let method = object["method"] as? String {
            events.append((method, object["sessionId"] as? String, object["params"] as? [String: Any] ?? [:]))
        }
        answered.broadcast()
        answered.unlock()
    }

    /// Sends one DevTools command and waits for its answer (at most `timeout` seconds).
    @discardableResult
    public func send(_ method: String, _ params: [String: Any] = [:], session: String? = nil,
                     timeout: TimeInterval = 20) throws -> [String: Any] {
        answered.lock()
        let id = nextID
        nextID += 1
        answered.unlock()
        var message: [String: Any] = ["id": id, "method": method, "params": params]
        if let session { message["sessionId"] = session }
        var bytes = [UInt8](try JSONSerialization.data(withJSONObject: message))
        bytes.append(0)
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { write(commandFD, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw ProtocolError(description: "\(method): the browser is gone (\(String(cString: strerror(errno))))") }
            written += n
        }
        let deadline = Date().addingTimeInterval(timeout)
        answered.lock()
        defer { answered.unlock() }
        while answers[id] == nil {
            if readerDone { throw ProtocolError(description: "\(method): the browser exited; its log:\n\(browserLog().suffix(2000))") }
            if !answered.wait(until: deadline) {
                throw ProtocolError(description: "\(method): no answer from the browser in \(Int(timeout)) s")
            }
        }
        let answer = answers.removeValue(forKey: id)!
        if let error = answer["error"] as? [String: Any] {
            throw ProtocolError(description: "\(method): \(error["message"] as? String ?? "\(error)")")
        }
        return answer["result"] as? [String: Any] ?? [:]
    }

    /// Waits for an event (`method`, in `session`) that `matching` accepts; returns its params.
    /// Events already received count, so an event that came before the wait is not missed.
    @discardableResult
    public func waitForEvent(_ method: String, session: String?, timeout: TimeInterval = 20,
                             matching: ([String: Any]) -> Bool = { _ in true }) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(timeout)
        answered.lock()
        defer { answered.unlock() }
        while true {
            if let index = events.firstIndex(where: { $0.method == method && $0.sessionID == session && matching($0.params) }) {
                return events.remove(at: index).params
            }
            if readerDone { throw ProtocolError(description: "waiting for \(method): the browser exited") }
            if !answered.wait(until: deadline) {
                throw ProtocolError(description: "no \(method) from the browser in \(Int(timeout)) s")
            }
        }
    }

    /// Every event received so far for `session` whose method is one of `methods` (kept).
    public func received(_ methods: Set<String>, session: String?) -> [(method: String, params: [String: Any])] {
        answered.lock()
        defer { answered.unlock() }
        return events.filter { methods.contains($0.method) && $0.sessionID == session }.map { ($0.method, $0.params) }
    }

    /// Drops the events received so far for `session` (before a new navigation).
    func forgetEvents(session: String?) {
        answered.lock()
        events.removeAll { $0.sessionID == session }
        answered.unlock()
    }

    /// A new tab with a session attached to it.
    public func newPage(width: Int = 1280, height: Int = 900, mobile: Bool = false) throws -> BrowserPage {
        let target = try send("Target.createTarget", ["url": "about:blank"])
        guard let targetID = target["targetId"] as? String else { throw ProtocolError(description: "Target.createTarget gave no targetId") }
        let attached = try send("Target.attachToTarget", ["targetId": targetID, "flatten": true])
        guard let session = attached["sessionId"] as? String else { throw ProtocolError(description: "Target.attachToTarget gave no sessionId") }
        let page = BrowserPage(browser: self, session: session, targetID: targetID)
        try page.start(width: width, height: height, mobile: mobile)
        return page
    }
}
