import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import StrataCodec
import StrataCore

/// The sync protocol over HTTP (AsyncHTTPClient). Bodies are Strata's own media types; the
/// client never asks for or decodes HTTP content encodings (zlib lives inside the change
/// sets), so middleboxes cannot inflate them.
public final class HTTPTransport: SyncTransport {
    public let baseURL: String
    public let project: String
    let token: String
    /// For pulls and pushes: a connection that fails to open is retried (with backoff, within
    /// the connect timeout), as a poor link or a restarting server needs mid-sync.
    let client: HTTPClient
    /// For the first contact (`session`): a refused connection fails at once, so the person at
    /// the terminal learns the server is not there now instead of waiting out the timeout.
    let probe: HTTPClient
    /// For attachment bytes: no idle read timeout, which starts once the body is handed to the
    /// kernel and would fire while a slow link still drains it (a 3 MB photo at 64 kbit/s
    /// takes six minutes); each transfer has a deadline instead (`transferDeadline`).
    let transfers: HTTPClient
    let timeout: TimeAmount
    /// Largest response body accepted.
    let maxResponseBytes: Int
    /// The longest `Retry-After` (seconds) the transport waits out when the server answers 429
    /// (rate limited: up to three times per request) or 503 (its storage unavailable: once); a
    /// longer one fails the request with a message saying when to sync again.
    let maxRetryAfterSeconds: Int
    /// Told what the transport is waiting for (e.g. a rate limit), for the person at the terminal.
    let notice: @Sendable (String) -> Void

    public init(
        baseURL: String, project: String, token: String, timeout: TimeAmount = .seconds(120), maxResponseBytes: Int = 64 << 20,
        maxRetryAfterSeconds: Int = 60, notice: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.project = project
        self.token = token
        self.timeout = timeout
        self.maxResponseBytes = maxResponseBytes
        self.maxRetryAfterSeconds = maxRetryAfterSeconds
        self.notice = notice
        var config = HTTPClient.Configuration()
        config.decompression = .disabled
        config.timeout = .init(connect: .seconds(15), read: timeout)
        config.redirectConfiguration = .disallow
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
        var transferConfig = config
        transferConfig.timeout.read = nil
        transfers = HTTPClient(eventLoopGroupProvider: .singleton, configuration: transferConfig)
        // A connection that hangs still gets the connect timeout.
        config.connectionPool.retryConnectionEstablishment = false
        probe = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    public func close() async {
        try? await client.shutdown()
        try? await probe.shutdown()
        try? await transfers.shutdown()
    }

    var projectURL: String { "\(baseURL)/v1/projects/\(project)" }

    func send(
        _ path: String, method: HTTPMethod, mediaType: String? = nil, body: [UInt8]? = nil, firstContact: Bool = false
    ) async throws -> [UInt8] {
        let via = firstContact ? probe : client
        // Rate limited, or the server cannot reach its storage for now: wait as long as the
        // server asks, then try again. Resending is safe: a refused push applied nothing, and a
        // push applied twice changes nothing. A rate limit is waited out up to three times: two
        // pipelined pushes share one token's bucket, so a retry can lose the refilled request
        // to its sibling; an unavailable storage once.
        var waited = 0
        var previous: SyncClientError? = nil
        while true {
            do {
                return try await attempt(path, method: method, mediaType: mediaType, body: body, via: via)
            } catch let e as SyncClientError where e.status == 429 || e.status == 503 {
                let limited = e.status == 429
                let wait = e.retryAfter ?? (limited ? 1 : 5)
                if let previous, previous.status != e.status || waited >= (limited ? 3 : 1) {
                    throw Self.gaveUp(e, wait: wait, again: true, baseURL: baseURL)
                }
                guard wait <= maxRetryAfterSeconds else { throw Self.gaveUp(e, wait: wait, again: previous != nil, baseURL: baseURL) }
                notice(
                    limited
                        ? "the server asks this token to slow down (rate limit): retrying in \(wait) s"
                        : "the server is unavailable for now (it cannot reach its storage): retrying in \(wait) s")
                try await Task.sleep(for: .seconds(wait))
                waited += 1
                previous = e
            }
        }
    }

    /// The error that ends a sync refused with 429 or 503 once too often, saying when to try again.
    static func gaveUp(_ e: SyncClientError, wait: Int, again: Bool, baseURL: String) -> SyncClientError {
        if e.status == 429 {
            return SyncClientError(
                status: 429, code: e.code, retryAfter: wait,
                again
                    ? "the server is still limiting how often this token may sync; wait \(wait) s, then sync again (your changes are safe here)"
                    : "the server is limiting how often this token may sync; try again in \(wait) s (your changes are safe here)")
        }
        return SyncClientError(
            status: 503, code: .unavailable, retryAfter: wait,
            "the server at \(baseURL) is unavailable: it cannot read or write its data now\(again ? ", still after one retry" : ""); your changes are safe on this machine"
        )
    }

    func attempt(_ path: String, method: HTTPMethod, mediaType: String?, body: [UInt8]?, via client: HTTPClient) async throws
        -> [UInt8]
    {
        var request = HTTPClientRequest(url: projectURL + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "User-Agent", value: StrataRelease.userAgent)
        if let body {
            request.headers.add(name: "Content-Type", value: mediaType ?? "application/octet-stream")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: timeout)
        } catch {
            throw SyncClientError(
                "cannot reach \(baseURL) (\(Self.describe(error))); your changes are safe here: sync again when the link is back")
        }
        let bytes: ByteBuffer
        do {
            bytes = try await response.body.collect(upTo: maxResponseBytes)
        } catch {
            throw SyncClientError(
                "the connection to \(baseURL) broke during the transfer (\(Self.describe(error))); sync again to resume")
        }
        let data = Array(bytes.readableBytesView)
        guard response.status.code == 200 else {
            let retryAfter = response.headers.first(name: "Retry-After").flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            if let obj = try? JSONSerialization.jsonObject(with: Data(data)) as? [String: Any],
                let err = obj["error"] as? [String: Any], let message = err["message"] as? String
            {
                throw SyncClientError(
                    status: Int(response.status.code), code: (err["code"] as? String).map(SyncErrorCode.init(rawValue:)), retryAfter: retryAfter,
                    "the server refused: \(message)")
            }
            throw SyncClientError(
                status: Int(response.status.code), retryAfter: retryAfter,
                "the server answered \(response.status.code) \(response.status.reasonPhrase); is \(baseURL) a Strata server?")
        }
        return data
    }

    public func session() async throws -> SessionInfo {
        let data = try await send("/session", method: .GET, firstContact: true)
        do {
            return try JSONDecoder().decode(SessionInfo.self, from: Data(data))
        } catch {
            throw SyncClientError("the server's session answer is not what Strata expects; is \(baseURL) a Strata server?")
        }
    }

    public func pull(_ request: PullRequest) async throws -> PullResponse {
        let data = try await send(
            "/pull", method: .POST, mediaType: SyncCodec.pullRequestMediaType, body: SyncCodec.encode(request))
        do {
            return try SyncCodec.decodePullResponse(data)
        } catch {
            throw SyncClientError(code: SyncErrorCode(error), "the server's pull answer was refused: \(error)")
        }
    }

    public func push(_ changes: [Change]) async throws -> PushResult {
        let data = try await send(
            "/push", method: .POST, mediaType: SyncCodec.changeSetMediaType, body: ChangeSetCodec.encode(changes))
        do {
            return try JSONDecoder().decode(PushResult.self, from: Data(data))
        } catch {
            throw SyncClientError("the server's push answer is not what Strata expects")
        }
    }

    static func describe(_ error: any Error) -> String {
        let s = String(describing: error)
        if s.contains("connectTimeout") { return "connection timed out" }
        if s.contains("Connection refused") || s.contains("connectionRefused") { return "connection refused" }
        if s.contains("readTimeout") || s.contains("deadlineExceeded") { return "no answer in time" }
        if s.contains("remoteConnectionClosed") { return "the server closed the connection" }
        if s.contains("CERTIFICATE_VERIFY_FAILED") || s.contains("handshakeFailed") {
            return "the server's TLS certificate is not trusted by this machine (expired, self-signed, or for another name)"
        }
        return s.count > 120 ? String(s.prefix(120)) + "…" : s
    }
}
