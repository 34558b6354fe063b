import ArgumentParser
import Foundation
import StrataCore
import StrataJSON
import StrataStore

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import records from a JSON export (all or nothing, as one change).",
        discussion: """
            Reads the format `strata export --format json` writes: an array of objects with id, kind, \
            fields, tags, relations and deleted. A record whose id exists gets the fields that differ \
            set and the tags and relations added; other records are created with their id (an object \
            without id gets a new one). Nothing is written unless every record is valid.
            """)

    @OptionGroup var options: StoreOptions
    @Argument(help: "The JSON file (- for standard input).", completion: .file(extensions: ["json"])) var file: String

    func run() throws {
        let store = try options.open()
        let data: Data
        if file == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let d = FileManager.default.contents(atPath: Paths.expand(file)) else {
                throw CLIError("cannot read \(file)")
            }
            data = d
        }
        let json: JSON
        do {
            json = try JSON.parse(data)
        } catch {
            throw CLIError("\(file) is not valid JSON")
        }
        let items: [JSON]
        switch json {
        case .array(let a): items = a
        case .object: items = [json]
        default: throw CLIError("\(file) must hold an array of records, as `strata export` writes")
        }
        var plan = ImportPlan(store: store)
        for (i, item) in items.enumerated() {
            do {
                try plan.add(item)
            } catch {
                throw CLIError("record \(i + 1) of \(items.count)\(plan.lastID.map { " (\($0))" } ?? ""): \(Advice.message(for: error))")
            }
        }
        // One change per record, all in one transaction: the import is still all or nothing,
        // history shows each record's own change, and no change outgrows what a change holds.
        var groups: [[Edit]] = []
        var groupOf: [RecordID: Int] = [:]
        for edit in plan.edits {
            if let g = groupOf[edit.record] {
                groups[g].append(edit)
            } else {
                groupOf[edit.record] = groups.count
                groups.append([edit])
            }
        }
        if !groups.isEmpty { try store.commit(each: groups) }
        print("imported \(items.count) record\(items.count == 1 ? "" : "s"): \(plan.created) created, \(plan.updated) updated, \(plan.unchanged) unchanged")
    }
}

/// Validates import objects one by one and collects the edits.
struct ImportPlan {
    let store: Store
    var edits: [Edit] = []
    var created = 0
    var updated = 0
    var unchanged = 0
    var seen = Set<RecordID>()
    var lastID: String?

    init(store: Store) { self.store = store }

    mutating func add(_ item: JSON) throws {
        lastID = nil
        guard let obj = item.object else { throw CLIError("expected an object with id, kind, fields") }
        let id: RecordID
        if let idText = obj["id"]?.string {
            lastID = idText
            guard let parsed = RecordID(text: idText) else {
                throw CLIError("'\(idText)' is not a full record id (26 characters of 0-9 a-z)")
            }
            id = parsed
        } else if obj["id"] == nil || obj["id"] == .null {
            id = store.newRecordID()
        } else {
            throw CLIError("id must be a string")
        }
        guard seen.insert(id).inserted else { throw CLIError("the id \(id.text) appears twice in the file") }
        let existing = try store.record(id).flatMap { $0.kind == nil ? nil : $0 }
        guard let kindText = obj["kind"]?.string ?? existing?.kind else { throw CLIError("kind is missing") }
        let kind = try Fields.kind(named: kindText)
        if let existing, existing.kind != kind.rawValue {
            throw CLIError("record \(id.text) exists as a \(existing.kind ?? "?"), not a \(kind.rawValue)")
        }
        var mine: [Edit] = []
        if existing == nil { mine.append(.create(id, kind: kind)) }
        if let fieldsJSON = obj["fields"] {
            guard let fields = fieldsJSON.object else { throw CLIError("fields must be an object") }
            for name in fields.keys.sorted() {
                let spec = try Fields.spec(name, of: kind)
                let input = try Self.inputText(fields[name]!, field: spec.name)
                let value = try Schema.parse(input, for: spec, kind: kind)
                let current = existing?.value(spec.name) ?? .null
                if value != current { mine.append(.set(id, field: spec.name, value)) }
            }
        }
        if let tagsJSON = obj["tags"] {
            guard let tags = tagsJSON.array else { throw CLIError("tags must be an array of strings") }
            for t in tags {
                guard let s = t.string else { throw CLIError("tags must be an array of strings") }
                let tag = try Schema.tag(s)
                if existing?.tags.contains(tag) != true {
                    mine.append(.add(id, field: SystemField.tags, element: tag))
                }
            }
        }
        if let relJSON = obj["relations"] {
            guard let rels = relJSON.array else { throw CLIError("relations must be an array of {type, target}") }
            let present = Set(existing?.elements(SystemField.relations) ?? [])
            for rel in rels {
                guard let type = rel["type"]?.string, let target = rel["target"]?.string else {
                    throw CLIError("each relation needs a type and a target")
                }
                let t = try Schema.relationType(type)
                let targetID: RecordID
                if let full = RecordID(text: target) {
                    targetID = full
                } else {
                    targetID = try store.resolve(prefix: target)
                }
                let e = RelationElement.make(t, targetID)
                if !present.contains(e) { mine.append(.add(id, field: SystemField.relations, element: e)) }
            }
        }
        if case .bool(true)? = obj["deleted"], existing?.isDeleted != true {
            mine.append(.delete(id))
        }
        // Duplicate tags or relations in one object would write one key twice.
        var unique: [Edit] = []
        for e in mine where !unique.contains(e) { unique.append(e) }
        if existing == nil {
            created += 1
        } else if unique.isEmpty {
            unchanged += 1
        } else {
            updated += 1
        }
        edits += unique
    }

    /// A JSON field value as the text a user would type.
    static func inputText(_ v: JSON, field: String) throws -> String {
        switch v {
        case .null: return ""
        case .string(let s): return s
        case .int(let i): return String(i)
        case .double(let d): return JSON.format(d)
        case .bool(let b): return b ? "true" : "false"
        case .object(let o):
            guard let lat = o["lat"]?.number, let lon = o["lon"]?.number else {
                throw CLIError("field \(field): an object value must be a location {\"lat\", \"lon\", \"accuracy\"}")
            }
            var s = "\(JSON.format(lat)),\(JSON.format(lon))"
            if let a = o["accuracy"]?.number { s += ",\(JSON.format(a))" }
            return s
        case .array: throw CLIError("field \(field): a list is not a field value")
        }
    }
}
