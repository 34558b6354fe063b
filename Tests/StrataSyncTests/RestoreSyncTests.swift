import Foundation
import StrataCodec
import StrataServer
import StrataStore
import StrataSync
import StrataSyncTesting
import StrataTestSupport
import Testing

@testable import StrataCore

/// Every change a store holds, by id, as encoded bytes: two stores hold "the same change"
/// only if the bytes under one id are equal.
func changeLog(_ store: Store) throws -> [ChangeID: [UInt8]] {
    var out: [ChangeID: [UInt8]] = [:]
    for c in try store.changes(missingFrom: VersionVector()) {
        #expect(out[c.id] == nil)
        out[c.id] = ChangeCodec.encode(c)
    }
    return out
}

@Suite struct RestoreSyncTests {
    /// Khaled backs up, keeps working and syncs, loses his laptop's store, restores the old
    /// backup, writes again and syncs: nothing is lost, no change id means two things.
    @Test func aReplicaRestoredFromAnOlderBackupLosesNothingAndConflatesNothing() async throws {
        let team = try Team(researchers: ["Khaled", "Maria"])
        let dir = try TemporaryDirectory()
        let path = dir.file("khaled.strata")
        let maria = try Store.create(at: dir.file("maria.strata"), author: "Maria")
        let tokens = team.tokens
        try await withEndpoint(team.backend, inProcess: true) { url in
            var oldID: ReplicaID? = nil
            var logBeforeLoss: [ChangeID: [UInt8]] = [:]
            do {
                let khaled = try Store.create(at: path, author: "Khaled")
                oldID = khaled.replicaID
                try addNotes(khaled, 3, prefix: "before the backup")
                try await sync(khaled, url, token: tokens["Khaled"]!)
                try khaled.backup(to: dir.file("monday.backup"))
                // After the backup: more work, synced (Khaled:4...6 reach the server)…
                try addNotes(khaled, 3, prefix: "synced after the backup")
                try await sync(khaled, url, token: tokens["Khaled"]!)
                // …and one change that never left the laptop.
                try addNotes(khaled, 1, prefix: "never synced")
                logBeforeLoss = try changeLog(khaled)
            }
            // The store is damaged; Khaled restores Monday's backup.
            let r = try Store.restore(from: dir.file("monday.backup"), to: path)
            let khaled = try Store.open(at: path)
            #expect(khaled.replicaID != oldID)
            #expect(r.changesOnlyInReplaced == 4)
            // He writes again before syncing: these must not reuse Khaled:4… ids.
            try addNotes(khaled, 2, prefix: "after the restore")
            let mine = try changeLog(khaled).keys.filter { $0.replica == khaled.replicaID }
            #expect(Set(mine.map(\.seq)) == [1, 2])

            let report = try await sync(khaled, url, token: tokens["Khaled"]!)
            #expect(report.pulled == 3)  // Khaled:4…6 come back from the server
            #expect(report.pushed == 2)
            try await sync(maria, url, token: tokens["Maria"]!)

            // Nothing conflated: every change id means the same bytes on every replica.
            let server = try #require(try team.backend.store(for: "palmyra"))
            let serverLog = try changeLog(server)
            for (id, payload) in try changeLog(khaled) { #expect(serverLog[id] == payload, "\(id)") }
            for (id, payload) in logBeforeLoss where serverLog[id] != nil { #expect(serverLog[id] == payload, "\(id)") }
            #expect(try changeLog(maria) == serverLog)
            // Nothing lost that had been synced or written since; the one change that never
            // left the laptop is in the replaced store, and a bundle brings it back.
            let titles = Set(try khaled.list(RecordFilter()).compactMap { $0.text("title") })
            #expect(titles.count == 8)
            #expect(!titles.contains("never synced 0"))
            let kept = try Store.open(at: try #require(r.replacedStore))
            let rescue = try kept.changes(missingFrom: khaled.versionVector())
            #expect(rescue.count == 1)
            try khaled.apply(rescue)
            try await sync(khaled, url, token: tokens["Khaled"]!)
            try await sync(maria, url, token: tokens["Maria"]!)
            #expect(try khaled.snapshot() == (try maria.snapshot()))
            #expect(try khaled.snapshot() == (try server.snapshot()))
            #expect(try khaled.list(RecordFilter()).count == 9)
            #expect(try khaled.check() == [])
            #expect(try server.check() == [])
        }
    }

    /// What the new replica id prevents: a store copied back without one reuses ids, and the
    /// server keeps the old change under the reused id, silently dropping the new one.
    @Test func withoutANewReplicaIDARestoredStoreWouldLoseWrites() async throws {
        let team = try Team(researchers: ["Khaled"])
        let dir = try TemporaryDirectory()
        let tokens = team.tokens
        try await withEndpoint(team.backend, inProcess: true) { url in
            let khaled = try Store.create(at: dir.file("k.strata"), author: "Khaled")
            try addNotes(khaled, 1)
            // A plain file copy: what `restore` does not do.
            for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: khaled.path + suffix) {
                try FileManager.default.copyItem(atPath: khaled.path + suffix, toPath: dir.file("copy.strata") + suffix)
            }
            try addNotes(khaled, 1, prefix: "synced")
            try await sync(khaled, url, token: tokens["Khaled"]!)
            let copy = try Store.open(at: dir.file("copy.strata"))
            try addNotes(copy, 1, prefix: "written on the copy")
            let r = try await sync(copy, url, token: tokens["Khaled"]!)
            // The copy's new change has the id Khaled:2, which the server already holds.
            #expect(r.pushed == 0)
            let server = try #require(try team.backend.store(for: "palmyra"))
            let titles = try server.list(RecordFilter()).compactMap { $0.text("title") }
            #expect(!titles.contains("written on the copy 0"))
        }
    }
}

/// Adds `count` notes, one change each.
func addNotes(_ store: Store, _ count: Int, prefix: String = "note") throws {
    for i in 0..<count {
        let id = store.newRecordID()
        try store.commit([.create(id, kind: .note), .set(id, field: "title", .text("\(prefix) \(i)"))])
    }
}
