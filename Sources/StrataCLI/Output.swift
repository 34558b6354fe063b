import Foundation
import StrataCore
import StrataStore

/// An error for the person at the terminal: one line, with context.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// Writes to standard error.
func printError(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}

/// Formatting shared by the commands. Holds the store so related records and short ids can be
/// looked up once.
final class Output {
    let store: Store
    let abbrev: Int
    private var cache: [RecordID: RecordState?] = [:]

    init(store: Store) throws {
        self.store = store
        self.abbrev = try store.abbreviationLength()
    }

    func short(_ id: RecordID) -> String { String(id.text.prefix(abbrev)) }

    func lookup(_ id: RecordID) -> RecordState? {
        if let c = cache[id] { return c }
        let r = try? store.record(id)
        let found = r?.kind == nil ? nil : r
        cache[id] = .some(found)
        return found
    }

    // MARK: Text

    static func iso(_ ts: HybridTimestamp) -> String { iso(millis: ts.wallMillis) }

    static func iso(millis: UInt64) -> String {
        let date = Date(timeIntervalSince1970: Double(millis) / 1000)
        return date.formatted(Date.ISO8601FormatStyle(timeZone: TimeZone(identifier: "UTC")!))
    }

    static func number(_ d: Double) -> String { JSON.format(d) }

    /// A value as the user types it: text as is, a location as `lat,lon[,accuracy]`.
    static func text(_ v: FieldValue) -> String {
        switch v {
        case .null: ""
        case .text(let s): s
        case .integer(let i): String(i)
        case .real(let d): number(d)
        case .bool(let b): b ? "true" : "false"
        case .location(let l):
            [l.latitude, l.longitude].map(number).joined(separator: ",")
                + (l.accuracyMetres.map { "," + number($0) } ?? "")
        case .deletion: "deleted"
        case .attachment(let a): "\(a.name) (\(Display.bytes(a.size)))\(a.caption.isEmpty ? "" : ": " + a.caption)"
        }
    }

    /// A value on one line (long text shortened).
    static func oneLine(_ v: FieldValue, max: Int = 60) -> String {
        let s = text(v).replacingOccurrences(of: "\n", with: " ⏎ ")
        return s.count > max ? String(s.prefix(max - 1)) + "…" : s
    }

    /// The title as a terminal shows it: control and bidirectional characters escaped
    /// (JSON and exports keep the title as written, `title`).
    static func shownTitle(_ r: RecordState) -> String { Display.escaped(title(r)) }

    static func title(_ r: RecordState) -> String {
        guard let kind = r.kind.flatMap(RecordKind.init(rawValue:)) else { return "" }
        if let t = r.text(kind.titleField), !t.isEmpty { return t }
        if kind == .link, let u = r.text("url") { return u }
        return "(untitled)"
    }

    static func kind(_ r: RecordState) -> RecordKind? { r.kind.flatMap(RecordKind.init(rawValue:)) }

    /// Fields in schema order, then any unknown fields (from a newer Strata) by name.
    static func orderedFields(_ r: RecordState) -> [(name: String, value: FieldValue)] {
        let present = Dictionary(r.fields.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
        var out: [(name: String, value: FieldValue)] = []
        let specs = kind(r)?.fields ?? []
        for f in specs { if let v = present[f.name] { out.append((f.name, v)) } }
        let known = Set(specs.map(\.name))
        for f in r.fields where !known.contains(f.name) { out.append(f) }
        return out
    }

    static func relations(_ r: RecordState) -> [(type: String, target: RecordID)] {
        r.elements(SystemField.relations).compactMap { RelationElement.parse($0) }
    }

    // MARK: JSON

    static func json(_ v: FieldValue) -> JSON {
        switch v {
        case .null: .null
        case .text(let s): .string(s)
        case .integer(let i): .int(i)
        case .real(let d): .double(d)
        case .bool(let b): .bool(b)
        case .location(let l):
            .object([
                "lat": .double(l.latitude), "lon": .double(l.longitude),
                "accuracy": l.accuracyMetres.map { .double($0) } ?? .null,
            ])
        case .deletion: .bool(true)
        case .attachment(let a): attachmentJSON(a)
        }
    }

    static func attachmentJSON(_ a: AttachmentRef) -> JSON {
        var o: [String: JSON] = [
            "hash": .string(a.hash.hex), "name": .string(a.name), "media_type": .string(a.mediaType),
            "size": .int(Int64(a.size)), "caption": .string(a.caption),
        ]
        o["taken_at"] = a.photo.takenAt.map { .string($0) } ?? .null
        o["location"] = a.photo.location.map { json(.location($0)) } ?? .null
        o["orientation"] = a.photo.orientation.map { .int(Int64($0)) } ?? .null
        o["camera"] = a.photo.camera.map { .string($0) } ?? .null
        return .object(o)
    }

    func json(_ lv: LiveValue, winner: Bool? = nil) -> JSON {
        var o: [String: JSON] = [
            "value": Output.json(lv.value), "author": .string(lv.author), "at": .string(Output.iso(lv.timestamp)),
            "replica": .string(lv.change.replica.short), "change": .string(lv.change.description),
        ]
        if case .deletion = lv.value { o["value"] = .string("deleted") }
        if let winner { o["winner"] = .bool(winner) }
        return .object(o)
    }

    func conflictsJSON(_ r: RecordState) -> JSON {
        .array(
            r.conflictedKeys.map { key in
                let live = r.keys[key]?.live ?? []
                return .object([
                    "field": .string(key.field),
                    "values": .array(live.enumerated().map { i, lv in json(lv, winner: i == 0) }),
                ])
            })
    }

    func deleteConflictJSON(_ r: RecordState) -> JSON {
        guard let dc = r.deleteConflict else { return .null }
        return .object([
            "deletion": json(dc.deletion),
            "unseen_edits": .array(
                dc.unseenEdits.map { e in
                    var o = json(e.value).object ?? [:]
                    o["field"] = .string(e.key.field)
                    if !e.key.element.isEmpty { o["element"] = .string(e.key.element) }
                    return .object(o)
                }),
        ])
    }

    /// The record object that `show --json` prints and `export`/`import` use.
    func recordJSON(_ r: RecordState) -> JSON {
        var fields: [String: JSON] = [:]
        for f in r.fields { fields[f.name] = Output.json(f.value) }
        let creation = r.creation
        return .object([
            "id": .string(r.id.text),
            "short": .string(short(r.id)),
            "kind": .string(r.kind ?? ""),
            "title": .string(Output.title(r)),
            "fields": .object(fields),
            "tags": .array(r.tags.map { .string($0) }),
            "relations": .array(
                Output.relations(r).map { rel in
                    var o: [String: JSON] = ["type": .string(rel.type), "target": .string(rel.target.text)]
                    if let t = lookup(rel.target) {
                        o["target_short"] = .string(short(rel.target))
                        o["target_kind"] = .string(t.kind ?? "")
                        o["target_title"] = .string(Output.title(t))
                    }
                    return .object(o)
                }),
            "deleted": .bool(r.isDeleted),
            "created": creation.map {
                .object([
                    "at": .string(Output.iso($0.timestamp)), "by": .string($0.author),
                    "replica": .string($0.change.replica.short),
                ])
            } ?? .null,
            "modified": r.lastModified.map { .string(Output.iso($0)) } ?? .null,
            "attachments": attachmentsJSON(r),
            "conflicts": conflictsJSON(r),
            "delete_conflict": deleteConflictJSON(r),
        ])
    }

    // MARK: Tables

    /// Left-aligned columns separated by two spaces; the last column is not padded.
    static func table(_ rows: [[String]]) -> String {
        guard let n = rows.map(\.count).max(), n > 0 else { return "" }
        var widths = [Int](repeating: 0, count: n)
        for row in rows { for (i, c) in row.enumerated() where i < n - 1 { widths[i] = max(widths[i], c.count) } }
        return rows.map { row in
            var line = ""
            for (i, c) in row.enumerated() {
                if i > 0 { line += "  " }
                line += i < n - 1 ? c.padding(toLength: widths[i], withPad: " ", startingAt: 0) : c
            }
            while line.hasSuffix(" ") { line.removeLast() }
            return line
        }.joined(separator: "\n")
    }

    /// One row of `list`/`search`: short id, kind, title, state/condition, tags, markers.
    func row(_ r: RecordState) -> [String] {
        var title = Output.shownTitle(r)
        if title.count > 50 { title = String(title.prefix(49)) + "…" }
        let state = r.text("state") ?? r.text("condition") ?? ""
        let tags = r.tags.map { "#" + $0 }.joined(separator: " ")
        var marks: [String] = []
        if r.hasConflict { marks.append("!") }
        if r.isDeleted { marks.append("(deleted)") }
        return [short(r.id), r.kind ?? "?", title, state, tags, marks.joined(separator: " ")]
    }

    func printList(_ records: [RecordState]) {
        guard !records.isEmpty else { return }
        print(Output.table(records.map(row)))
    }
}

/// Prints JSON followed by a newline.
func printJSON(_ j: JSON) {
    print(j.serialized())
}
