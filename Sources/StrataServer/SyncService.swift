import Foundation
import StrataCodec
import StrataCore
import StrataStore

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
    /// The `Retry-After` of a 503: when the storage cannot be read or written (a request's
    /// storage failure, `/readyz`).
    public var unavailableRetryAfterSeconds = ServerLimits.defaultUnavailableRetryAfterSeconds
    public static let defaultUnavailableRetryAfterSeconds = 5
    /// Largest attachment accepted (`PUT …/blobs/{hash}`), in bytes: the largest `attach` takes.
    public var maxBlobBytes: UInt64 = Store.maxAttachmentBytes
    /// Most attachment bytes one project may hold (whole and partial).
    public var maxProjectBlobBytes: UInt64 = 64 << 30
    public init() {}
}

/// The sync protocol's server logic, without HTTP: authenticate, authorise, decode, read and
/// append through `ServerStorage`. Failures are `SyncFailure` kinds; statuses are the edge's.
///
/// Each change is decoded at most once per request: a pull reads each missing change from the
/// log once and encodes the answer once; a push decodes the body once and appends it.
public struct SyncService: Sendable {
    public let storage: any ServerStorage
    public let limits: ServerLimits
    let rateLimiter: RateLimiter?

    public init(storage: any ServerStorage, limits: ServerLimits = ServerLimits()) {
        self.storage = storage
        self.limits = limits
        rateLimiter = limits.rateLimit.map(RateLimiter.init)
    }

    /// Checks the bearer token against the project; returns the grant and the project's storage.
    public func authorize(token: String?, project: String, needs role: Role) async throws(SyncFailure) -> (
        Grant, any ProjectStorage
    ) {
        guard let token, !token.isEmpty else { throw SyncFailure(.noToken) }
        let grant: Grant?
        let storage: (any ProjectStorage)?
        do {
            grant = try await self.storage.authenticate(token)
            storage = try await self.storage.project(project)
        } catch {
            throw SyncFailure(.storage(what: "read its data", logged: true), cause: error)
        }
        guard let grant else { throw SyncFailure(.unknownToken) }
        if let rateLimiter, let wait = rateLimiter.take(grant.tokenID) { throw SyncFailure(.rateLimited(retryAfter: wait)) }
        guard let storage else { throw SyncFailure(.noSuchProject(project)) }
        guard grant.project == project else { throw SyncFailure(.wrongProject(token: grant.project, asked: project)) }
        guard grant.role >= role else { throw SyncFailure(.roleTooLow(has: grant.role, needs: role)) }
        return (grant, storage)
    }

    public func session(token: String?, project: String) async throws(SyncFailure) -> SessionInfo {
        let (grant, storage) = try await authorize(token: token, project: project, needs: .read)
        let vv: VersionVector
        do { vv = try await storage.versionVector() } catch { throw SyncFailure(.storage(what: "read the project", logged: true), cause: error) }
        return SessionInfo(
            protocol: Int(SyncCodec.protocolVersion), project: project, researcher: grant.researcher,
            role: grant.role, serverReplica: storage.replicaID.hex, version: vv.description,
            maxBatchBytes: limits.maxBatchBytes, maxBodyBytes: limits.maxBodyBytes)
    }

    /// One batch of what the client lacks.
    public func pull(token: String?, project: String, body: [UInt8]) async throws(SyncFailure) -> PullResponse {
        let (_, storage) = try await authorize(token: token, project: project, needs: .read)
        let request: PullRequest
        do { request = try SyncCodec.decodePullRequest(body, limits: limits.codec) } catch {
            throw SyncFailure(.undecodable(error, what: "the pull request was refused"))
        }
        let bound = max(1, min(request.maxBatchBytes, limits.maxBatchBytes))
        do {
            let batch = try await storage.changes(missingFrom: request.version, maxBytes: bound)
            return PullResponse(
                replica: storage.replicaID, version: try await storage.versionVector(), changes: batch.changes,
                remaining: batch.remaining)
        } catch {
            throw SyncFailure(.storage(what: "read the project", logged: true), cause: error)
        }
    }

    /// Appends a pushed change set: all of it or nothing. The set is decoded a bounded batch at
    /// a time inside the storage's one transaction (``PushedChanges``), so the memory a push
    /// takes is its body and one batch, not every change decoded at once; a set refused
    /// however far into it, or a change refused in any batch, stores nothing.
    public func push(token: String?, project: String, body: [UInt8], now: UInt64 = Store.wallClockMillis())
        async throws(SyncFailure) -> PushResult
    {
        let (grant, storage) = try await authorize(token: token, project: project, needs: .write)
        let role = grant.role
        let researcher = grant.researcher
        do {
            let push = try PushedChanges(changeSet: body, limits: limits.codec)
            // A change the server already holds may come back from anyone (a relayed copy); a new
            // one must be the token's researcher's own (an admin may relay anyone's).
            let r = try await storage.append(push, now: now) { change, present in
                if role < .admin && !present && !role.mayPush(authoredBy: change.author, as: researcher) {
                    throw SyncFailure(.foreignAuthor(change: change.id, researcher: researcher, role: role))
                }
            }
            return PushResult(
                applied: r.applied, duplicates: r.duplicates, version: try await storage.versionVector().description)
        } catch let f as SyncFailure {
            throw f
        } catch let e as CodecError {
            throw SyncFailure(.undecodable(e, what: "the pushed change set was refused"))
        } catch let e as ClockSkewError {
            throw SyncFailure(.clockSkew(e))
        } catch let e as ChangeValidationError {
            throw SyncFailure(.invalidChange(e))
        } catch {
            throw SyncFailure(.storage(what: "apply the changes", logged: true), cause: error)
        }
    }
}
