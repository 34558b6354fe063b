import ArgumentParser
import Foundation
import StrataCodec
import StrataCore
import StrataPostgres
import StrataServer
import StrataStore
import StrataSync
import Testing

@testable import StrataCLI

/// Errors carry a kind and facts; the CLI adds the advice (issue 11, item 6).
@Suite struct AdviceTests {
    static let p = "/data/replica.strata"
    static let b = "/data/monday.strata"

    /// Every kind of store error with sample facts, and the line a person read for it before
    /// the advice moved to the CLI (the store's own messages of release 0.1, word for word).
    static let storeErrors: [(StoreError.Kind, String)] = [
        (.invalidAuthorName, "the author name must be one non-empty line, e.g. --author \"Khaled\""),
        (.storeExists(path: p), "a store already exists at \(p); use it, or pass another --store path"),
        (.cannotCreate(path: p), "cannot create \(p): check that the directory is writable"),
        (.noStore(path: p), "no Strata store at \(p); run `strata init --author NAME` first, or pass --store PATH"),
        (.notAStrataStore(path: p, .store), "\(p) is an SQLite database but not a Strata store; pass the path of a store"),
        (.notAStrataStore(path: b, .backup), "\(b) is an SQLite database but not a Strata store; give a file made by `strata backup`"),
        (.notADatabase(path: p, .store), "\(p) is not a Strata store (not an SQLite database)"),
        (.notADatabase(path: b, .backup), "\(b) is not a Strata backup (not an SQLite database)"),
        (.noReplicaID(path: p), "\(p) is an SQLite file but not a Strata store (no replica id)"),
        (.newerSchema(path: p, .store), "the store at \(p) was written by a newer Strata; upgrade strata to open it"),
        (.newerSchema(path: b, .backup), "\(b) was written by a newer Strata; upgrade strata to restore it"),
        (
            .isBackup(path: b),
            "\(b) is a backup made by `strata backup`; bring it back with `strata backup restore \(b)` (it then gets a new replica id) rather than using it as a store"
        ),
        (.notARecordID(text: "u!"), "'u!' is not a record id; ids use the letters 0-9 a-z (try `strata list`)"),
        (.noRecord(id: "0123456789abcdefghjkmnpqrs"), "no record 0123456789abcdefghjkmnpqrs on this replica"),
        (.prefixTooShort(prefix: "zz"), "id prefix 'zz' is too short; give at least 4 characters"),
        (.noMatch(prefix: "zzzz"), "no record matches 'zzzz' (try `strata list` or `strata search`)"),
        (
            .ambiguous(prefix: "0a1b", candidates: ["0a1b2c3 note Wall", "0a1b9x8 site Gate"], more: false),
            "id prefix '0a1b' matches 2 records: 0a1b2c3 note Wall; 0a1b9x8 site Gate; give more characters"
        ),
        (
            .ambiguous(prefix: "0a", candidates: ["0a1b2 note Wall"], more: true),
            "id prefix '0a' matches more than 10 records: 0a1b2 note Wall; give more characters"
        ),
        (.invalidSearch(query: "\"wall", reason: "syntax error"), "cannot search for '\"wall': syntax error"),
        (
            .changeTooLarge(problem: "the change makes 65537 field writes; a change holds at most 65536"),
            "the change makes 65537 field writes; a change holds at most 65536; nothing was recorded"
        ),
        (.corruptRecord(id: "0a1b2c3", detail: "truncated"), "record 0a1b2c3 cannot be read (truncated); run `strata check`"),
        (.recordWithoutRow(id: "0a1b2c3"), "record 0a1b2c3 of a change has no row; nothing was written"),
        (.unreadableLog(detail: "truncated"), "the change log cannot be read (truncated); the store was not migrated"),
        (.changeNotInLog(id: "0a1b2c3/4"), "change 0a1b2c3/4 is not in the log"),
        (.remoteExists(name: "origin"), "a remote named 'origin' exists; remove it first with `strata remote remove origin`"),
        (.noRemote(name: "origin"), "no remote 'origin'; nothing was recorded"),
        (.backupOntoStore(path: p), "the backup must be another file than the store itself (\(p))"),
        (.backupTargetIsDirectory(path: "/data"), "/data is a directory; give a file name, e.g. /data/replica-backup.strata"),
        (.fileExists(path: b), "\(b) exists; choose another name, or pass --force to replace it"),
        (.noDirectory(path: "/nowhere"), "the directory /nowhere does not exist; create it first"),
        (.backupFailed(path: b, detail: "disk full"), "the backup to \(b) failed (disk full); the store is unchanged"),
        (.cannotWrite(path: b, reason: "Permission denied"), "cannot write \(b): Permission denied"),
        (.noBackupFile(path: b), "no file \(b); give the path of a backup made by `strata backup FILE`"),
        (.backupIsDirectory(path: "/data"), "/data is a directory; give the backup file inside it"),
        (.cannotRead(path: b + "-wal"), "cannot read \(b)-wal; check its permissions"),
        (.cannotReadCopy(path: b), "cannot read \(b)"),
        (.cannotCopy(path: b + "-wal"), "cannot copy \(b)-wal"),
        (.cannotWriteCopy(path: b), "cannot copy \(b): the temporary copy cannot be written"),
        (
            .cannotCreateTemporaryFile(directory: "/data", reason: "Permission denied"),
            "cannot create a file in /data (Permission denied); check that the directory is writable"
        ),
        (.cannotOpenToFlush(path: b, reason: "No such file"), "cannot open \(b) to flush it: No such file"),
        (.cannotFlush(path: b, reason: "I/O error"), "cannot flush \(b) to disk: I/O error"),
        (
            .backupUnopenable(file: b, detail: "SQLite error 14"),
            "\(b) is damaged: SQLite cannot open it (SQLite error 14); it is not a usable Strata backup"
        ),
        (
            .backupUnreadable(file: b, detail: "SQLite error 11"),
            "\(b) is damaged: it cannot be read (SQLite error 11); it is not a usable Strata backup"
        ),
        (.backupCheckFailed(file: b, detail: "SQLite error 11"), "\(b) is damaged (SQLite error 11); it is not a usable Strata backup"),
        (.backupInconsistent(file: b, problems: ["a"], count: 1), "\(b) is damaged (1 problem: a); it is not a usable backup"),
        (
            .backupInconsistent(file: b, problems: ["a", "b", "c"], count: 7),
            "\(b) is damaged (7 problems: a; b; c); it is not a usable backup"
        ),
        (.restoreFromStore(path: p), "\(p) is the store itself; restore from a backup file made by `strata backup`"),
        (
            .cannotPrepareRestore(detail: "its log was not written back"),
            "cannot prepare the restored store (its log was not written back); the current store is unchanged"
        ),
        (.replicaIDTaken(hex: "00ff"), "the new replica id 00ff is already in the store"),
        (
            .storeInUse(path: p),
            "the store \(p) is open in another strata process (serve? sync?); stop it, then restore again; nothing was changed"
        ),
        (
            .cannotKeepCurrentStore(keptAs: p + ".before-restore", reason: "Permission denied"),
            "cannot keep the current store as \(p).before-restore: Permission denied; nothing was changed"
        ),
        (
            .cannotSwapIn(reason: "Permission denied", previous: p + ".before-restore"),
            "cannot put the restored store in place: Permission denied; the previous store is at \(p).before-restore"
        ),
        (.cannotPlaceRestored(path: p, reason: "Permission denied"), "cannot put the restored store at \(p): Permission denied"),
        // Attachments (issue 12): no earlier words; these are the first.
        (.attachmentMissing(path: "/data/bust.jpg"), "no file at /data/bust.jpg to attach"),
        (.attachmentIsDirectory(path: "/data/photos"), "/data/photos is a folder; attach the files in it one by one"),
        (.attachmentUnreadable(path: "/data/bust.jpg", reason: "Permission denied"), "cannot read /data/bust.jpg: Permission denied"),
        (.attachmentEmpty(path: "/data/bust.jpg"), "/data/bust.jpg is empty (0 bytes); nothing was attached"),
        (
            .attachmentTooLarge(path: "/data/film.mov", size: 5_000_000_000, limit: 4 << 30),
            "/data/film.mov is 5 GB, over the 4.3 GB an attachment may have; nothing was attached"
        ),
        (.attachmentChanged(path: "/data/bust.jpg"), "/data/bust.jpg changed while it was being stored; nothing was attached"),
        (
            .attachmentBadName(name: "gpj\u{202E}.exe", problem: "contains a bidirectional control character (U+202E)"),
            "the attachment name \"gpj<U+202E>.exe\" contains a bidirectional control character (U+202E); nothing was attached; "
                + "rename the file, or copy it to a plain name, and attach it again"
        ),
        (.attachmentBadCaption(problem: "is 5000 bytes long; the limit is 4096"), "the caption is 5000 bytes long; the limit is 4096"),
        (.cannotAttach(detail: "one command writes att of x twice"), "cannot attach: one command writes att of x twice"),
        (
            .cannotStripLocation(path: "/data/bust.jpg", detail: "the EXIF block is truncated"),
            "cannot remove the position from /data/bust.jpg (the EXIF block is truncated); nothing was attached"
        ),
        (.noAttachment(record: "0a1b2c3", number: 4, count: 2), "record 0a1b2c3 has no attachment 4; it has 2, numbered 1 to 2 (`strata show 0a1b2c3` lists them)"),
        (.blobNotHere(hash: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"), 
            "the bytes of attachment 0123456789ab are not on this machine yet; `strata fetch ID` downloads a record's attachments from a remote that holds them (`strata fetch --all`: every one)"),
        (
            .blobCorrupt(hash: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", path: "/data/r.strata.blobs/sha256/01/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
            "the stored copy of attachment 0123456789ab is damaged (/data/r.strata.blobs/sha256/01/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef does not hash to its name); "
                + "run `strata check`, and attach the original file again if you have it"
        ),
        (
            .blobSetAside(hash: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", path: "/data/r.strata.blobs/damaged/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
            "the stored copy of attachment 0123456789ab is damaged (its bytes do not hash to its name); it was moved to /data/r.strata.blobs/damaged/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef and counts as not on this machine; "
                + "`strata fetch --all` downloads it again from a remote that holds it, or attach the original file again"
        ),
        (
            .blobHashMismatch(hash: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", actual: "fedcba9876543210"),
            "the bytes received for attachment 0123456789ab hash to fedcba987654, not to its name; they were dropped"
        ),
        (.blobOffsetMismatch(hash: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", held: 10, offered: 20), "bytes of attachment 0123456789ab were offered from byte 20, but 10 are held"),
        (.blobPastEnd(hash: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", size: 100, end: 120), "byte 120 is past the end of attachment 0123456789ab (100 bytes)"),
        (
            .blobWriteFailed(path: "/data/r.strata.blobs/partial/x", reason: "No space left on device"),
            "cannot write /data/r.strata.blobs/partial/x: No space left on device; nothing partial was kept under the attachment's name"
        ),
    ]

    static let serverErrors: [(ServerError.Kind, String)] = [
        (
            .invalidProjectName("Palmyra!"),
            "'Palmyra!' is not a project name; use 1-64 lowercase letters, digits, - and _, e.g. palmyra-2026"
        ),
        (.invalidResearcherName, "the researcher name must be one non-empty line: the author name their replica uses"),
        (.noProject("palmyra"), "no project 'palmyra' on this server; create it with `strata server project add palmyra`"),
        (.noToken(id: 7), "no token with id 7; see `strata server token list`"),
    ]

    static let pgLocation = "postgres://strata@127.0.0.1:5432/strata"
    static let postgresErrors: [(PostgresStorageError.Kind, String)] = [
        (
            .invalidURL("it names no database: end it with /DATABASE, e.g. postgres://strata@127.0.0.1/strata"),
            "the database URL is not valid: it names no database: end it with /DATABASE, e.g. postgres://strata@127.0.0.1/strata; pass --database postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (or set STRATA_DATABASE_URL)"
        ),
        (
            .unreachable(location: pgLocation, reason: "connection refused"),
            "cannot reach PostgreSQL at \(pgLocation): connection refused; check that PostgreSQL runs and listens there, then start again"
        ),
        (
            .authenticationFailed(location: pgLocation),
            "PostgreSQL at \(pgLocation) refused the user name or password; check the user and password in --database (or STRATA_DATABASE_URL)"
        ),
        (
            .noDatabase(location: pgLocation),
            "PostgreSQL has no database named in \(pgLocation); create it (createdb NAME) or name another one in --database"
        ),
        (
            .foreignDatabase(location: pgLocation, tables: ["visits"]),
            "the database \(pgLocation) belongs to another application (tables visits and no Strata schema); it was left untouched; give strata a database of its own (createdb strata)"
        ),
        (
            .newerSchema(location: pgLocation, found: 3, supported: 1),
            "the database \(pgLocation) has Strata schema version 3; this strata knows versions up to 1; upgrade strata to use it"
        ),
        (
            .needsMigration(location: pgLocation, found: 0, supported: 1),
            "the database \(pgLocation) holds no Strata schema yet (version 1 is needed); run `strata server migrate --database URL`"
        ),
        (
            .timedOut(operation: "answer", seconds: 10),
            "PostgreSQL did not answer within 10 s; check the database and its log, then try again"
        ),
        (
            .server(sqlState: "53300", message: "too many connections"),
            "PostgreSQL refused (SQLSTATE 53300): too many connections; check the database and its log, then try again"
        ),
        (
            .verificationFailed("project palmyra has 42 changes in SQLite, 41 in PostgreSQL"),
            "the copy does not match its source: project palmyra has 42 changes in SQLite, 41 in PostgreSQL; nothing was overwritten: look at that project, then run `strata server migrate --to URL` again"
        ),
    ]

    static func name(_ k: PostgresStorageError.Kind) -> String {
        switch k {
        case .invalidURL: "invalidURL"
        case .unreachable: "unreachable"
        case .authenticationFailed: "authenticationFailed"
        case .noDatabase: "noDatabase"
        case .foreignDatabase: "foreignDatabase"
        case .newerSchema: "newerSchema"
        case .needsMigration: "needsMigration"
        case .timedOut: "timedOut"
        case .server: "server"
        case .verificationFailed: "verificationFailed"
        }
    }

    /// The case name of a store error kind. The switch lists every case, so a new kind does
    /// not build until it is named here, and the count below makes it need a sample above.
    static func name(_ k: StoreError.Kind) -> String {
        switch k {
        case .invalidAuthorName: "invalidAuthorName"
        case .storeExists: "storeExists"
        case .cannotCreate: "cannotCreate"
        case .noStore: "noStore"
        case .notAStrataStore: "notAStrataStore"
        case .notADatabase: "notADatabase"
        case .noReplicaID: "noReplicaID"
        case .newerSchema: "newerSchema"
        case .isBackup: "isBackup"
        case .notARecordID: "notARecordID"
        case .noRecord: "noRecord"
        case .prefixTooShort: "prefixTooShort"
        case .noMatch: "noMatch"
        case .ambiguous: "ambiguous"
        case .invalidSearch: "invalidSearch"
        case .changeTooLarge: "changeTooLarge"
        case .corruptRecord: "corruptRecord"
        case .recordWithoutRow: "recordWithoutRow"
        case .unreadableLog: "unreadableLog"
        case .changeNotInLog: "changeNotInLog"
        case .remoteExists: "remoteExists"
        case .noRemote: "noRemote"
        case .backupOntoStore: "backupOntoStore"
        case .backupTargetIsDirectory: "backupTargetIsDirectory"
        case .fileExists: "fileExists"
        case .noDirectory: "noDirectory"
        case .backupFailed: "backupFailed"
        case .cannotWrite: "cannotWrite"
        case .noBackupFile: "noBackupFile"
        case .backupIsDirectory: "backupIsDirectory"
        case .cannotRead: "cannotRead"
        case .cannotReadCopy: "cannotReadCopy"
        case .cannotCopy: "cannotCopy"
        case .cannotWriteCopy: "cannotWriteCopy"
        case .cannotCreateTemporaryFile: "cannotCreateTemporaryFile"
        case .cannotOpenToFlush: "cannotOpenToFlush"
        case .cannotFlush: "cannotFlush"
        case .backupUnopenable: "backupUnopenable"
        case .backupUnreadable: "backupUnreadable"
        case .backupCheckFailed: "backupCheckFailed"
        case .backupInconsistent: "backupInconsistent"
        case .restoreFromStore: "restoreFromStore"
        case .cannotPrepareRestore: "cannotPrepareRestore"
        case .replicaIDTaken: "replicaIDTaken"
        case .storeInUse: "storeInUse"
        case .cannotKeepCurrentStore: "cannotKeepCurrentStore"
        case .cannotSwapIn: "cannotSwapIn"
        case .cannotPlaceRestored: "cannotPlaceRestored"
        case .attachmentMissing: "attachmentMissing"
        case .attachmentIsDirectory: "attachmentIsDirectory"
        case .attachmentUnreadable: "attachmentUnreadable"
        case .attachmentEmpty: "attachmentEmpty"
        case .attachmentTooLarge: "attachmentTooLarge"
        case .attachmentChanged: "attachmentChanged"
        case .attachmentBadName: "attachmentBadName"
        case .attachmentBadCaption: "attachmentBadCaption"
        case .cannotAttach: "cannotAttach"
        case .cannotStripLocation: "cannotStripLocation"
        case .noAttachment: "noAttachment"
        case .blobNotHere: "blobNotHere"
        case .blobCorrupt: "blobCorrupt"
        case .blobSetAside: "blobSetAside"
        case .blobHashMismatch: "blobHashMismatch"
        case .blobOffsetMismatch: "blobOffsetMismatch"
        case .blobPastEnd: "blobPastEnd"
        case .blobWriteFailed: "blobWriteFailed"
        }
    }

    static func name(_ k: ServerError.Kind) -> String {
        switch k {
        case .invalidProjectName: "invalidProjectName"
        case .invalidResearcherName: "invalidResearcherName"
        case .noProject: "noProject"
        case .noToken: "noToken"
        }
    }

    /// Every command word of `strata`, subcommands of subcommands included.
    static let commandWords: Set<String> = {
        var words: Set<String> = []
        func visit(_ command: any ParsableCommand.Type) {
            for sub in command.configuration.subcommands {
                words.insert(sub._commandName)
                visit(sub)
            }
        }
        visit(StrataCommand.self)
        return words
    }()

    /// The advice a message below the CLI must not give: `strata` and a command word, or a flag.
    static func namesACommandOrFlag(_ text: String) -> String? {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "`" || $0 == "(" || $0 == "," || $0 == ";" })
        for (i, w) in words.enumerated() {
            if w.hasPrefix("--") && w.count > 2 { return String(w) }
            // The program, not the product: "a Strata backup" names no command.
            if w == "strata", i + 1 < words.count, commandWords.contains(String(words[i + 1])) {
                return "strata \(words[i + 1])"
            }
        }
        return nil
    }

    @Test func theCommandWordsAreKnown() {
        #expect(Self.commandWords.isSuperset(of: ["init", "list", "search", "check", "backup", "restore", "server", "token"]))
        #expect(Self.namesACommandOrFlag("run `strata init --author NAME` first") != nil)
        #expect(Self.namesACommandOrFlag("pass --force to replace it") != nil)
        #expect(Self.namesACommandOrFlag("open in another strata process; upgrade strata to open it") == nil)
        #expect(Self.namesACommandOrFlag("it is not a usable Strata backup") == nil)
    }

    @Test func everyKindOfErrorHasASample() {
        #expect(Set(Self.storeErrors.map { Self.name($0.0) }).count == 66)
        #expect(Set(Self.serverErrors.map { Self.name($0.0) }).count == 4)
        #expect(Set(Self.postgresErrors.map { Self.name($0.0) }).count == 10)
    }

    @Test func noErrorBelowTheCLINamesACommandOrAFlag() {
        for (kind, _) in Self.storeErrors {
            let d = StoreError(kind).description
            #expect(Self.namesACommandOrFlag(d) == nil, "\(Self.name(kind)): \(d)")
        }
        for (kind, _) in Self.serverErrors {
            let d = ServerError(kind).description
            #expect(Self.namesACommandOrFlag(d) == nil, "\(Self.name(kind)): \(d)")
        }
        for (kind, _) in Self.postgresErrors {
            let d = PostgresStorageError(kind).description
            #expect(Self.namesACommandOrFlag(d) == nil, "\(Self.name(kind)): \(d)")
        }
    }

    @Test func postgresErrorsReadAsBeforeWithTheirAdvice() {
        for (kind, expected) in Self.postgresErrors {
            #expect(Advice.message(for: PostgresStorageError(kind)) == expected, "\(Self.name(kind))")
        }
    }

    /// Every kind of sync failure with sample facts and the words a client reads for it: those
    /// of release 0.2's server word for word, except that `noToken` no longer ends with
    /// "(see `strata remote add`)" and `requestTimeout` no longer suggests `--batch-kb` (the CLI
    /// adds that). These messages travel to clients that are not this CLI, so they name no
    /// command or flag.
    static let syncFailures: [(SyncFailure.Kind, status: Int, message: String)] = [
        (.noToken, 401, "no token: send `Authorization: Bearer <token>`"),
        (.malformedAuthorization, 401, "the Authorization header must be `Bearer <token>`"),
        (.unknownToken, 401, "the token is not valid (unknown or revoked); ask the project admin for a new one"),
        (.wrongProject(token: "aleppo", asked: "palmyra"), 403, "this token is for project 'aleppo', not 'palmyra'"),
        (.roleTooLow(has: .read, needs: .write), 403, "this token can only pull; pushing needs a write token"),
        (.roleTooLow(has: .write, needs: .admin), 403, "this token can only push its own changes; pushing needs a admin token"),
        (
            .foreignAuthor(change: ChangeID(replica: ReplicaID(high: 1, low: 2), seq: 3), researcher: "Maria", role: .write), 403,
            "change \(ChangeID(replica: ReplicaID(high: 1, low: 2), seq: 3)) is by another researcher; a write token pushes only changes authored by 'Maria' (relaying needs an admin token)"
        ),
        (.noSuchProject("palmyra"), 404, "no project 'palmyra' on this server"),
        (.noSuchEndpoint(method: "GET", path: "/v1/x"), 404, "no such endpoint: GET /v1/x"),
        (.unsupportedProtocol, 404, "this server speaks Strata sync protocol 1 (/v1/); upgrade the server or use a matching strata"),
        (
            .unsupportedMediaType(expected: "application/vnd.strata.changeset", got: nil), 415,
            "expected Content-Type application/vnd.strata.changeset, got none"
        ),
        (.bodyTooLarge(declared: 10, limit: 5), 413, "the body is 10 bytes; this server accepts at most 5"),
        (.bodyTooLarge(declared: nil, limit: 5), 413, "the body is larger than the 5 bytes this server accepts"),
        (.bodyTooLarge(declared: nil, limit: nil), 413, "the body is larger than this server accepts"),
        (.requestTimeout(seconds: 120), 408, "the request did not arrive within 120 s"),
        (.rateLimited(retryAfter: 3), 429, "too many requests with this token; wait 3 s, then sync again (your changes are safe)"),
        (.undecodable(Self.truncated, what: "the pushed change set was refused"), 400, "the pushed change set was refused: \(Self.truncated)"),
        (.invalidChange(ChangeValidationError("change x has no operations")), 400, "the pushed change set was refused: change x has no operations"),
        (
            .clockSkew(Self.skew), 422,
            "change \(Self.skew.change) is stamped 172800 s ahead of the server's clock (at most 86400 s accepted); fix the clock of the machine that made it, then sync again"
        ),
        (.badRequest(status: 400), 400, "the request could not be read"),
        (.storage(what: "read its data", logged: true), 503, "the server could not read its data; see its log"),
        (.storage(what: "read the project", logged: false), 503, "the server could not read the project"),
        (.unanswered(status: 503), 503, "the server could not answer; see its log"),
        (.noAttachments, 404, "this server keeps no attachment bytes"),
        (
            .blobNotFound(hash: String(repeating: "ab", count: 32)), 404,
            "no attachment abababababab here: no record of this project references it, or the server does not hold it whole yet"
        ),
        (.badBlobRequest(problem: "'x' is not a blob hash (64 hex digits of SHA-256)"), 400, "'x' is not a blob hash (64 hex digits of SHA-256)"),
        (.rangeNotSatisfiable(offset: 10, size: 10), 416, "the range starts at byte 10; the attachment has 10 bytes"),
        (
            .offsetMismatch(held: 40, offered: 0), 409,
            "the upload starts at byte 0 but the server holds 40 bytes of this attachment; resume from 40"
        ),
        (
            .hashMismatch(hash: String(repeating: "ab", count: 32)), 422,
            "the uploaded bytes do not hash to abababababab; the server kept nothing of them"
        ),
        (.sizeMismatch(referenced: 4, declared: 5), 422, "the upload declares 5 bytes; the project's records give this attachment 4"),
        (.blobTooLarge(size: 10, limit: 5), 413, "the attachment has 10 bytes; this server accepts at most 5 per file"),
        (
            .projectFull(held: 7, adding: 3, limit: 9), 413,
            "this project's attachments take 7 bytes and this one adds 3; the server's limit is 9 per project"
        ),
    ]

    /// A change stamped two days ahead of the receiver's clock.
    static var skew: ClockSkewError {
        do {
            try ClockPolicy.standard.check(
                HybridTimestamp(wallMillis: 1_000 + 2 * 86_400_000, counter: 0), from: ChangeID(replica: ReplicaID(high: 1, low: 2), seq: 3),
                now: 1_000)
            preconditionFailure("a change two days ahead was accepted")
        } catch { return error }
    }

    /// Each kind by name, through a switch over every case: a new kind does not build until it
    /// has a name here, and `everySyncFailureHasASample` then asks for its sample.
    static func name(_ kind: SyncFailure.Kind) -> String {
        switch kind {
        case .noToken: "noToken"
        case .malformedAuthorization: "malformedAuthorization"
        case .unknownToken: "unknownToken"
        case .wrongProject: "wrongProject"
        case .roleTooLow: "roleTooLow"
        case .foreignAuthor: "foreignAuthor"
        case .noSuchProject: "noSuchProject"
        case .noSuchEndpoint: "noSuchEndpoint"
        case .unsupportedProtocol: "unsupportedProtocol"
        case .unsupportedMediaType: "unsupportedMediaType"
        case .bodyTooLarge: "bodyTooLarge"
        case .requestTimeout: "requestTimeout"
        case .rateLimited: "rateLimited"
        case .undecodable: "undecodable"
        case .invalidChange: "invalidChange"
        case .clockSkew: "clockSkew"
        case .badRequest: "badRequest"
        case .storage: "storage"
        case .unanswered: "unanswered"
        case .noAttachments: "noAttachments"
        case .blobNotFound: "blobNotFound"
        case .badBlobRequest: "badBlobRequest"
        case .rangeNotSatisfiable: "rangeNotSatisfiable"
        case .offsetMismatch: "offsetMismatch"
        case .hashMismatch: "hashMismatch"
        case .sizeMismatch: "sizeMismatch"
        case .blobTooLarge: "blobTooLarge"
        case .projectFull: "projectFull"
        }
    }

    @Test func everySyncFailureHasASampleAndKeepsItsStatusAndWords() {
        #expect(Set(Self.syncFailures.map { Self.name($0.0) }).count == 28)
        for (kind, status, message) in Self.syncFailures {
            #expect(SyncFailure(kind).message == message, "\(Self.name(kind))")
            #expect(SyncHTTPServer.status(of: SyncFailure(kind)) == status, "\(Self.name(kind))")
        }
    }

    /// The codec's error for a change set cut after its magic.
    static var truncated: CodecError {
        do {
            _ = try ChangeSetCodec.decode(Array("SCHG".utf8))
            preconditionFailure("a 4-byte change set decoded")
        } catch { return error }
    }

    @Test func noSyncFailureNamesACommandOrAFlag() {
        for (kind, _, _) in Self.syncFailures {
            let d = SyncFailure(kind).message
            #expect(Self.namesACommandOrFlag(d) == nil, "\(kind): \(d)")
        }
        for kind in [SyncSessionFailure.Kind.protocolMismatch(server: 2, client: 1), .serverDoesNotAdvance, .tooManyRequests(9)] {
            let d = SyncSessionFailure(kind).description
            #expect(Self.namesACommandOrFlag(d) == nil, "\(kind): \(d)")
        }
    }

    @Test func aSyncTheServerGaveUpOnSuggestsSmallerBatches() {
        let timeout = SyncFailure(.requestTimeout(seconds: 120))
        let e = SyncClientError(status: 408, code: timeout.code, "the server refused: \(timeout.message)")
        #expect(
            Advice.message(for: e)
                == "the server refused: the request did not arrive within 120 s; on a slow link sync with smaller batches (strata sync --batch-kb 256), then sync again"
        )
    }

    /// The server cannot reach its storage: the transport's facts (unavailable, the changes are
    /// safe here) and the CLI's advice (the command, and when).
    @Test func anUnavailableServerSaysWhenToSyncAgain() {
        let e = SyncClientError(
            status: 503, code: .unavailable, retryAfter: 5,
            "the server at http://127.0.0.1:7070 is unavailable: it cannot read or write its data now, still after one retry; your changes are safe on this machine"
        )
        #expect(
            Advice.message(for: e)
                == "the server at http://127.0.0.1:7070 is unavailable: it cannot read or write its data now, still after one retry; your changes are safe on this machine; run `strata sync` again in 5 s"
        )
        #expect(SyncFailure(.storage(what: "apply the changes", logged: true)).code == .unavailable)
        #expect(SyncFailure(.storage(what: "apply the changes", logged: true)).retryAfter == 5)
    }

    @Test func theCLIPrintsTheSameWordsAsBefore() {
        for (kind, before) in Self.storeErrors {
            #expect(Advice.message(for: StoreError(kind)) == before, "\(Self.name(kind))")
        }
        for (kind, before) in Self.serverErrors {
            #expect(Advice.message(for: ServerError(kind)) == before, "\(Self.name(kind))")
        }
    }

    @Test func theStoreStatesTheFactsTheAdviceBuildsOn() {
        for (kind, before) in Self.storeErrors where kind != .storeInUse(path: Self.p) {
            let facts = StoreError(kind).description
            if case .isBackup = kind {
                #expect(facts == "\(Self.b) is a backup, not a store")
            } else {
                #expect(before.hasPrefix(facts), "\(Self.name(kind)): \(facts)")
            }
        }
        #expect(StoreError(.storeInUse(path: Self.p)).description == "the store \(Self.p) is open in another strata process; nothing was changed")
    }

    @Test func otherErrorsPassThroughUnchanged() {
        struct Other: Error, CustomStringConvertible { var description: String { "something else" } }
        #expect(Advice.message(for: Other()) == "something else")
        #expect(Advice.adding(to: Other()) is Other)
        #expect("\(Advice.adding(to: StoreError(.noStore(path: Self.p))))".contains("strata init --author NAME"))
    }

    /// Moved from the store's tests: the advice is the CLI's now, the store says what happened.
    @Test func theStoresErrorsGetTheirAdviceInTheCLI() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("strata-advice-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let none = dir.appendingPathComponent("none.strata").path
        let e = #expect(throws: StoreError.self) { try Store.open(at: none) }
        #expect(e?.kind == .noStore(path: none))
        #expect(e.map { Advice.message(for: $0) }?.contains("strata init") == true)

        let store = try Store.create(at: dir.appendingPathComponent("r.strata").path, author: "Khaled")
        let file = dir.appendingPathComponent("b.strata").path
        try store.backup(to: file)
        let exists = #expect(throws: StoreError.self) { try store.backup(to: file) }
        #expect(exists.map { Advice.message(for: $0) }?.contains("--force") == true)
        let backup = #expect(throws: StoreError.self) { try Store.open(at: file) }
        #expect(backup.map { Advice.message(for: $0) }?.contains("strata backup restore") == true)
    }
}
