import Foundation
import Logging
import NIOCore
import PostgresNIO
import StrataCodec
import StrataCore
import StrataServer

/// One project's log in PostgreSQL, as the sync protocol reads and appends it.
public struct PostgresProjectStorage: ProjectStorage {
    let storage: PostgresStorage
    public let name: String
    public let replicaID: ReplicaID

    /// Rows per INSERT statement of a push (a batch is still one transaction).
    static let rowsPerStatement = 1000
    /// Change bytes per INSERT statement of a push.
    static let bytesPerStatement = 4 << 20

    public func versionVector() async throws -> VersionVector {
        let logger = storage.logger
        let name = self.name
        return try await storage.query("read the project") { c in try await Self.versionVector(c, project: name, logger: logger) }
    }

    static func versionVector(_ c: PostgresConnection, project: String, logger: Logger) async throws -> VersionVector {
        var vv = VersionVector()
        for try await (r, n) in try await c.query(
            "SELECT replica, contiguous FROM strata_versions WHERE project = \(project) AND contiguous > 0", logger: logger
        ).decode((ByteBuffer, Int64).self) {
            if let id = ReplicaID(bytes: r.readableBytesView) { vv[id] = UInt64(n) }
        }
        return vv
    }

    /// One REPEATABLE READ snapshot: per replica in id order, the changes past `version`, as
    /// many as fit in `maxBytes` (at least one), then how many more are missing.
    public func changes(missingFrom version: VersionVector, maxBytes: Int) async throws -> MissingChanges {
        let logger = storage.logger
        let name = self.name
        return try await storage.inTransaction("read the project", readOnlySnapshot: true) { c in
            var replicas: [ReplicaID] = []
            for try await r in try await c.query("SELECT replica FROM strata_versions WHERE project = \(name)", logger: logger)
                .decode(ByteBuffer.self)
            {
                if let id = ReplicaID(bytes: r.readableBytesView) { replicas.append(id) }
            }
            replicas.sort()
            var out: [Change] = []
            var bytes = 0
            var remaining = 0
            var full = false
            for rid in replicas {
                let r = ByteBuffer(bytes: rid.bytes)
                let from = Int64(bitPattern: version[rid])
                if !full {
                    // The prefix of what this replica lacks that fits what is left of the bound
                    // (its first change whatever its size when the batch is still empty), and
                    // how many it lacks in all.
                    let before = bytes
                    let budget = Int64(maxBytes - before)
                    let firstAnyway = out.isEmpty
                    var taken = 0
                    var total = 0
                    for try await (payload, upto, n, count) in try await c.query(
                        """
                        SELECT payload, upto, n, total FROM (
                            SELECT payload, sum(size) OVER w AS upto, row_number() OVER w AS n, count(*) OVER () AS total
                            FROM strata_changes WHERE project = \(name) AND replica = \(r) AND seq > \(from)
                            WINDOW w AS (ORDER BY seq ROWS UNBOUNDED PRECEDING)) t
                        WHERE upto <= \(budget) OR (n = 1 AND \(firstAnyway))
                        ORDER BY n
                        """, logger: logger
                    ).decode((ByteBuffer, Int64, Int64, Int64).self) {
                        _ = n
                        out.append(try ChangeCodec.decode(payload.readableBytesView))
                        bytes = before + Int(upto)
                        taken += 1
                        total = Int(count)
                    }
                    if taken == 0 {
                        total = try await Self.count(c, project: name, replica: r, after: from, logger: logger)
                    }
                    if taken < total {
                        full = true
                        remaining += total - taken
                    }
                } else {
                    remaining += try await Self.count(c, project: name, replica: r, after: from, logger: logger)
                }
            }
            return MissingChanges(changes: out, remaining: remaining)
        }
    }

    static func count(_ c: PostgresConnection, project: String, replica: ByteBuffer, after seq: Int64, logger: Logger)
        async throws -> Int
    {
        for try await n in try await c.query(
            "SELECT count(*) FROM strata_changes WHERE project = \(project) AND replica = \(replica) AND seq > \(seq)",
            logger: logger
        ).decode(Int64.self) {
            return Int(n)
        }
        return 0
    }

    public func present(_ ids: [ChangeID]) async throws -> Set<ChangeID> {
        if ids.isEmpty { return [] }
        let logger = storage.logger
        let name = self.name
        return try await storage.query("read the project") { c in try await Self.present(c, project: name, ids, logger: logger) }
    }

    /// The subset of `ids` the log holds, as `c` sees it (inside a push's transaction: with the
    /// changes it inserted).
    static func present(_ c: PostgresConnection, project name: String, _ ids: [ChangeID], logger: Logger) async throws -> Set<ChangeID> {
        if ids.isEmpty { return [] }
        let rs = ids.map { ByteBuffer(bytes: $0.replica.bytes) }
        let ss = ids.map { Int64(bitPattern: $0.seq) }
        var out = Set<ChangeID>()
        for try await (r, s) in try await c.query(
            """
            SELECT c.replica, c.seq FROM strata_changes c
            JOIN unnest(\(rs)::bytea[], \(ss)::int8[]) AS i(r, s) ON c.replica = i.r AND c.seq = i.s
            WHERE c.project = \(name)
            """, logger: logger
        ).decode((ByteBuffer, Int64).self) {
            if let rid = ReplicaID(bytes: r.readableBytesView) { out.insert(ChangeID(replica: rid, seq: UInt64(bitPattern: s))) }
        }
        return out
    }

    /// Stores a push in one transaction (see `PostgresStorage`'s invariant), a batch at a time as
    /// its change set is decoded: each batch is validated, checked against what the log holds in
    /// this transaction and passed to `admit`, then its new changes inserted in (replica, seq)
    /// order; the replicas it touched are locked in id order and advanced at the end, so
    /// concurrent pushes wait for each other instead of deadlocking (and a deadlock between
    /// pushes whose batches overlap in other orders is retried, reading the push again).
    public func append(_ push: PushedChanges, now: UInt64, admit: @escaping @Sendable (Change, Bool) throws -> Void)
        async throws -> AppendResult
    {
        let logger = storage.logger
        let name = self.name
        let policy = storage.options.policy
        let received = Int64(bitPattern: now)
        return try await storage.inTransaction("apply the changes") { c in
            var total = 0
            var applied = 0
            var touched = Set<ReplicaID>()
            try await push.forEachBatch { (changes: [Change]) async throws in
                for ch in changes {
                    try ch.validate()
                    try policy.check(ch.timestamp, from: ch.id, now: now)
                }
                total += changes.count
                let present = try await Self.present(c, project: name, changes.map(\.id), logger: logger)
                var seen = Set<ChangeID>()
                var fresh: [Change] = []
                for ch in changes {
                    let held = present.contains(ch.id)
                    try admit(ch, held)
                    if !held && seen.insert(ch.id).inserted { fresh.append(ch) }
                }
                fresh.sort { ($0.id.replica, $0.id.seq) < ($1.id.replica, $1.id.seq) }
                let rows = fresh.map { ch in (id: ch.id, payload: ChangeCodec.encode(ch)) }
                applied += try await Self.insert(rows, c, project: name, received: received, touched: &touched, logger: logger)
                // The attachments the new changes reference, in the same transaction: a blob
                // is served only to a project whose log references it.
                try await Self.recordReferences(c, fresh.flatMap(\.attachmentRefs).map { (name, $0) }, logger: logger)
            }
            for rid in touched.sorted() {
                try await Self.advance(c, project: name, replica: rid, logger: logger)
            }
            return AppendResult(applied: applied, duplicates: total - applied)
        }
    }

    /// Stores encoded changes (sorted by id, distinct) in one transaction, with the
    /// attachments they reference: the SQLite migration, which copies the stored bytes as they are.
    func appendEncoded(_ rows: [(id: ChangeID, payload: [UInt8])], total: Int, receivedAt: UInt64, references: [AttachmentRef])
        async throws -> AppendResult
    {
        let logger = storage.logger
        let name = self.name
        let received = Int64(bitPattern: receivedAt)
        let applied = try await storage.inTransaction("apply the changes") { c in
            var touched = Set<ReplicaID>()
            let applied = try await Self.insert(rows, c, project: name, received: received, touched: &touched, logger: logger)
            for rid in touched.sorted() {
                try await Self.advance(c, project: name, replica: rid, logger: logger)
            }
            try await Self.recordReferences(c, references.map { (name, $0) }, logger: logger)
            return applied
        }
        return AppendResult(applied: applied, duplicates: total - applied)
    }

    /// Inserts encoded changes in statements of at most `rowsPerStatement` rows and
    /// `bytesPerStatement` bytes, skipping those the log holds; returns how many were new and
    /// adds their replicas to `touched`.
    static func insert(
        _ rows: [(id: ChangeID, payload: [UInt8])], _ c: PostgresConnection, project name: String, received: Int64,
        touched: inout Set<ReplicaID>, logger: Logger
    ) async throws -> Int {
        var applied = 0
        var start = 0
        while start < rows.count {
            var end = start
            var bytes = 0
            while end < rows.count, end - start < rowsPerStatement, end == start || bytes + rows[end].payload.count <= bytesPerStatement {
                bytes += rows[end].payload.count
                end += 1
            }
            let chunk = rows[start..<end]
            start = end
            let rs = chunk.map { ByteBuffer(bytes: $0.id.replica.bytes) }
            let ss = chunk.map { Int64(bitPattern: $0.id.seq) }
            let zs = chunk.map { Int32($0.payload.count) }
            let ps = chunk.map { ByteBuffer(bytes: $0.payload) }
            for try await r in try await c.query(
                """
                INSERT INTO strata_changes(project, replica, seq, size, received_at, payload)
                SELECT \(name), r, s, z, \(received), p
                FROM unnest(\(rs)::bytea[], \(ss)::int8[], \(zs)::int4[], \(ps)::bytea[]) AS t(r, s, z, p)
                ORDER BY r, s
                ON CONFLICT DO NOTHING
                RETURNING replica
                """, logger: logger
            ).decode(ByteBuffer.self) {
                applied += 1
                if let rid = ReplicaID(bytes: r.readableBytesView) { touched.insert(rid) }
            }
        }
        return applied
    }

    /// Advances a replica's entry of the version vector over the seqs that continue it. The
    /// row lock is taken first, and the log read by a later statement (a fresh snapshot under
    /// READ COMMITTED), so each push sees every push that advanced the entry before it.
    static func advance(_ c: PostgresConnection, project: String, replica rid: ReplicaID, logger: Logger) async throws {
        let r = ByteBuffer(bytes: rid.bytes)
        try await c.query(
            "INSERT INTO strata_versions(project, replica, contiguous) VALUES (\(project), \(r), 0) ON CONFLICT DO NOTHING",
            logger: logger)
        var from: Int64 = 0
        for try await n in try await c.query(
            "SELECT contiguous FROM strata_versions WHERE project = \(project) AND replica = \(r) FOR UPDATE", logger: logger
        ).decode(Int64.self) {
            from = n
        }
        var to = from
        for try await n in try await c.query(
            """
            SELECT coalesce(max(seq), \(from)) FROM (
                SELECT seq, row_number() OVER (ORDER BY seq) AS n
                FROM strata_changes WHERE project = \(project) AND replica = \(r) AND seq > \(from)) t
            WHERE seq = \(from) + n
            """, logger: logger
        ).decode(Int64.self) {
            to = n
        }
        if to != from {
            try await c.query(
                "UPDATE strata_versions SET contiguous = \(to) WHERE project = \(project) AND replica = \(r)", logger: logger)
        }
    }

    /// Records attachments as references of their projects (a reference already recorded
    /// keeps its size), in (project, hash) order so concurrent pushes wait rather than deadlock.
    static func recordReferences(_ c: PostgresConnection, _ refs: [(project: String, ref: AttachmentRef)], logger: Logger) async throws {
        if refs.isEmpty { return }
        var seen = Set<String>()
        let unique = refs.filter { seen.insert($0.project + "\u{0}" + $0.ref.hash.hex).inserted }
            .sorted { ($0.project, $0.ref.hash) < ($1.project, $1.ref.hash) }
        let ps = unique.map(\.project)
        let hs = unique.map { ByteBuffer(bytes: $0.ref.hash.bytes) }
        let ss = unique.map { Int64(clamping: $0.ref.size) }
        try await c.query(
            """
            INSERT INTO strata_blob_refs(project, hash, size)
            SELECT p, h, s FROM unnest(\(ps)::text[], \(hs)::bytea[], \(ss)::int8[]) AS t(p, h, s)
            ORDER BY p, h
            ON CONFLICT DO NOTHING
            """, logger: logger)
    }
}
