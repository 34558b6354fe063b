import Foundation
import StrataCodec
import StrataCore
import StrataServer
import StrataStore
import StrataSyncTesting
import StrataTestSupport
import Testing

/// A push is decoded and stored a batch at a time inside one transaction (`PushedChanges`):
/// whatever goes wrong in a late batch — the change set damaged near its end, a colleague's
/// change, a change stamped days ahead — nothing of the earlier batches stays, and a change is
/// stored once however often it comes, in one push or in two at once through two servers.
/// Over every storage.
@Suite struct StreamedPushTests {
    /// More changes than three batches hold (a batch is at most 1000).
    static let count = 2500

    /// `count` changes by `author`, each creating a record with two fields.
    static func changes(_ count: Int, author: String = "Khaled", replica: ReplicaID? = nil, at wallMillis: UInt64? = nil) -> [Change] {
        var rng = SeededRandom(seed: 0x5EED)
        let r = replica ?? ReplicaID.random(using: &rng)
        let start = wallMillis ?? (Store.wallClockMillis() - 60_000)
        return (0..<count).map { i in
            let record = RecordID.v7(unixMillis: start, using: &rng)
            return Change(
                id: ChangeID(replica: r, seq: UInt64(i + 1)), timestamp: HybridTimestamp(wallMillis: start, counter: UInt16(i % 60_000)),
                author: author,
                operations: [
                    FieldOperation(record: record, key: FieldKey("kind"), action: .assign(.text("note")), preds: []),
                    FieldOperation(record: record, key: FieldKey("title"), action: .assign(.text("Colonnade \(i)")), preds: []),
                ])
        }
    }

    static func push(_ team: TestTeam, _ body: [UInt8], through storage: (any ServerStorage)? = nil) async -> Result<PushResult, SyncFailure> {
        let service = SyncService(storage: storage ?? team.backend)
        do throws(SyncFailure) {
            return .success(try await service.push(token: team.tokens["Khaled"], project: team.project, body: body))
        } catch { return .failure(error) }
    }

    static func expectNothingStored(_ team: TestTeam, _ what: String) async throws {
        #expect(try await team.serverChanges().isEmpty, "\(what): changes of earlier batches were kept")
        #expect(try await team.projectStorage().versionVector() == VersionVector(), "\(what): the version vector moved")
    }

    enum LateFault: String, CaseIterable, Sendable {
        case damagedChangeSet, foreignAuthor, clockSkew
    }

    @Test(arguments: TestStorage.all, LateFault.allCases)
    func aPushRefusedInItsLastBatchStoresNothing(storage: TestStorage, fault: LateFault) async throws {
        try await withTeam(storage, researchers: ["Khaled"]) { team in
            var all = Self.changes(Self.count)
            let last = all[all.count - 1]
            var body: [UInt8]
            switch fault {
            case .damagedChangeSet:
                body = ChangeSetCodec.encode(all)
                body[body.count - 6] ^= 0x5A  // in the last deflate block: found only once the rest was read
            case .foreignAuthor:
                all[all.count - 1] = Change(id: last.id, timestamp: last.timestamp, author: "Amira", operations: last.operations)
                body = ChangeSetCodec.encode(all)
            case .clockSkew:
                let ahead = HybridTimestamp(wallMillis: Store.wallClockMillis() + 48 * 3_600_000, counter: 0)
                all[all.count - 1] = Change(id: last.id, timestamp: ahead, author: last.author, operations: last.operations)
                body = ChangeSetCodec.encode(all)
            }
            guard case .failure(let f) = await Self.push(team, body) else {
                Issue.record("\(fault) was accepted")
                return
            }
            switch fault {
            case .damagedChangeSet:
                guard case .undecodable(let e, _) = f.kind else {
                    Issue.record("a damaged change set refused as \(f)")
                    return
                }
                #expect(["corrupt-compression", "length-mismatch"].contains(e.code), "\(e)")
            case .foreignAuthor: #expect(SyncHTTPServer.status(of: f) == 403, "\(f)")
            case .clockSkew: #expect(SyncHTTPServer.status(of: f) == 422, "\(f)")
            }
            try await Self.expectNothingStored(team, "\(fault)")
            // The push without its fault goes through whole.
            let good = Self.changes(Self.count)
            let r = try await Self.push(team, ChangeSetCodec.encode(good)).get()
            #expect(r.applied == Self.count && r.duplicates == 0)
            #expect(try await team.serverChanges().count == Self.count)
        }
    }

    /// A change in the first and the last batch of one push, then the whole push again: stored
    /// once, counted once as applied and then as a duplicate.
    @Test(arguments: TestStorage.all)
    func aChangeSentTwiceIsStoredOnce(storage: TestStorage) async throws {
        try await withTeam(storage, researchers: ["Khaled"]) { team in
            let all = Self.changes(Self.count)
            let body = ChangeSetCodec.encode(all + [all[3]])
            let first = try await Self.push(team, body).get()
            #expect(first.applied == Self.count && first.duplicates == 1)
            let again = try await Self.push(team, body).get()
            #expect(again.applied == 0 && again.duplicates == Self.count + 1)
            let stored = try await team.serverChanges()
            #expect(stored.count == Self.count)
            #expect(Set(stored.map(\.id)) == Set(all.map(\.id)))
            #expect(try await team.projectStorage().versionVector()[all[0].id.replica] == UInt64(Self.count))
        }
    }

    /// The same push of several batches through two servers at once (two storages on one
    /// PostgreSQL database; one SQLite team for itself): every change stored once, the counts
    /// of applied changes adding up to the push.
    @Test(arguments: TestStorage.all)
    func theSamePushThroughTwoServersAtOnceIsStoredOnce(storage: TestStorage) async throws {
        try await withTeam(storage, researchers: ["Khaled"]) { team in
            let all = Self.changes(Self.count)
            let body = ChangeSetCodec.encode(all)
            let second = try await team.secondServerStorage()
            async let a = Self.push(team, body)
            async let b = Self.push(team, body, through: second)
            let (ra, rb) = (try await a.get(), try await b.get())
            if storage == .postgres { await second.close() }
            #expect(ra.applied + rb.applied == Self.count)
            #expect(ra.applied + ra.duplicates == Self.count && rb.applied + rb.duplicates == Self.count)
            #expect(try await team.serverChanges().count == Self.count)
            #expect(try await team.projectStorage().versionVector()[all[0].id.replica] == UInt64(Self.count))
        }
    }
}
