import StrataCore

/// Appends the primitive encodings of Protocol/SPEC.md, "Notation", to a growing buffer.
struct ByteWriter {
    var bytes: [UInt8]

    init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inline(__always) mutating func u8(_ v: UInt8) { bytes.append(v) }

    /// Unsigned LEB128, minimal length.
    @inline(__always) mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    @inline(__always) mutating func varint(_ v: Int) { varint(UInt64(v)) }

    /// Zigzag then LEB128: 0, -1, 1, -2, ... map to 0, 1, 2, 3, ...
    @inline(__always) mutating func zigzag(_ v: Int64) {
        varint(UInt64(bitPattern: (v << 1) ^ (v >> 63)))
    }

    /// IEEE-754 binary64 bit pattern, little-endian.
    @inline(__always) mutating func double(_ d: Double) { u64le(d.bitPattern) }

    mutating func u64le(_ v: UInt64) {
        for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }

    mutating func u32le(_ v: UInt32) {
        for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) }
    }

    /// 16 bytes, big-endian high half then low half (the UUID byte order).
    mutating func id16(high: UInt64, low: UInt64) {
        for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64(i)))) }
        for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64(i)))) }
    }

    /// Varint byte length, then the UTF-8 bytes.
    mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            varint(utf8.count)
            bytes.append(contentsOf: utf8)
        }
    }

    mutating func raw(_ b: some Sequence<UInt8>) { bytes.append(contentsOf: b) }
}
