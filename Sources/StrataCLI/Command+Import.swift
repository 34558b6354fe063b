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
        let handle: FileHandle
        if file == "-" {
            handle = FileHandle.standardInput
        } else {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: Paths.expand(file), isDirectory: &isDirectory), isDirectory.boolValue {
                throw CLIError("cannot read \(file): it is a directory; give the JSON file `strata export` wrote")
            }
            guard let h = FileHandle(forReadingAtPath: Paths.expand(file)) else {
                throw CLIError("cannot read \(file)")
            }
            handle = h
        }
        // The file is read a megabyte at a time and each record planned and recorded as it
        // comes, in one transaction: memory holds one record and the merge's bounded cache,
        // whatever the file's length, and nothing is written unless every record is valid.
        let name = file
        var values = JSONValueStream(read: {
            do {
                return try handle.read(upToCount: 1 << 20)
            } catch {
                throw CLIError("cannot read \(name) (\(error)); nothing was imported")
            }
        })
        var plan = ImportPlan(newRecordID: store.newRecordID)
        do {
            try store.recording { recorder in
                while let item = try values.next() {
                    do {
                        let edits = try plan.add(item, recorder: &recorder)
                        // One change per record: history shows each record's own change, and
                        // no change outgrows what a change holds.
                        if !edits.isEmpty { _ = try recorder.commit(edits) }
                    } catch {
                        throw ImportFailure(index: values.count, id: plan.lastID, error: error)
                    }
                }
            }
        } catch let failure as ImportFailure {
            // Count the records after the bad one (nothing is parsed or written) for "of M".
            let total = (try? values.skipRest()).map { " of \(failure.index + $0)" } ?? ""
            throw CLIError(
                "record \(failure.index)\(total)\(failure.id.map { " (\($0))" } ?? ""): \(Advice.message(for: failure.error)); nothing was imported")
        } catch let failure as JSONValueStream.Failure {
            throw CLIError("\(file) is not valid JSON: \(failure); nothing was imported")
        }
        let n = values.count
        print("imported \(n) record\(n == 1 ? "" : "s"): \(plan.created) created, \(plan.updated) updated, \(plan.unchanged) unchanged")
    }
}

/// A record of the import file that could not be imported, with its place in the file.
struct ImportFailure: Error {
    let index: Int
    let id: String?
    let error: any Error
}

/// Validates import objects one by one and plans each one's edits against the records as the
/// import has left them so far.
struct ImportPlan {
    let newRecordID: () -> RecordID
    var created = 0
    var updated = 0
    var unchanged = 0
    var seen = Set<RecordID>()
    var lastID: String?

    init(newRecordID: @escaping () -> RecordID) { self.newRecordID = newRecordID }

    /// The edits that bring the store to what `item` says (none when it already does).
    mutating func add(_ item: JSON, recorder: inout Store.Recorder) throws -> [Edit] {
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
            id = newRecordID()
        } else {
            throw CLIError("id must be a string")
        }
        guard seen.insert(id).inserted else { throw CLIError("the id \(id.text) appears twice in the file") }
        let existing = try recorder.record(id).flatMap { $0.kind == nil ? nil : $0 }
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
                    targetID = try recorder.resolve(prefix: target)
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
        return unique
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
