import Foundation
import StrataCore
import StrataStore

/// Helpers the commands share: finding records and fields, committing.
extension Store {
    /// The record an id or id prefix names; refuses ids that name nothing.
    func find(_ idOrPrefix: String) throws -> RecordState {
        let id = try resolve(prefix: idOrPrefix)
        guard let r = try record(id), r.kind != nil else {
            throw CLIError("no record \(idOrPrefix) on this replica (try `strata list`)")
        }
        return r
    }

    /// Like ``find(_:)`` but refuses deleted records, as every editing command does.
    func findEditable(_ idOrPrefix: String) throws -> RecordState {
        let r = try find(idOrPrefix)
        if r.isDeleted {
            let s = try uniquePrefix(of: r.id)
            throw CLIError("record \(s) is deleted; `strata restore \(s)` first")
        }
        return r
    }

    /// Commits edits as one change; says so when nothing changed.
    @discardableResult
    func commitOrSay(_ edits: [Edit], quiet: Bool = false) throws -> Change? {
        let change = try commit(edits)
        if change == nil && !quiet { print("nothing changed") }
        return change
    }
}

enum Fields {
    static func kind(of r: RecordState) throws -> RecordKind {
        guard let k = Output.kind(r) else {
            throw CLIError("record \(r.id.text) has kind '\(r.kind ?? "?")', which this strata does not know; upgrade strata")
        }
        return k
    }

    static func kind(named s: String) throws -> RecordKind {
        let name = s.trimmed.lowercased()
        guard let k = RecordKind(rawValue: name == "artifact" ? "artefact" : name) else {
            throw CLIError(
                "'\(s)' is not a record kind; kinds: \(RecordKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return k
    }

    /// The field spec for a name, or an error listing the kind's fields.
    static func spec(_ name: String, of kind: RecordKind) throws -> FieldSpec {
        guard let f = kind.field(named: name) else {
            throw CLIError(
                "\(kind.rawValue) has no field '\(name)'; its fields are: \(kind.fields.map(\.name).joined(separator: ", "))"
            )
        }
        return f
    }

    /// Parses `FIELD=VALUE`.
    static func assignment(_ s: String, of kind: RecordKind) throws -> (FieldSpec, FieldValue) {
        guard let eq = s.firstIndex(of: "=") else {
            throw CLIError("'\(s)' is not FIELD=VALUE, e.g. --set state=destroyed")
        }
        let spec = try spec(String(s[..<eq]).trimmed, of: kind)
        return (spec, try Schema.parse(String(s[s.index(after: eq)...]), for: spec, kind: kind))
    }

    /// Parses `RELATION:ID` (or `RELATION ID`) against the store.
    static func relation(_ s: String, store: Store) throws -> String {
        let parts = s.split(whereSeparator: { $0 == ":" || $0 == " " || $0 == "=" }).map(String.init)
        guard parts.count == 2 else {
            throw CLIError(
                "'\(s)' is not RELATION:ID, e.g. --rel about:0a1b2c3; relations: \(Schema.relationTypes.joined(separator: ", "))"
            )
        }
        let type = try Schema.relationType(parts[0])
        let target = try store.resolve(prefix: parts[1])
        return RelationElement.make(type, target)
    }
}
