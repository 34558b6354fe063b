/// A point on Earth: WGS 84 degrees and an optional accuracy radius in metres.
public struct Location: Hashable, Sendable {
    public var latitude: Double
    public var longitude: Double
    public var accuracyMetres: Double?

    public init(latitude: Double, longitude: Double, accuracyMetres: Double? = nil) {
        self.latitude = latitude
        self.longitude = longitude
        self.accuracyMetres = accuracyMetres
    }
}

/// A value held by a field register.
///
/// The set of cases is versioned by the change-set format (Protocol/SPEC.md, "Values"): a new
/// case is a new value tag, and a decoder that meets a tag it does not know reports that the
/// data comes from a newer Strata. The note body becomes a text CRDT that way.
public enum FieldValue: Hashable, Sendable {
    /// The field is cleared.
    case null
    case text(String)
    case integer(Int64)
    case real(Double)
    case bool(Bool)
    case location(Location)
    /// The record is deleted. `seen` is the deleting replica's version vector at the time:
    /// edits it does not count were concurrent with the delete and are surfaced.
    case deletion(seen: VersionVector)
    /// An attachment: the value of the set element `att[<hash hex>]` (see ``AttachmentRef``).
    case attachment(AttachmentRef)
}

/// What an operation does to the key it names.
public enum Action: Hashable, Sendable {
    /// Assign a value, superseding `preds`.
    case assign(FieldValue)
    /// Supersede `preds` and add nothing (removes a set element).
    case retract
    /// Character-level edits of a long-text field (``Schema/textFields``), merged by the text
    /// CRDT (``TextDocument``) rather than as a register: `preds` are empty, every operation's
    /// id belongs to the writing replica, in the order they were made.
    case editText([TextOperation])
}

/// The key an operation writes: a field of a record, or one element of a set field.
///
/// Equal, hashed and ordered by the UTF-8 bytes of the field and the element (names are bytes,
/// see ``ExactName``): "café" with U+00E9 and "café" with "e" + U+0301 are two keys.
public struct FieldKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Field name, e.g. `title`, `state`, `tags`, `deleted`.
    public var field: String
    /// For set fields (tags, relations), the element; empty for registers.
    public var element: String

    public init(_ field: String, element: String = "") {
        self.field = field
        self.element = element
    }

    public var description: String { element.isEmpty ? field : "\(field)[\(element)]" }

    public static func == (a: FieldKey, b: FieldKey) -> Bool {
        a.field.hasSameBytes(as: b.field) && a.element.hasSameBytes(as: b.element)
    }

    public func hash(into hasher: inout Hasher) {
        field.hashBytes(into: &hasher)
        element.hashBytes(into: &hasher)
    }

    /// Field, then element, bytewise.
    public static func < (a: FieldKey, b: FieldKey) -> Bool {
        a.field.hasSameBytes(as: b.field) ? a.element.precedesBytewise(b.element) : a.field.precedesBytewise(b.field)
    }
}

/// One write to one key of one record.
public struct FieldOperation: Hashable, Sendable {
    public var record: RecordID
    public var key: FieldKey
    public var action: Action
    /// The operations on the same key that the writer had seen and this one replaces:
    /// identified by the change that carried them.
    public var preds: [ChangeID]

    public init(record: RecordID, key: FieldKey, action: Action, preds: [ChangeID]) {
        self.record = record
        self.key = key
        self.action = action
        self.preds = preds
    }
}

/// One local edit: everything one command wrote, stamped once.
///
/// > Invariant: a change touches a given (record, key) at most once, so an operation is
/// > identified by its change id and its key.
public struct Change: Hashable, Sendable {
    public var id: ChangeID
    public var timestamp: HybridTimestamp
    /// The researcher's name as recorded by the writing replica.
    public var author: String
    public var operations: [FieldOperation]

    public init(id: ChangeID, timestamp: HybridTimestamp, author: String, operations: [FieldOperation]) {
        self.id = id
        self.timestamp = timestamp
        self.author = author
        self.operations = operations
    }

    /// Checks the invariant above and basic well-formedness.
    public func validate() throws(ChangeValidationError) {
        if id.seq == 0 { throw ChangeValidationError("change \(id) has sequence number 0; sequence numbers start at 1") }
        if operations.isEmpty { throw ChangeValidationError("change \(id) has no operations") }
        var seen = Set<OpKey>()
        for op in operations {
            if !seen.insert(OpKey(record: op.record, key: op.key)).inserted {
                throw ChangeValidationError("change \(id) writes \(op.record) \(op.key) twice")
            }
            if op.preds.contains(where: { $0 == id }) {
                throw ChangeValidationError("change \(id) names itself as a predecessor")
            }
            switch op.action {
            case .retract where op.key.element.isEmpty:
                throw ChangeValidationError("change \(id) retracts field \(op.key.field), which is not a set element")
            case .assign(.attachment(let ref)):
                try Self.validateAttachment(ref, key: op.key, change: id)
            case .assign where op.key.field.hasSameBytes(as: SystemField.attachments):
                throw ChangeValidationError("change \(id) assigns something other than an attachment to \(SystemField.attachments)")
            case .editText(let edits):
                try Self.validateTextEdits(edits, key: op.key, preds: op.preds, change: id)
            default:
                break
            }
        }
    }
}

extension Change {
    /// An attachment is the value of `att[<its hash in lowercase hex>]` and nothing else, and
    /// its reference is well formed (``AttachmentRef/problem``).
    public static func validateAttachment(_ ref: AttachmentRef, key: FieldKey, change id: ChangeID) throws(ChangeValidationError) {
        guard key.field.hasSameBytes(as: SystemField.attachments), key.element.hasSameBytes(as: ref.hash.hex) else {
            throw ChangeValidationError("change \(id) holds an attachment outside \(SystemField.attachments)[<its hash>]")
        }
        if let p = ref.problem { throw ChangeValidationError("change \(id) holds an attachment that is not well formed: \(p)") }
    }

    /// The rules of a text edit (Protocol/SPEC.md, "Text edits"), also checked by decoders.
    public static func validateTextEdits(
        _ edits: [TextOperation], key: FieldKey, preds: [ChangeID], change id: ChangeID
    ) throws(ChangeValidationError) {
        guard Schema.textFields.contains(key.field), key.element.isEmpty else {
            // The key is not quoted: it comes from the sender and may hold anything (line breaks too).
            throw ChangeValidationError(
                "change \(id) edits a field as text that is not a long-text field (\(Schema.textFields.sorted().joined(separator: ", ")))")
        }
        guard preds.isEmpty else {
            throw ChangeValidationError("change \(id) names predecessors for the text edit of \(key)")
        }
        guard !edits.isEmpty else { throw ChangeValidationError("change \(id) has an empty text edit of \(key)") }
        for e in edits {
            guard e.id.replica == id.replica else {
                throw ChangeValidationError("change \(id) carries a text operation of another replica (\(e.id))")
            }
            do { try TextDocument.validate(e) } catch {
                throw ChangeValidationError("change \(id), \(key): \(error)")
            }
        }
    }
}

/// A change that breaks the structural rules of ``Change``.
public struct ChangeValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}

/// (record, key): the address of one register or set element.
public struct OpKey: Hashable, Sendable {
    public var record: RecordID
    public var key: FieldKey
    public init(record: RecordID, key: FieldKey) {
        self.record = record
        self.key = key
    }
}
