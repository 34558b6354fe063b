import Foundation
import StrataCodec
import StrataCore
import StrataServer
import StrataStore
import StrataSync
import StrataSyncTesting
import StrataTestSupport
import Testing

/// A team storage whose project reads and writes fail while `failures` is above zero (each
/// failed call counts one down): a disk that stalls, a database restarting, in the middle of
/// a request whose token was already checked.
final class FlakyStorage: ServerStorage, @unchecked Sendable {
    struct Down: Error {}
    let base: TeamStorage
    private let lock = NSLock()
    private var failures: Int

    init(_ base: TeamStorage, failures: Int) {
        self.base = base
        self.failures = failures
    }

    /// Throws (and counts down) while failures remain.
    func maybeFail() throws {
        try lock.withLock {
            if failures > 0 {
                failures -= 1
                throw Down()
            }
        }
    }

    func authenticate(_ token: String) async throws -> Grant? { try await base.authenticate(token) }
    func project(_ name: String) async throws -> (any ProjectStorage)? {
        try await base.project(name).map { FlakyProject(base: $0, owner: self) }
    }
    func checkReady() async throws { try await base.checkReady() }
}

struct FlakyProject: ProjectStorage {
    let base: any ProjectStorage
    let owner: FlakyStorage
    var replicaID: ReplicaID { base.replicaID }
    func versionVector() async throws -> VersionVector { try await base.versionVector() }
    func changes(missingFrom version: VersionVector, maxBytes: Int) async throws -> MissingChanges {
        try owner.maybeFail()
        return try await base.changes(missingFrom: version, maxBytes: maxBytes)
    }
    func present(_ ids: [ChangeID]) async throws -> Set<ChangeID> { try await base.present(ids) }
    func append(_ push: PushedChanges, now: UInt64, admit: @escaping @Sendable (Change, Bool) throws -> Void) async throws
        -> AppendResult
    {
        try owner.maybeFail()
        return try await base.append(push, now: now, admit: admit)
    }
}

/// Storage that fails in the middle of a request is 503 `unavailable` with `Retry-After`, not a
/// 500: the client waits once and retries, or says the server is unavailable and that the
/// researcher's changes are safe. Over real HTTP on loopback.
@Suite(.serialized) struct StorageFaultTests {
    static func notes(_ store: Store, _ n: Int) throws {
        for i in 0..<n {
            let id = store.newRecordID()
            try store.commit([.create(id, kind: .note), .set(id, field: "title", .text("Colonnade \(i)"))])
        }
    }

    @Test func aStorageFailureMidRequestIs503UnavailableWithRetryAfter() async throws {
        let team = try Team(researchers: ["Khaled"])
        let token = team.tokens["Khaled"]!
        let flaky = FlakyStorage(team.backend, failures: 1)
        var limits = ServerLimits()
        limits.unavailableRetryAfterSeconds = 7
        let log = JSONLines()
        try await withServer(flaky, limits: limits, logger: log.logger) { url in
            let dir = try TemporaryDirectory()
            let khaled = try Store.create(at: dir.file("k.strata"), author: "Khaled")
            try Self.notes(khaled, 2)
            let body = ChangeSetCodec.encode(try khaled.changes(missingFrom: VersionVector(), maxBytes: 1 << 20).changes)
            let refused = try await rawRequest(
                url + "/v1/projects/palmyra/push", token: token, contentType: SyncCodec.changeSetMediaType, body: body)
            #expect(refused.status == 503)
            let err = refused.json["error"] as? [String: Any]
            #expect(err?["code"] as? String == "unavailable")
            #expect(err?["message"] as? String == "the server could not apply the changes; see its log")
            // Nothing of the refused push was applied; the same push now goes through whole.
            #expect(try team.backend.store(for: "palmyra")!.status().changes == 0)
            let again = try await rawRequest(
                url + "/v1/projects/palmyra/push", token: token, contentType: SyncCodec.changeSetMediaType, body: body)
            #expect(again.status == 200 && again.json["applied"] as? Int == 2)
        }
        // The server's log says what failed underneath, as the message promises ("see its log").
        let refusedLine = try #require(log.all.first { $0.contains(#""status":503"#) })
        #expect(refusedLine.contains(#""error":"unavailable""#) && refusedLine.contains(#""cause":"Down()""#), "\(refusedLine)")
        #expect(refusedLine.contains(#""level":"warning""#))
        // The Retry-After header is the server's setting.
        let flakyAgain = FlakyStorage(team.backend, failures: 1)
        try await withServer(flakyAgain, limits: limits) { url in
            let r = try await rawPullHeaders(url, token: token)
            #expect(r.status == 503 && r.retryAfter == "7")
        }
    }

    /// A storage failure that clears within Retry-After: the client says it is waiting, waits
    /// once, and the sync completes with every change on the server.
    @Test func theClientWaitsOutOneStorageFailureAndCompletes() async throws {
        let team = try Team(researchers: ["Khaled"])
        var limits = ServerLimits()
        limits.unavailableRetryAfterSeconds = 1
        // The first pull fails (the storage is restarting), then everything works.
        let flaky = FlakyStorage(team.backend, failures: 1)
        try await withServer(flaky, limits: limits) { url in
            let dir = try TemporaryDirectory()
            let khaled = try Store.create(at: dir.file("k.strata"), author: "Khaled")
            try Self.notes(khaled, 3)
            let notices = Notices()
            let t = HTTPTransport(baseURL: url, project: "palmyra", token: team.tokens["Khaled"]!, notice: { notices.add($0) })
            let report = try await sync(khaled, t)
            #expect(report.pushed == 3)
            #expect(notices.all == ["the server is unavailable for now (it cannot reach its storage): retrying in 1 s"])
            #expect(try team.backend.store(for: "palmyra")!.status().changes == 3)
        }
    }

    /// A storage that stays down: the sync stops with one line saying the server is
    /// unavailable, that the changes are safe here, and (from the CLI's advice) when to sync
    /// again; the replica keeps every change and sends them on the next sync.
    @Test func aStorageThatStaysDownEndsTheSyncSayingTheChangesAreSafe() async throws {
        let team = try Team(researchers: ["Khaled"])
        var limits = ServerLimits()
        limits.unavailableRetryAfterSeconds = 1
        let flaky = FlakyStorage(team.backend, failures: 2)
        try await withServer(flaky, limits: limits) { url in
            let dir = try TemporaryDirectory()
            let khaled = try Store.create(at: dir.file("k.strata"), author: "Khaled")
            try Self.notes(khaled, 2)
            let e = await #expect(throws: SyncClientError.self) {
                try await sync(khaled, url, token: team.tokens["Khaled"]!)
            }
            #expect(e?.status == 503 && e?.code == .unavailable && e?.retryAfter == 1)
            #expect(
                e?.description
                    == "the server at \(url) is unavailable: it cannot read or write its data now, still after one retry; your changes are safe on this machine"
            )
            #expect(try khaled.status().changes == 2)
            #expect(try team.backend.store(for: "palmyra")!.status().changes == 0)
            // Once the storage is back, the next sync sends everything.
            let report = try await sync(khaled, url, token: team.tokens["Khaled"]!)
            #expect(report.pushed == 2)
        }
    }

    /// A Retry-After longer than the client waits: no wait, the sync ends at once saying when
    /// to try again.
    @Test func aLongRetryAfterIsNotWaitedOut() async throws {
        let team = try Team(researchers: ["Khaled"])
        var limits = ServerLimits()
        limits.unavailableRetryAfterSeconds = 600
        try await withServer(FlakyStorage(team.backend, failures: 5), limits: limits) { url in
            let dir = try TemporaryDirectory()
            let khaled = try Store.create(at: dir.file("k.strata"), author: "Khaled")
            try Self.notes(khaled, 1)
            let e = await #expect(throws: SyncClientError.self) {
                try await sync(khaled, url, token: team.tokens["Khaled"]!)
            }
            #expect(e?.status == 503 && e?.retryAfter == 600)
            #expect(e?.description.contains("your changes are safe on this machine") == true)
        }
    }
}

/// A pull with an empty version vector, raw: the status and the Retry-After header.
func rawPullHeaders(_ url: String, token: String) async throws -> (status: Int, retryAfter: String?) {
    let body = SyncCodec.encode(PullRequest(replica: ReplicaID(high: 9, low: 9), version: VersionVector(), maxBatchBytes: 1 << 20))
    let r = try await rawRequestFull(
        url + "/v1/projects/palmyra/pull", token: token, contentType: SyncCodec.pullRequestMediaType, body: body)
    return (r.status, r.headers.first(name: "Retry-After"))
}
