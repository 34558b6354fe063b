import Foundation
import StrataCore
import StrataStore

/// Records as people read them and as every `--json` prints them: short ids, titles, values as
/// typed, and the record, conflict, attachment and history objects. The CLI's output and the
/// web view's pages and JSON twins are made by this one class, so they cannot drift apart.
/// Holds the store so related records and short ids are looked up once.
open class RecordPresenter {
    public let store: Store
    private var cache: [RecordID: RecordState?] = [:]
    private var abbreviation: Int?

    public init(store: Store) throws {
        self.store = store
    }

    /// The id length of this replica's listings (``Store/abbreviationLength()``), read on first
    /// use: it reads every id, which a command printing one record need not pay for. A store that
    /// cannot be read here falls back to whole ids, which are always unique.
    public var abbrev: Int {
        if let a = abbreviation { return a }
        let a = (try? store.abbreviationLength()) ?? 26
        abbreviation = a
        return a
    }

    public func short(_ id: RecordID) -> String { String(id.text.prefix(abbrev)) }

    /// The record with this id when it is on this replica (created, not a placeholder).
    public func lookup(_ id: RecordID) -> RecordState? {
        if let c = cache[id] { return c }
        let r = try? store.record(id)
        let found = r?.kind == nil ? nil : r
        cache[id] = .some(found)
        return found
    }

    // MARK: Text

    public static func iso(_ ts: HybridTimestamp) -> String { iso(millis: ts.wallMillis) }

    public static func iso(millis: UInt64) -> String {
        let date = Date(timeIntervalSince1970: Double(millis) / 1000)
        return date.formatted(Date.ISO8601FormatStyle(timeZone: TimeZone(identifier: "UTC")!))
    }

    public static func number(_ d: Double) -> String { JSON.format(d) }

    /// A coordinate in degrees to 7 decimals (about a centimetre), so a position read from a
    /// photo's degrees, minutes and seconds shows as 38.27, not 38.269999999999996.
    public static func degrees(_ d: Double) -> String { JSON.format((d * 1e7).rounded() / 1e7) }

    /// A value as the user types it: text as is, a location as `lat,lon[,accuracy]`.
    public static func text(_ v: FieldValue) -> String {
        switch v {
        case .null: ""
        case .text(let s): s
        case .integer(let i): String(i)
        case .real(let d): number(d)
        case .bool(let b): b ? "true" : "false"
        case .location(let l):
            [l.latitude, l.longitude].map(degrees).joined(separator: ",")
                + (l.accuracyMetres.map { "," + number($0) } ?? "")
        case .deletion: "deleted"
        case .attachment(let a): "\(a.name) (\(Display.bytes(a.size)))\(a.caption.isEmpty ? "" : ": " + a.caption)"
        }
    }

    /// A value on one line (long text shortened).
    public static func oneLine(_ v: FieldValue, max: Int = 60) -> String {
        let s = text(v).replacingOccurrences(of: "\n", with: " ⏎ ")
        return s.count > max ? String(s.prefix(max - 1)) + "…" : s
    }

    /// The title as a terminal shows it: control and bidirectional characters escaped
    /// (JSON and exports keep the title as written, `title`).
    public static func shownTitle(_ r: RecordState) -> String { Display.escaped(title(r)) }

    public static func title(_ r: RecordState) -> String {
        guard let kind = r.kind.flatMap(RecordKind.init(rawValue:)) else { return "" }
        if let t = r.text(kind.titleField), !t.isEmpty { return t }
        if kind == .link, let u = r.text("url") { return u }
        return "(untitled)"
    }

    public static func kind(_ r: RecordState) -> RecordKind? { r.kind.flatMap(RecordKind.init(rawValue:)) }

    /// Fields in schema order, then any unknown fields (from a newer Strata) by name.
    public static func orderedFields(_ r: RecordState) -> [(name: String, value: FieldValue)] {
        let present = Dictionary(r.fields.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
        var out: [(name: String, value: FieldValue)] = []
        let specs = kind(r)?.fields ?? []
        for f in specs { if let v = present[f.name] { out.append((f.name, v)) } }
        let known = Set(specs.map(\.name))
        for f in r.fields where !known.contains(f.name) { out.append(f) }
        return out
    }

    public static func relations(_ r: RecordState) -> [(type: String, target: RecordID)] {
        r.elements(SystemField.relations).compactMap { RelationElement.parse($0) }
    }

    // MARK: JSON

    public static func json(_ v: FieldValue) -> JSON {
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

    public static func attachmentJSON(_ a: AttachmentRef) -> JSON {
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

    public func json(_ lv: LiveValue, winner: Bool? = nil) -> JSON {
        var o: [String: JSON] = [
            "value": RecordPresenter.json(lv.value), "author": .string(lv.author), "at": .string(RecordPresenter.iso(lv.timestamp)),
            "replica": .string(lv.change.replica.short), "change": .string(lv.change.description),
        ]
        if case .deletion = lv.value { o["value"] = .string("deleted") }
        if let winner { o["winner"] = .bool(winner) }
        return .object(o)
    }

    public func conflictsJSON(_ r: RecordState) -> JSON {
        .array(
            r.conflictedKeys.map { key in
                let live = r.keys[key]?.live ?? []
                return .object([
                    "field": .string(key.field),
                    "values": .array(live.enumerated().map { i, lv in json(lv, winner: i == 0) }),
                ])
            })
    }

    public func deleteConflictJSON(_ r: RecordState) -> JSON {
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

    /// Whether an attachment's bytes are here: `here`, `partial` or `missing`.
    public func presenceJSON(_ a: AttachmentRef) -> JSON {
        switch store.blobs.presence(of: a.hash) {
        case .present: .string("here")
        case .partial: .string("partial")
        case .missing: .string("missing")
        }
    }

    public func attachmentsJSON(_ r: RecordState) -> JSON {
        .array(
            r.attachments.enumerated().map { i, a in
                var o = RecordPresenter.attachmentJSON(a.ref).object ?? [:]
                o["number"] = .int(Int64(i + 1))
                o["bytes_here"] = presenceJSON(a.ref)
                o["attached_at"] = .string(RecordPresenter.iso(a.attachedAt))
                if a.isConflicted { o["values"] = .array(a.values.enumerated().map { j, lv in json(lv, winner: j == 0) }) }
                return .object(o)
            })
    }

    /// The record object that `show --json` prints and `export`/`import` use.
    public func recordJSON(_ r: RecordState) -> JSON {
        var fields: [String: JSON] = [:]
        for f in r.fields { fields[f.name] = RecordPresenter.json(f.value) }
        let creation = r.creation
        return .object([
            "id": .string(r.id.text),
            "short": .string(short(r.id)),
            "kind": .string(r.kind ?? ""),
            "title": .string(RecordPresenter.title(r)),
            "fields": .object(fields),
            "tags": .array(r.tags.map { .string($0) }),
            "relations": .array(
                RecordPresenter.relations(r).map { rel in
                    var o: [String: JSON] = ["type": .string(rel.type), "target": .string(rel.target.text)]
                    if let t = lookup(rel.target) {
                        o["target_short"] = .string(short(rel.target))
                        o["target_kind"] = .string(t.kind ?? "")
                        o["target_title"] = .string(RecordPresenter.title(t))
                    }
                    return .object(o)
                }),
            "deleted": .bool(r.isDeleted),
            "created": creation.map {
                .object([
                    "at": .string(RecordPresenter.iso($0.timestamp)), "by": .string($0.author),
                    "replica": .string($0.change.replica.short),
                ])
            } ?? .null,
            "modified": r.lastModified.map { .string(RecordPresenter.iso($0)) } ?? .null,
            "attachments": attachmentsJSON(r),
            "conflicts": conflictsJSON(r),
            "delete_conflict": deleteConflictJSON(r),
        ])
    }

    /// A FeatureCollection of the records with a location; fields are flat properties so
    /// QGIS shows them as attribute columns (`export --format geojson`, the web map's data).
    public func geojson(_ records: [RecordState]) -> JSON {
        var features: [JSON] = []
        for r in records {
            guard case .location(let l)? = r.value("location") else { continue }
            var props: [String: JSON] = [
                "id": .string(r.id.text), "short": .string(short(r.id)), "kind": .string(r.kind ?? ""),
                "title": .string(RecordPresenter.title(r)), "tags": .array(r.tags.map { .string($0) }),
                "deleted": .bool(r.isDeleted),
            ]
            if let a = l.accuracyMetres { props["accuracy_m"] = .double(a) }
            for f in r.fields where f.name != "location" && props[f.name] == nil {
                props[f.name] = RecordPresenter.json(f.value)
            }
            props["relations"] = .array(RecordPresenter.relations(r).map { .string("\($0.type):\($0.target.text)") })
            features.append(
                .object([
                    "type": .string("Feature"),
                    "id": .string(r.id.text),
                    "geometry": .object([
                        "type": .string("Point"), "coordinates": .array([.double(l.longitude), .double(l.latitude)]),
                    ]),
                    "properties": .object(props),
                ]))
        }
        return .object(["type": .string("FeatureCollection"), "features": .array(features)])
    }

    // MARK: History

    /// The names of a record's attachments by hash hex, from its history: what a detach
    /// removed (a retract carries no value).
    public static func attachmentNames(_ entries: [HistoryEntry]) -> [String: String] {
        var names: [String: String] = [:]
        for e in entries {
            if case .assign(.attachment(let a)) = e.action { names[e.key.element] = a.name }
        }
        return names
    }

    /// The action word and its value for one operation. `attachmentNames` (hash hex → name)
    /// names what a detach removed, since a retract carries no value.
    public func historyAction(_ e: HistoryEntry, attachmentNames: [String: String] = [:]) -> (String, String?) {
        if e.key.field == SystemField.kind, case .assign(let v) = e.action { return ("created as", RecordPresenter.text(v)) }
        if e.key.field == SystemField.deleted, case .assign(let v) = e.action {
            if case .deletion = v { return ("deleted", nil) }
            return ("restored", nil)
        }
        if e.key.field == SystemField.attachments {
            switch e.action {
            case .assign(.attachment(let a)) where e.preds.isEmpty:
                return ("attached", "\(a.name) (\(Display.bytes(a.size)))" + (a.caption.isEmpty ? "" : ": \(RecordPresenter.oneLine(.text(a.caption)))"))
            case .assign(.attachment(let a)):
                return ("captioned", "\(a.name): " + (a.caption.isEmpty ? "(no caption)" : RecordPresenter.oneLine(.text(a.caption))))
            default:
                return ("detached", attachmentNames[e.key.element] ?? String(e.key.element.prefix(12)))
            }
        }
        if !e.key.element.isEmpty {
            var element = e.key.element
            if e.key.field == SystemField.relations, let (t, target) = RelationElement.parse(element) {
                element = "\(t) \(short(target))"
            }
            if case .retract = e.action { return ("removed", element) }
            return ("added", element)
        }
        switch e.action {
        case .assign(.null): return ("cleared", nil)
        case .assign(let v): return ("set", RecordPresenter.oneLine(v))
        case .retract: return ("removed", nil)
        case .editText(let edits): return ("edited", Self.summary(edits))
        }
    }

    /// The object `history --json` prints for one operation.
    public func historyJSON(_ e: HistoryEntry, attachmentNames: [String: String]) -> JSON {
        let (action, value) = historyAction(e, attachmentNames: attachmentNames)
        return .object([
            "at": .string(RecordPresenter.iso(e.timestamp)), "author": .string(e.author),
            "replica": .string(e.change.replica.hex), "change": .string(e.change.description),
            "field": .string(e.key.field),
            "element": e.key.element.isEmpty ? .null : .string(e.key.element),
            "action": .string(action), "value": value.map { .string($0) } ?? .null,
            "resolved": .int(Int64(e.preds.count > 1 ? e.preds.count : 0)),
        ])
    }

    /// "+12 −3: “inserted words…”": characters inserted and deleted, and the first insertion.
    public static func summary(_ edits: [TextOperation]) -> String {
        var inserted = 0
        var deleted = 0
        var first: String?
        for e in edits {
            switch e {
            case .insert(_, _, _, let t):
                inserted += t.unicodeScalars.count
                if first == nil { first = t }
            case .delete(_, let ranges):
                deleted += ranges.reduce(0) { $0 + Int($1.count) }
            }
        }
        var s = "+\(inserted) −\(deleted)"
        if let first { s += ": “\(RecordPresenter.oneLine(.text(first), max: 40))”" }
        return s
    }
}
