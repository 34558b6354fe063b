import StrataCodec
import StrataCore
import StrataSync
import Testing

/// The sync session as a pure state machine: each test feeds it what a store and a server
/// would report and checks the actions it asks for. No store, no transport, no clock.
@Suite struct SyncSessionTests {
    let me = ReplicaID(high: 1, low: 1)
    let server = ReplicaID(high: 9, low: 9)
    let khaled = ReplicaID(high: 2, low: 2)

    func info(role: Role = .write, researcher: String = "Maria", version: VersionVector = VersionVector(), maxBatch: Int = 1 << 20, protocol p: Int = 1)
        -> SessionInfo
    {
        SessionInfo(
            protocol: p, project: "palmyra", researcher: researcher, role: role, serverReplica: server.hex,
            version: version.description, maxBatchBytes: maxBatch, maxBodyBytes: 1 << 24)
    }

    func change(_ replica: ReplicaID, _ seq: UInt64, author: String = "Khaled") -> Change {
        let record = RecordID(high: 0x0190_0000_0000_7000 | seq, low: 0x8000_0000_0000_0000 | seq)
        return Change(
            id: ChangeID(replica: replica, seq: seq), timestamp: HybridTimestamp(wallMillis: 1_000 + seq, counter: 0),
            author: author, operations: [FieldOperation(record: record, key: FieldKey("title"), action: .assign(.text("t")), preds: [])])
    }

    func pullResponse(_ changes: [Change], remaining: Int, version: VersionVector = VersionVector()) -> PullResponse {
        PullResponse(replica: server, version: version, changes: changes, remaining: remaining)
    }

    /// A session whose pull found nothing, now listing what the server lacks.
    func readyToPush(role: Role = .write, maxBatchBytes: Int = 1 << 20, serverVersion: VersionVector = VersionVector())
        -> SyncSession
    {
        var limits = SyncSession.Limits()
        limits.maxBatchBytes = maxBatchBytes
        var s = SyncSession(replica: me, localVersion: VersionVector(), info: info(role: role, version: serverVersion), limits: limits)
        _ = s.start()
        _ = s.received(pullResponse([], remaining: 0, version: serverVersion))
        _ = s.applied(0)
        return s
    }

    @Test func aSessionStartsByPullingFromTheReplicasVersion() {
        let local = VersionVector([khaled: 4])
        var s = SyncSession(replica: me, localVersion: local, info: info())
        #expect(s.start() == [.pull(PullRequest(replica: me, version: local, maxBatchBytes: 1 << 20)), .awaitPull])
    }

    @Test func theBatchBoundIsTheSmallerOfClientAndServer() {
        var limits = SyncSession.Limits()
        limits.maxBatchBytes = 4096
        var s = SyncSession(replica: me, localVersion: VersionVector(), info: info(maxBatch: 1000), limits: limits)
        #expect(s.start().first == .pull(PullRequest(replica: me, version: VersionVector(), maxBatchBytes: 1000)))
    }

    @Test func anotherProtocolVersionFailsBeforeAnyRequest() {
        var s = SyncSession(replica: me, localVersion: VersionVector(), info: info(protocol: 2))
        #expect(s.start() == [.fail(SyncSessionFailure(.protocolMismatch(server: 2, client: 1)))])
    }

    @Test func theNextPullIsSentBeforeTheBatchInHandIsApplied() {
        var s = SyncSession(replica: me, localVersion: VersionVector(), info: info())
        _ = s.start()
        let batch = [change(khaled, 1), change(khaled, 2)]
        let actions = s.received(pullResponse(batch, remaining: 3))
        #expect(
            actions == [
                .pull(PullRequest(replica: me, version: VersionVector([khaled: 2]), maxBatchBytes: 1 << 20)), .apply(batch),
            ])
        #expect(s.applied(2) == [.awaitPull])
        #expect(s.progress == SyncProgress(phase: .pulling, done: 2, total: 5))
    }

    @Test func aServerThatDoesNotMoveIsRefusedAndThePullInFlightCancelled() {
        var s = SyncSession(replica: me, localVersion: VersionVector(), info: info())
        _ = s.start()
        // The batch's ids do not advance the vector (a gap: seq 5 without 1...4) and nothing is new.
        _ = s.received(pullResponse([change(khaled, 5)], remaining: 1))
        #expect(s.applied(0) == [.cancelPull, .fail(SyncSessionFailure(.serverDoesNotAdvance))])
    }

    @Test func aGapThatAppliesSomethingKeepsPulling() {
        var s = SyncSession(replica: me, localVersion: VersionVector(), info: info())
        _ = s.start()
        _ = s.received(pullResponse([change(khaled, 5)], remaining: 1))
        #expect(s.applied(1) == [.awaitPull])
    }

    @Test func afterTheLastBatchItListsWhatTheServerLacksFromTheServersVersion() {
        let serverVersion = VersionVector([khaled: 2])
        var s = SyncSession(replica: me, localVersion: VersionVector(), info: info())
        _ = s.start()
        #expect(s.received(pullResponse([change(khaled, 1), change(khaled, 2)], remaining: 0, version: serverVersion)) == [
            .apply([change(khaled, 1), change(khaled, 2)])
        ])
        #expect(s.applied(2) == [.listMissing(from: serverVersion)])
    }

    @Test func pushBatchesAreCutByStoredSizesAndAWriteTokenPushesOnlyItsOwn() {
        var s = readyToPush(maxBatchBytes: 100)
        let mine = (1...5).map { PushCandidate(id: ChangeID(replica: me, seq: UInt64($0)), author: "Maria", bytes: 40) }
        let relayed = PushCandidate(id: ChangeID(replica: khaled, seq: 1), author: "Khaled", bytes: 10)
        let first = s.found(mine + [relayed])
        // Two pushes in flight: the second is sent before the first is answered.
        #expect(first == [.push([mine[0].id, mine[1].id]), .push([mine[2].id, mine[3].id]), .awaitPush])
        #expect(s.pushed(PushResult(applied: 2, duplicates: 0, version: "")) == [.push([mine[4].id]), .awaitPush])
        #expect(s.progress == SyncProgress(phase: .pushing, done: 2, total: 5))
        #expect(s.pushed(PushResult(applied: 2, duplicates: 0, version: "")) == [.awaitPush])
        guard case .finish(let report)? = s.pushed(PushResult(applied: 1, duplicates: 0, version: "")).first else {
            Issue.record("expected the session to finish")
            return
        }
        #expect(report.pushed == 5 && report.pushBatches == 3 && report.notRelayed == 1)
        #expect(s.progress == SyncProgress(phase: .pushing, done: 5, total: 5))
    }

    @Test func oneChangeLargerThanTheBoundIsPushedAlone() {
        var s = readyToPush(maxBatchBytes: 10)
        let big = PushCandidate(id: ChangeID(replica: me, seq: 1), author: "Maria", bytes: 500)
        #expect(s.found([big]) == [.push([big.id]), .awaitPush])
    }

    @Test func aReadTokenPushesNothingAndAnAdminRelaysEverything() {
        for (role, pushes) in [(Role.read, 0), (.admin, 2)] {
            var s = readyToPush(role: role)
            let actions = s.found([
                PushCandidate(id: ChangeID(replica: me, seq: 1), author: "Maria", bytes: 1),
                PushCandidate(id: ChangeID(replica: khaled, seq: 1), author: "Khaled", bytes: 1),
            ])
            if pushes == 0 {
                guard case .finish(let r)? = actions.first else { return #expect(Bool(false), "\(role)") }
                #expect(r.notRelayed == 2 && r.pushed == 0)
            } else {
                #expect(actions.count == 2 && actions.last == .awaitPush)
                if case .push(let ids)? = actions.first { #expect(ids.count == 2) } else { Issue.record("\(actions)") }
            }
        }
    }

    @Test func pushAnswersAdvanceTheServerVersionInTheReport() {
        var s = readyToPush(serverVersion: VersionVector([khaled: 3]))
        _ = s.found([PushCandidate(id: ChangeID(replica: me, seq: 1), author: "Maria", bytes: 1)])
        guard case .finish(let r)? = s.pushed(PushResult(applied: 1, duplicates: 0, version: VersionVector([me: 1]).description)).first
        else { return #expect(Bool(false)) }
        #expect(r.serverVersion == VersionVector([khaled: 3, me: 1]))
    }

    /// Pushes are pipelined two deep: after each answer the next batch goes out, the session
    /// finishes only when every push sent was answered, and each push counts against the
    /// request bound when it is sent.
    @Test func pushesArePipelinedTwoDeepAndAnsweredInOrder() {
        var s = readyToPush(maxBatchBytes: 1)
        let ids = (1...4).map { ChangeID(replica: me, seq: UInt64($0)) }
        let actions = s.found(ids.map { PushCandidate(id: $0, author: "Maria", bytes: 1) })
        #expect(actions == [.push([ids[0]]), .push([ids[1]]), .awaitPush])
        #expect(s.pushed(PushResult(applied: 1, duplicates: 0, version: VersionVector([me: 1]).description)) == [.push([ids[2]]), .awaitPush])
        #expect(s.pushed(PushResult(applied: 1, duplicates: 0, version: VersionVector([me: 2]).description)) == [.push([ids[3]]), .awaitPush])
        #expect(s.pushed(PushResult(applied: 1, duplicates: 0, version: VersionVector([me: 3]).description)) == [.awaitPush])
        guard case .finish(let r)? = s.pushed(PushResult(applied: 1, duplicates: 0, version: VersionVector([me: 4]).description)).first
        else { return #expect(Bool(false)) }
        #expect(r.pushed == 4 && r.pushBatches == 4)
        #expect(r.serverVersion == VersionVector([me: 4]))

        var limits = SyncSession.Limits()
        limits.maxBatchBytes = 1
        limits.maxRequests = 2  // the first pull and one push
        var bounded = SyncSession(replica: me, localVersion: VersionVector(), info: info(), limits: limits)
        _ = bounded.start()
        _ = bounded.received(pullResponse([], remaining: 0))
        _ = bounded.applied(0)
        #expect(bounded.found(ids.map { PushCandidate(id: $0, author: "Maria", bytes: 1) }) == [.fail(SyncSessionFailure(.tooManyRequests(2)))])
    }

    @Test func theRequestBoundStopsASessionThatWouldNeverEnd() {
        var limits = SyncSession.Limits()
        limits.maxRequests = 3
        var s = SyncSession(replica: me, localVersion: VersionVector(), info: info(), limits: limits)
        _ = s.start()
        var last: [SyncSession.Action] = []
        for seq in 1...5 {
            last = s.received(pullResponse([change(khaled, UInt64(seq))], remaining: 10))
            if last.first == .fail(SyncSessionFailure(.tooManyRequests(3))) { break }
            _ = s.applied(1)
        }
        #expect(last == [.fail(SyncSessionFailure(.tooManyRequests(3)))])
    }
}
