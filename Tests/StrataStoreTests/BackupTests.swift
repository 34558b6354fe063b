import Foundation
import GRDB
import StrataCodec
import StrataTestSupport
import Testing

@testable import StrataCore
@testable import StrataStore

/// Adds `count` notes, one change each.
func addNotes(_ store: Store, _ count: Int, prefix: String = "note") throws {
    for i in 0..<count {
        let id = store.newRecordID()
        try store.commit([.create(id, kind: .note), .set(id, field: "title", .text("\(prefix) \(i)"))])
    }
}

func permissions(_ path: String) throws -> Int {
    try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int ?? -1
}

func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

@Suite struct BackupTests {
    @Test func aBackupIsOwnerOnlyVerifiedAndRefusesToOverwrite() throws {
        let dir = try TemporaryDirectory()
        let store = try makeStore(dir)
        try addNotes(store, 3)
        let file = dir.file("b.strata")
        let s = try store.backup(to: file)
        #expect(s.replica == store.replicaID && s.changes == 3 && s.records == 3)
        #expect(try permissions(file) == 0o600)
        // No temporary file is left behind, and no log beside the backup.
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(names.filter { $0.hasSuffix(".tmp") }.isEmpty, "\(names)")
        #expect(!FileManager.default.fileExists(atPath: file + "-wal"))

        try addNotes(store, 2)
        let e = #expect(throws: StoreError.self) { try store.backup(to: file) }
        // The CLI adds "--force" (see AdviceTests); the store says what happened.
        #expect(e?.kind == .fileExists(path: file))
        #expect(try Store.verifyBackup(at: file).changes == 3)  // unchanged
        #expect(try store.backup(to: file, force: true).changes == 5)
        #expect(try Store.verifyBackup(at: file).changes == 5)
        // Backing up onto the store itself, or into a missing directory, is refused.
        #expect(throws: StoreError.self) { try store.backup(to: store.path, force: true) }
        #expect(throws: StoreError.self) { try store.backup(to: dir.file("missing/b.strata")) }
    }

    @Test func aBackupCannotBeOpenedAsAStore() throws {
        let dir = try TemporaryDirectory()
        let store = try makeStore(dir)
        try addNotes(store, 1)
        try store.backup(to: dir.file("b.strata"))
        let e = #expect(throws: StoreError.self) { try Store.open(at: dir.file("b.strata")) }
        // The CLI adds "strata backup restore" (see AdviceTests); the store says what happened.
        #expect(e?.kind == .isBackup(path: dir.file("b.strata")))
    }

    @Test func aBackupIsConsistentWhileAnotherConnectionWrites() throws {
        let dir = try TemporaryDirectory()
        let store = try makeStore(dir)
        try addNotes(store, 5)
        // A second handle on the same file (as another process would have) writes meanwhile.
        let other = try Store.open(at: store.path)
        let writer = Thread {
            for i in 0..<40 { try? addNotes(other, 1, prefix: "concurrent \(i)") }
        }
        writer.start()
        for i in 0..<5 {
            let s = try store.backup(to: dir.file("b\(i).strata"))
            #expect(s.changes >= 5 && s.changes <= 45)
            #expect(try Store.verifyBackup(at: dir.file("b\(i).strata")).changes == s.changes)
        }
        for _ in 0..<200 where (try other.status().changes) < 45 { Thread.sleep(forTimeInterval: 0.05) }
        #expect(try store.check() == [])
    }

    @Test func restoreGivesANewReplicaIDAndKeepsTheReplacedStore() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("r.strata")
        let oldID: ReplicaID
        let backupFile = dir.file("old.backup")
        do {
            let store = try Store.create(at: path, author: "Khaled")
            oldID = store.replicaID
            try addNotes(store, 3)
            try store.backup(to: backupFile)
            try addNotes(store, 2, prefix: "after the backup")
        }
        let before = try bytes(path)
        let r = try Store.restore(from: backupFile, to: path)
        #expect(r.newReplica != oldID)
        #expect(r.replacedStore == path + ".before-restore")
        #expect(r.changesOnlyInReplaced == 2)
        #expect(try permissions(path) == 0o600)
        // The replaced store is intact, with its replica id.
        #expect(try bytes(path + ".before-restore") == before)
        let kept = try Store.open(at: path + ".before-restore")
        #expect(try kept.replicaID == oldID && kept.status().changes == 5)

        let restored = try Store.open(at: path)
        #expect(restored.replicaID == r.newReplica)
        #expect(try restored.check() == [])
        let st = try restored.status()
        #expect(st.changes == 3 && st.localChanges == 0)
        // The old changes keep their ids; the version vector still counts them.
        #expect(st.versionVector[oldID] == 3 && st.versionVector[r.newReplica] == 0)
        #expect(try restored.setting("restore.previous_replica") == oldID.hex)
        // New changes start a new sequence under the new id.
        let id = restored.newRecordID()
        let c = try #require(try restored.commit([.create(id, kind: .note), .set(id, field: "title", .text("new"))]))
        #expect(c.id == ChangeID(replica: r.newReplica, seq: 1))
        #expect(try restored.status().localChanges == 1)
        #expect(try restored.check() == [])

        // Restoring again keeps the second replaced store under a new name.
        let r2 = try Store.restore(from: backupFile, to: path)
        #expect(r2.replacedStore == path + ".before-restore-2")
        #expect(r2.newReplica != r.newReplica)
    }

    @Test func restoreIntoAPathWithoutAStoreCreatesIt() throws {
        let dir = try TemporaryDirectory()
        let store = try makeStore(dir)
        try addNotes(store, 2)
        try store.backup(to: dir.file("b.strata"))
        let r = try Store.restore(from: dir.file("b.strata"), to: dir.file("new/replica.strata"))
        #expect(r.replacedStore == nil)
        #expect(try Store.open(at: dir.file("new/replica.strata")).status().changes == 2)
    }

    @Test func badBackupsAreRefusedAndTheStoreIsLeftUnchanged() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("r.strata")
        let states: [RecordID: RecordState]
        do {
            let store = try Store.create(at: path, author: "Khaled")
            try addNotes(store, 30)
            try store.backup(to: dir.file("good.strata"))
            states = try store.allRecordStates()
        }
        let original = try bytes(path)
        func refused(_ file: String, _ needle: String, sourceLocation: SourceLocation = #_sourceLocation) {
            let e = #expect(throws: StoreError.self, sourceLocation: sourceLocation) {
                try Store.restore(from: file, to: path)
            }
            #expect(e?.description.contains(needle) == true, "\(e?.description ?? "")", sourceLocation: sourceLocation)
            let v = #expect(throws: StoreError.self, sourceLocation: sourceLocation) { try Store.verifyBackup(at: file) }
            #expect(v?.description.contains(needle) == true, "\(v?.description ?? "")", sourceLocation: sourceLocation)
            #expect((try? bytes(path)) == original, "the store changed", sourceLocation: sourceLocation)
            #expect(!FileManager.default.fileExists(atPath: path + ".before-restore"), sourceLocation: sourceLocation)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
            #expect(names.filter { $0.hasSuffix(".tmp") }.isEmpty, "\(names)", sourceLocation: sourceLocation)
        }
        // Not a database at all.
        try Data("field notes, not a store".utf8).write(to: URL(fileURLWithPath: dir.file("text.txt")))
        refused(dir.file("text.txt"), "not an SQLite database")
        // Another program's SQLite database.
        do {
            let q = try DatabaseQueue(path: dir.file("other.sqlite"))
            try q.write { try $0.execute(sql: "CREATE TABLE t(x); INSERT INTO t VALUES (1)") }
        }
        refused(dir.file("other.sqlite"), "not a Strata store")
        // A missing file.
        refused(dir.file("nowhere.strata"), "no file")
        // A backup whose materialised records disagree with its change log.
        try FileManager.default.copyItem(atPath: dir.file("good.strata"), toPath: dir.file("tampered.strata"))
        do {
            let q = try DatabaseQueue(path: dir.file("tampered.strata"))
            try q.write { db in
                // Record 1's row given another record's state (each note's state is derived from
                // its one change, so its `doc` is empty: the other state is encoded here).
                let first = RecordID(bytes: try Data.fetchOne(db, sql: "SELECT id FROM records WHERE rowid = 1")!)!
                let other = states.values.first { $0.id != first }!
                try db.execute(sql: "UPDATE records SET doc = ? WHERE rowid = 1", arguments: [Data(RecordStateCodec.encode(other))])
            }
        }
        refused(dir.file("tampered.strata"), "damaged")
        // A backup with a damaged page.
        var damaged = try bytes(dir.file("good.strata"))
        let pageSize = 4096
        #expect(damaged.count > 4 * pageSize)
        for i in (2 * pageSize)..<(2 * pageSize + 600) { damaged[i] = UInt8(truncatingIfNeeded: i &* 31) }
        try damaged.write(to: URL(fileURLWithPath: dir.file("damaged.strata")))
        refused(dir.file("damaged.strata"), "damaged")
        // A truncated backup.
        try bytes(dir.file("good.strata")).prefix(3 * pageSize).write(to: URL(fileURLWithPath: dir.file("short.strata")))
        refused(dir.file("short.strata"), "damaged")
        // The good one still restores.
        #expect(try Store.restore(from: dir.file("good.strata"), to: path).backup.changes == 30)
    }

    @Test func openingAnotherProgramsDatabaseDoesNotWriteToIt() throws {
        let dir = try TemporaryDirectory()
        do {
            let q = try DatabaseQueue(path: dir.file("other.sqlite"))
            try q.write { try $0.execute(sql: "CREATE TABLE t(x); INSERT INTO t VALUES (1)") }
        }
        let before = try bytes(dir.file("other.sqlite"))
        let e = #expect(throws: StoreError.self) { try Store.open(at: dir.file("other.sqlite")) }
        #expect(e?.description.contains("not a Strata store") == true)
        #expect(try bytes(dir.file("other.sqlite")) == before)
    }
}
