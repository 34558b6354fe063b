import Foundation
import GRDB
import StrataCodec
import StrataCore

/// How a remote apply merges its changes.
///
/// Both paths give the same replica (`BulkApplyTests` checks every table, search, history and
/// what a later sync sends against the one-by-one path on random histories); the bulk path
/// asks the database less:
/// - the version vector and each replica's highest stored seq are read once, so a change or a
///   pred below the vector is known present, and one above the highest stored seq known
///   absent, without a query (the one-by-one path looks each one up);
/// - the batch's new changes are merged in timestamp order (a writer's timestamp exceeds that of
///   every change it had seen), so preds arrive before what supersedes them and registers
///   rarely hold pending supersessions;
/// - a record already stored rewrites only the side tables (tags, relations, attachments,
///   full-text entry) whose rows the merge changed.
enum ApplyPath: Sendable {
    /// Each change merged in arrival order, each presence looked up: the reference path.
    case oneByOne
    /// The batch merged as one (`MergeTransaction.integrate(bulk:)`).
    case bulk
    /// Bulk for batches of at least `Store.bulkThreshold` changes, one by one below.
    case automatic
}

extension Store {
    /// Batches at least this long take the bulk path (`ApplyPath.automatic`). Below it, reading
    /// the version vector up front costs about what it saves.
    static let bulkThreshold = 32
}

/// The side rows of one record, as `MergeTransaction.finish` writes them from its state.
struct MaterialisedRows: Equatable {
    struct Search: Equatable {
        var title: String
        var body: String
    }
    struct Relation: Equatable {
        var type: String
        var target: RecordID
    }
    struct AttachmentRow: Equatable {
        var hash: BlobHash
        var size: UInt64
    }

    var kindText: String?
    var title: String?
    var state: String?
    var deleted: Bool
    var conflict: Bool
    var created: Int64?
    var modified: Int64?
    var tags: [String]
    var relations: [Relation]
    var attachments: [AttachmentRow]
    /// The `records_fts` entry; nil for a record whose creation has not arrived.
    var search: Search?

    init(_ s: RecordState, attachments materialise: Bool) {
        kindText = s.kind
        let kind = s.kind.flatMap(RecordKind.init(rawValue:))
        title = kind.flatMap { s.text($0.titleField) }
        state = s.text("state")
        deleted = s.isDeleted
        conflict = s.hasConflict
        created = s.creation.map { Int64(bitPattern: $0.timestamp.rawValue) }
        modified = s.lastModified.map { Int64(bitPattern: $0.rawValue) }
        tags = s.tags
        relations = s.elements(SystemField.relations).compactMap { e in
            RelationElement.parse(e).map { Relation(type: $0.0, target: $0.1) }
        }
        let attached = s.attachments
        attachments = materialise ? attached.map { AttachmentRow(hash: $0.ref.hash, size: UInt64($0.ref.size)) } : []
        if let kind {
            let body = (s.fields.compactMap { f -> String? in
                guard f.name != kind.titleField, case .text(let t) = f.value else { return nil }
                return t
            } + attached.map(\.searchableText)).joined(separator: "\n")
            search = Search(title: title ?? "", body: body)
        } else {
            search = nil
        }
    }
}

/// What the bulk path knows of the log without asking it.
struct BulkState {
    /// Per replica index: every seq up to this one is in the log (the `versions` table when the
    /// transaction began).
    var contiguous: [Int64: Int64]
    /// Per replica index: no seq above this one is in the log (its highest stored seq, raised
    /// as changes are written).
    var highest: [Int64: Int64]
    /// The side rows of each record as loaded from the store in this flush, to compare with
    /// what the merge leaves.
    var before: [RecordID: MaterialisedRows] = [:]

    /// Whether the log holds `id`, when that follows from the two bounds; nil when only a
    /// lookup can tell.
    func knows(_ id: ChangeID, replicaIndex r: Int64) -> Bool? {
        let seq = Int64(bitPattern: id.seq)
        if seq <= contiguous[r, default: 0] { return true }
        if seq > highest[r, default: 0] { return false }
        return nil
    }

    mutating func noteStored(_ seq: Int64, replicaIndex r: Int64) {
        highest[r] = max(highest[r, default: 0], seq)
    }
}

extension MergeTransaction {
    /// Switches this transaction to the bulk path: reads the version vector and each
    /// replica's highest stored seq once (one query each, on the primary key).
    mutating func beginBulk() throws {
        var contiguous: [Int64: Int64] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT replica, contiguous FROM versions") {
            contiguous[row[0]] = row[1]
        }
        var highest: [Int64: Int64] = [:]
        for row in try Row.fetchAll(
            db, sql: "SELECT idx, (SELECT max(seq) FROM changes WHERE replica = idx) FROM replicas")
        {
            highest[row[0]] = row[1] ?? 0
        }
        bulk = BulkState(contiguous: contiguous, highest: highest)
    }

    /// Merges changes already known to be new to this replica and distinct, in timestamp
    /// order, flushing as the one-by-one path does.
    mutating func integrate(bulk changes: [Change], receivedAt: UInt64) throws {
        precondition(bulk != nil, "integrate(bulk:) before beginBulk()")
        let ordered = changes.sorted { ($0.timestamp, $0.id) < ($1.timestamp, $1.id) }
        for c in ordered {
            try integrate(c, receivedAt: receivedAt)
            try flushIfFull()
        }
    }
}
