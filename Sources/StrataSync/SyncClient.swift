import Foundation
import StrataCodec
import StrataCore
import StrataStore

/// Runs a ``SyncSession`` between a replica and a server over a transport: the thin, I/O half
/// of a sync. It performs the session's actions (requests, applies, log reads) and feeds their
/// results back; every decision is the session's.
///
/// Each change crosses the boundary once each way: a pulled change is decoded from the answer
/// once and applied; a pushed change is decoded from the log once and encoded into the pushed
/// change set once (batches are cut by the sizes the log stores, without encoding anything).
/// A pull is sent while the batch before it is applied, and a push while the one before it is
/// answered (`SyncSession.pushesInFlight`).
public struct SyncClient: Sendable {
    public let store: Store
    public let transport: any SyncTransport
    /// Batch bound asked of the server, and used for pushes (stored change bytes).
    public var maxBatchBytes = 1 << 20
    /// Upper bound on requests in one sync, so a misbehaving server cannot loop us forever.
    public var maxRequests = 100_000
    /// The remote this server is configured as: each pulled batch then records the server's
    /// version in the same transaction as its apply (`SyncStateUpdate.serverVersion`).
    public var remote: String? = nil

    public init(store: Store, transport: any SyncTransport) {
        self.store = store
        self.transport = transport
    }

    public func sync(progress: @Sendable (SyncProgress) -> Void = { _ in }) async throws -> SyncReport {
        let info = try await transport.session()
        var limits = SyncSession.Limits()
        limits.maxBatchBytes = maxBatchBytes
        limits.maxRequests = maxRequests
        var session = SyncSession(replica: store.replicaID, localVersion: try store.versionVector(), info: info, limits: limits)
        var actions = session.start()[...]
        var inFlight: Task<PullResponse, any Error>? = nil
        // Pushes sent and not yet answered, oldest first (the session keeps at most two).
        var pushes: [Task<PushResult, any Error>] = []
        var shown: SyncProgress? = nil
        defer {
            inFlight?.cancel()
            for push in pushes { push.cancel() }
        }
        while let action = actions.popFirst() {
            var next: [SyncSession.Action] = []
            switch action {
            case .pull(let request):
                inFlight = Task { [transport] in try await transport.pull(request) }
            case .awaitPull:
                guard let task = inFlight else { preconditionFailure("the session awaits a pull it did not send") }
                inFlight = nil
                next = session.received(try await task.value)
            case .apply(let changes):
                let recording = remote.map { SyncStateUpdate.serverVersion(remote: $0, session.report.serverVersion) }
                let result: ApplyResult
                do { result = try store.apply(changes, recording: recording) } catch {
                    for case .cancelPull in session.applyFailed() {
                        inFlight?.cancel()
                        inFlight = nil
                    }
                    throw error
                }
                next = session.applied(result.applied)
            case .cancelPull:
                inFlight?.cancel()
                inFlight = nil
            case .listMissing(let version):
                next = session.found(try store.pushCandidates(missingFrom: version))
            case .push(let ids):
                let changes = try store.changes(ids)
                pushes.append(Task { [transport] in try await transport.push(changes) })
            case .awaitPush:
                guard !pushes.isEmpty else { preconditionFailure("the session awaits a push it did not send") }
                next = session.pushed(try await pushes.removeFirst().value)
            case .finish(let report):
                return report
            case .fail(let failure):
                throw SyncClientError(failure)
            }
            if let p = session.progress, p != shown {
                progress(p)
                shown = p
            }
            actions.append(contentsOf: next)
        }
        preconditionFailure("a sync session ended without finishing or failing")
    }
}
