import StrataCodec
import StrataCore

/// Progress of a sync, for a progress bar.
public struct SyncProgress: Sendable, Equatable {
    public enum Phase: String, Sendable { case pulling, pushing }
    public var phase: Phase
    public var done: Int
    public var total: Int

    public init(phase: Phase, done: Int, total: Int) {
        self.phase = phase
        self.done = done
        self.total = total
    }
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
    public var role = Role.read

    public init() {}
}

/// Why a sync session stopped on its own (not because the transport or the store failed).
public struct SyncSessionFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The server speaks another sync protocol version.
        case protocolMismatch(server: Int, client: Int)
        /// A pull answer brought nothing new and the next one would ask from the same version:
        /// a server that does not move would keep the client pulling forever.
        case serverDoesNotAdvance
        /// The session made its bound of requests.
        case tooManyRequests(Int)
    }

    public let kind: Kind
    public init(_ kind: Kind) { self.kind = kind }

    public var description: String {
        switch kind {
        case .protocolMismatch(let server, let client):
            "the server speaks sync protocol \(server), this strata speaks \(client); upgrade the older one"
        case .serverDoesNotAdvance:
            "the server keeps sending changes this replica already has; sync again, or report this"
        case .tooManyRequests(let n):
            "gave up after \(n) requests; sync again"
        }
    }
}

/// A sync between a replica and a server as a pure state machine: no I/O, no clock reads.
///
/// The caller (``SyncClient`` is the real one) performs the actions it returns, one after the
/// other, and feeds back what each produced: the server's pull answers, the store's apply
/// results and lists of what the server lacks, the server's push answers. Everything a sync
/// decides lives here once: the pull loop and its pipelining, push pipelining, where a resumed
/// sync starts, the guard against a server that does not move, the role's push filter, push
/// batching by stored sizes, the request bound, progress and the report.
///
/// > Invariant: a pulled batch is acknowledged only by the replica's version vector after
/// > `apply` succeeded; a pull in flight when an apply fails is cancelled and its answer never
/// > applied. A sync cut anywhere resumes from what both sides hold: pulls start from the
/// > replica's vector, pushes from the server's. Two pushes in flight may reach the server in
/// > either order; both storages keep a change whose predecessors' batch is still on its way
/// > (their version vectors count only contiguous seqs), so the order changes nothing.
public struct SyncSession: Sendable {
    /// What the caller does next.
    public enum Action: Sendable, Equatable {
        /// Send this pull request. The answer comes back through ``received(_:)``; the request
        /// may be in flight while the previous batch is applied.
        case pull(PullRequest)
        /// Wait for the answer of the pull in flight and report it with ``received(_:)``.
        case awaitPull
        /// Apply these pulled changes to the replica in one transaction; report with ``applied(_:)``.
        case apply([Change])
        /// Drop the pull in flight: its answer must not be applied.
        case cancelPull
        /// List the logged changes missing from this server version, with their stored sizes;
        /// report with ``found(_:)``.
        case listMissing(from: VersionVector)
        /// Read these changes from the log and send them as one change set. The push may be in
        /// flight while the one before it is answered (at most ``pushesInFlight`` at once);
        /// answers are awaited in the order the pushes were sent.
        case push([ChangeID])
        /// Wait for the answer of the oldest push in flight and report it with ``pushed(_:)``.
        case awaitPush
        /// The sync is complete.
        case finish(SyncReport)
        /// The sync stopped; nothing unacknowledged was applied.
        case fail(SyncSessionFailure)
    }

    public struct Limits: Sendable, Equatable {
        /// Batch bound asked of the server, and used for pushes (stored change bytes).
        public var maxBatchBytes = 1 << 20
        /// Upper bound on requests in one sync, so a misbehaving server cannot loop us forever.
        public var maxRequests = 100_000
        public init() {}
    }

    enum State: Sendable, Equatable {
        case start
        /// A pull asking from `asked` is in flight.
        case pulling(asked: VersionVector)
        /// A pulled batch is being applied; if `nextAsk` is set, a pull asking from it is in
        /// flight.
        case applying(asked: VersionVector, nextAsk: VersionVector?, remaining: Int)
        case listing
        /// Push batches: those before `next` are sent, `inFlight` of them not yet answered.
        case pushing(batches: [[ChangeID]], next: Int, inFlight: Int)
        case done
    }

    public let replica: ReplicaID
    public let info: SessionInfo
    public let batchBytes: Int
    public let limits: Limits
    var state = State.start
    var localVersion: VersionVector
    var requests = 0
    var pullTotal: Int? = nil
    var pushTotal = 0
    public private(set) var report = SyncReport()
    /// What to show a person at the terminal, derived from the state.
    public private(set) var progress: SyncProgress? = nil

    /// A session for `replica`, whose version vector is `localVersion`, with a server that
    /// answered `info`.
    public init(replica: ReplicaID, localVersion: VersionVector, info: SessionInfo, limits: Limits = Limits()) {
        self.replica = replica
        self.info = info
        self.localVersion = localVersion
        self.limits = limits
        batchBytes = max(1, min(limits.maxBatchBytes, info.maxBatchBytes))
        report.researcher = info.researcher
        report.role = info.role
        report.serverVersion = VersionVector(text: info.version) ?? VersionVector()
    }

    /// The first actions.
    public mutating func start() -> [Action] {
        precondition(state == .start, "a sync session starts once")
        guard info.protocol == Int(SyncCodec.protocolVersion) else {
            return fail(.protocolMismatch(server: info.protocol, client: Int(SyncCodec.protocolVersion)))
        }
        return pull(from: localVersion)
    }

    /// The answer to the pull in flight.
    public mutating func received(_ response: PullResponse) -> [Action] {
        guard case .pulling(let asked) = state else { preconditionFailure("no pull in flight") }
        report.serverVersion = response.version
        if pullTotal == nil { pullTotal = response.changes.count + response.remaining }
        guard response.more else {
            state = .applying(asked: asked, nextAsk: nil, remaining: 0)
            return [.apply(response.changes)]
        }
        // Ask for the next batch while this one is applied, from the version the replica will
        // hold once it is in.
        let nextAsk = asked.advanced(by: response.changes.map(\.id))
        state = .applying(asked: asked, nextAsk: nextAsk, remaining: response.remaining)
        guard takeRequest() else { return fail(.tooManyRequests(limits.maxRequests)) }
        return [.pull(pullRequest(from: nextAsk)), .apply(response.changes)]
    }

    /// The store applied the batch handed out by `.apply`, of which `applied` changes were new.
    public mutating func applied(_ applied: Int) -> [Action] {
        guard case .applying(let asked, let nextAsk, let remaining) = state else { preconditionFailure("no batch being applied") }
        report.pulled += applied
        report.pullBatches += 1
        progress = SyncProgress(
            phase: .pulling, done: report.pulled, total: max(pullTotal ?? 0, report.pulled + remaining))
        guard let nextAsk else {
            state = .listing
            return [.listMissing(from: report.serverVersion)]
        }
        if applied == 0 && nextAsk == asked { return fail(.serverDoesNotAdvance, cancelling: true) }
        state = .pulling(asked: nextAsk)
        return [.awaitPull]
    }

    /// The store refused the batch handed out by `.apply` (nothing of it was written). The
    /// session ends; a pull sent early must be dropped, so its answer is never applied.
    public mutating func applyFailed() -> [Action] {
        guard case .applying(_, let nextAsk, _) = state else { preconditionFailure("no batch being applied") }
        state = .done
        return nextAsk == nil ? [] : [.cancelPull]
    }

    /// What the replica holds that the server's version lacks, in (replica, seq) order.
    public mutating func found(_ missing: [PushCandidate]) -> [Action] {
        guard state == .listing else { preconditionFailure("no listing asked") }
        var batches: [[ChangeID]] = []
        var batch: [ChangeID] = []
        var size = 0
        for c in missing {
            guard info.role.mayPush(authoredBy: c.author, as: info.researcher) else {
                report.notRelayed += 1
                continue
            }
            if !batch.isEmpty && size + c.bytes > batchBytes {
                batches.append(batch)
                batch.removeAll(keepingCapacity: true)
                size = 0
            }
            batch.append(c.id)
            size += c.bytes
            pushTotal += 1
        }
        if !batch.isEmpty { batches.append(batch) }
        return nextPushes(batches: batches, next: 0, inFlight: 0)
    }

    /// The server's answer to the oldest push in flight.
    public mutating func pushed(_ result: PushResult) -> [Action] {
        guard case .pushing(let batches, let next, let inFlight) = state, inFlight > 0 else { preconditionFailure("no push in flight") }
        report.pushed += result.applied
        report.pushBatches += 1
        if let v = VersionVector(text: result.version) { report.serverVersion = report.serverVersion.merged(with: v) }
        progress = SyncProgress(phase: .pushing, done: report.pushed, total: pushTotal)
        return nextPushes(batches: batches, next: next, inFlight: inFlight - 1)
    }

    /// Pushes sent before the first is answered: the next batch travels while the server
    /// applies the one before and its answer comes back, so a link with a long round trip
    /// stays busy. Two are enough for that; more would only hold more of the server's work
    /// (and of a cut link's bytes) in the air.
    public static let pushesInFlight = 2

    /// Sends batches up to the pipelining depth, then waits for the oldest answer.
    mutating func nextPushes(batches: [[ChangeID]], next: Int, inFlight: Int) -> [Action] {
        var next = next
        var inFlight = inFlight
        var actions: [Action] = []
        while next < batches.count && inFlight < Self.pushesInFlight {
            guard takeRequest() else { return fail(.tooManyRequests(limits.maxRequests)) }
            actions.append(.push(batches[next]))
            next += 1
            inFlight += 1
        }
        guard inFlight > 0 else {
            state = .done
            return [.finish(report)]
        }
        state = .pushing(batches: batches, next: next, inFlight: inFlight)
        return actions + [.awaitPush]
    }

    mutating func pull(from version: VersionVector) -> [Action] {
        guard takeRequest() else { return fail(.tooManyRequests(limits.maxRequests)) }
        state = .pulling(asked: version)
        return [.pull(pullRequest(from: version)), .awaitPull]
    }

    func pullRequest(from version: VersionVector) -> PullRequest {
        PullRequest(replica: replica, version: version, maxBatchBytes: batchBytes)
    }

    /// Counts one more request; false past the bound.
    mutating func takeRequest() -> Bool {
        requests += 1
        return requests <= limits.maxRequests
    }

    mutating func fail(_ kind: SyncSessionFailure.Kind, cancelling: Bool = false) -> [Action] {
        state = .done
        return (cancelling ? [.cancelPull] : []) + [.fail(SyncSessionFailure(kind))]
    }
}
