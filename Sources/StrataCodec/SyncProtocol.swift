import StrataCore

/// What a token lets its holder do in one project (Protocol/SPEC.md §10.1). Sent as
/// `role` in the session answer.
public enum Role: String, Sendable, Codable, CaseIterable, Comparable {
    /// Pull only.
    case read
    /// Pull, and push changes the holder authored.
    case write
    /// Pull, and push changes by anyone (relaying a colleague's work, e.g. from a bundle).
    case admin

    var rank: Int {
        switch self {
        case .read: 0
        case .write: 1
        case .admin: 2
        }
    }

    public static func < (a: Role, b: Role) -> Bool { a.rank < b.rank }

    /// Whether this role may push a change by `author` on behalf of `researcher`. Who may
    /// push is decided on the researcher, so names compare as Swift strings do (canonical
    /// equivalence): a replica whose name was typed with "e" + U+0301 is still the "é"
    /// researcher. The changes keep their bytes either way.
    public func mayPush(authoredBy author: String, as researcher: String) -> Bool {
        switch self {
        case .admin: true
        case .write: author == researcher
        case .read: false
        }
    }
}

/// The `code` of a sync error body (`{"error":{"code":…}}`, SPEC §10.4): stable names that
/// clients match on. Open-ended, so a code from a newer server is kept as it came; a body
/// that does not decode carries the codec's own code (`truncated`, `unsupported-version`, …).
public struct SyncErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ codec: CodecError) { rawValue = codec.code }
    public var description: String { rawValue }

    public static let unauthorized = Self(rawValue: "unauthorized")
    public static let forbidden = Self(rawValue: "forbidden")
    public static let notFound = Self(rawValue: "not-found")
    public static let unsupportedProtocol = Self(rawValue: "unsupported-protocol")
    public static let badRequest = Self(rawValue: "bad-request")
    public static let invalidChange = Self(rawValue: "invalid-change")
    public static let tooLarge = Self(rawValue: "too-large")
    public static let requestTimeout = Self(rawValue: "request-timeout")
    public static let unsupportedMediaType = Self(rawValue: "unsupported-media-type")
    public static let clockSkew = Self(rawValue: "clock-skew")
    public static let rateLimited = Self(rawValue: "rate-limited")
    /// The server cannot read or write its storage now (503, with `Retry-After`).
    public static let unavailable = Self(rawValue: "unavailable")
    public static let `internal` = Self(rawValue: "internal")
    public static let rangeNotSatisfiable = Self(rawValue: "range-not-satisfiable")
    public static let offsetMismatch = Self(rawValue: "offset-mismatch")
    public static let hashMismatch = Self(rawValue: "hash-mismatch")
    public static let sizeMismatch = Self(rawValue: "size-mismatch")
}

/// One logged change as the store reports it for pushing: its id, its author, and the size of
/// its stored encoding (the measure push batches are bounded by), without decoding it.
public struct PushCandidate: Sendable, Equatable {
    public var id: ChangeID
    public var author: String
    public var bytes: Int

    public init(id: ChangeID, author: String, bytes: Int) {
        self.id = id
        self.author = author
        self.bytes = bytes
    }
}
