/// Why a byte string could not be decoded.
///
/// A struct wrapping an internal kind so that cases can be added without breaking callers.
/// `code` is a stable machine-readable name (tests and the CLI match on it); `description` is
/// one human line saying what was wrong and what to do. Messages never quote user content
/// (note text, names, tags): only positions, sizes, counts and ids.
public struct CodecError: Error, Sendable, Equatable, CustomStringConvertible {
    enum Kind: Sendable, Equatable {
        /// The input ended before the structure it declares.
        case truncated(what: String)
        /// The structure is wrong in a way that copying again will not fix.
        case malformed(String)
        case badMagic(expected: String)
        case unsupportedVersion(found: UInt8, supported: UInt8, what: String)
        case unsupportedFlags(found: UInt8, known: UInt8)
        case unsupportedValue(tag: UInt8)
        case tooLarge(what: String, value: Int, limit: Int, bytes: Bool = true)
        case corruptCompression(String)
        case lengthMismatch(declared: Int, actual: Int)
        case trailingBytes(count: Int, what: String)
        case checksumMismatch(stored: UInt32, computed: UInt32)
        case invalidUTF8(what: String)
        case indexOutOfRange(what: String, index: UInt64, count: Int)
        case overlongVarint
        case invalidChange(String)
        /// A window of a longer structure ended before what is being read (``ByteReader``'s
        /// windows): never leaves the codec, whose streaming reader decodes again over more bytes.
        case needsMoreInput
    }

    let kind: Kind
    /// Byte offset where the problem was found, in the structure named by `context`.
    public let offset: Int?
    /// Total size of that structure, when known.
    public let total: Int?
    /// Where the structure sits, e.g. "bundle change set 3 of 7"; nil at top level.
    public let context: String?

    init(_ kind: Kind, offset: Int? = nil, total: Int? = nil, context: String? = nil) {
        self.kind = kind
        self.offset = offset
        self.total = total
        self.context = context
    }

    /// A copy with an outer location prepended, e.g. the bundle frame a change set came from.
    func within(_ outer: String) -> CodecError {
        CodecError(kind, offset: offset, total: total, context: context.map { "\(outer), \($0)" } ?? outer)
    }

    /// Stable machine-readable name of the kind of error.
    public var code: String {
        switch kind {
        case .truncated: "truncated"
        case .malformed: "malformed"
        case .badMagic: "bad-magic"
        case .unsupportedVersion: "unsupported-version"
        case .unsupportedFlags: "unsupported-flags"
        case .unsupportedValue: "unsupported-value"
        case .tooLarge: "too-large"
        case .corruptCompression: "corrupt-compression"
        case .lengthMismatch: "length-mismatch"
        case .trailingBytes: "trailing-bytes"
        case .checksumMismatch: "checksum-mismatch"
        case .invalidUTF8: "invalid-utf8"
        case .indexOutOfRange: "index-out-of-range"
        case .overlongVarint: "overlong-varint"
        case .invalidChange: "invalid-change"
        case .needsMoreInput: "truncated"
        }
    }

    /// True when the input looks incomplete (copying or downloading it again may fix it).
    public var isTruncation: Bool { if case .truncated = kind { true } else { false } }

    private var position: String {
        guard let offset else { return "" }
        if let total { return " at byte \(offset) of \(total)" }
        return " at byte \(offset)"
    }

    private var prefix: String { context.map { "\($0): " } ?? "" }

    /// What went wrong without the closing advice, for an outer error that quotes this one
    /// (so "the file is corrupt…" is said once).
    var detail: String {
        if case .malformed(let why) = kind { return prefix + why + position }
        return description
    }

    public var description: String {
        let body: String
        switch kind {
        case .truncated(let what):
            body = "\(what) truncated\(position): the file is incomplete; copy it again"
        case .malformed(let why):
            body = "malformed data\(position): \(why); the file is corrupt or was not written by Strata"
        case .badMagic(let expected):
            body = "not a \(expected) (wrong magic bytes at the start): check that you passed the right file"
        case .unsupportedVersion(let found, let supported, let what):
            if found > supported {
                body = "this \(what) was written by a newer Strata (format version \(found); this one reads \(supported)): upgrade strata to read it"
            } else {
                body = "unknown \(what) format version \(found) (this Strata reads \(supported)): the file is corrupt"
            }
        case .unsupportedFlags(let found, let known):
            body = "unknown flags 0x\(String(found, radix: 16)) (this Strata knows 0x\(String(known, radix: 16))): the data was written by a newer Strata; upgrade strata to read it"
        case .unsupportedValue(let tag):
            body = "unknown value tag \(tag)\(position): the data comes from a newer Strata; upgrade strata to read it"
        case .tooLarge(let what, let value, let limit, let bytes):
            let v = bytes ? Self.size(value) : "\(value)"
            let l = bytes ? Self.size(limit) : "\(limit)"
            body = "\(what) \(v) exceeds the \(l) limit\(position) (zip bomb or corrupt data?); refusing to decode"
        case .corruptCompression(let why):
            body = "compressed data is corrupt\(position) (\(why)): the file was damaged; copy it again"
        case .lengthMismatch(let declared, let actual):
            body = "inflated payload is \(actual > declared ? "longer than" : "\(actual) bytes, not") the \(declared) bytes its header declares: the data is corrupt"
        case .trailingBytes(let count, let what):
            body = "\(count) unexpected byte\(count == 1 ? "" : "s") after the end of the \(what)\(position): the file is corrupt or two files were joined"
        case .checksumMismatch(let stored, let computed):
            body = "checksum mismatch (stored crc32 \(Self.hex32(stored)), computed \(Self.hex32(computed))): the file was damaged in transit; copy it again"
        case .invalidUTF8(let what):
            body = "\(what) is not valid UTF-8\(position): the data is corrupt"
        case .indexOutOfRange(let what, let index, let count):
            body = "\(what) index \(index) out of range (table has \(count) entr\(count == 1 ? "y" : "ies"))\(position): the data is corrupt"
        case .overlongVarint:
            body = "invalid varint\(position) (longer than needed or beyond 64 bits): the data is corrupt"
        case .invalidChange(let why):
            body = "invalid change\(position): \(why); the writer is buggy or the data is corrupt"
        case .needsMoreInput:
            body = "data ends early\(position) (a window of it was decoded as if whole): Strata's decoder is at fault"
        }
        return prefix + body
    }

    private static func hex32(_ v: UInt32) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 8 - s.count) + s
    }

    /// Sizes in bytes below 1 KiB, otherwise in KiB or MiB when exact, else bytes.
    static func size(_ n: Int) -> String {
        if n >= 1 << 20, n % (1 << 20) == 0 { return "\(n >> 20) MiB" }
        if n >= 1 << 10, n % (1 << 10) == 0 { return "\(n >> 10) KiB" }
        return "\(n)"
    }
}
