import Foundation
import StrataCodec
import StrataCore
import StrataStore

/// Why a sync request failed. The HTTP layer maps `status` to the response; `code` and
/// `message` go into the JSON error body.
public struct SyncFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public let status: Int
    public let code: String
    public let message: String
    /// Seconds the client should wait before trying again (sent as `Retry-After`).
    public let retryAfter: Int?

    public init(status: Int, code: String, _ message: String, retryAfter: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    public var description: String { message }

    static func unauthorized(_ m: String) -> SyncFailure { .init(status: 401, code: "unauthorized", m) }
    static func forbidden(_ m: String) -> SyncFailure { .init(status: 403, code: "forbidden", m) }
    static func notFound(_ m: String) -> SyncFailure { .init(status: 404, code: "not-found", m) }
    static func tooLarge(_ m: String) -> SyncFailure { .init(status: 413, code: "too-large", m) }
    /// The whole request (headers and body) did not arrive within the server's deadline.
    public static func requestTimeout(_ seconds: Int) -> SyncFailure {
        .init(
            status: 408, code: "request-timeout",
            "the request did not arrive within \(seconds) s; on a slow link sync with smaller batches (strata sync --batch-kb 256), then sync again")
    }
    static func rateLimited(retryAfter: Int) -> SyncFailure {
        .init(
            status: 429, code: "rate-limited",
            "too many requests with this token; wait \(retryAfter) s, then sync again (your changes are safe)",
            retryAfter: retryAfter)
    }

    /// A body that does not decode: 413 when a limit was hit, 400 otherwise; the codec's own
    /// code is kept so clients can tell "newer format" from "damaged".
    static func codec(_ e: CodecError, what: String) -> SyncFailure {
        .init(status: e.code == "too-large" ? 413 : 400, code: e.code, "\(what): \(e.description)")
    }
}

/// Who may do what, and where each project's replica is.
public protocol SyncBackend: Sendable {
    /// The grant of a token, or nil when it is unknown or revoked.
    func authenticate(_ token: String) throws -> Grant?
    /// The replica of a project, or nil when there is no such project.
    func store(for project: String) throws -> Store?
}

/// Limits the server enforces.
public struct ServerLimits: Sendable {
    /// Largest request body accepted (compressed bytes).
    public var maxBodyBytes = 32 << 20
    /// Largest pull batch, in uncompressed change bytes.
    public var maxBatchBytes = 1 << 20
    /// Decoder limits for request bodies (inflated size caps etc.).
    public var codec = CodecLimits.standard
    /// A request's headers must arrive within this many seconds of the connection opening (or
    /// of the previous response), and its body within this many seconds of its headers, so a
    /// client that sends one byte a second cannot hold a connection for long.
    public var requestTimeoutSeconds = 120
    /// Requests per token (nil: unlimited). `strata serve` turns on ``RateLimit/standard``.
    public var rateLimit: RateLimit? = nil
    public init() {}
}

/// The sync protocol's server logic, without HTTP: authenticate, authorise, decode, apply.
public struct SyncService: Sendable {
    public let backend: any SyncBackend
    public let limits: ServerLimits
    let rateLimiter: RateLimiter?

    public init(backend: any SyncBackend, limits: ServerLimits = ServerLimits()) {
        self.backend = backend
        self.limits = limits
        rateLimiter = limits.rateLimit.map(RateLimiter.init)
    }

    /// Checks the bearer token against the project; returns the grant and the project store.
    public func authorize(token: String?, project: String, needs role: Role) throws(SyncFailure) -> (Grant, Store) {
        guard let token, !token.isEmpty else {
            throw .unauthorized("no token: send `Authorization: Bearer <token>` (see `strata remote add`)")
        }
        let grant: Grant?
        let store: Store?
        do {
            grant = try backend.authenticate(token)
            store = try backend.store(for: project)
        } catch {
            throw SyncFailure(status: 500, code: "internal", "the server could not read its data; see its log")
        }
        guard let grant else { throw .unauthorized("the token is not valid (unknown or revoked); ask the project admin for a new one") }
        if let rateLimiter, let wait = rateLimiter.take(grant.tokenID) { throw .rateLimited(retryAfter: wait) }
        guard let store else { throw .notFound("no project '\(project)' on this server") }
        guard grant.project == project else {
            throw .forbidden("this token is for project '\(grant.project)', not '\(project)'")
        }
        guard grant.role >= role else {
            throw .forbidden("this token can only \(grant.role == .read ? "pull" : "push its own changes"); pushing needs a \(role.rawValue) token")
        }
        return (grant, store)
    }

    public func session(token: String?, project: String) throws(SyncFailure) -> SessionInfo {
        let (grant, store) = try authorize(token: token, project: project, needs: .read)
        let vv: VersionVector
        do { vv = try store.versionVector() } catch { throw SyncFailure(status: 500, code: "internal", "the server could not read the project") }
        return SessionInfo(
            protocol: Int(SyncCodec.protocolVersion), project: project, researcher: grant.researcher,
            role: grant.role.rawValue, serverReplica: store.replicaID.hex, version: vv.description,
            maxBatchBytes: limits.maxBatchBytes, maxBodyBytes: limits.maxBodyBytes)
    }

    /// One batch of what the client lacks.
    public func pull(token: String?, project: String, body: [UInt8]) throws(SyncFailure) -> PullResponse {
        let (_, store) = try authorize(token: token, project: project, needs: .read)
        let request: PullRequest
        do { request = try SyncCodec.decodePullRequest(body, limits: limits.codec) } catch {
            throw .codec(error, what: "the pull request was refused")
        }
        let bound = max(1, min(request.maxBatchBytes, limits.maxBatchBytes))
        do {
            let batch = try store.changes(missingFrom: request.version, maxBytes: bound)
            return PullResponse(
                replica: store.replicaID, version: try store.versionVector(), changes: batch.changes,
                remaining: batch.remaining)
        } catch {
            throw SyncFailure(status: 500, code: "internal", "the server could not read the project; see its log")
        }
    }

    /// Applies a pushed change set: all of it or nothing.
    public func push(token: String?, project: String, body: [UInt8], now: UInt64 = Store.wallClockMillis())
        throws(SyncFailure) -> PushResult
    {
        let (grant, store) = try authorize(token: token, project: project, needs: .write)
        let changes: [Change]
        do { changes = try ChangeSetCodec.decode(body, limits: limits.codec) } catch {
            throw .codec(error, what: "the pushed change set was refused")
        }
        do {
            if grant.role < .admin {
                // Who may push is decided on the researcher, so the name compares as Swift
                // strings do (canonical equivalence, as the client's filter does): a replica
                // whose name was typed with "e" + U+0301 is still this token's "é" researcher.
                // The changes keep their bytes either way.
                let present = try store.present(changes.map(\.id))
                if let foreign = changes.first(where: { !present.contains($0.id) && $0.author != grant.researcher }) {
                    throw SyncFailure.forbidden(
                        "change \(foreign.id) is by another researcher; a \(grant.role.rawValue) token pushes only changes authored by '\(grant.researcher)' (relaying needs an admin token)"
                    )
                }
            }
            let r = try store.apply(changes, now: now)
            return PushResult(applied: r.applied, duplicates: r.duplicates, version: try store.versionVector().description)
        } catch let f as SyncFailure {
            throw f
        } catch let e as ClockSkewError {
            throw SyncFailure(
                status: 422, code: "clock-skew",
                "change \(e.change) is stamped \(e.aheadMillis / 1000) s ahead of the server's clock (at most \(e.limitMillis / 1000) s accepted); fix the clock of the machine that made it, then sync again")
        } catch let e as ChangeValidationError {
            throw SyncFailure(status: 400, code: "invalid-change", "the pushed change set was refused: \(e)")
        } catch {
            throw SyncFailure(status: 500, code: "internal", "the server could not apply the changes; see its log")
        }
    }
}
