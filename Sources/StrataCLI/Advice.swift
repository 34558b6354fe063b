import StrataPostgres
import StrataServer
import StrataStore
import StrataSync

/// What the person at the terminal can do about an error.
///
/// > Invariant: the store and the server say what happened (a kind with its facts); only
/// > the terminal client knows its commands and flags, so only it names them, here.
///
/// Each switch lists every kind, so a new kind of error does not build until someone has
/// decided whether it needs advice.
enum Advice {
    /// The line to print for `error`: its facts, and the advice when the CLI has some.
    static func message(for error: any Error) -> String {
        switch error {
        case let e as StoreError: message(for: e)
        case let e as ServerError: message(for: e)
        case let e as PostgresStorageError: message(for: e)
        case let e as SyncClientError: message(for: e)
        case let e as ServerConfigError: e.description
        case let e as BundleBlobRefused: message(for: e)
        default: "\(error)"
        }
    }

    /// A bundle refused because of one of its attachments' bytes.
    static func message(for e: BundleBlobRefused) -> String {
        "attachment \(e.number) of \(e.count) (\(e.hash.short)): \(message(for: e.underlying)); copy the bundle again, "
            + "or ask its sender for one without the bytes (strata bundle create --no-attachments)"
    }

    /// A failed sync: the server's or the transport's facts, the flag that helps when the
    /// server gave up waiting for a request body, and when to sync again when the server
    /// cannot reach its storage.
    static func message(for e: SyncClientError) -> String {
        switch e.code {
        case .requestTimeout?:
            e.description + "; on a slow link sync with smaller batches (strata sync --batch-kb 256), then sync again"
        case .unavailable?:
            e.description + "; run `strata sync` again in \(e.retryAfter ?? ServerLimits.defaultUnavailableRetryAfterSeconds) s"
        default: e.description
        }
    }

    /// `error` with the advice added: a ``CLIError`` for the store's and the server's errors,
    /// any other error as it is (argument-parser's own errors keep their exit codes).
    static func adding(to error: any Error) -> any Error {
        switch error {
        case is StoreError, is ServerError, is PostgresStorageError: CLIError(message(for: error))
        default: error
        }
    }

    static func message(for e: StoreError) -> String {
        let facts = e.description
        switch e.kind {
        case .invalidAuthorName:
            return facts + ", e.g. --author \"Khaled\""
        case .storeExists:
            return facts + "; use it, or pass another --store path"
        case .noStore:
            return facts + "; run `strata init --author NAME` first, or pass --store PATH"
        case .notAStrataStore(_, .backup):
            return facts + "; give a file made by `strata backup`"
        case .newerSchema(_, .store):
            return facts + "; upgrade strata to open it"
        case .newerSchema(_, .backup):
            return facts + "; upgrade strata to restore it"
        case .isBackup(let path):
            return "\(path) is a backup made by `strata backup`; bring it back with `strata backup restore \(path)` "
                + "(it then gets a new replica id) rather than using it as a store"
        case .notARecordID:
            return facts + " (try `strata list`)"
        case .noMatch:
            return facts + " (try `strata list` or `strata search`)"
        case .corruptRecord:
            return facts + "; run `strata check`"
        case .fileExists:
            return facts + ", or pass --force to replace it"
        case .noBackupFile:
            return facts + "; give the path of a backup made by `strata backup FILE`"
        case .restoreFromStore:
            return facts + "; restore from a backup file made by `strata backup`"
        case .remoteExists(let name):
            return facts + "; remove it first with `strata remote remove \(name)`"
        case .storeInUse(let path):
            return "the store \(path) is open in another strata process (serve? sync?); stop it, then restore again; "
                + "nothing was changed"
        case .noAttachment(let record, _, let count) where count > 0:
            return facts + " (`strata show \(record)` lists them)"
        case .blobCorrupt:
            return facts + "; run `strata check`, and attach the original file again if you have it"
        case .blobSetAside:
            return facts + "; `strata fetch --all` downloads it again from a remote that holds it, or attach the original file again"
        case .blobNotHere:
            return facts + "; `strata fetch ID` downloads a record's attachments from a remote that holds them (`strata fetch --all`: every one)"
        case .attachmentBadName:
            return facts + "; rename the file, or copy it to a plain name, and attach it again"
        case .attachmentMissing, .attachmentIsDirectory, .attachmentUnreadable, .attachmentEmpty, .attachmentTooLarge,
            .attachmentChanged, .attachmentBadCaption, .cannotAttach, .cannotStripLocation, .noAttachment,
            .blobHashMismatch, .blobOffsetMismatch, .blobPastEnd, .blobWriteFailed:
            return facts
        case .notAStrataStore(_, .store), .cannotCreate, .notADatabase, .noReplicaID, .noRecord, .prefixTooShort,
            .ambiguous, .invalidSearch, .changeTooLarge, .recordWithoutRow, .unreadableLog, .changeNotInLog, .noRemote,
            .backupOntoStore,
            .backupTargetIsDirectory, .noDirectory, .backupFailed, .cannotWrite, .backupIsDirectory, .cannotRead,
            .cannotReadCopy, .cannotCopy, .cannotWriteCopy, .cannotCreateTemporaryFile, .cannotOpenToFlush, .cannotFlush,
            .backupUnopenable, .backupUnreadable, .backupCheckFailed, .backupInconsistent, .cannotPrepareRestore,
            .replicaIDTaken, .cannotKeepCurrentStore, .cannotSwapIn, .cannotPlaceRestored:
            return facts
        }
    }

    static func message(for e: ServerError) -> String {
        let facts = e.description
        switch e.kind {
        case .noProject(let name):
            return facts + "; create it with `strata server project add \(name)`"
        case .noToken:
            return facts + "; see `strata server token list`"
        case .invalidProjectName, .invalidResearcherName:
            return facts
        }
    }

    static func message(for e: PostgresStorageError) -> String {
        let facts = e.description
        switch e.kind {
        case .invalidURL:
            return facts + "; pass --database postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (or set STRATA_DATABASE_URL)"
        case .unreachable:
            return facts + "; check that PostgreSQL runs and listens there, then start again"
        case .authenticationFailed:
            return facts + "; check the user and password in --database (or STRATA_DATABASE_URL)"
        case .noDatabase:
            return facts + "; create it (createdb NAME) or name another one in --database"
        case .foreignDatabase:
            return facts + "; give strata a database of its own (createdb strata)"
        case .newerSchema:
            return facts + "; upgrade strata to use it"
        case .needsMigration:
            return facts + "; run `strata server migrate --database URL`"
        case .timedOut, .server:
            return facts + "; check the database and its log, then try again"
        case .verificationFailed:
            return facts + "; nothing was overwritten: look at that project, then run `strata server migrate --to URL` again"
        }
    }
}
