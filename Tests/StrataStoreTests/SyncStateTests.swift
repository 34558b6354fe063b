import Foundation
import GRDB
import StrataCodec
import StrataTestSupport
import Testing

@testable import StrataCore
@testable import StrataStore

/// Remotes, bundle peers and sync results as tables (Store+SyncState.swift), written in the
/// transaction of the apply they describe, and migrated from the meta keys that held them.
@Suite struct SyncStateTests {
    static let origin = RemoteConfig(name: "origin", url: "https://strata.example.org", project: "palmyra", token: "stk_origin")
    static let maria = RemoteConfig(name: "maria", url: "http://127.0.0.1:7070", project: "peer", token: "stk_maria")

    /// `a` with one note, and `b` that knows `origin`.
    func twoStores(_ dir: TemporaryDirectory) throws -> (Store, Store, [Change]) {
        let a = try makeStore(dir, "a", seed: 1)
        let b = try makeStore(dir, "b", author: "Maria", seed: 2)
        let id = a.newRecordID()
        try a.commit([.create(id, kind: .note), .set(id, field: "title", .text("Temple of Bel"))], now: 1_000)
        try b.addRemote(Self.origin)
        return (a, b, try a.changes(missingFrom: VersionVector()))
    }

    @Test func aRemotesAttachmentPolicyIsStoredWithItAndDefaultsToAll() throws {
        let dir = try TemporaryDirectory()
        let store = try makeStore(dir)
        try store.addRemote(Self.origin)
        #expect(try store.remote(named: "origin")?.attachments == .all)
        try store.setAttachmentPolicy(.upTo(2_000_000), forRemote: "origin")
        #expect(try store.remote(named: "origin")?.attachments == .upTo(2_000_000))
        let reopened = try Store.open(at: store.path)
        #expect(try reopened.remote(named: "origin")?.attachments == .upTo(2_000_000))
        #expect(throws: StoreError.self) { try store.setAttachmentPolicy(.none, forRemote: "nobody") }
    }

    @Test func remotesAreAddedListedAndRemovedWithTheirState() throws {
        let dir = try TemporaryDirectory()
        let store = try makeStore(dir)
        #expect(try store.remotes().isEmpty)
        try store.addRemote(Self.origin)
        try store.addRemote(Self.maria)
        #expect(try store.remotes() == [Self.maria, Self.origin])
        #expect(try store.remote(named: "origin") == Self.origin)
        #expect(try store.remote(named: "nobody") == nil)
        #expect(try store.remoteState(named: "origin") == RemoteState())
        #expect(try store.remoteState(named: "nobody") == nil)

        var taken = Self.origin
        taken.url = "http://127.0.0.1:9"
        #expect(throws: StoreError.self) { try store.addRemote(taken) }
        #expect(try store.remote(named: "origin") == Self.origin)

        let vv = VersionVector([store.replicaID: 3])
        try store.recordSyncResult(remote: "origin", .completed(pulled: 2, pushed: 3), serverVersion: vv, now: 5_000)
        #expect(
            try store.remoteState(named: "origin")
                == RemoteState(serverVersion: vv, lastSync: SyncRecord(atMillis: 5_000, pulled: 2, pushed: 3)))

        #expect(try store.removeRemote(named: "origin"))
        #expect(try !store.removeRemote(named: "origin"))
        #expect(try store.remotes() == [Self.maria])
        // A remote added again under the same name starts with no history.
        try store.addRemote(Self.origin)
        #expect(try store.remoteState(named: "origin") == RemoteState())
        #expect(try store.check() == [])
    }

    @Test func aSyncResultKeepsTheLastCompletedSyncAndTheFailureSinceThen() throws {
        let dir = try TemporaryDirectory()
        let store = try makeStore(dir)
        try store.addRemote(Self.origin)
        let v1 = VersionVector([store.replicaID: 1])
        try store.recordSyncResult(remote: "origin", .completed(pulled: 0, pushed: 1), serverVersion: v1, now: 1_000)
        try store.recordSyncResult(remote: "origin", .failed(reason: "connection refused\nby 127.0.0.1"), now: 2_000)
        var state = try #require(try store.remoteState(named: "origin"))
        #expect(state.lastSync == SyncRecord(atMillis: 1_000, pulled: 0, pushed: 1))
        #expect(state.lastFailure == FailedSync(atMillis: 2_000, reason: "connection refused by 127.0.0.1"))
        #expect(state.serverVersion == v1)
        // A completed sync clears the failure; without a server version the known one stays.
        try store.recordSyncResult(remote: "origin", .completed(pulled: 4, pushed: 0), now: 3_000)
        state = try #require(try store.remoteState(named: "origin"))
        #expect(state == RemoteState(serverVersion: v1, lastSync: SyncRecord(atMillis: 3_000, pulled: 4, pushed: 0)))
        #expect(throws: StoreError.self) { try store.recordSyncResult(remote: "nobody", .completed(pulled: 0, pushed: 0)) }
    }

    @Test func anApplyRecordsTheServerVersionInItsOwnTransaction() throws {
        let dir = try TemporaryDirectory()
        let (a, b, changes) = try twoStores(dir)
        let serverVersion = try a.versionVector()
        let r = try b.apply(changes, now: 2_000, recording: .serverVersion(remote: "origin", serverVersion))
        #expect(r.applied == 1)
        #expect(try b.remoteState(named: "origin")?.serverVersion == serverVersion)
        // Nothing new to apply: the server's version is still recorded.
        let later = serverVersion.merged(with: VersionVector([b.replicaID: 1]))
        #expect(try b.apply([], now: 3_000, recording: .serverVersion(remote: "origin", later)).applied == 0)
        #expect(try b.remoteState(named: "origin")?.serverVersion == later)
        #expect(try b.remoteState(named: "origin")?.lastSync == nil, "a batch is not the end of a sync")
    }

    @Test func aRefusedApplyLeavesTheRemoteStateUnchanged() throws {
        let dir = try TemporaryDirectory()
        let (a, b, changes) = try twoStores(dir)
        let known = VersionVector([b.replicaID: 1])
        try b.recordSyncResult(remote: "origin", .completed(pulled: 0, pushed: 0), serverVersion: known, now: 1_500)
        let before = try b.remoteState(named: "origin")
        // A change stamped ten days ahead of this machine's clock refuses the whole batch.
        let id = try #require(changes.first?.operations.first?.record)
        let future = try #require(try a.commit([.set(id, field: "title", .text("x"))], now: 10 * 86_400_000))
        #expect(throws: ClockSkewError.self) {
            try b.apply(changes + [future], now: 2_000, recording: .serverVersion(remote: "origin", try a.versionVector()))
        }
        #expect(try b.remoteState(named: "origin") == before)
        #expect(try b.versionVector() == VersionVector())
    }

    @Test func aRecordingThatCannotBeWrittenUndoesItsApply() throws {
        let dir = try TemporaryDirectory()
        let (a, b, changes) = try twoStores(dir)
        // The remote was removed meanwhile: the state cannot be written, so nothing is.
        #expect(throws: StoreError.self) {
            try b.apply(changes, now: 2_000, recording: .serverVersion(remote: "gone", try a.versionVector()))
        }
        #expect(try b.versionVector() == VersionVector())
        #expect(try b.list(RecordFilter(includeDeleted: true)).isEmpty)
        #expect(try b.check() == [])
    }

    @Test func aBundleRecordsItsSenderWithTheApplyAndKeepsTheLargerView() throws {
        let dir = try TemporaryDirectory()
        let (a, b, changes) = try twoStores(dir)
        let first = ChangeBundle(
            sender: a.replicaID, senderAuthor: "Khaled", senderVersion: try a.versionVector(), createdAtMillis: 1_100,
            changes: changes)
        try b.apply(first.changes, now: 2_000, recording: .bundle(first))
        let peer = BundlePeer(
            replica: a.replicaID, author: "Khaled", version: try a.versionVector(), lastWrittenAtMillis: 1_100,
            lastAppliedAtMillis: 2_000)
        #expect(try b.bundlePeer(a.replicaID) == peer)
        #expect(try b.bundlePeers() == [peer])

        // A newer bundle, then an older one applied late: the version is the union.
        let id = a.newRecordID()
        try a.commit([.create(id, kind: .site)], now: 3_000)
        let second = ChangeBundle(
            sender: a.replicaID, senderAuthor: "Khaled A.", senderVersion: try a.versionVector(), createdAtMillis: 3_100,
            changes: try a.changes(missingFrom: first.senderVersion))
        try b.apply(second.changes, now: 4_000, recording: .bundle(second))
        try b.apply(first.changes, now: 5_000, recording: .bundle(first))
        let known = try #require(try b.bundlePeer(a.replicaID))
        #expect(known.version == second.senderVersion)
        #expect(known.lastWrittenAtMillis == 3_100 && known.lastAppliedAtMillis == 5_000)

        // A replica's own bundle coming back says nothing about a peer.
        let own = ChangeBundle(
            sender: b.replicaID, senderAuthor: "Maria", senderVersion: try b.versionVector(), createdAtMillis: 6_000,
            changes: [])
        try b.apply([], now: 6_000, recording: .bundle(own))
        #expect(try b.bundlePeers().map(\.replica) == [a.replicaID])
        // Recorded on its own, without an apply.
        let c = try makeStore(dir, "c", seed: 3)
        try c.record(.bundle(first), now: 7_000)
        #expect(try c.bundlePeer(a.replicaID)?.version == first.senderVersion)
    }

    @Test func aBackupAndItsRestoreKeepRemotesAndSyncState() throws {
        let dir = try TemporaryDirectory()
        let (a, b, changes) = try twoStores(dir)
        try b.apply(changes, now: 2_000, recording: .serverVersion(remote: "origin", try a.versionVector()))
        try b.recordSyncResult(remote: "origin", .completed(pulled: 1, pushed: 0), now: 2_500)
        try b.record(.bundle(sender: a.replicaID, author: "Khaled", version: try a.versionVector(), writtenAtMillis: 1_100), now: 2_600)
        let state = try b.remoteState(named: "origin")
        let peers = try b.bundlePeers()
        try b.backup(to: dir.file("b.backup"))
        let restoredPath = dir.file("restored.strata")
        _ = try Store.restore(from: dir.file("b.backup"), to: restoredPath)
        let restored = try Store.open(at: restoredPath)
        #expect(restored.replicaID != b.replicaID)
        #expect(try restored.remotes() == [Self.origin])
        #expect(try restored.remoteState(named: "origin") == state)
        #expect(try restored.bundlePeers() == peers)
        #expect(try restored.check() == [])
    }

    // MARK: Migration

    /// A store at the schema before sync state had tables (`v2-text`), with the meta keys that
    /// the CLI wrote then.
    func storeAtPreviousSchema(_ path: String, replica: ReplicaID, keys: [String: String]) throws {
        let queue = try DatabaseQueue(path: path, configuration: Store.configuration(creating: true))
        try StoreSchema.migrator.migrate(queue, upTo: "v2-text")
        try queue.write { db in
            #expect(try !db.tableExists("remotes"))
            try db.execute(
                sql: "INSERT INTO meta(key, value) VALUES ('replica', ?), ('author', 'Khaled'), ('hlc', '0'), ('next_seq', '1')",
                arguments: [replica.hex])
            try db.execute(sql: "INSERT INTO replicas(idx, id) VALUES (1, ?)", arguments: [Data(replica.bytes)])
            for (k, v) in keys { try db.execute(sql: "INSERT INTO meta(key, value) VALUES (?, ?)", arguments: [k, v]) }
        }
        try queue.close()
    }

    @Test func remotesAndPeersKeptAsMetaKeysMigrateIntoTheTables() throws {
        let dir = try TemporaryDirectory()
        var rng = SeededRandom(seed: 5)
        let me = ReplicaID.random(using: &rng)
        let server = ReplicaID.random(using: &rng)
        let peer = ReplicaID.random(using: &rng)
        let serverVersion = VersionVector([me: 4, server: 9])
        let peerVersion = VersionVector([me: 2, peer: 7])
        let path = dir.file("old.strata")
        try storeAtPreviousSchema(
            path, replica: me,
            keys: [
                "x.remote.origin.url": Self.origin.url, "x.remote.origin.project": Self.origin.project,
                "x.remote.origin.token": Self.origin.token, "x.remote.origin.last_sync": "1764633600000",
                "x.remote.origin.server_version": serverVersion.description,
                // Added, never synced.
                "x.remote.maria.url": Self.maria.url, "x.remote.maria.project": Self.maria.project,
                "x.remote.maria.token": Self.maria.token,
                // Left behind by a removal cut short: no URL, so no reader listed it.
                "x.remote.old.token": "stk_old",
                "x.peer.\(peer.hex).vv": peerVersion.description, "x.peer.\(peer.hex).author": "Maria",
                "x.peer.not-a-replica.vv": "?",
                "x.restore.previous_replica": server.hex,
            ])
        let store = try Store.open(at: path)
        #expect(try store.remotes() == [Self.maria, Self.origin])
        #expect(
            try store.remoteState(named: "origin")
                == RemoteState(serverVersion: serverVersion, lastSync: SyncRecord(atMillis: 1_764_633_600_000, pulled: nil, pushed: nil)))
        #expect(try store.remoteState(named: "maria") == RemoteState())
        #expect(try store.bundlePeers() == [BundlePeer(replica: peer, author: "Maria", version: peerVersion)])
        // The moved keys are gone; other notes stay.
        let keys = try DatabaseQueue(path: path).read { db in try String.fetchAll(db, sql: "SELECT key FROM meta ORDER BY key") }
        #expect(keys == ["author", "hlc", "next_seq", "replica", "x.restore.previous_replica"])
        #expect(try store.setting("restore.previous_replica") == server.hex)
        #expect(try store.check() == [])
        // Opening again changes nothing.
        #expect(try Store.open(at: path).remotes() == [Self.maria, Self.origin])
    }

    @Test func theBundlePeerOfAStrata01StoreMigrates() throws {
        let dir = try TemporaryDirectory()
        let store = try Store.open(at: try MigrationTests.copy("v1-conflict.strata", into: dir))
        let maria = try #require(ReplicaID(hex: "d00c76269b0e4ab5b52694a87e44babb"))
        let khaled = try #require(ReplicaID(hex: "576d5471ed9643e791c859b03c6ea132"))
        #expect(try store.bundlePeers() == [BundlePeer(replica: maria, author: "Maria", version: VersionVector([khaled: 2, maria: 1]))])
        #expect(try store.remotes().isEmpty)
    }
}
