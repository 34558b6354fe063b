import ArgumentParser
import Foundation
import StrataStore

/// `strata backup FILE`, `strata backup verify FILE`, `strata backup restore FILE`.
///
/// (`strata restore ID` already brings back a deleted record, so restoring a backup lives
/// under `backup`.)
struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup", abstract: "Back up this replica to a file, check a backup, or restore one.",
        discussion: """
            strata backup FILE             copy the store (safe while it is in use), verified, owner-only; \
            the attachments' bytes go beside it in FILE.blobs/ (only new ones are copied when \
            backing up to the same FILE again)
            strata backup verify FILE      check a backup without changing anything
            strata backup restore FILE     replace the store with a backup; the replaced store is kept
            A restored store gets a new replica id: its old changes keep their ids and come back \
            from peers on the next sync, its new changes can never be mistaken for ones the old \
            replica already sent.
            """,
        subcommands: [Create.self, Verify.self, Restore.self],
        defaultSubcommand: Create.self)

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create", abstract: "Copy the store to FILE with SQLite's online backup, then verify the copy.")

        @OptionGroup var options: StoreOptions
        @Argument(help: "The backup file to write.", completion: .file()) var file: String
        @Flag(help: "Replace FILE if it exists.") var force = false

        func run() throws {
            let store = try options.open()
            let s = try store.backup(to: Paths.expand(file), force: force)
            print(
                "backed up replica \(s.replica.short) to \(file): \(Output.counted(s.changes, "change")), \(Output.counted(s.records, "record")), \(Output.byteCount(s.bytes)); verified (SQLite integrity, records re-derived from the change log)"
            )
            if s.blobs.held > 0 || s.blobs.notHeld > 0 {
                var line = "attachments: \(s.blobs.held) (\(Output.byteCount(Int(s.blobs.bytes)))) in \(file).blobs/, \(s.blobs.copied) copied now"
                if s.blobs.notHeld > 0 { line += "; \(s.blobs.notHeld) not on this machine, so not backed up" }
                print(line)
            }
            for h in s.blobs.damaged {
                printError("attachment \(h.short) is damaged in the store and was not backed up (strata check lists it)")
            }
            printError("the backup holds your notes and remote tokens: keep it as private as the store (it is owner-only)")
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify", abstract: "Check a backup file (SQLite integrity and the change log) without changing it.")

        @Argument(help: "The backup file.", completion: .file()) var file: String

        func run() throws {
            let s = try Store.verifyBackup(at: Paths.expand(file))
            let when = s.takenAtMillis.map { " taken \(Output.iso(millis: $0))" } ?? ""
            if !s.blobs.damaged.isEmpty {
                let shown = s.blobs.damaged.prefix(3).map(\.short).joined(separator: ", ") + (s.blobs.damaged.count > 3 ? ", …" : "")
                throw CLIError(
                    "\(file): \(Output.counted(s.blobs.damaged.count, "attachment")) damaged in \(file).blobs/ (\(shown): the bytes do not hash to their names); the records and the other attachments are whole")
            }
            var blobs = ""
            if s.blobs.held > 0 { blobs = ", \(Output.counted(s.blobs.held, "attachment")) (\(Output.byteCount(Int(s.blobs.bytes)))) verified" }
            if s.blobs.notHeld > 0 { blobs += "; \(s.blobs.notHeld) named but not in the backup (not downloaded when it was taken)" }
            print("ok: backup of replica \(s.replica.short)\(when): \(Output.counted(s.changes, "change")), \(Output.counted(s.records, "record"))\(blobs)")
        }
    }

    struct Restore: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "restore", abstract: "Replace the store with a backup (verified first; the replaced store is kept).",
            discussion: """
                Stop `strata serve` and any sync using the store first. The backup is verified \
                before the store is touched; the store being replaced is kept as \
                STORE.before-restore. The restored store gets a new replica id; run `strata sync` \
                afterwards to get back what was synced after the backup was taken.
                """)

        @OptionGroup var options: StoreOptions
        @Argument(help: "The backup file.", completion: .file()) var file: String

        func run() throws {
            let r = try Store.restore(from: Paths.expand(file), to: options.path)
            print(
                "restored \(options.path) from \(file): \(Output.counted(r.backup.changes, "change")), \(Output.counted(r.backup.records, "record")); new replica id \(r.newReplica.short) (was \(r.backup.replica.short))"
            )
            if r.blobs.copied > 0 || r.blobs.alreadyThere > 0 {
                print("attachments: \(r.blobs.copied) brought back (\(Output.byteCount(Int(r.blobs.copiedBytes)))), \(r.blobs.alreadyThere) already here")
            }
            for h in r.blobs.damaged { printError("attachment \(h.short) is damaged in the backup and was not restored") }
            if let kept = r.replacedStore {
                print("the replaced store is kept at \(kept)")
                if let n = r.changesOnlyInReplaced, n > 0 {
                    print(
                        "it holds \(n) change\(n == 1 ? "" : "s") the backup lacks: those already synced come back with `strata sync`; to bring them all back now: strata bundle create rescue.bundle --store \(kept) && strata bundle apply rescue.bundle"
                    )
                }
            }
            print("run `strata sync` to get back what your peers hold")
        }
    }
}
