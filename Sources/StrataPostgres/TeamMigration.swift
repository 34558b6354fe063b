import Foundation
import StrataCodec
import StrataCore
import StrataServer
import StrataStore

/// What copying a SQLite team server into PostgreSQL did, and what it checked.
public struct TeamMigrationReport: Sendable, Equatable {
    public var projects = 0
    public var tokens = 0
    /// Changes written to PostgreSQL by this run.
    public var changesCopied = 0
    /// Changes PostgreSQL held already (an earlier run, or the same change pushed since).
    public var changesAlreadyThere = 0
    /// Changes compared byte for byte after the copy.
    public var changesVerified = 0
    /// Attachment blobs written (whole or the rest of an earlier run's part) by this run.
    public var blobsCopied = 0
    /// Bytes of attachments written by this run.
    public var blobBytesCopied: UInt64 = 0
    /// Blobs PostgreSQL held whole already.
    public var blobsAlreadyThere = 0
    /// Blobs read back from PostgreSQL and hashed after the copy.
    public var blobsVerified = 0
}

/// Copies a SQLite team server (`TeamStorage`) into PostgreSQL: every project with its server
/// replica id, every token digest with its id, role and dates, every change's stored bytes and
/// every attachment blob its log references and the SQLite server holds whole; then verifies
/// counts, version vectors, every change byte for byte and every blob by its hash, read back.
///
/// > Invariant: running it again copies nothing twice (projects, tokens and changes are
/// > inserted with ON CONFLICT DO NOTHING; a blob held whole is not written again, one held in
/// > part continues at its offset) and checks everything again; a change PostgreSQL holds
/// > with other bytes than SQLite fails the verification and is not overwritten.
public enum TeamMigration {
    /// Changes read from SQLite per batch (each batch is one PostgreSQL transaction).
    static let batch = 1000

    public static func copy(
        from team: TeamStorage, to pg: PostgresStorage, progress: @Sendable (String) -> Void = { _ in }
    ) async throws -> TeamMigrationReport {
        var report = TeamMigrationReport()
        let now = Date().timeIntervalSince1970
        let received = Store.wallClockMillis()
        for name in try team.tokens.projects() {
            guard let store = try team.store(for: name) else { continue }
            let replica = try await pg.addProject(name, replica: store.replicaID, createdAt: now)
            guard replica == store.replicaID else {
                throw PostgresStorageError(
                    .verificationFailed(
                        "project \(name) exists in PostgreSQL with server replica \(replica.short), not \(store.replicaID.short)"))
            }
            let target = PostgresProjectStorage(storage: pg, name: name, replicaID: replica)
            for rid in try store.logReplicas() {
                var after: UInt64 = 0
                // Bounded: each round moves past at least one seq of a finite log.
                while true {
                    let rows = try store.storedChanges(of: rid, after: after, limit: batch)
                    guard let last = rows.last else { break }
                    var references: [AttachmentRef] = []
                    for row in rows { references += try ChangeCodec.decode(row.payload).attachmentRefs }
                    let r = try await target.appendEncoded(
                        rows.map { (id: ChangeID(replica: rid, seq: $0.seq), payload: $0.payload) }, total: rows.count,
                        receivedAt: received, references: references)
                    report.changesCopied += r.applied
                    report.changesAlreadyThere += r.duplicates
                    after = last.seq
                }
            }
            report.changesVerified += try await verify(project: name, store: store, target: target, pg: pg)
            let blobs = try await copyBlobs(project: name, store: store, target: target, report: &report)
            report.projects += 1
            progress("project \(name): \(try store.status().changes) changes and \(blobs) attachments verified")
        }
        for (info, digest) in try team.tokens.tokensWithDigests() {
            let id = try await pg.insertToken(
                digest: digest, project: info.project, researcher: info.researcher, role: info.role,
                createdAt: info.createdAt.timeIntervalSince1970, revokedAt: info.revokedAt?.timeIntervalSince1970,
                lastUsedAt: info.lastUsedAt?.timeIntervalSince1970, id: info.id)
            guard id == info.id else {
                throw PostgresStorageError(.verificationFailed("token \(info.id) is stored in PostgreSQL as token \(id)"))
            }
            report.tokens += 1
        }
        try await verifyTokens(team: team, pg: pg)
        return report
    }

    /// Counts, version vector and every change's bytes of one project; returns how many
    /// changes were compared.
    static func verify(project: String, store: Store, target: PostgresProjectStorage, pg: PostgresStorage) async throws -> Int {
        let count = try store.status().changes
        let copied = try await pg.changeCount(project: project)
        guard copied == count else {
            throw PostgresStorageError(.verificationFailed("project \(project) has \(count) changes in SQLite, \(copied) in PostgreSQL"))
        }
        let vv = try store.versionVector()
        let copiedVV = try await target.versionVector()
        guard copiedVV == vv else {
            throw PostgresStorageError(
                .verificationFailed("project \(project): version vector \(vv) in SQLite, \(copiedVV) in PostgreSQL"))
        }
        var compared = 0
        for rid in try store.logReplicas() {
            var after: UInt64 = 0
            while true {
                let mine = try store.storedChanges(of: rid, after: after, limit: batch)
                guard let last = mine.last else { break }
                let theirs = try await pg.logEntries(project: project, replica: rid, after: after, limit: batch)
                guard theirs.count == mine.count else {
                    throw PostgresStorageError(
                        .verificationFailed("project \(project): replica \(rid.short) after seq \(after) differs in count"))
                }
                for (a, b) in zip(mine, theirs) where a.seq != b.seq || a.payload != b.payload {
                    throw PostgresStorageError(
                        .verificationFailed("project \(project): change \(rid.short):\(a.seq) differs from its copy"))
                }
                compared += mine.count
                after = last.seq
            }
        }
        return compared
    }

    /// Bytes per piece of a blob copied into PostgreSQL (one transaction each).
    static let blobPiece = 1 << 20

    /// Copies every blob the project's log references that SQLite holds whole (a transfer in
    /// part there is left to its client, which resumes it on the new server), then reads each
    /// back from PostgreSQL and checks its hash. Returns how many were verified.
    static func copyBlobs(project: String, store: Store, target: PostgresProjectStorage, report: inout TeamMigrationReport)
        async throws -> Int
    {
        var verified = 0
        for hash in store.blobs.allHashes() {
            guard let size = try await target.referencedSize(of: hash) else { continue }
            guard store.blobs.size(of: hash) == size else {
                throw PostgresStorageError(
                    .verificationFailed(
                        "project \(project): attachment \(hash.short) is \(store.blobs.size(of: hash) ?? 0) bytes in SQLite; its records say \(size)"))
            }
            var at: UInt64 = 0
            switch try await target.blobPresence(of: hash) {
            case .present: report.blobsAlreadyThere += 1
            case .partial(let n): at = n
            case .missing: at = 0
            }
            if try await target.blobPresence(of: hash) != .present {
                let from = at
                // Bounded: each round copies at least one byte of a blob of `size` bytes.
                repeat {
                    let bytes = try store.blobs.read(hash, from: at, maxBytes: blobPiece)
                    guard !bytes.isEmpty || size == 0 else {
                        throw PostgresStorageError(.verificationFailed("project \(project): attachment \(hash.short) ended early in SQLite"))
                    }
                    _ = try await target.receiveBlob(hash, size: size, offset: at, bytes: bytes)
                    at += UInt64(bytes.count)
                } while at < size
                report.blobsCopied += 1
                report.blobBytesCopied += size - from
            }
            try await verifyBlob(project: project, hash: hash, size: size, target: target)
            report.blobsVerified += 1
            verified += 1
        }
        return verified
    }

    /// Reads a blob back from PostgreSQL in pieces and checks its bytes hash to its name.
    static func verifyBlob(project: String, hash: BlobHash, size: UInt64, target: PostgresProjectStorage) async throws {
        guard try await target.blobPresence(of: hash) == .present else {
            throw PostgresStorageError(.verificationFailed("project \(project): attachment \(hash.short) is not whole in PostgreSQL"))
        }
        let verifier = BlobVerifier(hash, size: size)
        var at: UInt64 = 0
        do {
            // Bounded: each round reads at least one byte of a blob of `size` bytes.
            while at < size {
                let piece = try await target.readBlob(hash, from: at, maxBytes: blobPiece)
                guard !piece.isEmpty else { break }
                try verifier.feed(piece, at: at)
                at += UInt64(piece.count)
            }
            if size == 0 { try verifier.feed([], at: 0) }
        } catch let e as StoreError {
            throw PostgresStorageError(.verificationFailed("project \(project): attachment \(hash.short) differs from its copy (\(e))"))
        }
        guard at == size else {
            throw PostgresStorageError(.verificationFailed("project \(project): attachment \(hash.short) has \(at) of \(size) bytes in PostgreSQL"))
        }
    }

    /// Every SQLite token is in PostgreSQL with the same id, digest, project, researcher, role
    /// and revocation.
    static func verifyTokens(team: TeamStorage, pg: PostgresStorage) async throws {
        let copied = Dictionary(uniqueKeysWithValues: try await pg.listTokens(project: nil).map { ($0.id, $0) })
        for (info, _) in try team.tokens.tokensWithDigests() {
            guard let c = copied[info.id], c.project == info.project, c.researcher == info.researcher, c.role == info.role,
                (c.revokedAt == nil) == (info.revokedAt == nil)
            else {
                throw PostgresStorageError(.verificationFailed("token \(info.id) differs from its copy"))
            }
        }
    }
}
