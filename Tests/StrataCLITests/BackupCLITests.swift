import Foundation
import Testing

@Suite("backup and restore, from the terminal")
struct BackupCLITests {
    @Test func backupVerifyRestore() throws {
        let s = try Sandbox()
        try s.initStore()
        let first = try s.ok("add", "note", "Theatre stage, north side")
        try s.ok("add", "site", "Temple of Bel")
        let out = try s.ok("backup", s.path("monday.strata"))
        #expect(out.contains("2 changes") && out.contains("verified"), "\(out)")
        let perms = try FileManager.default.attributesOfItem(atPath: s.path("monday.strata"))[.posixPermissions] as? Int
        #expect(perms == 0o600)

        // An existing file is not replaced without --force.
        expectOneLineError(try s.run("backup", s.path("monday.strata")), containing: "--force")
        // A backup is not a store to write to.
        expectOneLineError(try s.run("list", store: s.path("monday.strata")), containing: "strata backup restore")
        #expect(try s.ok("backup", "verify", s.path("monday.strata")).hasPrefix("ok: backup of replica"))

        try s.ok("add", "note", "Written after the backup")
        let replicaBefore = try s.ok("status", "--json")
        let restored = try s.ok("backup", "restore", s.path("monday.strata"))
        #expect(restored.contains("new replica id"), "\(restored)")
        #expect(restored.contains("1 change the backup lacks"), "\(restored)")
        #expect(FileManager.default.fileExists(atPath: s.store + ".before-restore"))
        #expect(try s.ok("list").split(separator: "\n").count == 2)
        #expect(try s.ok("show", first).contains("Theatre stage"))
        #expect(try s.ok("check") == "ok")
        #expect(try s.ok("status", "--json") != replicaBefore)
        // The kept store still has the note written after the backup.
        #expect(try s.ok("list", store: s.store + ".before-restore").contains("Written after the backup"))
        // Writing after the restore works, under the new replica id.
        try s.ok("add", "note", "After the restore")
        #expect(try s.ok("check") == "ok")
        #expect(try s.ok("backup", s.path("monday.strata"), "--force").contains("3 changes"))
    }

    @Test func badBackupsAreRefusedWithOneLine() throws {
        let s = try Sandbox()
        try s.initStore()
        try s.ok("add", "note", "Citadel")
        let before = try Data(contentsOf: URL(fileURLWithPath: s.store))
        try Data("not a store".utf8).write(to: URL(fileURLWithPath: s.path("notes.txt")))
        expectOneLineError(try s.run("backup", "restore", s.path("notes.txt")), containing: "not an SQLite database")
        expectOneLineError(try s.run("backup", "verify", s.path("notes.txt")), containing: "not an SQLite database")
        expectOneLineError(try s.run("backup", "restore", s.path("missing.strata")), containing: "no file")
        expectOneLineError(try s.run("backup", "restore", s.store), containing: "the store itself")
        expectOneLineError(try s.run("backup", s.store), containing: "another file")
        expectOneLineError(try s.run("backup", s.path("no/such/dir/b.strata")), containing: "does not exist")
        #expect(try Data(contentsOf: URL(fileURLWithPath: s.store)) == before)
        #expect(!FileManager.default.fileExists(atPath: s.store + ".before-restore"))
    }

    @Test func restoreRefusesAStoreInUseByAnotherProcess() throws {
        let s = try Sandbox()
        try s.initStore()
        try s.ok("add", "note", "Arch of Triumph")
        try s.ok("backup", s.path("b.strata"))
        let server = try ServerProcess(["serve", "--peer", "--port", "0"], env: ["STRATA_STORE": s.store], cwd: s.dir)
        expectOneLineError(try s.run("backup", "restore", s.path("b.strata")), containing: "open in another strata process")
        #expect(!FileManager.default.fileExists(atPath: s.store + ".before-restore"))
        // Backing up while it is served is fine.
        try s.ok("backup", s.path("while-serving.strata"))
        #expect(server.stop() == 0)
        try s.ok("backup", "restore", s.path("b.strata"))
    }
}
