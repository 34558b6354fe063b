import Foundation
import StrataCodec
import StrataCore
import StrataStore

/// Progress of a sync, for a progress bar.
public struct SyncProgress: Sendable {
    public enum Phase: String, Sendable { case pulling, pushing }
    public var phase: Phase
    public var done: Int
    public var total: Int
}

/// What a sync did.
public struct SyncReport: Sendable, Equatable {
    public var pulled = 0
    public var pushed = 0
    public var pullBatches = 0
    public var pushBatches = 0
    /// Changes the server lacks that this token may not push: other researchers' changes for a
    /// write token, every change for a read token.
    public var notRelayed = 0
    public var serverVersion = VersionVector()
    public var researcher = ""
    public var role = ""
}

/// Brings a replica and a server to the same set of changes: pull until nothing is missing,
/// then push what the server lacks, in batches bounded in bytes.
///
/// > Invariant: each pulled batch is applied in one transaction and is then acknowledged by
/// > the replica's version vector; each pushed batch is applied by the server in one
/// > transaction. A sync cut at any point resumes from what both sides hold, without
/// > resending acknowledged batches.
public struct SyncClient: Sendable {
    public let store: Store
    public let transport: any SyncTransport
    /// Batch bound asked of the server, and used for pushes (uncompressed change bytes).
    public var maxBatchBytes = 1 << 20
    /// Upper bound on requests in one sync, so a misbehaving server cannot loop us forever.
    public var maxRequests = 100_000

    public init(store: Store, transport: any SyncTransport) {
        self.store = store
        self.transport = transport
    }

    public func sync(progress: @Sendable (SyncProgress) -> Void = { _ in }) async throws -> SyncReport {
        var report = SyncReport()
        let info = try await transport.session()
        guard info.protocol == Int(SyncCodec.protocolVersion) else {
            throw SyncClientError("the server speaks sync protocol \(info.protocol), this strata speaks \(SyncCodec.protocolVersion); upgrade the older one")
        }
        report.researcher = info.researcher
        report.role = info.role
        let batchBytes = max(1, min(maxBatchBytes, info.maxBatchBytes))
        var requests = 0

        // Pull until the server says nothing is missing. The next batch is requested while this
        // one is applied (the server encodes and sends it meanwhile), asking from the version
        // this replica will have once the batch is in; if applying fails, that request is
        // cancelled and its answer dropped, so nothing unapplied is ever acknowledged.
        var serverVersion = VersionVector(text: info.version) ?? VersionVector()
        var total: Int? = nil
        func pull(from version: VersionVector) throws -> Task<PullResponse, any Error> {
            requests += 1
            if requests > maxRequests { throw SyncClientError("gave up after \(maxRequests) requests; sync again") }
            let request = PullRequest(replica: store.replicaID, version: version, maxBatchBytes: batchBytes)
            return Task { [transport] in try await transport.pull(request) }
        }
        var asked = try store.versionVector()
        var inFlight = try pull(from: asked)
        while true {
            let response = try await inFlight.value
            serverVersion = response.version
            let nextAsk = asked.advanced(by: response.changes.map(\.id))
            let next = response.more ? try pull(from: nextAsk) : nil
            let result: ApplyResult
            do { result = try store.apply(response.changes) } catch {
                next?.cancel()
                throw error
            }
            report.pulled += result.applied
            report.pullBatches += 1
            if total == nil { total = response.changes.count + response.remaining }
            progress(SyncProgress(phase: .pulling, done: report.pulled, total: max(total ?? 0, report.pulled + response.remaining)))
            guard let next else { break }
            if result.applied == 0 && nextAsk == asked {
                next.cancel()
                throw SyncClientError("the server keeps sending changes this replica already has; sync again, or report this")
            }
            asked = nextAsk
            inFlight = next
        }

        // Push what the server lacks (only our researcher's own changes unless relaying is allowed).
        let missing = try store.changes(missingFrom: serverVersion)
        let toPush: [Change]
        switch info.role {
        case "admin": toPush = missing
        case "write": toPush = missing.filter { $0.author == info.researcher }
        default: toPush = []  // a read token pulls only
        }
        report.notRelayed = missing.count - toPush.count
        var batch: [Change] = []
        var size = 0
        func flush() async throws {
            guard !batch.isEmpty else { return }
            requests += 1
            if requests > maxRequests { throw SyncClientError("gave up after \(maxRequests) requests; sync again") }
            let r = try await transport.push(batch)
            report.pushed += r.applied
            report.pushBatches += 1
            if let v = VersionVector(text: r.version) { serverVersion = serverVersion.merged(with: v) }
            progress(SyncProgress(phase: .pushing, done: report.pushed, total: toPush.count))
            batch.removeAll(keepingCapacity: true)
            size = 0
        }
        for c in toPush {
            let n = ChangeCodec.encode(c).count
            if !batch.isEmpty && size + n > batchBytes { try await flush() }
            batch.append(c)
            size += n
        }
        try await flush()
        report.serverVersion = serverVersion
        return report
    }
}
