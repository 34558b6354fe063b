import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// How a simulated field link behaves, per direction.
public struct LinkProfile: Sendable {
    /// One-way propagation delay, in seconds (a round trip is twice this).
    public var oneWayDelay: Double
    /// Bytes per second in each direction (nil: as fast as loopback).
    public var bytesPerSecond: Double?
    /// Periods during which the link carries nothing, as (start, duration) in seconds since
    /// the simulator started. Bytes that would be sent during a stall wait for its end.
    public var stalls: [(start: Double, duration: Double)]
    /// Largest unit the link schedules at once.
    public var chunkBytes: Int

    public init(
        oneWayDelay: Double = 0, bytesPerSecond: Double? = nil, stalls: [(start: Double, duration: Double)] = [],
        chunkBytes: Int = 1024
    ) {
        self.oneWayDelay = oneWayDelay
        self.bytesPerSecond = bytesPerSecond
        self.stalls = stalls
        self.chunkBytes = max(1, chunkBytes)
    }

    /// A field link: `kbit` kilobits a second each way, `rttMillis` round trip.
    public static func field(kbit: Double, rttMillis: Double) -> LinkProfile {
        LinkProfile(oneWayDelay: rttMillis / 2000, bytesPerSecond: kbit * 1000 / 8, chunkBytes: 512)
    }

    /// `count` stalls of `minDuration...maxDuration` seconds at seeded random times within
    /// `within` seconds.
    public static func seededStalls(seed: UInt64, count: Int, within: Double, minDuration: Double, maxDuration: Double)
        -> [(start: Double, duration: Double)]
    {
        var rng = SeededRandom(seed: seed)
        return (0..<count).map { _ in
            (Double.random(in: 0..<within, using: &rng), Double.random(in: minDuration...maxDuration, using: &rng))
        }.sorted { $0.start < $1.start }
    }
}

/// Which way bytes flow: client → server (up) or server → client (down).
public enum LinkDirection: Sendable, Hashable { case up, down }

/// When the link drops: every connection through it is reset, and for `downFor` seconds new
/// connections are refused (accepted, then reset), as when a satellite link is lost.
public struct LinkCut: Sendable {
    public enum Trigger: Sendable {
        /// When the link has delivered this many bytes in that direction (counted over every
        /// connection since the simulator started). The cut falls inside the chunk that crosses it.
        case afterBytes(Int, LinkDirection)
        /// At this many seconds after the simulator started.
        case atSecond(Double)
    }
    public var trigger: Trigger
    public var downFor: Double

    public init(_ trigger: Trigger, downFor: Double = 0) {
        self.trigger = trigger
        self.downFor = downFor
    }
}

/// A link-simulating TCP proxy on 127.0.0.1: delay, bandwidth, stalls and cuts, deterministic
/// for a given profile and cut list (no randomness of its own: stalls come from a seed).
///
/// Each connection accepted on ``port`` is relayed to `127.0.0.1:targetPort`. Each direction
/// is one serial link shared by every connection: a chunk read at time t starts when the link
/// is free (and not stalled), takes `bytes / bandwidth`, and arrives `oneWayDelay` later.
/// Counters say how many bytes were delivered each way, so tests can check that a resumed
/// transfer does not send again what was acknowledged.
public final class LinkSimulator: @unchecked Sendable {
    public let port: UInt16
    public let targetPort: UInt16
    public let profile: LinkProfile

    private let lock = NSCondition()
    private let listenFD: Int32
    private let started: Double
    private var stopped = false
    private var cuts: [LinkCut]
    private var downUntil = 0.0
    private var linkFreeAt: [LinkDirection: Double] = [.up: 0, .down: 0]
    private var delivered: [LinkDirection: Int] = [.up: 0, .down: 0]
    private var live: [Int: Connection] = [:]
    private var nextID = 0
    private var connectionCount = 0
    private var refusedCount = 0
    private var cutCount = 0
    private var timedCutThread: Thread?

    /// Bytes delivered client → server so far.
    public var bytesUp: Int { withLock { delivered[.up]! } }
    /// Bytes delivered server → client so far.
    public var bytesDown: Int { withLock { delivered[.down]! } }
    /// Connections relayed (not counting those refused while the link was down).
    public var connections: Int { withLock { connectionCount } }
    /// Connections refused while the link was down.
    public var refused: Int { withLock { refusedCount } }
    /// Cuts that have happened.
    public var cutsDone: Int { withLock { cutCount } }

    /// Starts relaying to `targetPort` on 127.0.0.1.
    public init(targetPort: UInt16, profile: LinkProfile = LinkProfile(), cuts: [LinkCut] = []) throws {
        self.targetPort = targetPort
        self.profile = profile
        self.cuts = cuts
        started = LinkSimulator.now()
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw LinkError("socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = LinkSimulator.loopback(port: 0)
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            close(fd)
            throw LinkError("bind/listen on 127.0.0.1: \(String(cString: strerror(errno)))")
        }
        var out = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &out) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        listenFD = fd
        port = UInt16(bigEndian: out.sin_port)
        let acceptor = Thread { [self] in acceptLoop() }
        acceptor.name = "link-accept"
        acceptor.start()
        let timed = cuts.compactMap { c -> Double? in if case .atSecond(let t) = c.trigger { t } else { nil } }
        if !timed.isEmpty {
            let t = Thread { [self] in timedCuts(timed.sorted()) }
            t.start()
            timedCutThread = t
        }
    }

    deinit { stop() }

    /// Stops accepting and resets every connection.
    public func stop() {
        // Once only: `stop()` then `deinit` must not close the listening socket twice, since by
        // the second close its number may name another file of this process (a blob being
        // read failed with EBADF that way).
        let conns: [Connection]? = withLock {
            if stopped { return nil }
            stopped = true
            return Array(live.values)
        }
        guard let conns else { return }
        shutdown(listenFD, Int32(SHUT_RDWR))
        close(listenFD)
        for c in conns { c.reset() }
        lock.broadcast()
    }

    /// Seconds since the simulator started.
    public var elapsed: Double { LinkSimulator.now() - started }

    // MARK: - Accepting

    private func acceptLoop() {
        while true {
            let client = accept(listenFD, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return  // stopped
            }
            var one: Int32 = 1
            setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let (down, isStopped) = withLock { (LinkSimulator.now() < downUntil, stopped) }
            if isStopped {
                close(client)
                return
            }
            if down {
                withLock { refusedCount += 1 }
                LinkSimulator.resetAndClose(client)
                continue
            }
            let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = LinkSimulator.loopback(port: targetPort)
            let connected = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard server >= 0, connected == 0 else {
                if server >= 0 { close(server) }
                LinkSimulator.resetAndClose(client)
                continue
            }
            setsockopt(server, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let conn: Connection = withLock {
                nextID += 1
                connectionCount += 1
                let c = Connection(id: nextID, client: client, server: server, link: self)
                live[c.id] = c
                return c
            }
            conn.start()
        }
    }

    // MARK: - The link

    /// When a chunk of `n` bytes read now in `direction` arrives at the other end.
    fileprivate func schedule(_ n: Int, _ direction: LinkDirection) -> Double {
        withLock {
            let now = LinkSimulator.now() - started
            var start = max(now, linkFreeAt[direction]!)
            for s in profile.stalls where start >= s.start && start < s.start + s.duration { start = s.start + s.duration }
            let transmit = profile.bytesPerSecond.map { Double(n) / $0 } ?? 0
            linkFreeAt[direction] = start + transmit
            return started + start + transmit + profile.oneWayDelay
        }
    }

    /// Counts `n` bytes about to be delivered; returns how many may pass (fewer than `n` when a
    /// cut falls inside them, 0 once the connection is cut). A cut marks every live connection;
    /// the pump resets them with ``finishCutIfNeeded()`` after writing what was allowed.
    fileprivate func deliver(_ n: Int, _ direction: LinkDirection, connection: Connection) -> Int {
        withLock {
            guard connection.isCut == false else { return 0 }
            let before = delivered[direction]!
            var allowed = n
            if let i = cuts.firstIndex(where: {
                if case .afterBytes(let b, let d) = $0.trigger, d == direction, before + n >= b { return true }
                return false
            }) {
                if case .afterBytes(let b, _) = cuts[i].trigger { allowed = max(0, b - before) }
                let downFor = cuts[i].downFor
                cuts.remove(at: i)
                cutLocked(downFor: downFor)
            }
            delivered[direction] = before + allowed
            return allowed
        }
    }

    /// Called by a pump after writing the bytes `deliver` allowed: resets what a cut marked.
    fileprivate func finishCutIfNeeded() {
        let conns: [Connection] = withLock {
            let pending = live.values.filter { $0.isCut && !$0.resetDone }
            for c in pending { c.resetDone = true }
            return pending
        }
        for c in conns { c.reset() }
    }

    /// Marks every live connection cut (the caller holds the lock).
    private func cutLocked(downFor: Double) {
        cutCount += 1
        downUntil = LinkSimulator.now() + downFor
        for c in live.values { c.isCut = true }
    }

    private func timedCuts(_ times: [Double]) {
        for t in times {
            let at = started + t
            while LinkSimulator.now() < at {
                if withLock({ stopped }) { return }
                LinkSimulator.sleep(until: min(at, LinkSimulator.now() + 0.05))
            }
            withLock {
                if let i = cuts.firstIndex(where: { if case .atSecond(let s) = $0.trigger { s == t } else { false } }) {
                    let d = cuts[i].downFor
                    cuts.remove(at: i)
                    cutLocked(downFor: d)
                }
            }
            finishCutIfNeeded()
        }
    }

    fileprivate func closed(_ c: Connection) {
        _ = withLock { live.removeValue(forKey: c.id) }
    }

    fileprivate func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    // MARK: - Helpers

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func sleep(until t: Double) {
        let d = t - now()
        if d > 0 { usleep(UInt32(min(d, 1) * 1_000_000)) }
    }

    static func loopback(port: UInt16) -> sockaddr_in {
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = port.bigEndian
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        return a
    }

    /// Closes with a TCP reset, as a peer sees a dropped link once it notices.
    static func resetAndClose(_ fd: Int32) {
        var l = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        close(fd)
    }
}

public struct LinkError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}

/// One relayed TCP connection: two one-way pumps, each a reader (schedules chunks on the link)
/// and a writer (delivers them when they arrive).
private final class Connection: @unchecked Sendable {
    let id: Int
    let client: Int32
    let server: Int32
    let link: LinkSimulator
    /// Set under the link's lock when a cut hits this connection.
    var isCut = false
    var resetDone = false
    private let lock = NSLock()
    private var finishedPumps = 0
    private var fdsClosed = false

    init(id: Int, client: Int32, server: Int32, link: LinkSimulator) {
        self.id = id
        self.client = client
        self.server = server
        self.link = link
    }

    func start() {
        for (from, to, dir) in [(client, server, LinkDirection.up), (server, client, LinkDirection.down)] {
            let pump = Pump(from: from, to: to, direction: dir, connection: self)
            let reader = Thread { pump.readLoop() }
            let writer = Thread { pump.writeLoop() }
            reader.start()
            writer.start()
        }
    }

    /// Resets both sockets: every pump wakes up and stops.
    func reset() {
        var l = linger(l_onoff: 1, l_linger: 0)
        lock.lock()
        defer { lock.unlock() }
        guard !fdsClosed else { return }
        for fd in [client, server] {
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
            shutdown(fd, Int32(SHUT_RDWR))
        }
    }

    /// Each of the four loops calls this once when it ends; the last one closes the sockets.
    func loopEnded() {
        lock.lock()
        finishedPumps += 1
        let last = finishedPumps == 4
        if last { fdsClosed = true }
        lock.unlock()
        if last {
            close(client)
            close(server)
            link.closed(self)
        }
    }
}

/// One direction of a connection.
private final class Pump: @unchecked Sendable {
    let from: Int32
    let to: Int32
    let direction: LinkDirection
    let connection: Connection
    private let cond = NSCondition()
    private var queue: [(at: Double, bytes: [UInt8])] = []
    private var eof = false
    private var dead = false

    init(from: Int32, to: Int32, direction: LinkDirection, connection: Connection) {
        self.from = from
        self.to = to
        self.direction = direction
        self.connection = connection
    }

    func readLoop() {
        defer { connection.loopEnded() }
        var buffer = [UInt8](repeating: 0, count: connection.link.profile.chunkBytes)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(from, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            cond.lock()
            if n <= 0 || dead {
                eof = true
                cond.broadcast()
                cond.unlock()
                return
            }
            cond.unlock()
            let at = connection.link.schedule(n, direction)
            cond.lock()
            queue.append((at, Array(buffer[0..<n])))
            cond.broadcast()
            cond.unlock()
        }
    }

    func writeLoop() {
        defer { connection.loopEnded() }
        while true {
            cond.lock()
            while queue.isEmpty && !eof { cond.wait() }
            if queue.isEmpty && eof {
                cond.unlock()
                shutdown(to, Int32(SHUT_WR))
                return
            }
            let item = queue.removeFirst()
            cond.unlock()
            LinkSimulator.sleep(until: item.at)
            while LinkSimulator.now() < item.at { LinkSimulator.sleep(until: item.at) }
            let allowed = connection.link.deliver(item.bytes.count, direction, connection: connection)
            var ok = allowed > 0
            var offset = 0
            while ok && offset < allowed {
                let w = item.bytes.withUnsafeBytes {
                    send(to, $0.baseAddress! + offset, allowed - offset, Int32(MSG_NOSIGNAL))
                }
                if w < 0 && errno == EINTR { continue }
                if w <= 0 { ok = false } else { offset += w }
            }
            if allowed < item.bytes.count || !ok || connection.link.withLock({ connection.isCut }) {
                connection.link.finishCutIfNeeded()
                connection.reset()
                cond.lock()
                dead = true
                queue.removeAll()
                eof = true
                cond.unlock()
                return
            }
        }
    }
}
