import Foundation
import PropertyBased
import StrataCodec
import StrataServer
import StrataStore
import StrataSync
import StrataSyncTesting
import StrataTestSupport
import Testing

@testable import StrataCore

/// Three researchers edit offline and sync through a server, in a seeded random order, until
/// quiescent: every replica and the server end identical. The server's service is reached in
/// process (the same codec both ways, no socket), unless `overHTTP`.
func randomSyncSchedule(seed: UInt64, steps: Int = 40, overHTTP: Bool = false, storage: TestStorage = .sqlite) async throws {
    let names = ["Khaled", "Maria", "Omar"]
    try await withTeam(storage, researchers: names) { team in try await randomSyncSchedule(seed: seed, steps: steps, overHTTP: overHTTP, team: team) }
}

func randomSyncSchedule(seed: UInt64, steps: Int, overHTTP: Bool, team: TestTeam) async throws {
    let names = ["Khaled", "Maria", "Omar"]
    let dir = try TemporaryDirectory()
    let ids = Simulation.makeReplicaIDs(seed: seed, count: 3)
    let created = try (0..<3).map { i in
        try Store.create(at: dir.file("\(names[i]).strata"), author: names[i], replicaID: ids[i])
    }
    let tokens = team.tokens
    try await withEndpoint(team.backend, inProcess: !overHTTP) { url in
        var stores = created
        var sim = Simulation(seed: seed, replicas: 3)
        var rng = SeededRandom(seed: seed ^ 0x5151)
        var syncs = 0
        for _ in 0..<steps {
            sim.now += UInt64.random(in: 0...3_000, using: &rng)
            if rng.chance(0.65) {
                try sim.randomEdit(&stores)
            } else {
                let i = Int.random(in: 0..<3, using: &rng)
                // Small batches so that long syncs take several requests.
                try await sync(stores[i], url, token: tokens[names[i]]!, batchBytes: Int.random(in: 200...4000, using: &rng))
                syncs += 1
            }
        }
        // Until quiescent: two rounds bring everything everywhere.
        for _ in 0..<2 {
            for i in 0..<3 { try await sync(stores[i], url, token: tokens[names[i]]!) }
        }
        // What the server holds, whether it materialises records (SQLite) or keeps only the log.
        let server = try await team.serverReplica()
        let serverVersion = try await team.projectStorage().versionVector()
        let reference = try server.snapshot()
        for s in stores {
            #expect(try s.snapshot() == reference, "seed \(seed), \(team.storage): \(s.path) differs from the server")
            #expect(try s.versionVector() == serverVersion, "seed \(seed), \(team.storage)")
        }
        #expect(try server.check() == [])
        if let sqlite = team.backend as? TeamStorage, let materialised = try sqlite.store(for: "palmyra") {
            #expect(try materialised.snapshot() == reference)
            #expect(try materialised.check() == [])
        }
    }
}

@Suite struct SyncConvergenceTests {
    @Test func threeResearchersConvergeThroughAServer() async {
        let runs = ProcessEnvironment.int("STRATA_SYNC_PROPERTY_RUNS", default: 16)
        await propertyCheck(count: runs, input: Gen<UInt64>.value(in: 0...UInt64.max)) { seed in
            try await randomSyncSchedule(seed: seed)
        }
    }

    @Test(arguments: TestStorage.all, [3, 1999] as [UInt64])
    func regressionSeeds(storage: TestStorage, seed: UInt64) async throws {
        try await randomSyncSchedule(seed: seed, steps: 80, storage: storage)
    }
}

@Suite(.serialized) struct SyncOverHTTPTests {
    /// The same schedule over real HTTP on loopback: the edge carries what the service says.
    @Test(arguments: TestStorage.all)
    func threeResearchersConvergeOverHTTP(storage: TestStorage) async throws {
        try await randomSyncSchedule(seed: 0x7AD_0A, steps: 40, overHTTP: true, storage: storage)
    }

    @Test func twoLaptopsSyncPeerToPeer() async throws {
        let dir = try TemporaryDirectory()
        let khaled = try Store.create(at: dir.file("k.strata"), author: "Khaled")
        let maria = try Store.create(at: dir.file("m.strata"), author: "Maria")
        let bust = khaled.newRecordID()
        try khaled.commit([.create(bust, kind: .artefact), .set(bust, field: "title", .text("Bust"))])
        let note = maria.newRecordID()
        try maria.commit([.create(note, kind: .note), .set(note, field: "title", .text("Theatre"))])
        let token = PeerStorage.newToken()
        let backend = try PeerStorage(replica: khaled, token: token)
        try await withServer(backend) { url in
            let r = try await sync(maria, url, project: "peer", token: token)
            #expect(r.pulled == 1 && r.pushed == 1)
            #expect(try khaled.snapshot() == (try maria.snapshot()))
            // A wrong token or project is refused.
            await #expect(throws: SyncClientError.self) { try await sync(maria, url, project: "peer", token: "stk_wrong") }
            await #expect(throws: SyncClientError.self) { try await sync(maria, url, project: "palmyra", token: token) }
        }
    }

}

@Suite struct ResumeTests {
    @Test(arguments: TestStorage.all)
    func aCutSyncResumesWithoutResendingAcknowledgedBatches(storage: TestStorage) async throws {
        try await withTeam(storage, researchers: ["Khaled", "Maria"]) { team in try await cutAndResume(team) }
    }

    func cutAndResume(_ team: TestTeam) async throws {
        let dir = try TemporaryDirectory()
        let khaled = try Store.create(at: dir.file("k.strata"), author: "Khaled")
        let maria = try Store.create(at: dir.file("m.strata"), author: "Maria")
        for i in 0..<60 {
            let id = khaled.newRecordID()
            try khaled.commit([.create(id, kind: .note), .set(id, field: "body", .text(String(repeating: "Tadmor \(i) ", count: 40)))])
        }
        let tokens = team.tokens
        try await withEndpoint(team.backend, inProcess: true) { endpoint in
            // Push cut after 3 batches.
            let cut = CuttingTransport(
                inner: endpoint.transport(token: tokens["Khaled"]!), allowed: 4)
            var client = SyncClient(store: khaled, transport: cut)
            client.maxBatchBytes = 2000
            await #expect(throws: SyncClientError.self) { _ = try await client.sync() }
            await cut.close()
            let afterCut = try await team.serverChanges().count
            #expect(afterCut > 0 && afterCut < 60)
            // Resume: only what the server lacks is sent, nothing twice.
            let resumed = try await sync(khaled, endpoint, token: tokens["Khaled"]!, batchBytes: 2000)
            #expect(resumed.pushed == 60 - afterCut)
            #expect(try await team.serverChanges().count == 60)
            // Pull cut after 2 batches, then resumed: Maria receives each change once.
            let pullCut = CuttingTransport(
                inner: endpoint.transport(token: tokens["Maria"]!), allowed: 3)
            var mc = SyncClient(store: maria, transport: pullCut)
            mc.maxBatchBytes = 2000
            await #expect(throws: SyncClientError.self) { _ = try await mc.sync() }
            await pullCut.close()
            let got = try maria.status().changes
            #expect(got > 0 && got < 60)
            let rest = try await sync(maria, endpoint, token: tokens["Maria"]!, batchBytes: 2000)
            #expect(rest.pulled == 60 - got)
            #expect(try maria.snapshot() == (try khaled.snapshot()))
        }
    }
}

@Suite struct CutPointTests {
    /// The link drops after k requests, for every k of a sync, both ways; the next sync
    /// moves exactly what is still missing and both ends agree.
    @Test(arguments: TestStorage.all, Array(2...9))
    func aSyncCutAfterAnyRequestResumes(storage: TestStorage, cutAfter k: Int) async throws {
        try await withTeam(storage, researchers: ["Khaled", "Maria"]) { team in try await cut(team, after: k) }
    }

    func cut(_ team: TestTeam, after k: Int) async throws {
        let dir = try TemporaryDirectory()
        let khaled = try Store.create(at: dir.file("k.strata"), author: "Khaled")
        let maria = try Store.create(at: dir.file("m.strata"), author: "Maria")
        for (store, n) in [(khaled, 12), (maria, 9)] {
            for i in 0..<n {
                let id = store.newRecordID()
                try store.commit([.create(id, kind: .note), .set(id, field: "body", .text(String(repeating: "Bel \(i) ", count: 60)))])
            }
        }
        let tokens = team.tokens
        try await withEndpoint(team.backend, inProcess: true) { endpoint in
            try await sync(khaled, endpoint, token: tokens["Khaled"]!, batchBytes: 1500)
            let cut = CuttingTransport(
                inner: endpoint.transport(token: tokens["Maria"]!), allowed: k)
            var client = SyncClient(store: maria, transport: cut)
            client.maxBatchBytes = 1500
            let cutReport = try? await client.sync()
            await cut.close()
            let pulledBefore = try maria.status().changes - 9
            let pushedBefore = try await team.serverChanges().count - 12
            let rest = try await sync(maria, endpoint, token: tokens["Maria"]!, batchBytes: 1500)
            if cutReport == nil {
                #expect(rest.pulled == 12 - pulledBefore, "cut after \(k)")
                #expect(rest.pushed == 9 - pushedBefore, "cut after \(k)")
            }
            try await sync(khaled, endpoint, token: tokens["Khaled"]!)
            #expect(try maria.snapshot() == (try khaled.snapshot()), "cut after \(k)")
            #expect(try await team.serverReplica().snapshot() == (try khaled.snapshot()), "cut after \(k)")
        }
    }
}

/// Answers every pull with the same batch and claims more remain: a broken server.
struct RepeatingTransport: SyncTransport {
    let response: PullResponse

    func session() async throws -> SessionInfo {
        SessionInfo(
            protocol: Int(SyncCodec.protocolVersion), project: "palmyra", researcher: "Maria", role: .write,
            serverReplica: response.replica.hex, version: response.version.description, maxBatchBytes: 1 << 20,
            maxBodyBytes: 1 << 24)
    }

    func pull(_ request: PullRequest) async throws -> PullResponse { response }
    func push(_ changes: [Change]) async throws -> PushResult { PushResult(applied: 0, duplicates: 0, version: "") }
    func close() async {}
}

/// The pull loop asks for the next batch while it applies one, from the version the replica
/// will have: these check that it still stops on a server that does not move, and still
/// finishes when the replica holds changes beyond a gap (which the server sends again).
@Suite struct PullLoopTests {
    @Test func aServerThatKeepsSendingTheSameBatchIsRefused() async throws {
        let dir = try TemporaryDirectory()
        let khaled = try Store.create(at: dir.file("k.strata"), author: "Khaled")
        let id = khaled.newRecordID()
        try khaled.commit([.create(id, kind: .note), .set(id, field: "title", .text("Temple of Bel"))])
        let maria = try Store.create(at: dir.file("m.strata"), author: "Maria")
        let batch = try khaled.changes(missingFrom: VersionVector())
        let transport = RepeatingTransport(
            response: PullResponse(replica: khaled.replicaID, version: try khaled.versionVector(), changes: batch, remaining: 5))
        let error = await #expect(throws: SyncClientError.self) {
            _ = try await SyncClient(store: maria, transport: transport).sync()
        }
        #expect("\(error.map { $0 } as Any)".contains("keeps sending changes this replica already has"))
        #expect(try maria.status().changes == 1)
    }

    @Test(arguments: TestStorage.all)
    func aReplicaHoldingChangesBeyondAGapFinishesItsPull(storage: TestStorage) async throws {
        try await withTeam(storage, researchers: ["Khaled", "Maria"]) { team in try await gap(team) }
    }

    func gap(_ team: TestTeam) async throws {
        let dir = try TemporaryDirectory()
        let khaled = try Store.create(at: dir.file("k.strata"), author: "Khaled")
        for i in 0..<20 {
            let id = khaled.newRecordID()
            try khaled.commit([.create(id, kind: .note), .set(id, field: "body", .text(String(repeating: "Agora \(i) ", count: 30)))])
        }
        // Maria got Khaled's changes 5...10 from a bundle: her vector counts none of them.
        let maria = try Store.create(at: dir.file("m.strata"), author: "Maria")
        let all = try khaled.changes(missingFrom: VersionVector())
        try maria.apply(all.filter { (5...10).contains($0.id.seq) })
        #expect(try maria.versionVector()[khaled.replicaID] == 0)
        let tokens = team.tokens
        try await withEndpoint(team.backend, inProcess: true) { endpoint in
            try await sync(khaled, endpoint, token: tokens["Khaled"]!)
            let report = try await sync(maria, endpoint, token: tokens["Maria"]!, batchBytes: 700)
            #expect(report.pulled == 14)
            #expect(report.pullBatches > 3)
            #expect(try maria.versionVector()[khaled.replicaID] == 20)
            #expect(try maria.snapshot() == (try khaled.snapshot()))
        }
    }
}

/// The in-process transport stands in for HTTP only if a client cannot tell them apart: the
/// same refusals come back with the same status, code and words either way.
@Suite(.serialized) struct InProcessTransportTests {
    @Test func refusalsReadTheSameInProcessAndOverHTTP() async throws {
        let team = try Team(researchers: ["Khaled"])
        let reader = try team.backend.tokens.createToken(project: "palmyra", researcher: "Omar", role: .read).token
        try team.backend.addProject("aleppo")
        let dir = try TemporaryDirectory()
        let store = try Store.create(at: dir.file("o.strata"), author: "Omar")
        let id = store.newRecordID()
        try store.commit([.create(id, kind: .note), .set(id, field: "title", .text("Theatre"))])
        let tokens = team.tokens
        let cases: [(project: String, token: String)] = [
            ("palmyra", "stk_unknown"), ("aleppo", tokens["Khaled"]!), ("nowhere", tokens["Khaled"]!),
        ]  // (headers are the edge's: a malformed Authorization header is tested over HTTP only)
        @Sendable func failure(_ transport: any SyncTransport) async -> SyncClientError? {
            do {
                var client = SyncClient(store: store, transport: transport)
                client.maxBatchBytes = 1 << 20
                _ = try await client.sync()
                await transport.close()
                return nil
            } catch {
                await transport.close()
                return error as? SyncClientError
            }
        }
        try await withServer(team.backend) { url in
            for c in cases {
                let viaHTTP = await failure(HTTPTransport(baseURL: url, project: c.project, token: c.token))
                let inProcess = await failure(
                    InProcessTransport(service: SyncService(storage: team.backend), project: c.project, token: c.token))
                #expect(viaHTTP != nil, "\(c)")
                #expect(viaHTTP?.status == inProcess?.status, "\(c)")
                #expect(viaHTTP?.code == inProcess?.code, "\(c)")
                #expect(viaHTTP?.description == inProcess?.description, "\(c)")
            }
            // A read token syncs (pulls) either way and pushes nothing.
            let a = try await sync(store, url, token: reader)
            let b = try await sync(store, team.endpoint(), token: reader)
            #expect(a.pushed == 0 && b.pushed == 0 && a.notRelayed == 1 && b.notRelayed == 1)
        }
    }
}

/// Passes requests on; after each pull answer, has the server record a change of its own, so
/// every answer carries a different server version. Keeps the versions it passed back.
final class AdvancingTransport: SyncTransport, @unchecked Sendable {
    let inner: any SyncTransport
    let server: Store
    private let lock = NSLock()
    private var _versions: [VersionVector] = []
    var versions: [VersionVector] { lock.withLock { _versions } }

    init(_ inner: any SyncTransport, server: Store) {
        self.inner = inner
        self.server = server
    }

    func session() async throws -> SessionInfo { try await inner.session() }
    func pull(_ request: PullRequest) async throws -> PullResponse {
        let answer = try await inner.pull(request)
        lock.withLock { _versions.append(answer.version) }
        let id = server.newRecordID()
        try server.commit([.create(id, kind: .note), .set(id, field: "title", .text("server note"))])
        return answer
    }
    func push(_ changes: [Change]) async throws -> PushResult { try await inner.push(changes) }
    func close() async { await inner.close() }
}

/// A sync with a configured remote records what it learnt of the server in the transaction of
/// each pulled batch, and a cut sync leaves the state of the last batch that was applied.
@Suite struct SyncStateRecordingTests {
    @Test func eachPulledBatchRecordsTheServersVersionWithItsApply() async throws {
        let team = try Team(researchers: ["Khaled", "Maria"], role: .admin)
        let dir = try TemporaryDirectory()
        let khaled = try Store.create(at: dir.file("k.strata"), author: "Khaled")
        for i in 0..<30 {
            let id = khaled.newRecordID()
            try khaled.commit([.create(id, kind: .note), .set(id, field: "body", .text(String(repeating: "Bel \(i) ", count: 40)))])
        }
        let maria = try Store.create(at: dir.file("m.strata"), author: "Maria")
        try maria.addRemote(RemoteConfig(name: "origin", url: "http://127.0.0.1:1", project: "palmyra", token: "unused"))
        let endpoint = team.endpoint()
        try await sync(khaled, endpoint, token: team.tokens["Khaled"]!)
        let server = try #require(try team.backend.store(for: "palmyra"))
        // Session and two pulls go through, the third is cut: the second batch was the last applied.
        let advancing = AdvancingTransport(endpoint.transport(token: team.tokens["Maria"]!), server: server)
        let cut = CuttingTransport(inner: advancing, allowed: 3)
        var client = SyncClient(store: maria, transport: cut)
        client.maxBatchBytes = 1500
        client.remote = "origin"
        await #expect(throws: SyncClientError.self) { _ = try await client.sync() }
        let answered = advancing.versions
        #expect(answered.count == 2 && answered[0] != answered[1])
        #expect(try maria.remoteState(named: "origin")?.serverVersion == answered[1])
        #expect(try maria.remoteState(named: "origin")?.serverVersion != (try server.versionVector()))
        // A remote that is gone makes the apply fail whole: nothing pulled is half-recorded.
        let before = try maria.status().changes
        var orphan = SyncClient(store: maria, transport: endpoint.transport(token: team.tokens["Maria"]!))
        orphan.remote = "removed"
        await #expect(throws: StoreError.self) { _ = try await orphan.sync() }
        #expect(try maria.status().changes == before)
    }
}

/// A server that answers pulls from a script, one answer per request, and counts requests.
final class ScriptedTransport: SyncTransport, @unchecked Sendable {
    let info: SessionInfo
    private let lock = NSLock()
    private var answers: [PullResponse]
    private(set) var pulls = 0
    private(set) var pushes = 0

    init(info: SessionInfo, answers: [PullResponse]) {
        self.info = info
        self.answers = answers
    }

    func session() async throws -> SessionInfo { info }
    func pull(_ request: PullRequest) async throws -> PullResponse {
        try lock.withLock {
            pulls += 1
            guard !answers.isEmpty else { throw SyncClientError("no more answers (test)") }
            return answers.removeFirst()
        }
    }
    func push(_ changes: [Change]) async throws -> PushResult {
        lock.withLock { pushes += 1 }
        return PushResult(applied: changes.count, duplicates: 0, version: "")
    }
    func close() async {}
}

@Suite struct SyncDriverTests {
    func info(_ server: Store) throws -> SessionInfo {
        SessionInfo(
            protocol: Int(SyncCodec.protocolVersion), project: "palmyra", researcher: "Maria", role: .write,
            serverReplica: server.replicaID.hex, version: try server.versionVector().description, maxBatchBytes: 1 << 20,
            maxBodyBytes: 1 << 24)
    }

    /// The first batch is refused by the replica (stamped two days ahead of its clock) while
    /// the next, valid one is already requested: the sync stops, nothing of either is applied.
    @Test func aBatchTheReplicaRefusesStopsTheSyncAndThePullSentEarlyIsNeverApplied() async throws {
        let dir = try TemporaryDirectory()
        let khaled = try Store.create(at: dir.file("k.strata"), author: "Khaled")
        let now = Store.wallClockMillis()
        let id = khaled.newRecordID()
        try khaled.commit([.create(id, kind: .note), .set(id, field: "title", .text("Bel"))], now: now + 2 * 86_400_000)
        let later = khaled.newRecordID()
        try khaled.commit([.create(later, kind: .note), .set(later, field: "title", .text("Arch"))], now: now + 3 * 86_400_000)
        let all = try khaled.changes(missingFrom: VersionVector())
        let maria = try Store.create(at: dir.file("m.strata"), author: "Maria")
        let vv = try khaled.versionVector()
        let transport = ScriptedTransport(
            info: try info(khaled),
            answers: [
                PullResponse(replica: khaled.replicaID, version: vv, changes: [all[0]], remaining: 1),
                PullResponse(replica: khaled.replicaID, version: vv, changes: [all[1]], remaining: 0),
            ])
        await #expect(throws: ClockSkewError.self) { _ = try await SyncClient(store: maria, transport: transport).sync() }
        #expect(transport.pulls <= 2 && transport.pushes == 0)
        #expect(try maria.status().changes == 0)
    }

    @Test func progressIsReportedOncePerAppliedOrPushedBatch() async throws {
        let team = try Team(researchers: ["Khaled", "Maria"])
        let dir = try TemporaryDirectory()
        let khaled = try Store.create(at: dir.file("k.strata"), author: "Khaled")
        for i in 0..<12 {
            let id = khaled.newRecordID()
            try khaled.commit([.create(id, kind: .note), .set(id, field: "body", .text(String(repeating: "Agora \(i) ", count: 30)))])
        }
        let endpoint = team.endpoint()
        final class Seen: @unchecked Sendable {
            let lock = NSLock()
            var all: [SyncProgress] = []
        }
        let seen = Seen()
        var client = SyncClient(store: khaled, transport: endpoint.transport(token: team.tokens["Khaled"]!))
        client.maxBatchBytes = 1500
        let report = try await client.sync { p in seen.lock.withLock { seen.all.append(p) } }
        #expect(report.pushBatches > 2)
        // One report per batch (the empty pull counts as one), none repeated.
        #expect(seen.all.count == report.pullBatches + report.pushBatches)
        #expect(seen.all.last == SyncProgress(phase: .pushing, done: 12, total: 12))
        #expect(zip(seen.all, seen.all.dropFirst()).allSatisfy { $0 != $1 })
    }

    @Test func aRoleThisClientDoesNotKnowGrantsOnlyPulling() throws {
        let json = #"{"protocol":1,"project":"palmyra","researcher":"Omar","role":"curator","server_replica":"00","version":"","max_batch_bytes":10,"max_body_bytes":20}"#
        let info = try JSONDecoder().decode(SessionInfo.self, from: Data(json.utf8))
        #expect(info.role == .read)
    }
}
