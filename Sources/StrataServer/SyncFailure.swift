import StrataCodec
import StrataCore

/// Why a sync request failed, as a kind with its facts. The service returns these; only the
/// HTTP edge (`SyncHTTPServer`) maps them to statuses. `code` goes into the JSON error body
/// and `message` states the facts (SPEC §10.4); clients add their own advice.
public struct SyncFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// No `Authorization` header.
        case noToken
        /// An `Authorization` header that is not `Bearer <token>`.
        case malformedAuthorization
        /// A token the server does not know, or one that was revoked.
        case unknownToken
        /// The token is for another project.
        case wrongProject(token: String, asked: String)
        /// The token's role does not allow the request.
        case roleTooLow(has: Role, needs: Role)
        /// A write token pushing a change another researcher authored.
        case foreignAuthor(change: ChangeID, researcher: String, role: Role)
        case noSuchProject(String)
        case noSuchEndpoint(method: String, path: String)
        /// A path under another protocol version.
        case unsupportedProtocol
        case unsupportedMediaType(expected: String, got: String?)
        /// A body over the server's cap (`declared` when Content-Length said so).
        case bodyTooLarge(declared: Int?, limit: Int?)
        /// The body did not arrive within the request deadline.
        case requestTimeout(seconds: Int)
        case rateLimited(retryAfter: Int)
        /// A body that does not decode (`what` says which).
        case undecodable(CodecError, what: String)
        /// A change that breaks the structural rules.
        case invalidChange(ChangeValidationError)
        /// A change stamped beyond the accepted forward skew.
        case clockSkew(ClockSkewError)
        /// A request the HTTP layer could not read.
        case badRequest(status: Int)
        /// The server could not read or write its data (`what` it was doing; details in its log
        /// when `logged`).
        case storage(what: String, logged: Bool)
        /// The HTTP layer failed with a server-side `status` (5xx) before any handler answered.
        case unanswered(status: Int)
        /// This server's storage keeps no attachment bytes.
        case noAttachments
        /// A request about a blob that no record of the project references (or that is not
        /// held whole, for a download): knowing a hash is not enough.
        case blobNotFound(hash: String)
        /// A blob request the server cannot read (`problem` says what is wrong).
        case badBlobRequest(problem: String)
        /// A download from `offset` of a blob of `size` bytes.
        case rangeNotSatisfiable(offset: UInt64, size: UInt64)
        /// An upload from `offered` while the server holds `held` bytes of the blob.
        case offsetMismatch(held: UInt64, offered: UInt64)
        /// The uploaded bytes do not hash to the blob's name; nothing was kept.
        case hashMismatch(hash: String)
        /// An upload whose `Upload-Length` is not the size the project's records give the blob.
        case sizeMismatch(referenced: UInt64, declared: UInt64)
        /// A blob over the server's per-file limit.
        case blobTooLarge(size: UInt64, limit: UInt64)
        /// An upload that would take the project's attachments past the server's limit.
        case projectFull(held: UInt64, adding: UInt64, limit: UInt64)
    }

    public let kind: Kind
    /// What failed underneath, for the server's log only (a storage error's description:
    /// SQL without its arguments, a path). Never sent to the client.
    public let cause: String?
    public init(_ kind: Kind, cause: (any Error)? = nil) {
        self.kind = kind
        self.cause = cause.map { String(describing: $0) }
    }

    public static func == (a: SyncFailure, b: SyncFailure) -> Bool { a.kind == b.kind }

    /// The protocol's error code.
    public var code: SyncErrorCode {
        switch kind {
        case .noToken, .malformedAuthorization, .unknownToken: .unauthorized
        case .wrongProject, .roleTooLow, .foreignAuthor: .forbidden
        case .noSuchProject, .noSuchEndpoint: .notFound
        case .unsupportedProtocol: .unsupportedProtocol
        case .unsupportedMediaType: .unsupportedMediaType
        case .bodyTooLarge: .tooLarge
        case .requestTimeout: .requestTimeout
        case .rateLimited: .rateLimited
        case .undecodable(let e, _): SyncErrorCode(e)
        case .invalidChange: .invalidChange
        case .clockSkew: .clockSkew
        case .badRequest: .badRequest
        case .storage: .unavailable
        case .unanswered: .internal
        case .noAttachments, .blobNotFound: .notFound
        case .badBlobRequest: .badRequest
        case .rangeNotSatisfiable: .rangeNotSatisfiable
        case .offsetMismatch: .offsetMismatch
        case .hashMismatch: .hashMismatch
        case .sizeMismatch: .sizeMismatch
        case .blobTooLarge, .projectFull: .tooLarge
        }
    }

    /// Seconds the client should wait before trying again (sent as `Retry-After`). For a
    /// storage failure this is the default; the HTTP edge sends its server's
    /// ``ServerLimits/unavailableRetryAfterSeconds``.
    public var retryAfter: Int? {
        switch kind {
        case .rateLimited(let s): s
        case .storage: ServerLimits.defaultUnavailableRetryAfterSeconds
        default: nil
        }
    }

    /// One sentence of facts, free of tokens and record content.
    public var message: String {
        switch kind {
        case .noToken: "no token: send `Authorization: Bearer <token>`"
        case .malformedAuthorization: "the Authorization header must be `Bearer <token>`"
        case .unknownToken: "the token is not valid (unknown or revoked); ask the project admin for a new one"
        case .wrongProject(let token, let asked): "this token is for project '\(token)', not '\(asked)'"
        case .roleTooLow(let has, let needs):
            "this token can only \(has == .read ? "pull" : "push its own changes"); pushing needs a \(needs.rawValue) token"
        case .foreignAuthor(let change, let researcher, let role):
            "change \(change) is by another researcher; a \(role.rawValue) token pushes only changes authored by '\(researcher)' (relaying needs an admin token)"
        case .noSuchProject(let p): "no project '\(p)' on this server"
        case .noSuchEndpoint(let method, let path): "no such endpoint: \(method) \(path)"
        case .unsupportedProtocol:
            "this server speaks Strata sync protocol \(SyncCodec.protocolVersion) (/v\(SyncCodec.protocolVersion)/); upgrade the server or use a matching strata"
        case .unsupportedMediaType(let expected, let got): "expected Content-Type \(expected), got \(got ?? "none")"
        case .bodyTooLarge(let declared?, let limit?): "the body is \(declared) bytes; this server accepts at most \(limit)"
        case .bodyTooLarge(nil, let limit?): "the body is larger than the \(limit) bytes this server accepts"
        case .bodyTooLarge: "the body is larger than this server accepts"
        case .requestTimeout(let s): "the request did not arrive within \(s) s"
        case .rateLimited(let s): "too many requests with this token; wait \(s) s, then sync again (your changes are safe)"
        case .undecodable(let e, let what): "\(what): \(e.description)"
        case .invalidChange(let e): "the pushed change set was refused: \(e)"
        case .clockSkew(let e):
            "change \(e.change) is stamped \(e.aheadMillis / 1000) s ahead of the server's clock (at most \(e.limitMillis / 1000) s accepted); fix the clock of the machine that made it, then sync again"
        case .badRequest: "the request could not be read"
        case .storage(let what, let logged): "the server could not \(what)\(logged ? "; see its log" : "")"
        case .unanswered: "the server could not answer; see its log"
        case .noAttachments: "this server keeps no attachment bytes"
        case .blobNotFound(let hash):
            "no attachment \(hash.prefix(12)) here: no record of this project references it, or the server does not hold it whole yet"
        case .badBlobRequest(let problem): problem
        case .rangeNotSatisfiable(let offset, let size): "the range starts at byte \(offset); the attachment has \(size) bytes"
        case .offsetMismatch(let held, let offered):
            "the upload starts at byte \(offered) but the server holds \(held) bytes of this attachment; resume from \(held)"
        case .hashMismatch(let hash):
            "the uploaded bytes do not hash to \(hash.prefix(12)); the server kept nothing of them"
        case .sizeMismatch(let referenced, let declared):
            "the upload declares \(declared) bytes; the project's records give this attachment \(referenced)"
        case .blobTooLarge(let size, let limit): "the attachment has \(size) bytes; this server accepts at most \(limit) per file"
        case .projectFull(let held, let adding, let limit):
            "this project's attachments take \(held) bytes and this one adds \(adding); the server's limit is \(limit) per project"
        }
    }

    public var description: String { message }
}
