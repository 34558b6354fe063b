import Foundation
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
}

/// Copies a SQLite team server (`TeamStorage`) into PostgreSQL: every project with its server
/// replica id, every token digest with its id, role and dates, and every change's stored bytes;
/// then verifies counts, version vectors and every change byte for byte.
///
/// > Invariant: running it again copies nothing twice (projects, tokens and changes are
/// > inserted with ON CONFLICT DO NOTHING) and checks everything again; a change PostgreSQL
/// > holds with other bytes than SQLite fails the verification and is not overwritten.
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
                    let r = try await target.appendEncoded(
                        rows.map { (id: ChangeID(replica: rid, seq: $0.seq), payload: $0.payload) }, total: rows.count,
                        receivedAt: received)
                    report.changesCopied += r.applied
                    report.changesAlreadyThere += r.duplicates
                    after = last.seq
                }
            }
            report.changesVerified += try await verify(project: name, store: store, target: target, pg: pg)
            report.projects += 1
            progress("project \(name): \(try store.status().changes) changes verified")
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
