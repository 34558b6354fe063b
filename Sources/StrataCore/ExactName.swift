/// Names (authors, field names, set elements such as tags and relations) are their exact UTF-8
/// bytes (Protocol/SPEC.md, "Notation"). Swift's `String` compares, hashes and orders by
/// Unicode canonical equivalence: "café" spelled with U+00E9 and spelled with "e" + U+0301 are
/// one `String` to `==`, to a `Set` and to a `Dictionary`, but two names to Strata (two tags, two
/// fields, two authors), and a change must come out of encoding and decoding with the bytes it
/// went in with. Code that keys, deduplicates, compares or sorts names uses these.
extension String {
    /// Whether the two have the same UTF-8 bytes.
    @inlinable public func hasSameBytes(as other: String) -> Bool {
        utf8.count == other.utf8.count && utf8.elementsEqual(other.utf8)
    }

    /// Bytewise order of the UTF-8 encodings (which is Unicode scalar order).
    @inlinable public func precedesBytewise(_ other: String) -> Bool { utf8.lexicographicallyPrecedes(other.utf8) }

    /// Feeds the UTF-8 bytes, then their count (so that consecutive names cannot run together).
    @inlinable public func hashBytes(into hasher: inout Hasher) {
        var s = self
        s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        hasher.combine(s.utf8.count)
    }
}

/// A name as a key of a `Set` or a `Dictionary`: equal, hashed and ordered by its UTF-8 bytes.
public struct ExactName: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let string: String

    public init(_ string: String) { self.string = string }

    public static func == (a: ExactName, b: ExactName) -> Bool { a.string.hasSameBytes(as: b.string) }
    public static func < (a: ExactName, b: ExactName) -> Bool { a.string.precedesBytewise(b.string) }
    public func hash(into hasher: inout Hasher) { string.hashBytes(into: &hasher) }
    public var description: String { string }
}
