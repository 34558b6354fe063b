/// Bytes written by hand from Protocol/SPEC.md's tables, for tests that must not trust the
/// encoder they check: an unsigned LEB128 varint (§1) and a length-prefixed column.
public enum HandWrittenBytes {
    public static func varint(_ v: UInt64) -> [UInt8] {
        var v = v
        var out: [UInt8] = []
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        return out + [UInt8(v)]
    }

    /// `varint(count)` then the bytes.
    public static func column(_ b: [UInt8]) -> [UInt8] { varint(UInt64(b.count)) + b }
}
