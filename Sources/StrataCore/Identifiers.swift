/// Identifiers: replicas, records and changes.
///
/// Record ids are UUIDv7 (time-ordered, so inserts stay local in the B-tree). Their text form
/// puts the random half first so that short prefixes, as git shows them, are distinct.

/// A replica: one SQLite store on one machine. 16 random bytes, shown as 32 hex digits.
public struct ReplicaID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The 16 bytes, big-endian halves.
    public let high: UInt64
    public let low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Builds an id from exactly 16 bytes.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 16 else { return nil }
        let (h, l) = Bytes16.split(bytes)
        self.init(high: h, low: l)
    }

    /// Parses 32 hex digits (dashes allowed).
    public init?(hex: String) {
        guard let (h, l) = Bytes16.parseHex(hex) else { return nil }
        self.init(high: h, low: l)
    }

    /// A random version-4 UUID from caller-supplied random bits (the core reads no entropy).
    public static func random(using rng: inout some RandomNumberGenerator) -> ReplicaID {
        let h = (rng.next() & ~0xF000) | 0x4000
        let l = (rng.next() & ~(0xC000 << 48)) | (0x8000 << 48)
        return ReplicaID(high: h, low: l)
    }

    public var bytes: [UInt8] { Bytes16.join(high, low) }
    public var hex: String { Bytes16.hex(high, low) }
    /// The first 8 hex digits, for display.
    public var short: String { String(hex.prefix(8)) }
    public var description: String { hex }

    public static func < (a: ReplicaID, b: ReplicaID) -> Bool {
        (a.high, a.low) < (b.high, b.low)
    }
}

/// A record: a note, an artefact, a site or a link. A UUIDv7.
public struct RecordID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let high: UInt64
    public let low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 16 else { return nil }
        let (h, l) = Bytes16.split(bytes)
        self.init(high: h, low: l)
    }

    /// A UUIDv7 from a Unix time in milliseconds and caller-supplied random bits.
    public static func v7(unixMillis: UInt64, using rng: inout some RandomNumberGenerator) -> RecordID {
        let randA = rng.next() & 0x0FFF
        let h = ((unixMillis & 0xFFFF_FFFF_FFFF) << 16) | 0x7000 | randA
        let l = (rng.next() & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000
        return RecordID(high: h, low: l)
    }

    /// The Unix time in milliseconds that a UUIDv7 carries.
    public var unixMillis: UInt64 { high >> 16 }

    public var bytes: [UInt8] { Bytes16.join(high, low) }

    /// The canonical text form: 26 lowercase Crockford base-32 digits of the 128 bits taken
    /// low half first (the random bits), then high half (time). See Protocol/SPEC.md, "Record ids".
    public var text: String { Base32.encode128(first: low, second: high) }

    /// Parses the full 26-digit text form (case-insensitive; i, l read as 1 and o as 0).
    public init?(text: String) {
        guard let (first, second) = Base32.decode128(text) else { return nil }
        self.init(high: second, low: first)
    }

    public var description: String { text }

    public static func < (a: RecordID, b: RecordID) -> Bool {
        (a.high, a.low) < (b.high, b.low)
    }
}

/// One change: the `seq`-th change made on `replica` (seq starts at 1).
public struct ChangeID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let replica: ReplicaID
    public let seq: UInt64

    public init(replica: ReplicaID, seq: UInt64) {
        self.replica = replica
        self.seq = seq
    }

    public var description: String { "\(replica.short)/\(seq)" }

    public static func < (a: ChangeID, b: ChangeID) -> Bool {
        (a.replica, a.seq) < (b.replica, b.seq)
    }
}

enum Bytes16 {
    static func split(_ bytes: some Collection<UInt8>) -> (UInt64, UInt64) {
        var h: UInt64 = 0
        var l: UInt64 = 0
        for (i, b) in bytes.enumerated() {
            if i < 8 { h = (h << 8) | UInt64(b) } else { l = (l << 8) | UInt64(b) }
        }
        return (h, l)
    }

    static func join(_ h: UInt64, _ l: UInt64) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 16)
        for i in 0..<8 {
            out[i] = UInt8(truncatingIfNeeded: h >> (56 - 8 * i))
            out[8 + i] = UInt8(truncatingIfNeeded: l >> (56 - 8 * i))
        }
        return out
    }

    static let digits = Array("0123456789abcdef".utf8)

    static func hex(_ h: UInt64, _ l: UInt64) -> String {
        var chars = [UInt8]()
        chars.reserveCapacity(32)
        for word in [h, l] {
            for i in stride(from: 60, through: 0, by: -4) {
                chars.append(digits[Int((word >> UInt64(i)) & 0xF)])
            }
        }
        return String(decoding: chars, as: UTF8.self)
    }

    static func parseHex(_ s: String) -> (UInt64, UInt64)? {
        var nibbles = [UInt8]()
        for c in s.utf8 {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibbles.append(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibbles.append(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibbles.append(c - UInt8(ascii: "A") + 10)
            case UInt8(ascii: "-"): continue
            default: return nil
            }
        }
        guard nibbles.count == 32 else { return nil }
        var h: UInt64 = 0
        var l: UInt64 = 0
        for (i, n) in nibbles.enumerated() {
            if i < 16 { h = (h << 4) | UInt64(n) } else { l = (l << 4) | UInt64(n) }
        }
        return (h, l)
    }
}

/// Crockford base 32 for 128-bit values: 26 digits, the last one carrying 3 bits and 2 zero
/// pad bits.
public enum Base32 {
    public static let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz".utf8)

    static func encode128(first: UInt64, second: UInt64) -> String {
        var out = [UInt8]()
        out.reserveCapacity(26)
        // Read 5 bits at a time from the 130-bit string first ++ second ++ 00.
        func bit(_ i: Int) -> UInt64 {
            if i < 64 { return (first >> UInt64(63 - i)) & 1 }
            if i < 128 { return (second >> UInt64(127 - i)) & 1 }
            return 0
        }
        for d in 0..<26 {
            var v: UInt64 = 0
            for k in 0..<5 { v = (v << 1) | bit(d * 5 + k) }
            out.append(alphabet[Int(v)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The value of one base-32 digit, or nil. Case-insensitive; i and l read as 1, o as 0.
    public static func digit(_ c: UInt8) -> UInt8? {
        var c = c
        if c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z") { c += 32 }
        switch c {
        case UInt8(ascii: "i"), UInt8(ascii: "l"): return 1
        case UInt8(ascii: "o"): return 0
        default:
            if let i = alphabet.firstIndex(of: c) { return UInt8(i) }
            return nil
        }
    }

    /// Normalises a (possibly partial) id text to canonical digits, or nil if a character is
    /// not a base-32 digit.
    public static func normalise(_ s: String) -> String? {
        var out = [UInt8]()
        for c in s.utf8 {
            guard let d = digit(c) else { return nil }
            out.append(alphabet[Int(d)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode128(_ s: String) -> (UInt64, UInt64)? {
        let chars = Array(s.utf8)
        guard chars.count == 26 else { return nil }
        var first: UInt64 = 0
        var second: UInt64 = 0
        var bitIndex = 0
        for c in chars {
            guard let v = digit(c) else { return nil }
            for k in (0..<5).reversed() {
                let b = UInt64((v >> UInt8(k)) & 1)
                if bitIndex < 64 {
                    first = (first << 1) | b
                } else if bitIndex < 128 {
                    second = (second << 1) | b
                } else if b != 0 {
                    return nil  // pad bits must be zero
                }
                bitIndex += 1
            }
        }
        return (first, second)
    }
}
