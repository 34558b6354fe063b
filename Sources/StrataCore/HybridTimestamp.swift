/// A hybrid logical clock timestamp: 48 bits of Unix milliseconds and a 16-bit counter,
/// packed in one `UInt64` so that timestamps compare as integers.
public struct HybridTimestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// `wallMillis << 16 | counter`.
    public let rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public init(wallMillis: UInt64, counter: UInt16) {
        self.rawValue = (wallMillis & HybridTimestamp.maxWallMillis) << 16 | UInt64(counter)
    }

    public static let maxWallMillis: UInt64 = 0xFFFF_FFFF_FFFF
    public static let zero = HybridTimestamp(rawValue: 0)

    /// Unix time in milliseconds.
    public var wallMillis: UInt64 { rawValue >> 16 }
    public var counter: UInt16 { UInt16(truncatingIfNeeded: rawValue) }

    public var description: String { "\(wallMillis).\(counter)" }

    public static func < (a: HybridTimestamp, b: HybridTimestamp) -> Bool { a.rawValue < b.rawValue }
}

/// How far ahead of this machine's clock a remote timestamp may be.
///
/// > Invariant: a change whose timestamp is more than `maxForwardSkewMillis` ahead of the
/// > receiver's wall clock is refused (the whole batch, with ``ClockSkewError``), so a machine
/// > with a clock set years ahead cannot drag every replica's clock forward and win every
/// > concurrent write from then on. Timestamps behind the receiver's clock are always accepted.
public struct ClockPolicy: Sendable, Equatable {
    public var maxForwardSkewMillis: UInt64

    public init(maxForwardSkewMillis: UInt64) { self.maxForwardSkewMillis = maxForwardSkewMillis }

    /// 24 hours: larger than any time-zone mistake, far smaller than a wrong year.
    public static let standard = ClockPolicy(maxForwardSkewMillis: 24 * 3600 * 1000)

    /// Checks one remote timestamp against the receiver's wall clock.
    public func check(_ ts: HybridTimestamp, from change: ChangeID, now: UInt64) throws(ClockSkewError) {
        if ts.wallMillis > now &+ maxForwardSkewMillis {
            throw ClockSkewError(change: change, timestamp: ts, nowMillis: now, limitMillis: maxForwardSkewMillis)
        }
    }
}

/// A remote change is timestamped too far in the future.
public struct ClockSkewError: Error, Sendable, Equatable {
    public let change: ChangeID
    public let timestamp: HybridTimestamp
    public let nowMillis: UInt64
    public let limitMillis: UInt64

    /// How far ahead the timestamp is, in milliseconds.
    public var aheadMillis: UInt64 { timestamp.wallMillis - nowMillis }
}

/// A hybrid logical clock. Pure: the caller passes the wall time in.
///
/// > Invariant: `tick` returns strictly increasing timestamps, whatever the wall clock does;
/// > a timestamp is never below one the clock has observed.
public struct HybridClock: Sendable, Equatable {
    public private(set) var last: HybridTimestamp

    public init(last: HybridTimestamp = .zero) { self.last = last }

    /// The timestamp for a new local change at wall time `now` (Unix ms).
    public mutating func tick(now: UInt64) -> HybridTimestamp {
        let wall = min(now, HybridTimestamp.maxWallMillis)
        if wall > last.wallMillis {
            last = HybridTimestamp(wallMillis: wall, counter: 0)
        } else if last.counter == UInt16.max {
            last = HybridTimestamp(wallMillis: last.wallMillis + 1, counter: 0)
        } else {
            last = HybridTimestamp(rawValue: last.rawValue + 1)
        }
        return last
    }

    /// Moves the clock past a timestamp received from another replica (already checked
    /// against the ``ClockPolicy``).
    public mutating func observe(_ remote: HybridTimestamp) {
        if remote > last { last = remote }
    }
}
