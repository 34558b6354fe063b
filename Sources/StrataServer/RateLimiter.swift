import Foundation

/// Requests a token may make: a token bucket of `burst` requests refilled at `perSecond`.
public struct RateLimit: Sendable, Equatable {
    public var perSecond: Double
    public var burst: Int

    public init(perSecond: Double, burst: Int) {
        self.perSecond = perSecond
        self.burst = burst
    }

    /// `strata serve`'s default: 10 requests a second with bursts of 60. A sync is one
    /// request per batch of up to 1 MiB, so an honest client is rarely slowed; a script
    /// hammering the server with a stolen or leaked token is.
    public static let standard = RateLimit(perSecond: 10, burst: 60)
}

/// Per-token token buckets. Time comes in as an argument so tests need not sleep.
///
/// Memory is bounded by the number of valid tokens: buckets are made only for requests that
/// authenticated, and a full bucket is the same as no bucket, so idle ones are dropped.
public final class RateLimiter: @unchecked Sendable {
    public let limit: RateLimit
    private let lock = NSLock()
    private var buckets: [Int64: (tokens: Double, at: Double)] = [:]
    private var sweeps = 0

    public init(_ limit: RateLimit) {
        self.limit = limit
    }

    /// Takes one request from the bucket of `key`. Returns nil when allowed, else the whole
    /// seconds to wait before one request will be allowed (at least 1).
    public func take(_ key: Int64, now: Double = RateLimiter.now()) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        let burst = Double(max(1, limit.burst))
        var b = buckets[key] ?? (burst, now)
        b.tokens = min(burst, b.tokens + max(0, now - b.at) * limit.perSecond)
        b.at = now
        sweeps += 1
        if sweeps >= 1024 { sweep(now: now, burst: burst) }
        if b.tokens >= 1 {
            b.tokens -= 1
            buckets[key] = b
            return nil
        }
        buckets[key] = b
        guard limit.perSecond > 0 else { return 3600 }
        return max(1, Int(((1 - b.tokens) / limit.perSecond).rounded(.up)))
    }

    /// Drops buckets that have refilled completely.
    private func sweep(now: Double, burst: Double) {
        sweeps = 0
        buckets = buckets.filter { $0.value.tokens + (now - $0.value.at) * limit.perSecond < burst }
    }

    /// Seconds on a monotonic clock.
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
